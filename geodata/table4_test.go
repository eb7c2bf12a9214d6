package geodata_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// TestLocateRegionTable checks which IPv4 blocks the /24 block table
// answers, and that every answer equals Locate's Region and Scope: blocks
// split by a narrower network of another region, or holding a coverage
// entry longer than /24, are left to Locate.
func TestLocateRegionTable(t *testing.T) {
	nets := []geodatatest.Net{
		{Prefix: mustPrefix("10.0.0.0/8"), Continent: "EU", NoCoordinates: true},
		{Prefix: mustPrefix("10.9.9.0/26"), Continent: "AS", NoCoordinates: true}, // splits its /24
		{Prefix: mustPrefix("10.9.8.0/26"), Continent: "EU", NoCoordinates: true}, // same region: does not
		{Prefix: mustPrefix("172.16.0.0/12"), Continent: "EU", NoCoordinates: true},
		{Prefix: mustPrefix("2001:db8::/32"), Continent: "AS", NoCoordinates: true},
	}
	cov := []geodata.Coverage{
		{Prefix: mustPrefix("10.1.0.0/16"), Region: "sa"},
		{Prefix: mustPrefix("10.1.2.128/25"), Region: "apac"},
		{Prefix: mustPrefix("172.16.5.0/24"), Region: "eu"},
		{Prefix: mustPrefix("172.16.6.7/32"), Region: "eu"}, // same region, longer than /24
	}
	cfg := benchConfig(t)
	cfg.CoverageFile = writeCoverage(t, t.TempDir(), cov)
	g, err := geodata.New(cfg, geodata.WithDatabaseBytes(build(t, nets)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr  string
		table bool
	}{
		{"10.2.0.1", true},
		{"10.200.3.4", true},
		{"10.9.9.200", false}, // a /26 of AS in the block
		{"10.9.8.200", true},
		{"10.1.3.9", true},
		{"10.1.2.5", false}, // the apac /25 in the block
		{"172.16.5.1", true},
		{"172.16.6.9", false}, // a coverage /32 in the block
		{"172.16.7.1", true},
		{"8.8.8.8", true}, // not in the database: default region
		{"::ffff:10.2.0.1", true},
		{"2001:db8::1", false},
	} {
		a := mustAddr(tc.addr)
		before := g.Stats().TableHits
		r, p := g.LocateRegion(a)
		got := g.Stats().TableHits - before
		res := g.Locate(a)
		if r != res.Region || p != res.Scope {
			t.Errorf("LocateRegion(%s) = %s %s, Locate %s %s", a, r, p, res.Region, res.Scope)
		}
		if want := map[bool]uint64{true: 1}[tc.table]; got != want {
			t.Errorf("LocateRegion(%s): %d table hits, want %d", a, got, want)
		}
	}
	// 3 uncovered blocks.
	if got := g.Stats().TableBlocks; got != 1<<24-3 {
		t.Errorf("TableBlocks = %d, want %d", got, 1<<24-3)
	}
	// Every call is one lookup: 12 LocateRegion, 12 Locate; 8 from the table.
	if st := g.Stats(); st.Lookups != 24 || st.TableHits != 8 {
		t.Errorf("stats %+v, want 24 lookups, 8 table hits", st)
	}
}

// TestLocateRegionRandom compares LocateRegion with Locate on random
// addresses of random worlds spread over the whole IPv4 space.
func TestLocateRegionRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for w := range 4 {
		var nets []geodatatest.Net
		seen := map[netip.Prefix]bool{}
		for range 300 {
			bits := 8 + rng.IntN(25)
			a := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			n := worldRecords[rng.IntN(len(worldRecords))]
			n.Prefix = netip.PrefixFrom(a, bits).Masked()
			if !seen[n.Prefix] {
				seen[n.Prefix] = true
				nets = append(nets, n)
			}
		}
		b, err := geodatatest.Build(nets)
		if err != nil {
			t.Fatal(err)
		}
		g, err := geodata.New(worldConfig(), geodata.WithDatabaseBytes(b))
		if err != nil {
			t.Fatal(err)
		}
		for range 20000 {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				n := nets[rng.IntN(len(nets))].Prefix
				v := n.Addr().As4()
				x := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
				x |= rng.Uint32() & (1<<(32-n.Bits()) - 1)
				a = netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
			} else {
				a = netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			}
			r, p := g.LocateRegion(a)
			if res := g.Locate(a); r != res.Region || p != res.Scope {
				t.Fatalf("world %d: LocateRegion(%s) = %s %s, Locate %s %s", w, a, r, p, res.Region, res.Scope)
			}
		}
		if g.Stats().TableHits == 0 {
			t.Errorf("world %d: the table answered nothing", w)
		}
	}
}

// TestLocateRegionTableBudget: a build that runs out of its lookup budget
// leaves the rest of the space to Locate, and answers stay the same.
func TestLocateRegionTableBudget(t *testing.T) {
	nets := []geodatatest.Net{
		{Prefix: mustPrefix("10.0.0.0/8"), Continent: "EU", NoCoordinates: true},
		{Prefix: mustPrefix("10.9.9.0/26"), Continent: "AS", NoCoordinates: true},
		{Prefix: mustPrefix("172.16.0.0/12"), Continent: "AS", NoCoordinates: true},
	}
	b := build(t, nets)
	full, err := geodata.New(benchConfig(t), geodata.WithDatabaseBytes(b))
	if err != nil {
		t.Fatal(err)
	}
	old := geodata.SetTableBudget(3)
	partial, err := geodata.New(benchConfig(t), geodata.WithDatabaseBytes(b))
	geodata.SetTableBudget(old)
	if err != nil {
		t.Fatal(err)
	}
	f, p := full.Stats().TableBlocks, partial.Stats().TableBlocks
	if p == 0 || p >= f {
		t.Fatalf("table blocks: %d with the budget, %d without", p, f)
	}
	for _, s := range []string{"1.2.3.4", "10.1.1.1", "10.9.9.9", "10.9.9.200", "172.20.0.1", "200.1.1.1"} {
		a := mustAddr(s)
		res := full.Locate(a)
		for _, g := range []*geodata.Geo{full, partial} {
			if r, sc := g.LocateRegion(a); r != res.Region || sc != res.Scope {
				t.Errorf("LocateRegion(%s) = %s %s, Locate %s %s", a, r, sc, res.Region, res.Scope)
			}
		}
	}
	if partial.Stats().TableHits == 0 || partial.Stats().TableHits == 6 {
		t.Errorf("partial table: %d of 6 answered from it, want some", partial.Stats().TableHits)
	}
}
