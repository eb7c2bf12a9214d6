package geodata_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// policyCase is one record of the policy database and what the bench
// policy says about it.
type policyCase struct {
	name string
	net  geodatatest.Net // Prefix filled in by policyNets
	want string          // region
	rule string
}

// Sites of the five regions.
const (
	ashburnLat, ashburnLon     = 39.04, -77.49
	sanJoseLat, sanJoseLon     = 37.34, -121.89
	frankfurtLat, frankfurtLon = 50.11, 8.68
	singaporeLat, singaporeLon = 1.35, 103.82
	saoPauloLat, saoPauloLon   = -23.55, -46.63
)

// policyCases covers every rule of the bench policy, with coordinates
// chosen to show precedence (a western state whose record sits in
// Ashburn still goes west; France placed in Singapore still goes to eu).
func policyCases() []policyCase {
	var cs []policyCase
	west := []string{"US-WA", "US-OR", "US-CA", "US-NV", "US-ID", "US-MT", "US-WY", "US-UT", "US-CO",
		"US-AZ", "US-NM", "US-AK", "US-HI", "CA-BC", "CA-AB", "CA-YT", "CA-NT"}
	for _, s := range west {
		cs = append(cs, policyCase{"sub " + s, geodatatest.Net{Continent: "NA", Subdivision: s, Latitude: ashburnLat, Longitude: ashburnLon}, "na-west", "subdivision"})
	}
	for _, s := range []string{"US-VA", "US-NY", "US-TX", "US-FL", "CA-ON", "CA-QC"} {
		cs = append(cs, policyCase{"country via " + s, geodatatest.Net{Continent: "NA", Subdivision: s, Latitude: sanJoseLat, Longitude: sanJoseLon}, "na-east", "country"})
	}
	cs = append(cs,
		policyCase{"US no subdivision", geodatatest.Net{Continent: "NA", Country: "US", Latitude: 37.75, Longitude: -97.82}, "na-east", "country"},
		policyCase{"CA no subdivision, no coordinates", geodatatest.Net{Continent: "NA", Country: "CA", NoCoordinates: true}, "na-east", "country"},
		policyCase{"US with continent OC", geodatatest.Net{Continent: "OC", Country: "US", Latitude: 13.44, Longitude: 144.79}, "na-east", "country"},
		policyCase{"AU-WA is not US-WA", geodatatest.Net{Continent: "OC", Subdivision: "AU-WA", Latitude: -31.95, Longitude: 115.86}, "apac", "continent"},
		policyCase{"DE", geodatatest.Net{Continent: "EU", Country: "DE", Latitude: frankfurtLat, Longitude: frankfurtLon}, "eu", "continent"},
		policyCase{"FR placed in Singapore", geodatatest.Net{Continent: "EU", Country: "FR", Latitude: singaporeLat, Longitude: singaporeLon}, "eu", "continent"},
		policyCase{"ZA", geodatatest.Net{Continent: "AF", Country: "ZA", Latitude: -26.2, Longitude: 28.05}, "eu", "continent"},
		policyCase{"NG no coordinates", geodatatest.Net{Continent: "AF", Country: "NG", NoCoordinates: true}, "eu", "continent"},
		policyCase{"JP", geodatatest.Net{Continent: "AS", Country: "JP", Latitude: 35.68, Longitude: 139.69}, "apac", "continent"},
		policyCase{"IN", geodatatest.Net{Continent: "AS", Subdivision: "IN-MH", Latitude: 19.07, Longitude: 72.88}, "apac", "continent"},
		policyCase{"NZ", geodatatest.Net{Continent: "OC", Country: "NZ", Latitude: -36.85, Longitude: 174.76}, "apac", "continent"},
		policyCase{"BR", geodatatest.Net{Continent: "SA", Country: "BR", Latitude: saoPauloLat, Longitude: saoPauloLon}, "sa", "continent"},
		policyCase{"AR placed in Frankfurt", geodatatest.Net{Continent: "SA", Country: "AR", Latitude: frankfurtLat, Longitude: frankfurtLon}, "sa", "continent"},
		policyCase{"EU continent only", geodatatest.Net{Continent: "EU", NoCoordinates: true}, "eu", "continent"},
		// Nearest: North America outside US/CA, Antarctica, no country.
		policyCase{"MX Mexico City", geodatatest.Net{Continent: "NA", Subdivision: "MX-CMX", Latitude: 19.43, Longitude: -99.13}, "na-west", "nearest"},
		policyCase{"MX Tijuana", geodatatest.Net{Continent: "NA", Subdivision: "MX-BCN", Latitude: 32.51, Longitude: -117.04}, "na-west", "nearest"},
		policyCase{"MX Durango (nearer San Jose)", geodatatest.Net{Continent: "NA", Subdivision: "MX-DUR", Latitude: 25.6, Longitude: -104.5}, "na-west", "nearest"},
		policyCase{"CU Havana", geodatatest.Net{Continent: "NA", Country: "CU", Latitude: 23.11, Longitude: -82.37}, "na-east", "nearest"},
		policyCase{"PA Panama", geodatatest.Net{Continent: "NA", Country: "PA", Latitude: 8.98, Longitude: -79.52}, "na-east", "nearest"},
		policyCase{"TT Trinidad", geodatatest.Net{Continent: "NA", Country: "TT", Latitude: 10.65, Longitude: -61.5}, "na-east", "nearest"},
		policyCase{"GL Greenland", geodatatest.Net{Continent: "NA", Country: "GL", Latitude: 64.18, Longitude: -51.72}, "na-east", "nearest"},
		policyCase{"AQ McMurdo", geodatatest.Net{Continent: "AN", Country: "AQ", Latitude: -77.85, Longitude: 166.67}, "sa", "nearest"},
		policyCase{"AQ Palmer", geodatatest.Net{Continent: "AN", Country: "AQ", Latitude: -64.77, Longitude: -64.05}, "sa", "nearest"},
		policyCase{"coordinates 0,0 are a location", geodatatest.Net{Latitude: 0, Longitude: 0}, "eu", "nearest"},
		policyCase{"near Ashburn", geodatatest.Net{Latitude: ashburnLat + 0.5, Longitude: ashburnLon - 0.5}, "na-east", "nearest"},
		policyCase{"near San Jose", geodatatest.Net{Latitude: sanJoseLat - 0.3, Longitude: sanJoseLon + 0.2}, "na-west", "nearest"},
		policyCase{"near Frankfurt", geodatatest.Net{Continent: "XX", Latitude: frankfurtLat + 1, Longitude: frankfurtLon}, "eu", "nearest"},
		policyCase{"near Singapore", geodatatest.Net{Latitude: singaporeLat, Longitude: singaporeLon + 1}, "apac", "nearest"},
		policyCase{"near Sao Paulo", geodatatest.Net{Latitude: saoPauloLat - 1, Longitude: saoPauloLon}, "sa", "nearest"},
		policyCase{"exactly at Singapore", geodatatest.Net{Latitude: singaporeLat, Longitude: singaporeLon}, "apac", "nearest"},
		// No usable location.
		policyCase{"MX no coordinates", geodatatest.Net{Continent: "NA", Country: "MX", NoCoordinates: true}, "na-east", "default"},
		policyCase{"AQ no coordinates", geodatatest.Net{Continent: "AN", Country: "AQ", NoCoordinates: true, AccuracyRadius: 1000}, "na-east", "default"},
		policyCase{"empty record", geodatatest.Net{NoCoordinates: true}, "na-east", "default"},
	)
	return cs
}

