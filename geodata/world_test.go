package geodata_test

import (
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// A world is a small synthetic database and coverage file: random
// networks packed into one IPv4 /20 and one IPv6 /116 (4096 addresses
// each, small enough to check every address), with records drawn from a
// pool in which different records map to the same region (so that scopes
// can widen over several networks) and some addresses left out.

var (
	worldSpace4 = mustPrefix("10.0.0.0/20")
	worldSpace6 = mustPrefix("2001:db8::/116")
)

// worldConfig has three regions; "a" is the default.
func worldConfig() geodata.Config {
	c := geodata.Config{
		Regions: []geodata.Region{
			{Name: "a", Latitude: 10, Longitude: 10, Countries: []string{"AA"}},
			{Name: "b", Latitude: -10, Longitude: 100, Continents: []string{"EU"}},
			{Name: "c", Latitude: 40, Longitude: -100, Subdivisions: []string{"AA-X1"}, Continents: []string{"AF"}},
		},
	}
	c.SetDefaults()
	return c
}

// worldRecords: regions a a c b c a c a b b (default a for no location).
var worldRecords = []geodatatest.Net{
	{Country: "AA", NoCoordinates: true},                                 // a country
	{Country: "AA", Subdivision: "AA-X2", Latitude: 40, Longitude: -100}, // a country
	{Country: "AA", Subdivision: "AA-X1", NoCoordinates: true},           // c subdivision
	{Continent: "EU", Country: "BB", Latitude: 10, Longitude: 10},        // b continent
	{Continent: "AF", NoCoordinates: true},                               // c continent
	{Latitude: 11, Longitude: 11},                                        // a nearest
	{Continent: "NA", Latitude: 39, Longitude: -99},                      // c nearest
	{NoCoordinates: true},                                                // a default
	{Country: "ZZ", Latitude: -9, Longitude: 99, AccuracyRadius: 10},     // b nearest
	{Continent: "EU", NoCoordinates: true},                               // b continent
}

type world struct {
	nets     []geodatatest.Net
	coverage []geodata.Coverage
}

// newWorld makes a random world; withCoverage adds up to 6 coverage
// entries (some nested) inside the spaces.
func newWorld(rng *rand.Rand, withCoverage bool) world {
	var w world
	for _, space := range []netip.Prefix{worldSpace4, worldSpace6} {
		w.split(rng, space, space.Bits()+12)
		// A few overlapping networks, inserted over the partition.
		for range rng.IntN(4) {
			n := worldRecords[rng.IntN(len(worldRecords))]
			n.Prefix = randomSub(rng, space, 4+rng.IntN(9))
			if !slices.ContainsFunc(w.nets, func(x geodatatest.Net) bool { return x.Prefix == n.Prefix }) {
				w.nets = append(w.nets, n)
			}
		}
		if withCoverage {
			for range rng.IntN(4) {
				p := randomSub(rng, space, rng.IntN(13))
				if !slices.ContainsFunc(w.coverage, func(c geodata.Coverage) bool { return c.Prefix == p }) {
					w.coverage = append(w.coverage, geodata.Coverage{Prefix: p, Region: []string{"a", "b", "c"}[rng.IntN(3)]})
				}
			}
		}
	}
	return w
}

// split partitions p into networks down to maxBits, some left empty.
func (w *world) split(rng *rand.Rand, p netip.Prefix, maxBits int) {
	if p.Bits() < maxBits && rng.IntN(10) < 7 {
		lo, hi := halves(p)
		w.split(rng, lo, maxBits)
		w.split(rng, hi, maxBits)
		return
	}
	if rng.IntN(6) == 0 {
		return // not in the database
	}
	n := worldRecords[rng.IntN(len(worldRecords))]
	n.Prefix = p
	w.nets = append(w.nets, n)
}

// halves splits p into its two children.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
	b := p.Addr().AsSlice()
	b[p.Bits()/8] |= 1 << (7 - p.Bits()%8)
	a, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(a, p.Bits()+1)
}

// randomSub returns a random prefix extra bits longer than space, inside it.
func randomSub(rng *rand.Rand, space netip.Prefix, extra int) netip.Prefix {
	b := space.Addr().AsSlice()
	for i := space.Bits(); i < space.Bits()+extra; i++ {
		if rng.IntN(2) == 1 {
			b[i/8] |= 1 << (7 - i%8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, space.Bits()+extra)
}

// addrAt returns the i-th address of space.
func addrAt(space netip.Prefix, i int) netip.Addr {
	b := space.Addr().AsSlice()
	n := len(b)
	b[n-1] |= byte(i)
	b[n-2] |= byte(i >> 8)
	a, _ := netip.AddrFromSlice(b)
	return a
}

// indexIn returns a's index in space (a must be in it).
func indexIn(space netip.Prefix, a netip.Addr) int {
	b := a.AsSlice()
	n := len(b)
	return (int(b[n-2])<<8 | int(b[n-1])) & (1<<(a.BitLen()-space.Bits()) - 1)
}
