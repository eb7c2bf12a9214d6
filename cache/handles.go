package cache

import (
	"sync"
	"sync/atomic"
)

// handles gives each stored entry a stable name for ristretto and the purge
// index to hold: handle → current location. Compaction moves a record by
// storing a new location under its handle, without touching either map.
// A handle is slot (low 32 bits) and the slot's generation (high 32 bits);
// a handle whose slot was reused resolves to a record that names another
// handle, which the resolver checks.
//
// The table is pages of locations (no pointers for the collector to
// follow) that never move, under a directory that is replaced whole when
// it grows.
type handles struct {
	mu   sync.Mutex
	dir  atomic.Pointer[[]*handlePage]
	gens []uint32 // per slot, under mu
	free []uint32 // under mu
	used atomic.Int64
}

const handlePageBits = 12

type handlePage [1 << handlePageBits]atomic.Uint64

func (h *handles) init() {
	d := []*handlePage{}
	h.dir.Store(&d)
}

// reserve returns a new handle that names nothing yet: the caller writes
// it into its record, then points it at the record with publish.
func (h *handles) reserve() uint64 {
	h.mu.Lock()
	var slot uint32
	if n := len(h.free); n > 0 {
		slot = h.free[n-1]
		h.free = h.free[:n-1]
	} else {
		slot = uint32(len(h.gens))
		h.gens = append(h.gens, 0)
		if d := *h.dir.Load(); int(slot>>handlePageBits) >= len(d) {
			nd := make([]*handlePage, len(d)+1)
			copy(nd, d)
			nd[len(d)] = new(handlePage)
			h.dir.Store(&nd)
		}
	}
	h.gens[slot]++
	if h.gens[slot] == 0 {
		h.gens[slot] = 1
	}
	hd := uint64(h.gens[slot])<<32 | uint64(slot)
	h.cell(hd).Store(0)
	h.mu.Unlock()
	h.used.Add(1)
	return hd
}

func (h *handles) cell(hd uint64) *atomic.Uint64 {
	slot := uint32(hd)
	d := *h.dir.Load()
	if int(slot>>handlePageBits) >= len(d) {
		return nil
	}
	return &d[slot>>handlePageBits][slot&(1<<handlePageBits-1)]
}

// loc returns the location a handle names now (0: none). The record found
// there must be checked to carry the handle.
func (h *handles) loc(hd uint64) uint64 {
	if c := h.cell(hd); c != nil {
		return c.Load()
	}
	return 0
}

// publish points a reserved handle at its record.
func (h *handles) publish(hd, loc uint64) { h.cell(hd).Store(loc) }

// move points hd at a new location if it still names from.
func (h *handles) move(hd, from, to uint64) bool {
	c := h.cell(hd)
	return c != nil && c.CompareAndSwap(from, to)
}

// release frees a handle whose record was retired.
func (h *handles) release(hd uint64) {
	c := h.cell(hd)
	if c == nil {
		return
	}
	c.Store(0)
	h.mu.Lock()
	h.free = append(h.free, uint32(hd))
	h.mu.Unlock()
	h.used.Add(-1)
}
