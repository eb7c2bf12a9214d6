package geodata_test

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

func demoGeo(t testing.TB, opts ...geodata.Option) *geodata.Geo {
	t.Helper()
	g, err := geodata.New(benchConfig(t), append([]geodata.Option{geodata.WithDatabaseBytes(build(t, geodatatest.Demo()))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestDemo checks the demo world against its documentation.
func TestDemo(t *testing.T) {
	g := demoGeo(t)
	for _, tc := range []struct{ addr, region, rule, scope string }{
		{"192.0.2.0", "na-east", "country", "192.0.0.0/6"}, // not in the database around it: na-east too
		{"198.51.100.0", "eu", "continent", "198.51.100.0/24"},
		{"198.51.100.200", "eu", "continent", "198.51.100.0/24"},
		{"203.0.113.0", "apac", "continent", "203.0.113.0/24"},
		{"198.18.0.0", "na-west", "subdivision", "198.18.0.0/16"},
		{"198.19.0.0", "sa", "continent", "198.19.0.0/16"},
		{"2001:db8::", "na-east", "country", "2001:db8::/34"},
		{"2001:db8:4000::", "na-west", "subdivision", "2001:db8:4000::/34"},
		{"2001:db8:8000::", "eu", "continent", "2001:db8:8000::/34"},
		{"2001:db8:c000::", "apac", "continent", "2001:db8:c000::/35"},
		{"2001:db8:e000::", "sa", "continent", "2001:db8:e000::/36"},
		{"2001:db8:f000::", "na-west", "nearest", "2001:db8:f000::/37"},
		{"2001:db8:ffff::", "na-east", "default", "2001:db8:ffff::/48"},
		{"127.0.0.1", "na-east", "default", "0.0.0.0/1"},
		{"::1", "na-east", "default", "::/97"}, // ::1 is in ::/96, the IPv4 subtree
	} {
		res := g.Locate(mustAddr(tc.addr))
		if res.Region != tc.region || res.Rule != tc.rule || res.Scope != mustPrefix(tc.scope) {
			t.Errorf("Locate(%s) = %s by %s scope %s, want %s by %s scope %s", tc.addr, res.Region, res.Rule, res.Scope, tc.region, tc.rule, tc.scope)
		}
	}
}

func TestLocateForms(t *testing.T) {
	g := demoGeo(t)
	v4 := g.Locate(mustAddr("198.51.100.9"))
	for _, s := range []string{"::ffff:198.51.100.9"} {
		if got := g.Locate(mustAddr(s)); got != v4 {
			t.Errorf("Locate(%s) = %+v, want the IPv4 answer %+v", s, got, v4)
		}
	}
	if v4.Scope.Addr().Is6() || v4.Location.Network != mustPrefix("198.51.100.0/25") {
		t.Errorf("IPv4 answer with IPv6 prefixes: %+v", v4)
	}
	zoned := g.Locate(mustAddr("2001:db8::1%eth0"))
	if zoned != g.Locate(mustAddr("2001:db8::1")) {
		t.Errorf("zoned: %+v", zoned)
	}
	if res := g.Locate(netip.Addr{}); res.Region != "na-east" || res.Rule != "default" || res.Scope.IsValid() {
		t.Errorf("Locate(invalid) = %+v", res)
	}
}

func TestFallback(t *testing.T) {
	g := demoGeo(t)
	if got, want := g.Regions(), []string{"na-east", "na-west", "eu", "apac", "sa"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Regions = %v", got)
	}
	for region, want := range map[string][]string{
		"na-east": {"na-west", "eu", "sa", "apac"},
		"na-west": {"na-east", "eu", "sa", "apac"},
		"eu":      {"na-east", "na-west", "sa", "apac"},
		"apac":    {"eu", "na-west", "na-east", "sa"},
		"sa":      {"na-east", "eu", "na-west", "apac"},
	} {
		if got := g.Fallback(region); !reflect.DeepEqual(got, want) {
			t.Errorf("Fallback(%s) = %v, want %v", region, got, want)
		}
	}
	// The same order as the spec's distance sort from each site.
	pol := loadRefPolicy(t, "testdata")
	for _, r := range pol.regions {
		var want []string
		for _, n := range pol.byDistance(r.lat, r.lon) {
			if n != r.name {
				want = append(want, n)
			}
		}
		if got := g.Fallback(r.name); !reflect.DeepEqual(got, want) {
			t.Errorf("Fallback(%s) = %v, spec order %v", r.name, got, want)
		}
	}
	if g.Fallback("mars") != nil {
		t.Error("Fallback(unknown) is not nil")
	}
	// Ties keep config order.
	cfg := geodata.Config{Regions: []geodata.Region{{Name: "x"}, {Name: "b", Latitude: 1}, {Name: "a", Latitude: -1}}}
	g2, err := geodata.New(cfg, geodata.WithDatabaseBytes(build(t, geodatatest.Demo())))
	if err != nil {
		t.Fatal(err)
	}
	if got := g2.Fallback("x"); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Errorf("Fallback(x) = %v", got)
	}
}

func TestStatsAndCache(t *testing.T) {
	g := demoGeo(t)
	for range 3 {
		g.Locate(mustAddr("198.51.100.1"))
		// The same scope (198.51.100.0/24), another record (GB, not DE):
		// cached apart, as the cache keeps exact answers.
		g.Locate(mustAddr("198.51.100.250"))
	}
	st := g.Stats()
	if st.Lookups != 6 || st.CacheHits != 4 || st.LookupFailures != 0 {
		t.Errorf("stats %+v, want 6 lookups, 4 hits", st)
	}
	if st.DatabaseType != "GeoLite2-City" || !st.DatabaseBuilt.Equal(geodatatest.BuildEpoch) || st.Networks != 0 {
		t.Errorf("stats %+v", st)
	}
	// Narrow scopes are cached per address.
	db := build(t, []geodatatest.Net{
		{Prefix: mustPrefix("10.0.0.0/26"), Continent: "EU", NoCoordinates: true},
		{Prefix: mustPrefix("10.0.0.64/26"), Continent: "AS", NoCoordinates: true},
	})
	g, err := geodata.New(benchConfig(t), geodata.WithDatabaseBytes(db))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := g.Locate(mustAddr("10.0.0.1")); r.Region != "eu" || r.Scope != mustPrefix("10.0.0.0/26") {
			t.Fatalf("Locate = %+v", r)
		}
		if r := g.Locate(mustAddr("10.0.0.65")); r.Region != "apac" {
			t.Fatalf("Locate = %+v", r)
		}
	}
	if st := g.Stats(); st.CacheHits != 2 {
		t.Errorf("stats %+v, want 2 hits", st)
	}
}

// TestConcurrency runs lookups while the database file is replaced under
// the watcher and the config is reloaded, under -race. Each answer must be
// one of the answers the address can have.
func TestConcurrency(t *testing.T) {
	dir := t.TempDir()
	cfg := benchConfig(t)
	cfg.CheckInterval = 10 * time.Millisecond
	cfg.Database = geodatatest.WriteFile(t, dir, geodatatest.Demo())
	g := startGeo(t, cfg)
	other := cfg
	other.Regions = append([]geodata.Region(nil), cfg.Regions...)
	other.Regions[2].Continents = nil // eu loses EU: 198.51.100.x goes to the nearest site, still eu
	other.Regions[3].Continents = []string{"OC"}
	allowed := map[string]map[string]bool{
		"198.51.100.1": {"eu": true},
		"203.0.113.1":  {"apac": true},
		"192.0.2.1":    {"na-east": true, "sa": true},
		"10.0.0.1":     {"na-east": true},
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 0))
			for !stop.Load() {
				for s, ok := range allowed {
					if r := g.Locate(mustAddr(s)); !ok[r.Region] {
						t.Errorf("Locate(%s) = %s", s, r.Region)
					}
				}
				a := randomAddr(rng)
				if r := g.Locate(a); !r.Scope.Contains(a) {
					t.Errorf("Locate(%s) scope %s", a, r.Scope)
				}
				g.Stats()
				g.Fallback("eu")
			}
		}()
	}
	nets := geodatatest.Demo()
	for i := range 20 {
		c := cfg
		if i%2 == 1 {
			c = other
		}
		if err := g.Reload(c); err != nil {
			t.Error(err)
		}
		// 192.0.2.0/24 flips between the US and Brazil.
		if i%3 == 0 {
			nets[0].Subdivision, nets[0].Country, nets[0].Continent = "", "BR", "SA"
			nets[1].Subdivision, nets[1].Country, nets[1].Continent = "", "BR", "SA"
		} else {
			nets = geodatatest.Demo()
		}
		geodatatest.ReplaceFile(t, cfg.Database, nets)
		time.Sleep(15 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", g.Stats())
}
