package geodata_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// TestDBMatchesLibrary compares DB.Lookup, which walks the tree and decodes
// records itself, with the maxminddb library, for every record size and
// both tree types.
func TestDBMatchesLibrary(t *testing.T) {
	for _, o := range []geodatatest.Options{
		{RecordSize: 24}, {RecordSize: 28}, {RecordSize: 32},
		{RecordSize: 24, IPVersion: 4}, {RecordSize: 32, IPVersion: 4},
	} {
		t.Run(fmt.Sprintf("record_size=%d,ip_version=%d", o.RecordSize, max(o.IPVersion, 6)), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(o.RecordSize), uint64(o.IPVersion)))
			w := newWorld(rng, false)
			nets := w.nets
			if o.IPVersion == 4 {
				nets = nil
				for _, n := range w.nets {
					if n.Prefix.Addr().Is4() {
						nets = append(nets, n)
					}
				}
			}
			b, err := geodatatest.BuildWith(o, nets)
			if err != nil {
				t.Fatal(err)
			}
			db, err := geodata.FromBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			ref := newReference(t, b, nil, nil)
			addrs := []netip.Addr{mustAddr("::"), mustAddr("0.0.0.0"), mustAddr("255.255.255.255"), mustAddr("ffff::1")}
			for i := range 4096 {
				addrs = append(addrs, addrAt(worldSpace4, i), addrAt(worldSpace6, i))
			}
			for range 2000 {
				addrs = append(addrs, randomAddr(rng))
			}
			for _, a := range addrs {
				loc, err := db.Lookup(a)
				if err != nil {
					t.Fatalf("Lookup(%s): %v", a, err)
				}
				if o.IPVersion == 4 && a.Is6() {
					if loc.Found || loc.Network != mustPrefix("::/0") {
						t.Fatalf("Lookup(%s) in an IPv4 database = %+v", a, loc)
					}
					continue
				}
				res := ref.db.Lookup(a)
				var rec refRecord
				if err := res.Decode(&rec); err != nil {
					t.Fatal(err)
				}
				want := res.Prefix()
				if a.Is4() && want.Addr().Is6() {
					want = mustPrefix("0.0.0.0/0") // no IPv4 subtree: all of IPv4 shares one value
				}
				if loc.Found != res.Found() || loc.Network != want || loc.Country != rec.Country.IsoCode ||
					loc.Continent != rec.Continent.Code || loc.HasCoordinates != (rec.Location.Latitude != nil) {
					t.Fatalf("Lookup(%s) = %+v, library: found %v network %s %+v", a, loc, res.Found(), res.Prefix(), rec)
				}
			}
		})
	}
}

func TestDBErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := geodata.Open(filepath.Join(dir, "missing.mmdb")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing): %v", err)
	}
	if _, err := geodata.FromBytes([]byte("not a database")); err == nil {
		t.Error("FromBytes(garbage): nil error")
	}
	asn, err := geodatatest.BuildWith(geodatatest.Options{DatabaseType: "GeoLite2-ASN"}, geodatatest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := geodata.FromBytes(asn); !errors.Is(err, geodata.ErrUnsupported) || !strings.Contains(err.Error(), "GeoLite2-ASN") {
		t.Errorf("FromBytes(ASN database): %v", err)
	}
	path := geodatatest.WriteFile(t, dir, geodatatest.Demo())
	db, err := geodata.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Lookup(netip.Addr{}); err == nil {
		t.Error("Lookup(invalid): nil error")
	}
	loc, err := db.Lookup(mustAddr("fe80::1%eth0"))
	if err != nil || loc.Found || !loc.Network.Contains(mustAddr("fe80::1")) {
		t.Errorf("Lookup(zoned) = %+v, %v", loc, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Lookup(mustAddr("192.0.2.1")); !errors.Is(err, geodata.ErrClosed) {
		t.Errorf("Lookup after Close: %v", err)
	}
}
