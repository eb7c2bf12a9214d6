package geodata

import (
	"encoding/binary"
	"net/netip"
)

// table4 answers Region and Scope for IPv4 addresses without a database
// walk or a cache probe: one entry per /24 block, for every block whose
// addresses all get the same region and the same scope (scope /24 or
// wider). It is built once per state, from the same locate that answers
// everything else, so it cannot disagree with Locate; a block it does
// not cover (narrower networks of different regions inside it, or a
// coverage_file entry longer than /24 in it) answers 0 and Locate's
// cache and walk take over.
//
// Two levels keep it small: top has one word per /16, either the entry
// of the whole /16 (flagged top16) or 1 + the index of a chunk of 256
// block entries. A /16 whose blocks differ gets a chunk: for GeoLite2
// City that is a few MB in all, against 32 MB for a flat array.
type table4 struct {
	top     [1 << 16]uint32
	chunks  []uint16
	blocks  int // blocks with an entry
	lookups int // locate calls the build made
}

// An entry is t4valid | scope bits << 10 | region index; 0: not covered.
const (
	t4valid      = 1 << 15
	t4scopeShift = 10
	t4regionMask = 1<<t4scopeShift - 1
	t4maxRegions = t4regionMask + 1
	top16        = 1 << 31
)

// t4Budget caps the lookups of one table build (a second or two); a
// variable for the tests.
var t4Budget = 1 << 22

// get returns the entry of the /24 block of v (0: ask Locate).
func (t *table4) get(v uint32) uint16 {
	e := t.top[v>>16]
	if e&top16 != 0 {
		return uint16(e)
	}
	if e == 0 {
		return 0
	}
	return t.chunks[(e-1)<<8|v>>8&0xFF]
}

// set gives blocks [from, to) (in /24 units) entry e.
func (t *table4) set(from, to uint32, e uint16) {
	for b := from; b < to; {
		hi := b >> 8
		if b&0xFF == 0 && to-b >= 256 {
			t.top[hi] = top16 | uint32(e)
			b += 256
			continue
		}
		c := t.chunk(hi)
		end := min(to, (hi+1)<<8)
		for ; b < end; b++ {
			c[b&0xFF] = e
		}
	}
}

// chunk returns the block entries of /16 hi, making them on first use
// (with the /16's entry, if it had one).
func (t *table4) chunk(hi uint32) []uint16 {
	e := t.top[hi]
	if e != 0 && e&top16 == 0 {
		return t.chunks[(e-1)<<8:][:256]
	}
	i := uint32(len(t.chunks) >> 8)
	t.chunks = append(t.chunks, make([]uint16, 256)...)
	c := t.chunks[i<<8:][:256]
	if e&top16 != 0 {
		for j := range c {
			c[j] = uint16(e)
		}
	}
	t.top[hi] = i + 1
	return c
}

// buildTable4 fills the table by walking the IPv4 space in scope-sized
// steps: locate the first address of a block; if its scope is /24 or
// wider (every address in the scope gets the region) and no coverage
// entry longer than the scope lies inside it (so every address computes
// the same scope, see below), the whole scope from this block on gets the
// entry and the walk jumps past it. Otherwise the block alone is checked
// at /24 and left to Locate if that fails too.
//
// Why every address of such a prefix P computes the same scope: Locate's
// scope is the longer of two lengths, each found by walking down the
// address's bits until a subtree is uniform in the region (the database
// summary, and the coverage trie from the longest matching entry). Both
// walks stop at or above P's length, so they look only at bits that every
// address in P shares; and with no coverage entry inside P longer than P,
// every address in P matches the same coverage entry.
//
// It returns nil when there are more regions than an entry can hold. The
// walk stops after t4Budget lookups (GeoLite2 City needs about 280,000): a
// database of countless tiny networks gets a partial table rather than a
// long load, and the blocks left out go to Locate.
func (s *state) buildTable4() *table4 {
	if len(s.names) > t4maxRegions {
		return nil
	}
	t := &table4{}
	const blocks = 1 << 24
	for b := uint32(0); b < blocks && t.lookups < t4Budget; t.lookups++ {
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], b<<8)
		a := netip.AddrFrom4(v)
		res, _, failed := s.locate(a)
		bits := res.Scope.Bits()
		if failed || bits < 0 || bits > 24 {
			b++
			continue
		}
		idx := s.index(res.Region)
		e := uint16(t4valid | bits<<t4scopeShift | idx)
		hi, lo := addrBits(a)
		if !s.cov[0].hasLonger(hi, lo, bits) {
			end := (b>>(24-bits) + 1) << (24 - bits) // the scope's last block + 1
			t.set(b, end, e)
			b = end
			continue
		}
		if !s.cov[0].hasLonger(hi, lo, 24) {
			t.set(b, b+1, e)
		}
		b++
	}
	for _, e := range t.top {
		if e&top16 != 0 && e != top16 {
			t.blocks += 256
		}
	}
	for _, e := range t.chunks {
		if e != 0 {
			t.blocks++
		}
	}
	return t
}

// covered returns the number of blocks with an entry (0 for no table).
func (t *table4) covered() int {
	if t == nil {
		return 0
	}
	return t.blocks
}

// index returns the index of region name (which is configured).
func (s *state) index(name string) int {
	for i, n := range s.names {
		if n == name {
			return i
		}
	}
	return int(s.def)
}

// region4 answers from the table: the region and scope of a (IPv4), or
// ok false when the table does not cover a's block.
func (t *table4) region4(s *state, a netip.Addr) (region string, scope netip.Prefix, ok bool) {
	v := a.As4()
	e := t.get(binary.BigEndian.Uint32(v[:]))
	if e == 0 {
		return "", netip.Prefix{}, false
	}
	p, _ := a.Prefix(int(e>>t4scopeShift) & 31)
	return s.names[e&t4regionMask], p, true
}