// policyNets places every case at an IPv4 /24 in 10.0.0.0/16 and an IPv6
// /48 in 2001:db8::/32, with gaps between them (not in the database).
func policyNets(cs []policyCase) []geodatatest.Net {
	var nets []geodatatest.Net
	for i, c := range cs {
		n := c.net
		n.Prefix = v4Of(i)
		nets = append(nets, n)
		n.Prefix = v6Of(i)
		nets = append(nets, n)
	}
	return nets
}

func v4Of(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(2 * i), 0}), 24)
}
func v6Of(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(2 * i)}), 48)
}

// policyCoverage overrides a few of the networks above.
func policyCoverage() []geodata.Coverage {
	return []geodata.Coverage{
		{Prefix: mustPrefix("10.0.0.0/24"), Region: "sa"},          // the first west subdivision
		{Prefix: mustPrefix("10.0.0.128/25"), Region: "eu"},        // nested in it
		{Prefix: mustPrefix("10.0.0.192/26"), Region: "sa"},        // nested again
		{Prefix: mustPrefix("10.200.0.0/16"), Region: "apac"},      // not in the database
		{Prefix: mustPrefix("2001:db8:2::/47"), Region: "na-west"}, // covers a whole case /48 and the gap after it
		{Prefix: mustPrefix("2001:db8:2:8000::/49"), Region: "eu"}, // nested
		{Prefix: mustPrefix("2001:db8:ffff::/48"), Region: "sa"},   // not in the database
		{Prefix: mustPrefix("192.0.2.1/32"), Region: "na-west"},    // a host
	}
}

