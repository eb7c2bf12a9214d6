package dnsserver_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// benchRegions are the five regions of the shared geo-DNS benchmark
// (policy.txt), on geodatatest's demo world.
var benchRegions = []geodata.Region{
	{Name: "na-east", Latitude: 39.04, Longitude: -77.49, Countries: []string{"US", "CA"}},
	{Name: "na-west", Latitude: 37.34, Longitude: -121.89, Subdivisions: []string{"US-CA", "US-WA", "US-OR", "CA-BC"}},
	{Name: "eu", Latitude: 50.11, Longitude: 8.68, Continents: []string{"EU", "AF"}},
	{Name: "apac", Latitude: 1.35, Longitude: 103.82, Continents: []string{"AS", "OC"}},
	{Name: "sa", Latitude: -23.55, Longitude: -46.63, Continents: []string{"SA"}},
}

const geoZoneYAML = `
rrl: {disabled: true}
zones:
  - name: cdn.example.test
    ns: [{name: ns1, addresses: [203.0.113.1]}]
    geo:
      - name: www
        regions:
          na-east: {a: [203.0.113.10], aaaa: ["2001:db8:10::1"]}
          na-west: {a: [203.0.113.20]}
          eu: {a: [203.0.113.30], aaaa: ["2001:db8:30::1"]}
          apac: {a: [203.0.113.40]}
          sa: {a: [203.0.113.50]}
`

// newGeo builds geodata on the generated demo database.
func newGeo(t testing.TB) *geodata.Geo {
	t.Helper()
	db, err := geodatatest.Build(geodatatest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	cfg := geodata.Config{Regions: benchRegions, DefaultRegion: "na-east"}
	cfg.SetDefaults()
	g, err := geodata.New(cfg, geodata.WithDatabaseBytes(db))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop(context.Background()) })
	return g
}

// TestGeodataEndToEnd runs the server on a real geodata.Geo over a
// generated MaxMind database: ECS subnets land in their regions, and the
// scope is geodata's.
func TestGeodataEndToEnd(t *testing.T) {
	geo := newGeo(t)
	srv := dnstest.NewServer(t, decodeConfig(t, geoZoneYAML), geo, dnstest.NewHealth())
	for _, c := range []struct {
		ecs    string
		qtype  uint16
		answer string
	}{
		{"198.51.100.0/24", dns.TypeA, "203.0.113.30"}, // DE/FR/GB → eu
		{"203.0.113.0/24", dns.TypeA, "203.0.113.40"},  // SG/JP/AU → apac
		{"192.0.2.0/24", dns.TypeA, "203.0.113.10"},    // US-VA/NY → na-east
		{"198.18.5.0/24", dns.TypeA, "203.0.113.20"},   // US-CA → na-west
		{"198.19.0.0/24", dns.TypeA, "203.0.113.50"},   // BR → sa
		{"2001:db8:8000::/48", dns.TypeAAAA, "2001:db8:30::1"},
		{"2001:db8:e000::/48", dns.TypeA, "203.0.113.50"},
		{"2001:db8:e000::/48", dns.TypeAAAA, "2001:db8:10::1"}, // sa has no AAAA: nearest with AAAA
	} {
		p := netip.MustParsePrefix(c.ecs)
		q := dnstest.WithECS(dnstest.Query("www.cdn.example.test.", c.qtype), p)
		r := srv.Exchange(t, "udp", q)
		if got := addrs(r.Answer); len(got) != 1 || got[0] != c.answer {
			t.Errorf("%s %s: %v, want %s", c.ecs, dns.TypeToString[c.qtype], got, c.answer)
			continue
		}
		res := geo.Locate(p.Addr())
		e := dnstest.ECS(r)
		if e == nil {
			t.Fatalf("%s: no ECS", c.ecs)
		}
		want := res.Scope.Bits()
		if p.Addr().Is4() && res.Scope.Addr().Is4In6() {
			want -= 96
		}
		if int(e.SourceScope) != want {
			t.Errorf("%s: scope %d, geodata says %v", c.ecs, e.SourceScope, res.Scope)
		}
		if e.SourceScope == 0 {
			t.Errorf("%s: scope 0 for a geo answer", c.ecs)
		}
	}
}

// BenchmarkFastPathGeodata is BenchmarkFastPathECS on a real geodata.Geo
// (generated demo database, Locate cache on).
func BenchmarkFastPathGeodata(b *testing.B) {
	geo := newGeo(b)
	cfg := decodeConfig(b, geoZoneYAML)
	cfg.Listen = []string{"127.0.0.1:0"}
	s, err := dnsserver.New(cfg, geo, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := dnsserver.Handler(s)
	var qs [][]byte
	for _, p := range []string{"198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24", "198.18.5.0/24", "198.19.0.0/24", "2001:db8:8000::/48"} {
		qs = append(qs, raw(b, dnstest.WithECS(dnstest.Query("www.cdn.example.test.", dns.TypeA), netip.MustParsePrefix(p))))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if h(qs[i%len(qs)], localhost) == nil {
			b.Fatal("no reply")
		}
		i++
	}
}
