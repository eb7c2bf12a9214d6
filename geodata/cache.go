package geodata

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync/atomic"
)

// resultCache remembers Locate answers. It is a lossy, four-way
// set-associative table of pointers to immutable entries, read and written
// with atomic loads and stores and no lock: a reader sees either the old
// entry of a slot or the new one, both complete. Each entry is valid for
// every address in its exact prefix (where the database record, the rule
// and the region are all the same, see state.locate), and a hit is checked
// against that prefix, so a slot shared by two networks can only cost a
// miss, never a wrong answer. Two writers racing for one slot just leave
// one of their entries.
//
// An address is looked for under two keys: its /24 (IPv4) or /48 (IPv6)
// block, where answers valid for the whole block are kept, and the address
// itself, for answers valid only for a narrower network. Each key has a
// set of four adjacent slots (one cache line, keys and pointers); a new entry replaces an
// empty slot or the oldest of the four. (Two ways were not enough: a
// workload cycling through as many client networks as half the table
// thrashed the sets that drew three of them, ~16% misses at 40% load.)
// The table belongs to one state, so a reload starts empty.
type resultCache struct {
	slots []slot
	shift uint
	seq   atomic.Uint64 // insertion order, to evict the older of a set
}

// slot is one way of a set: the key the entry was stored under (0: empty)
// next to the entry, so that a probe reads the set's keys from one cache
// line and follows only the pointer of a matching key. A reader may see a
// key with another writer's entry: the entry's own prefix check still
// decides, so that costs a miss at worst.
type slot struct {
	key atomic.Uint64
	e   atomic.Pointer[cacheEntry]
}

type cacheEntry struct {
	exact netip.Prefix // every address in it has exactly res
	seq   uint64
	res   Result
}

// Block sizes of the first cache key.
const (
	blockBits4 = 24
	blockBits6 = 48
)

func newResultCache(entries int) *resultCache {
	if entries < 1 {
		return nil
	}
	n := max(1<<bits.Len(uint(entries-1)), ways) // a power of two, at least one set
	return &resultCache{slots: make([]slot, n), shift: uint(64 - bits.TrailingZeros(uint(n/ways)))}
}

// cacheKeys returns the hash keys of a's block and of a itself.
func cacheKeys(a netip.Addr) (block, exact uint64) {
	if a.Is4() {
		v := a.As4()
		x := uint64(binary.BigEndian.Uint32(v[:]))
		return x>>8 | 1<<40, x | 1<<41
	}
	v := a.As16()
	hi, lo := binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
	return hi>>16 | 1<<50, hi ^ bits.RotateLeft64(lo*0xC2B2AE3D27D4EB4F, 31) | 1
}

// set returns the first slot of key's set.
func (c *resultCache) set(key uint64) int {
	if c.shift >= 64 { // a single set
		return 0
	}
	return int((key*0x9E3779B97F4A7C15)>>c.shift) * ways
}

// ways is the set size.
const ways = 4

func (c *resultCache) find(key uint64, a netip.Addr) *cacheEntry {
	set := c.slots[c.set(key):][:ways]
	for j := range set {
		if set[j].key.Load() != key {
			continue
		}
		if e := set[j].e.Load(); e != nil && e.exact.Contains(a) {
			return e
		}
	}
	return nil
}

// get returns the cached answer for a, if any.
func (c *resultCache) get(a netip.Addr) (*cacheEntry, bool) {
	block, exact := cacheKeys(a)
	if e := c.find(block, a); e != nil {
		return e, true
	}
	if e := c.find(exact, a); e != nil {
		return e, true
	}
	return nil, false
}

// put stores res, valid for every address in exact (which contains a).
func (c *resultCache) put(a netip.Addr, exact netip.Prefix, res Result) {
	block, key := cacheKeys(a)
	bb := blockBits6
	if a.Is4() {
		bb = blockBits4
	}
	if exact.Bits() <= bb {
		key = block
	}
	set := c.slots[c.set(key):][:ways]
	victim, oldest := 0, uint64(1<<64-1)
	for j := range set {
		e := set[j].e.Load()
		if e == nil {
			victim = j
			break
		}
		if e.seq < oldest {
			victim, oldest = j, e.seq
		}
	}
	set[victim].key.Store(0) // readers skip the slot while it changes
	set[victim].e.Store(&cacheEntry{exact: exact, seq: c.seq.Add(1), res: res})
	set[victim].key.Store(key)
}

// stripes spreads a hot counter over cache lines so that cores counting at
// once do not contend for one line; Load sums them.
type stripes [16]struct {
	n atomic.Uint64
	_ [56]byte
}

func (s *stripes) add(i uint64, n uint64) { s[i&15].n.Add(n) }

func (s *stripes) load() uint64 {
	var t uint64
	for i := range s {
		t += s[i].n.Load()
	}
	return t
}
