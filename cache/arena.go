package cache

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// The record arena: every stored entry (metadata, strings and bodies) and
// every prepared block is one record, appended to a chunk: a large []byte
// with no pointers in it. The garbage collector marks a chunk in one step
// and never scans it, so its work per cycle no longer grows with the
// number of stored objects (with one heap object per entry, marking 100k
// entries took 35–55 ms of CPU per cycle on these machines).
//
// Records are never reused in place. A reader holds a pointer into the
// chunk, which keeps it alive by itself: a record that is released or
// moved while a response streams stays readable until the reader lets go.
// Space comes back when a chunk holds no live record any more (it is
// dropped from the table and the collector frees it once nobody reads it)
// and by compaction, which copies the live records of sparse chunks to the
// head chunk (Store.compact).
//
// A location (loc) names a record: chunk slot, the slot's generation and
// the offset. Locations of dropped chunks resolve to nothing, whatever
// happened since, so a stale location is a miss, never somebody else's
// bytes.

const (
	locOffBits  = 20 // offset in 8-byte units: shared chunks up to 8 MiB
	locSlotBits = 20
	locGenBits  = 24

	maxChunkSize = 4 << 20
	minChunkSize = 64 << 10
)

// Record states. Fresh memory is zero: a record starts live.
const (
	stLive uint32 = iota
	stDead
	stMoved
)

// Record kinds.
const (
	kindEntry uint8 = 1 + iota
	kindPrepared
)

// recHead starts every record.
type recHead struct {
	size  uint32 // bytes, a multiple of 8
	kind  uint8
	_     [3]uint8
	state atomic.Uint32
	_     uint32
	self  uint64 // location of this copy (0: a standalone record, not in an arena)
}

type chunk struct {
	buf       []byte
	ref       uint64 // gen<<locSlotBits | slot
	used      int    // bytes handed out: under arena.mu until sealed
	dedicated bool   // one large record
	live      atomic.Int64
	writing   atomic.Int32 // records allocated and not yet written
	sealed    atomic.Bool  // no more allocations (no longer the head)
	dropped   bool         // under arena.mu
}

type arena struct {
	mu        sync.Mutex
	chunkSize int
	head      *chunk
	table     atomic.Pointer[[]*chunk] // by slot; replaced whole under mu
	gens      []uint32                 // per slot, under mu
	free      []uint32                 // free slots, under mu

	capBytes  atomic.Int64 // bytes of the chunks in the table
	liveBytes atomic.Int64 // bytes of live records
	chunks    atomic.Int64
}

func (a *arena) init(maxMemory int64) {
	size := int64(maxChunkSize)
	for size > minChunkSize && size > maxMemory/64 {
		size /= 2
	}
	a.chunkSize = int(size)
	t := []*chunk{}
	a.table.Store(&t)
}

func align8(n int) int { return (n + 7) &^ 7 }

// alloc hands out n bytes (rounded up to 8) for a new record. The caller
// writes it and then calls written(c); the record counts as live until
// release.
func (a *arena) alloc(n int) (loc uint64, b []byte, c *chunk) {
	n = align8(n)
	a.mu.Lock()
	off := 0
	if n > a.chunkSize/4 {
		c = a.newChunkLocked(n, true)
		c.used = n
		c.sealed.Store(true)
	} else {
		if a.head == nil || a.head.used+n > len(a.head.buf) {
			if h := a.head; h != nil {
				h.sealed.Store(true)
				a.maybeDropLocked(h)
			}
			a.head = a.newChunkLocked(a.chunkSize, false)
		}
		c = a.head
		off = c.used
		c.used += n
	}
	c.live.Add(int64(n))
	c.writing.Add(1)
	a.liveBytes.Add(int64(n))
	a.mu.Unlock()
	loc = c.ref<<locOffBits | uint64(off>>3)
	return loc, c.buf[off : off+n : off+n], c
}