func TestBenchFixtureMatchesPolicy(t *testing.T) {
	// testdata holds copies of the bench's policy files; when the bench
	// is at hand, they must still be the same.
	shared := filepath.Join("..", "..", "shared", "bench", "dns")
	for _, f := range []string{"policy.txt", "regions.tsv"} {
		want, err := os.ReadFile(filepath.Join(shared, f))
		if err != nil {
			t.Logf("bench not at hand: %v", err)
			continue
		}
		got, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from %s: copy it again", f, filepath.Join(shared, f))
		}
	}
	// The YAML fixture is the policy.
	pol := loadRefPolicy(t, "testdata")
	cfg := benchConfig(t)
	got := policyFromConfig(cfg)
	if !reflect.DeepEqual(got, pol) {
		t.Errorf("bench-policy.yaml is not policy.txt + regions.tsv:\n got %+v\nwant %+v", got, pol)
	}
}

func TestPolicy(t *testing.T) {
	cs := policyCases()
	nets := policyNets(cs)
	dir := t.TempDir()
	cfg := benchConfig(t)
	cfg.Database = geodatatest.WriteFile(t, dir, nets)
	cfg.CoverageFile = writeCoverage(t, dir, policyCoverage())
	g, err := geodata.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	ref := newReference(t, b, loadRefPolicy(t, "testdata"), policyCoverage())

	covered := func(a netip.Addr) bool {
		for _, c := range policyCoverage() {
			if c.Prefix.Contains(a) {
				return true
			}
		}
		return false
	}
	checked := 0
	for i, c := range cs {
		for _, p := range []netip.Prefix{v4Of(i), v6Of(i)} {
			for _, a := range samplesOf(p) {
				want, rule := c.want, c.rule
				if covered(a) {
					want, rule = ref.region(t, a)
				} else if r, rr := ref.region(t, a); r != want || rr != rule {
					t.Fatalf("%s %s: the bench spec says %s by %s, the case says %s by %s", c.name, a, r, rr, want, rule)
				}
				res := g.Locate(a)
				if res.Region != want || res.Rule != rule {
					t.Errorf("%s: Locate(%s) = %s by %s, want %s by %s (location %+v)", c.name, a, res.Region, res.Rule, want, rule, res.Location)
				}
				if !res.Scope.Contains(a) {
					t.Errorf("%s: scope %s does not contain %s", c.name, res.Scope, a)
				}
				checked++
			}
		}
	}
	// Not in the database: the gaps, and far away.
	for _, s := range []string{"10.0.1.0", "10.0.255.255", "8.8.8.8", "192.0.2.2", "2001:db8:1::1", "2a00::1", "::2"} {
		a := mustAddr(s)
		res := g.Locate(a)
		if res.Region != "na-east" || res.Rule != "default" || res.Location.Found {
			t.Errorf("Locate(%s) = %+v, want na-east by default, not found", s, res)
		}
		checked++
	}
	// Coverage, by hand.
	for _, tc := range []struct{ addr, want, scope string }{
		{"10.0.0.1", "sa", "10.0.0.0/25"},
		{"10.0.0.130", "eu", "10.0.0.128/26"},
		{"10.0.0.200", "sa", "10.0.0.192/26"},
		{"10.200.3.4", "apac", "10.200.0.0/16"},
		{"2001:db8:2::1", "na-west", "2001:db8:2::/49"},
		{"2001:db8:3::1", "na-west", "2001:db8:3::/48"},
		{"2001:db8:2:8000::1", "eu", "2001:db8:2:8000::/49"},
		{"2001:db8:ffff:1::", "sa", "2001:db8:ffff::/48"},
		{"192.0.2.1", "na-west", "192.0.2.1/32"},
	} {
		res := g.Locate(mustAddr(tc.addr))
		if res.Region != tc.want || res.Rule != "coverage" || res.Scope != mustPrefix(tc.scope) {
			t.Errorf("Locate(%s) = %s by %s scope %s, want %s by coverage scope %s", tc.addr, res.Region, res.Rule, res.Scope, tc.want, tc.scope)
		}
	}
	t.Logf("%d addresses checked", checked)
}

