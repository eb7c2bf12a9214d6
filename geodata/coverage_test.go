package geodata_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

func TestParseCoverage(t *testing.T) {
	in := `# operator overrides
10.0.0.0/8      eu      # whole block
10.1.0.0/16     sa
  2001:db8::/32 apac
192.0.2.1 na-west
2001:db8::1     na_east2

`
	got, err := geodata.ParseCoverage(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []geodata.Coverage{
		{Prefix: mustPrefix("10.0.0.0/8"), Region: "eu"},
		{Prefix: mustPrefix("10.1.0.0/16"), Region: "sa"},
		{Prefix: mustPrefix("2001:db8::/32"), Region: "apac"},
		{Prefix: mustPrefix("192.0.2.1/32"), Region: "na-west"},
		{Prefix: mustPrefix("2001:db8::1/128"), Region: "na_east2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	var b bytes.Buffer
	if err := geodata.FormatCoverage(&b, got); err != nil {
		t.Fatal(err)
	}
	if again, err := geodata.ParseCoverage(&b); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("round trip: %v, %v", again, err)
	}
}

func TestParseCoverageErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"one field", "10.0.0.0/8\n", `line 1: want "PREFIX REGION", got 1 fields`},
		{"three fields", "# x\n10.0.0.0/8 eu extra\n", "line 2: want"},
		{"bad prefix", "10.0.0.0/33 eu", "line 1: netip.ParsePrefix"},
		{"bad address", "10.0.0 eu", "line 1: ParseAddr"},
		{"host bits", "10.0.0.1/8 eu", "line 1: 10.0.0.1/8 has host bits set (the network is 10.0.0.0/8)"},
		{"4in6", "::ffff:10.0.0.0/104 eu", "line 1: ::ffff:10.0.0.0/104: write IPv4 networks as IPv4"},
		{"zone", "fe80::1%eth0 eu", "line 1: "},
		{"bad region", "10.0.0.0/8 e/u", `line 1: "e/u" is not a region name`},
		{"duplicate", "10.0.0.0/8 eu\n\n10.0.0.0/8 sa\n", "line 3: 10.0.0.0/8 is also on line 1"},
		{"long line", strings.Repeat("x", 70000), "line 1: bufio.Scanner: token too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geodata.ParseCoverage(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseCoverage: %v, want %q", err, tc.want)
			}
		})
	}
	// Every problem is listed, up to a limit.
	_, err := geodata.ParseCoverage(strings.NewReader("x eu\n1.2.3.4/40 eu\n10.0.0.0/8 -*-\n"))
	if err == nil || strings.Count(err.Error(), "line ") != 3 {
		t.Errorf("want three problems: %v", err)
	}
	_, err = geodata.ParseCoverage(strings.NewReader(strings.Repeat("x\n", 100)))
	if err == nil || !strings.Contains(err.Error(), "too many errors") || strings.Count(err.Error(), "line ") != 20 {
		t.Errorf("want 20 problems then a stop: %v", err)
	}
}

func TestCoverageFileRegions(t *testing.T) {
	// Unknown regions are found when the file is loaded.
	dir := t.TempDir()
	cfg := benchConfig(t)
	cfg.CoverageFile = writeCoverage(t, dir, []geodata.Coverage{
		{Prefix: mustPrefix("10.0.0.0/8"), Region: "eu"},
		{Prefix: mustPrefix("10.1.0.0/16"), Region: "mars"},
	})
	_, err := geodata.New(cfg, geodata.WithDatabaseBytes(build(t, geodatatest.Demo())))
	if err == nil || !strings.Contains(err.Error(), `10.1.0.0/16: region "mars" is not configured`) {
		t.Errorf("New: %v", err)
	}
	cfg.CoverageFile = dir + "/missing.txt"
	if _, err := geodata.New(cfg, geodata.WithDatabaseBytes(build(t, geodatatest.Demo()))); err == nil || !strings.Contains(err.Error(), "coverage_file") {
		t.Errorf("New: %v", err)
	}
}
