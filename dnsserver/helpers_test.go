package dnsserver_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// bigTXT is a TXT value of 600 bytes: the answer is larger than 512 bytes
// and smaller than 1232. hugeTXT (1500 bytes) fits no UDP reply.
var (
	bigTXT  = strings.Repeat("b", 600)
	hugeTXT = strings.Repeat("h", 1500)
)

// testYAML is the zone most tests run against.
var testYAML = `
udp_sockets: 2
rrl: {disabled: true}
zones:
  - name: cdn.demo.test
    ttl: 300s
    soa: {serial: 2024010101}
    ns:
      - {name: ns1, addresses: [192.0.2.53, "2001:db8::53"]}
      - {name: ns2.example.net.}
    records:
      - {name: "@", type: MX, values: ["10 mail"]}
      - {name: "@", type: TXT, values: ["v=spf1 -all"]}
      - {name: "@", type: CAA, values: ['0 issue "letsencrypt.org"']}
      - {name: mail, type: A, values: [192.0.2.25]}
      - {name: static, type: A, ttl: 120s, values: [192.0.2.80, 192.0.2.81]}
      - {name: static, type: AAAA, values: ["2001:db8::80"]}
      - {name: alias, type: CNAME, values: [www]}
      - {name: alias2, type: CNAME, values: [alias.cdn.demo.test]}
      - {name: ext, type: CNAME, values: [cdn.example.net.]}
      - {name: dangling, type: CNAME, values: [nothere]}
      - {name: loop1, type: CNAME, values: [loop2]}
      - {name: loop2, type: CNAME, values: [loop1]}
      - {name: a.b.deep, type: TXT, values: [deep]}
      - {name: big, type: TXT, values: [` + bigTXT + `]}
      - {name: huge, type: TXT, values: [` + hugeTXT + `]}
    geo:
      - name: www
        ttl: 60s
        regions:
          eu: {a: [203.0.113.30], aaaa: ["2001:db8:30::1"]}
          na-east: {a: [203.0.113.10], aaaa: ["2001:db8:10::1"]}
          apac: {a: [203.0.113.40, 203.0.113.41]}
      - name: v4only
        regions: {eu: {a: [203.0.113.31]}}
  - name: other.test
    ns: [{name: ns.other.test., addresses: [192.0.2.54]}]
`

func decodeConfig(t testing.TB, s string) dnsserver.Config {
	t.Helper()
	var c dnsserver.Config
	d := yaml.NewDecoder(strings.NewReader(s))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c
}

func testConfig(t testing.TB) dnsserver.Config { return decodeConfig(t, testYAML) }

// testLocator: 198.51.100.0/22 eu, 192.0.2.0/24 na-east, 203.0.113.0/24
// apac, 10.0.0.0/8 sa (a region the zone does not have), 2001:db8:8000::/34
// eu; everything else (127.0.0.1 too) na-east with a host scope.
func testLocator() *dnstest.Locator {
	return dnstest.NewLocator("na-east", map[string]string{
		"198.51.100.0/22":    "eu",
		"192.0.2.0/24":       "na-east",
		"203.0.113.0/24":     "apac",
		"10.0.0.0/8":         "sa",
		"2001:db8:8000::/34": "eu",
	}, map[string][]string{
		"eu":      {"na-east", "apac"},
		"na-east": {"eu", "apac"},
		"apac":    {"eu", "na-east"},
		"sa":      {"na-east", "eu"},
	})
}

// startTest starts the test server with fresh metrics.
func startTest(t *testing.T, mutate ...func(*dnsserver.Config)) (*dnstest.Server, *dnstest.Health, *dnsserver.Metrics) {
	t.Helper()
	cfg := testConfig(t)
	for _, f := range mutate {
		f(&cfg)
	}
	h := dnstest.NewHealth()
	m := dnsserver.NewMetrics()
	return dnstest.NewServer(t, cfg, testLocator(), h, dnsserver.WithMetrics(m)), h, m
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// rrStrings renders records one per entry, for comparisons.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

// addrs returns the addresses of the A and AAAA records in rrs.
func addrs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		}
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// raw packs m, failing the test on error.
func raw(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = bytes.Equal