// samplesOf returns the first, last and a few inner addresses of p.
func samplesOf(p netip.Prefix) []netip.Addr {
	first := p.Masked().Addr()
	out := []netip.Addr{first, first.Next()}
	b := first.AsSlice()
	bits := p.Bits()
	for i := bits; i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	last, _ := netip.AddrFromSlice(b)
	out = append(out, last, last.Prev())
	mid := first.AsSlice()
	if bits < len(mid)*8 {
		mid[bits/8] |= 1 << (7 - bits%8)
	}
	m, _ := netip.AddrFromSlice(mid)
	return append(out, m)
}

func TestLocation(t *testing.T) {
	cs := policyCases()
	db, err := geodata.FromBytes(build(t, policyNets(cs)))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		for _, p := range []netip.Prefix{v4Of(i), v6Of(i)} {
			loc, err := db.Lookup(p.Addr().Next())
			if err != nil {
				t.Fatal(err)
			}
			n := c.net
			cc := n.Country
			if cc == "" && n.Subdivision != "" {
				cc = n.Subdivision[:2]
			}
			want := geodata.Location{Continent: n.Continent, Country: cc, Subdivision: n.Subdivision,
				AccuracyRadius: n.AccuracyRadius, Network: p, Found: true}
			if !n.NoCoordinates {
				want.Latitude, want.Longitude, want.HasCoordinates = n.Latitude, n.Longitude, true
			}
			if loc != want {
				t.Errorf("%s: Lookup(%s) = %+v, want %+v", c.name, p.Addr().Next(), loc, want)
			}
		}
	}
	// Not in the database: the gap after the first case, as a network.
	for _, tc := range []struct{ addr, net string }{
		{"10.0.1.7", "10.0.1.0/24"},
		{"::ffff:10.0.1.7", "10.0.1.0/24"},
		{"2001:db8:1::1", "2001:db8:1::/48"},
	} {
		loc, err := db.Lookup(mustAddr(tc.addr))
		if err != nil || loc.Found || loc.Network != mustPrefix(tc.net) {
			t.Errorf("Lookup(%s) = %+v, %v; want not found in %s", tc.addr, loc, err, tc.net)
		}
	}
	if db.Type() != geodatatest.DatabaseType || !db.BuildTime().Equal(geodatatest.BuildEpoch) {
		t.Errorf("Type, BuildTime = %q, %v", db.Type(), db.BuildTime())
	}
}
