package geodata_test

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// Each benchmark runs on a synthetic database (a random world around the
// demo networks) and, when GEOLITE2_CITY names one, on GeoLite2 City.

// benchDBs returns the databases to benchmark, by name.
func benchDBs(b *testing.B) map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 1))
	w := newWorld(rng, false)
	dbs := map[string][]byte{"synthetic": build(b, append(w.nets, geodatatest.Demo()...))}
	if p := os.Getenv("GEOLITE2_CITY"); p != "" {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		dbs["geolite2"] = raw
	}
	return dbs
}

// benchAddrs returns n addresses for a database: for the synthetic one
// inside its networks, for GeoLite2 random public ones.
func benchAddrs(name string, n int) []netip.Addr {
	rng := rand.New(rand.NewPCG(2, 2))
	out := make([]netip.Addr, n)
	for i := range out {
		switch {
		case name == "geolite2":
			out[i] = randomAddr(rng)
		case i%2 == 0:
			out[i] = addrAt(worldSpace4, rng.IntN(4096))
		default:
			out[i] = addrAt(worldSpace6, rng.IntN(4096))
		}
	}
	return out
}

func benchGeo(b *testing.B, db []byte, cacheEntries int) *geodata.Geo {
	cfg := benchConfig(b)
	cfg.CacheEntries = cacheEntries
	g, err := geodata.New(cfg, geodata.WithDatabaseBytes(db))
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// BenchmarkLocateCached: repeated lookups of 1024 client networks, all in
// the cache.
func BenchmarkLocateCached(b *testing.B) {
	for name, db := range benchDBs(b) {
		b.Run(name, func(b *testing.B) {
			g := benchGeo(b, db, 0)
			addrs := benchAddrs(name, 1024)
			for _, a := range addrs {
				g.Locate(a)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				g.Locate(addrs[i&1023])
				i++
			}
			b.StopTimer()
			if st := g.Stats(); st.CacheHits < st.Lookups-2048 {
				b.Fatalf("not cached: %+v", st)
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			g := benchGeo(b, db, 0)
			addrs := benchAddrs(name, 1024)
			for _, a := range addrs {
				g.Locate(a)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(1024)
				for pb.Next() {
					g.Locate(addrs[i&1023])
					i++
				}
			})
		})
	}
}

// BenchmarkLocateMiss: every lookup does the whole work (tree walk,
// record decode, rules, coverage and scope); "store" also stores the
// answer in a cache too small to keep it.
func BenchmarkLocateMiss(b *testing.B) {
	for name, db := range benchDBs(b) {
		addrs := benchAddrs(name, 1<<16)
		b.Run(name+"/nocache", func(b *testing.B) {
			g := benchGeo(b, db, -1)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g.Locate(addrs[i&(1<<16-1)])
				i++
			}
		})
		b.Run(name+"/store", func(b *testing.B) {
			g := benchGeo(b, db, 1)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g.Locate(addrs[i&(1<<16-1)])
				i++
			}
		})
	}
}

// BenchmarkDBLookup: DB.Lookup alone.
func BenchmarkDBLookup(b *testing.B) {
	for name, raw := range benchDBs(b) {
		b.Run(name, func(b *testing.B) {
			db, err := geodata.FromBytes(raw)
			if err != nil {
				b.Fatal(err)
			}
			addrs := benchAddrs(name, 1<<16)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := db.Lookup(addrs[i&(1<<16-1)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkNew: opening a database and building the lookup state (the
// cost of every reload that changes the database or the regions).
func BenchmarkNew(b *testing.B) {
	for name, raw := range benchDBs(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchGeo(b, raw, 0)
			}
		})
	}
}

// BenchmarkLocateRegion: the DNS server's lookup over 65536 random IPv4
// client /24s (more networks than the default cache holds), from the block
// table, against Locate on the same addresses with the default cache.
func BenchmarkLocateRegion(b *testing.B) {
	for name, db := range benchDBs(b) {
		rng := rand.New(rand.NewPCG(3, 3))
		addrs := make([]netip.Addr, 1<<16)
		for i := range addrs {
			if name == "geolite2" {
				addrs[i] = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
			} else {
				addrs[i] = addrAt(worldSpace4, rng.IntN(4096))
			}
		}
		b.Run(name+"/table", func(b *testing.B) {
			g := benchGeo(b, db, 0)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g.LocateRegion(addrs[i&(1<<16-1)])
				i++
			}
		})
		b.Run(name+"/locate", func(b *testing.B) {
			g := benchGeo(b, db, 0)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g.Locate(addrs[i&(1<<16-1)])
				i++
			}
		})
	}
}