// written ends the writing of a record allocated in c.
func (a *arena) written(c *chunk) {
	if c.writing.Add(-1) == 0 && c.sealed.Load() && c.live.Load() == 0 {
		a.mu.Lock()
		a.maybeDropLocked(c)
		a.mu.Unlock()
	}
}

func (a *arena) newChunkLocked(size int, dedicated bool) *chunk {
	var slot uint32
	if n := len(a.free); n > 0 {
		slot = a.free[0]
		a.free = a.free[1:]
	} else {
		slot = uint32(len(a.gens))
		if slot >= 1<<locSlotBits {
			// A million chunks in use: more than any memory budget this
			// node supports. Panicking beats handing out a bad location.
			panic("cache: arena chunk table full")
		}
		a.gens = append(a.gens, 0)
	}
	a.gens[slot] = (a.gens[slot] + 1) & (1<<locGenBits - 1)
	if a.gens[slot] == 0 {
		a.gens[slot] = 1 // location 0 means none
	}
	c := &chunk{buf: make([]byte, size), ref: uint64(a.gens[slot])<<locSlotBits | uint64(slot), dedicated: dedicated}
	old := *a.table.Load()
	t := make([]*chunk, max(len(old), int(slot)+1))
	copy(t, old)
	t[slot] = c
	a.table.Store(&t)
	a.capBytes.Add(int64(size))
	a.chunks.Add(1)
	return c
}

// maybeDropLocked removes c from the table once nothing live is in it and
// nothing more can be: the collector frees it when the last reader is done.
func (a *arena) maybeDropLocked(c *chunk) {
	if c.dropped || !c.sealed.Load() || c.live.Load() != 0 || c.writing.Load() != 0 {
		return
	}
	c.dropped = true
	slot := uint32(c.ref & (1<<locSlotBits - 1))
	old := *a.table.Load()
	t := make([]*chunk, len(old))
	copy(t, old)
	t[slot] = nil
	a.table.Store(&t)
	a.free = append(a.free, slot)
	a.capBytes.Add(-int64(len(c.buf)))
	a.chunks.Add(-1)
}

// chunkOf returns the chunk a location is in and the record's offset, or
// nil if that chunk was dropped.
func (a *arena) chunkOf(loc uint64) (*chunk, int) {
	if loc == 0 {
		return nil, 0
	}
	ref := loc >> locOffBits
	slot := ref & (1<<locSlotBits - 1)
	t := *a.table.Load()
	if slot >= uint64(len(t)) {
		return nil, 0
	}
	c := t[slot]
	if c == nil || c.ref != ref {
		return nil, 0
	}
	off := int(loc&(1<<locOffBits-1)) << 3
	if off+int(unsafe.Sizeof(recHead{})) > len(c.buf) {
		return nil, 0
	}
	return c, off
}

// record returns the record at a location (nil if its chunk is gone).
func (a *arena) record(loc uint64) *recHead {
	c, off := a.chunkOf(loc)
	if c == nil {
		return nil
	}
	return (*recHead)(unsafe.Pointer(&c.buf[off]))
}

// release gives back a live record's bytes once: the caller has moved its
// state away from stLive.
func (a *arena) release(r *recHead) {
	if r.self == 0 {
		return // standalone
	}
	c, _ := a.chunkOf(r.self)
	if c == nil {
		return
	}
	n := int64(r.size)
	a.liveBytes.Add(-n)
	if c.live.Add(-n) == 0 && c.sealed.Load() {
		a.mu.Lock()
		a.maybeDropLocked(c)
		a.mu.Unlock()
	}
}

// sealedChunks returns the shared chunks no longer written to, for
// compaction.
func (a *arena) sealedChunks() []*chunk {
	var out []*chunk
	for _, c := range *a.table.Load() {
		if c != nil && !c.dedicated && c.sealed.Load() && c.writing.Load() == 0 {
			out = append(out, c)
		}
	}
	return out
}

// waste is the space of the table's chunks that holds no live record (the
// head's unused tail included).
func (a *arena) waste() int64 { return a.capBytes.Load() - a.liveBytes.Load() }
