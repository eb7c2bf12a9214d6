package geodatatest_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

func build(t *testing.T, nets []geodatatest.Net) []byte {
	t.Helper()
	b, err := geodatatest.Build(nets)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGeodatatest checks that the writer's databases are what geoip2-golang
// expects of a City database.
func TestGeodatatest(t *testing.T) {
	b := build(t, geodatatest.Demo())
	r, err := geoip2.OpenBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.City(netip.MustParseAddr("198.18.1.1"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Continent.Code != "NA" || c.Country.ISOCode != "US" || len(c.Subdivisions) != 1 || c.Subdivisions[0].ISOCode != "CA" ||
		*c.Location.Latitude != 37.34 || c.Location.AccuracyRadius != 20 || c.Traits.Network != netip.MustParsePrefix("198.18.0.0/16") {
		t.Errorf("City(198.18.1.1) = %+v", c)
	}
	if c, err := r.City(netip.MustParseAddr("127.0.0.1")); err != nil || c.Location.HasCoordinates() || c.Country.ISOCode != "" {
		t.Errorf("City(127.0.0.1) = %+v, %v", c, err)
	}
	// IPv4 through the aliases.
	for _, s := range []string{"::ffff:198.18.1.1", "2002:c612:0101::1"} {
		c, err := r.City(netip.MustParseAddr(s))
		if err != nil || c.Country.ISOCode != "US" {
			t.Errorf("City(%s) = %+v, %v", s, c.Country, err)
		}
	}
	m, _ := maxminddb.OpenBytes(b)
	if m.Metadata.DatabaseType != "GeoLite2-City" || m.Metadata.IPVersion != 6 {
		t.Errorf("metadata %+v", m.Metadata)
	}
	// Build is deterministic, checks its input, and more specific
	// networks win whatever the order.
	if b2 := build(t, geodatatest.Demo()); string(b2) != string(b) {
		t.Error("Build is not deterministic")
	}
	for _, bad := range [][]geodatatest.Net{
		{{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, {Prefix: netip.MustParsePrefix("10.0.0.0/8")}},
		{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Country: "de"}},
		{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Subdivision: "US-CA", Country: "CA"}},
		{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Latitude: 100}},
		{{}},
	} {
		if _, err := geodatatest.Build(bad); err == nil {
			t.Errorf("Build(%+v): nil error", bad)
		}
	}
	db, err := geodata.FromBytes(build(t, []geodatatest.Net{
		{Prefix: netip.MustParsePrefix("10.0.1.0/24"), Country: "FR", NoCoordinates: true},
		{Prefix: netip.MustParsePrefix("10.0.0.0/16"), Country: "DE", NoCoordinates: true},
		{Prefix: netip.MustParsePrefix("::ffff:10.0.2.0/120"), Country: "GB", NoCoordinates: true},
	}))
	if err != nil {
		t.Fatal(err)
	}
	for addr, cc := range map[string]string{"10.0.1.1": "FR", "10.0.3.1": "DE", "10.0.2.1": "GB"} {
		if loc, _ := db.Lookup(netip.MustParseAddr(addr)); loc.Country != cc {
			t.Errorf("Lookup(%s) = %+v, want %s", addr, loc, cc)
		}
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	path := geodatatest.WriteFile(t, dir, geodatatest.Demo())
	if filepath.Dir(path) != dir {
		t.Errorf("WriteFile wrote %s, not in %s", path, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b, build(t, geodatatest.Demo())) {
		t.Fatalf("WriteFile: %v", err)
	}
	nets := []geodatatest.Net{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "FR", NoCoordinates: true}}
	geodatatest.ReplaceFile(t, path, nets)
	if b, _ := os.ReadFile(path); !bytes.Equal(b, build(t, nets)) {
		t.Error("ReplaceFile did not replace the file")
	}
	geodatatest.ReplaceBytes(t, path, []byte("x"))
	if b, _ := os.ReadFile(path); string(b) != "x" {
		t.Error("ReplaceBytes did not replace the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files left in %s, want 1", len(entries), dir)
	}
}

// TestDemo checks the demo world against its documentation.
func TestDemo(t *testing.T) {
	db, err := geodata.FromBytes(build(t, geodatatest.Demo()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ addr, continent, country, sub string }{
		{"192.0.2.1", "NA", "US", "US-VA"},
		{"192.0.2.200", "NA", "US", "US-NY"},
		{"198.51.100.1", "EU", "DE", ""},
		{"198.51.100.150", "EU", "FR", ""},
		{"198.51.100.250", "EU", "GB", ""},
		{"203.0.113.1", "AS", "SG", ""},
		{"203.0.113.150", "AS", "JP", ""},
		{"203.0.113.250", "OC", "AU", ""},
		{"198.18.200.1", "NA", "US", "US-CA"},
		{"198.19.0.1", "SA", "BR", ""},
		{"2001:db8::1", "NA", "US", "US-VA"},
		{"2001:db8:4000::1", "NA", "US", "US-CA"},
		{"2001:db8:8000::1", "EU", "DE", ""},
		{"2001:db8:c000::1", "AS", "SG", ""},
		{"2001:db8:e000::1", "SA", "BR", ""},
		{"2001:db8:f000::1", "NA", "MX", ""},
		{"2001:db8:ffff::1", "", "", ""},
		{"127.0.0.1", "", "", ""},
		{"::1", "", "", ""},
	} {
		loc, err := db.Lookup(netip.MustParseAddr(tc.addr))
		if err != nil || !loc.Found || loc.Continent != tc.continent || loc.Country != tc.country || loc.Subdivision != tc.sub ||
			loc.HasCoordinates != (tc.country != "") {
			t.Errorf("Lookup(%s) = %+v, %v; want %s %s %s", tc.addr, loc, err, tc.continent, tc.country, tc.sub)
		}
	}
}
