package geodata_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// TestScopeExhaustive checks, on random small worlds, every address of
// both spaces: the region is the spec's; Scope contains the address; every
// address of Scope maps to the same region (all of them inside the space,
// a sample outside); without coverage, Scope is also as wide as possible
// (its parent holds an address of another region); and the cached answer
// equals the uncached one.
func TestScopeExhaustive(t *testing.T) {
	worlds := 24
	if testing.Short() || raceEnabled {
		worlds = 6
	}
	for seed := range worlds {
		withCoverage := seed%2 == 1
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 99))
			w := newWorld(rng, withCoverage)
			checkWorld(t, rng, w, withCoverage)
		})
	}
}

func checkWorld(t *testing.T, rng *rand.Rand, w world, withCoverage bool) {
	dir := t.TempDir()
	b := build(t, w.nets)
	cfg := worldConfig()
	if withCoverage {
		cfg.CoverageFile = writeCoverage(t, dir, w.coverage)
	}
	g, err := geodata.New(cfg, geodata.WithDatabaseBytes(b))
	if err != nil {
		t.Fatal(err)
	}
	cfg.CacheEntries = -1
	uncached, err := geodata.New(cfg, geodata.WithDatabaseBytes(b))
	if err != nil {
		t.Fatal(err)
	}
	ref := newReference(t, b, policyFromConfig(cfg), w.coverage)
	for _, space := range []netip.Prefix{worldSpace4, worldSpace6} {
		size := 1 << (space.Addr().BitLen() - space.Bits())
		want := make([]string, size)
		for i := range want {
			want[i], _ = ref.region(t, addrAt(space, i))
		}
		for i := range size {
			a := addrAt(space, i)
			res := g.Locate(a)
			if res.Region != want[i] {
				t.Fatalf("Locate(%s) = %s by %s, want %s", a, res.Region, res.Rule, want[i])
			}
			if !res.Scope.Contains(a) {
				t.Fatalf("Locate(%s): scope %s does not contain it", a, res.Scope)
			}
			if res.Scope.Addr().Is4() != a.Is4() {
				t.Fatalf("Locate(%s): scope %s of another family", a, res.Scope)
			}
			// Every address of the scope.
			inner := res.Scope.Bits() >= space.Bits()
			if inner {
				lo := indexIn(space, res.Scope.Masked().Addr())
				for j := lo; j < lo+1<<(a.BitLen()-res.Scope.Bits()); j++ {
					if want[j] != res.Region {
						t.Fatalf("Locate(%s) = %s, scope %s too wide: %s is %s", a, res.Region, res.Scope, addrAt(space, j), want[j])
					}
				}
			} else {
				for _, x := range randomIn(rng, res.Scope, 64) {
					if r, _ := ref.region(t, x); r != res.Region {
						t.Fatalf("Locate(%s) = %s, scope %s too wide: %s is %s", a, res.Region, res.Scope, x, r)
					}
				}
				for j := range size {
					if want[j] != res.Region {
						t.Fatalf("Locate(%s) = %s, scope %s too wide: %s is %s", a, res.Region, res.Scope, addrAt(space, j), want[j])
					}
				}
			}
			// As wide as possible, when only the database decides.
			if !withCoverage && res.Scope.Bits() > space.Bits() {
				parent := netip.PrefixFrom(a, res.Scope.Bits()-1).Masked()
				lo := indexIn(space, parent.Addr())
				other := false
				for j := lo; j < lo+1<<(a.BitLen()-parent.Bits()) && !other; j++ {
					other = want[j] != res.Region
				}
				if !other {
					t.Fatalf("Locate(%s) = %s, scope %s could be %s", a, res.Region, res.Scope, parent)
				}
			}
			// The cache changes nothing.
			if again, fresh := g.Locate(a), uncached.Locate(a); again != res || fresh != res {
				t.Fatalf("Locate(%s): first %+v, again %+v, uncached %+v", a, res, again, fresh)
			}
			// Nor does the IPv4 block table.
			if r, p := g.LocateRegion(a); r != res.Region || p != res.Scope {
				t.Fatalf("LocateRegion(%s) = %s %s, Locate %s %s", a, r, p, res.Region, res.Scope)
			}
		}
	}
	// Out of the spaces: nothing there but the default.
	for range 200 {
		a := randomAddr(rng)
		res := g.Locate(a)
		if r, _ := ref.region(t, a); r != res.Region || !res.Scope.Contains(a) {
			t.Fatalf("Locate(%s) = %+v, want %s", a, res, r)
		}
		if r, p := g.LocateRegion(a); r != res.Region || p != res.Scope {
			t.Fatalf("LocateRegion(%s) = %s %s, Locate %s %s", a, r, p, res.Region, res.Scope)
		}
	}
	st := g.Stats()
	if st.LookupFailures != 0 || st.CacheHits == 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCoverageScope shows how coverage entries narrow scopes.
func TestCoverageScope(t *testing.T) {
	nets := []geodatatest.Net{
		{Prefix: mustPrefix("10.0.0.0/8"), Continent: "EU", NoCoordinates: true},
		{Prefix: mustPrefix("172.16.0.0/12"), Continent: "EU", NoCoordinates: true},
		{Prefix: mustPrefix("2001:db8::/32"), Continent: "AS", NoCoordinates: true},
		{Prefix: mustPrefix("2001:db8:1::/48"), Continent: "EU", NoCoordinates: true},
	}
	cov := []geodata.Coverage{
		{Prefix: mustPrefix("10.1.0.0/16"), Region: "sa"},
		{Prefix: mustPrefix("10.1.2.0/24"), Region: "eu"},
		{Prefix: mustPrefix("10.1.2.128/25"), Region: "apac"},
		{Prefix: mustPrefix("172.16.0.0/12"), Region: "sa"},
		{Prefix: mustPrefix("172.16.5.0/24"), Region: "sa"}, // same region: does not narrow
		{Prefix: mustPrefix("2001:db8:0:1::/64"), Region: "na-west"},
	}
	dir := t.TempDir()
	cfg := benchConfig(t)
	cfg.CoverageFile = writeCoverage(t, dir, cov)
	g, err := geodata.New(cfg, geodata.WithDatabaseBytes(build(t, nets)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ addr, region, rule, scope string }{
		{"10.2.0.0", "eu", "continent", "10.2.0.0/15"},    // the /8 minus the coverage inside it
		{"10.128.0.1", "eu", "continent", "10.128.0.0/9"}, // the other half of the /8
		{"10.0.0.1", "eu", "continent", "10.0.0.0/16"},    // next to 10.1/16
		{"10.1.3.0", "sa", "coverage", "10.1.3.0/24"},     // the /16 minus 10.1.2/24
		{"10.1.64.0", "sa", "coverage", "10.1.64.0/18"},
		{"10.1.2.5", "eu", "coverage", "10.1.2.0/25"}, // the /24 minus its apac half
		{"10.1.2.200", "apac", "coverage", "10.1.2.128/25"},
		{"172.17.0.0", "sa", "coverage", "172.16.0.0/12"}, // same-region entry inside does not narrow
		{"172.16.5.1", "sa", "coverage", "172.16.5.0/24"},
		{"2001:db8:0:2::1", "apac", "continent", "2001:db8:0:2::/63"}, // the database's /48, minus the na-west /64
		{"2001:db8:1::1", "eu", "continent", "2001:db8:1::/48"},
		{"2001:db8:0:1::5", "na-west", "coverage", "2001:db8:0:1::/64"},
		{"2001:db8:8000::", "apac", "continent", "2001:db8:8000::/33"},
	} {
		res := g.Locate(mustAddr(tc.addr))
		if res.Region != tc.region || res.Rule != tc.rule || res.Scope != mustPrefix(tc.scope) {
			t.Errorf("Locate(%s) = %s by %s scope %s, want %s by %s scope %s", tc.addr, res.Region, res.Rule, res.Scope, tc.region, tc.rule, tc.scope)
		}
	}
}
