package geodata_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// Crashers and interesting inputs found while fuzzing become rows here
// (none so far) and seeds below.
var coverageSeeds = []string{
	"",
	"10.0.0.0/8 eu\n",
	"# comment\n  2001:db8::/32\tapac # trailing\n\n192.0.2.1 na-west\n",
	"10.0.0.0/8 eu\n10.0.0.0/8 sa\n",
	"10.0.0.1/8 eu",
	"::ffff:10.0.0.0/104 eu",
	"fe80::1%eth0 eu",
	"0.0.0.0/0 a\n::/0 b\n",
	"1.2.3.4/32 x y\n",
	"\x00 \xff",
	"#",
	"10.0.0.0/8 eu\r\n",
}

// FuzzCoverageFile: the parser never panics, and whatever it accepts
// formats and parses back to the same entries.
func FuzzCoverageFile(f *testing.F) {
	for _, s := range coverageSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := geodata.ParseCoverage(strings.NewReader(in))
		if err != nil {
			if got != nil {
				t.Fatalf("entries with an error: %v", got)
			}
			return
		}
		for _, c := range got {
			if !c.Prefix.IsValid() || c.Prefix != c.Prefix.Masked() || c.Prefix.Addr().Is4In6() || c.Prefix.Addr().Zone() != "" || c.Region == "" {
				t.Fatalf("accepted a bad entry %+v from %q", c, in)
			}
		}
		var b bytes.Buffer
		if err := geodata.FormatCoverage(&b, got); err != nil {
			t.Fatal(err)
		}
		again, err := geodata.ParseCoverage(&b)
		if err != nil {
			t.Fatalf("formatted entries do not parse: %v\n%s", err, b.String())
		}
		if len(got) > 0 && !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip changed the entries:\n%v\n%v", got, again)
		}
	})
}

// FuzzLocate looks up fuzzed addresses on a generated database with
// coverage entries: the region is the spec's, Scope contains the address
// and has its family, every sampled address of Scope maps alike, and a
// cached answer equals a fresh one.
func FuzzLocate(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 7))
	w := newWorld(rng, true)
	b, err := geodatatest.Build(w.nets)
	if err != nil {
		f.Fatal(err)
	}
	cfg := worldConfig()
	cfg.CoverageFile = writeCoverage(f, f.TempDir(), w.coverage)
	g, err := geodata.New(cfg, geodata.WithDatabaseBytes(b))
	if err != nil {
		f.Fatal(err)
	}
	ref := newReference(f, b, policyFromConfig(cfg), w.coverage)

	f.Add(uint8(0), []byte{0, 0})
	f.Add(uint8(1), []byte{0x0f, 0xff})
	f.Add(uint8(2), []byte{10, 0, 1, 2})
	f.Add(uint8(3), bytes.Repeat([]byte{0x20}, 16))
	f.Add(uint8(4), []byte{1, 2})
	f.Add(uint8(5), []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, mode uint8, in []byte) {
		a := fuzzAddr(mode, in)
		res := g.Locate(a)
		ua := a.Unmap().WithZone("")
		if !res.Scope.Contains(ua) || res.Scope.Addr().Is4() != ua.Is4() {
			t.Fatalf("Locate(%s): scope %s", a, res.Scope)
		}
		if want, rule := ref.region(t, ua); want != res.Region || rule != res.Rule {
			t.Fatalf("Locate(%s) = %s by %s, want %s by %s", a, res.Region, res.Rule, want, rule)
		}
		rng := rand.New(rand.NewPCG(uint64(len(in)), uint64(mode)))
		for _, x := range randomIn(rng, res.Scope, 32) {
			if r, _ := ref.region(t, x); r != res.Region {
				t.Fatalf("Locate(%s) = %s, scope %s too wide: %s is %s", a, res.Region, res.Scope, x, r)
			}
		}
		if again := g.Locate(a); again != res {
			t.Fatalf("Locate(%s): %+v, then %+v", a, res, again)
		}
		if r, p := g.LocateRegion(a); r != res.Region || p != res.Scope {
			t.Fatalf("LocateRegion(%s) = %s %s, Locate %s %s", a, r, p, res.Region, res.Scope)
		}
	})
}

// fuzzAddr turns fuzz input into an address, mostly inside the world's
// spaces where the networks are.
func fuzzAddr(mode uint8, in []byte) netip.Addr {
	var b [16]byte
	copy(b[:], in)
	i := int(binary.BigEndian.Uint16(b[:2])) & 0xfff
	switch mode % 6 {
	case 0:
		return addrAt(worldSpace4, i)
	case 1:
		return addrAt(worldSpace6, i)
	case 2:
		return netip.AddrFrom4([4]byte(b[:4]))
	case 3:
		return netip.AddrFrom16(b)
	case 4:
		return netip.AddrFrom16(addrAt(worldSpace4, i).As16()) // 4in6
	default:
		return netip.AddrFrom16(b).WithZone("eth0")
	}
}

// FuzzDatabase feeds damaged databases to FromBytes and New: they never
// panic, and once New accepted a database (its summary walk proves the
// tree and records sound) no lookup fails, and the IPv4 block table agrees
// with Locate.
func FuzzDatabase(f *testing.F) {
	small := []geodatatest.Net{
		{Prefix: mustPrefix("10.0.0.0/25"), Continent: "EU", Country: "DE", Latitude: 50, Longitude: 8},
		{Prefix: mustPrefix("10.0.0.128/26"), Subdivision: "US-CA", Latitude: 37, Longitude: -122},
		{Prefix: mustPrefix("2001:db8::/33"), Continent: "AS", NoCoordinates: true},
	}
	for _, o := range []geodatatest.Options{{RecordSize: 24}, {RecordSize: 28}, {RecordSize: 32}, {IPVersion: 4}} {
		nets := small
		if o.IPVersion == 4 {
			nets = small[:2]
		}
		b, err := geodatatest.BuildWith(o, nets)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cfg := worldConfig()
	addrs := []netip.Addr{mustAddr("10.0.0.1"), mustAddr("10.0.0.130"), mustAddr("10.0.0.200"), mustAddr("2001:db8::1"),
		mustAddr("2001:db8:8000::1"), mustAddr("1.2.3.4"), mustAddr("::1"), mustAddr("ffff::")}
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := geodata.FromBytes(b)
		if err != nil {
			return
		}
		for _, a := range addrs {
			db.Lookup(a)
		}
		g, err := geodata.New(cfg, geodata.WithDatabaseBytes(b))
		if err != nil {
			return
		}
		for _, a := range addrs {
			res := g.Locate(a)
			if !res.Scope.Contains(a) {
				t.Fatalf("Locate(%s): scope %s", a, res.Scope)
			}
			if r, p := g.LocateRegion(a); r != res.Region || p != res.Scope {
				t.Fatalf("LocateRegion(%s) = %s %s, Locate %s %s", a, r, p, res.Region, res.Scope)
			}
		}
		if st := g.Stats(); st.LookupFailures != 0 {
			t.Fatalf("%d lookups failed on an accepted database", st.LookupFailures)
		}
	})
}
