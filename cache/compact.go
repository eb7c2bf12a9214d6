package cache

import (
	"slices"
	"unsafe"
)

// Prepared returns the consumer data cached for an encoding of e under
// generation gen (nil if none). edge keeps its prepared response heads
// there.
func (s *Store) Prepared(e *Entry, gen uint64, enc Encoding) []byte {
	p := s.preparedAt(e.prepared.Load(), e)
	if p == nil || p.gen != gen || p.has&(1<<enc) == 0 {
		return nil
	}
	return p.data(p.start[enc], p.end[enc])
}

// preparedAt returns the prepared block at loc if it belongs to e.
func (s *Store) preparedAt(loc uint64, e *Entry) *preparedBlock {
	if loc == 0 {
		return nil
	}
	r := s.ar.record(loc)
	if r == nil || r.kind != kindPrepared {
		return nil
	}
	p := (*preparedBlock)(unsafe.Pointer(r))
	if p.owner != e.self {
		return nil
	}
	return p
}

// SetPrepared caches a copy of consumer data for an encoding of e under
// generation gen (data of older generations is dropped) and returns the
// stored copy. It is copy-on-write into a new record: rare, and safe
// against concurrent readers. An entry that is not (or no longer) stored
// keeps nothing and gets a copy back.
func (s *Store) SetPrepared(e *Entry, gen uint64, enc Encoding, b []byte) []byte {
	if e.self == 0 || e.state.Load() != stLive {
		return append([]byte(nil), b...)
	}
	for {
		oldLoc := e.prepared.Load()
		old := s.preparedAt(oldLoc, e)
		var items [NumEncodings][]byte
		has := uint32(1) << enc
		if old != nil && old.gen == gen {
			has |= old.has
			for i := range NumEncodings {
				if old.has&(1<<i) != 0 {
					items[i] = old.data(old.start[i], old.end[i])
				}
			}
		}
		items[enc] = b
		size := 0
		for _, d := range items {
			size += len(d)
		}
		// One spare byte: an empty last item must not point past the
		// record.
		loc, buf, c := s.ar.alloc(preparedHeader + size + 1)
		n := (*preparedBlock)(unsafe.Pointer(&buf[0]))
		n.size, n.kind, n.self = uint32(len(buf)), kindPrepared, loc
		n.owner, n.gen, n.has = e.self, gen, has
		off := 0
		for i, d := range items {
			n.start[i] = uint32(off)
			off += copy(buf[preparedHeader+off:], d)
			n.end[i] = uint32(off)
		}
		s.ar.written(c)
		if e.prepared.CompareAndSwap(oldLoc, loc) {
			s.releasePrepared(oldLoc)
			if e.state.Load() != stLive {
				// Retired or moved meanwhile: nobody drops it later.
				s.dropPrepared(e)
			}
			return n.data(n.start[enc], n.end[enc])
		}
		s.releasePrepared(loc)
	}
}

// dropPrepared unlinks and releases e's prepared block.
func (s *Store) dropPrepared(e *Entry) {
	if p := e.prepared.Swap(0); p != 0 {
		s.releasePrepared(p)
	}
}

// releasePrepared gives a prepared block's bytes back, once.
func (s *Store) releasePrepared(loc uint64) {
	if loc == 0 {
		return
	}
	if r := s.ar.record(loc); r != nil && r.kind == kindPrepared && r.state.CompareAndSwap(stLive, stDead) {
		s.ar.release(r)
	}
}

// Compaction. The arena only gets memory back from whole chunks, and
// evictions leave holes all over them: once more than a quarter of the
// arena is holes, the live records of the sparsest chunks are copied to
// the head chunk until it is an eighth or less. A moved entry keeps its
// handle, so ristretto and the purge index are not touched; its prepared
// block is dropped (rebuilt on the next hit).

// compactBudget bounds the bytes compaction copies per janitor tick, so
// that it never holds the index lock for long.
const compactBudget = 32 << 20

// compact runs one round of compaction if the arena has too many holes.
func (s *Store) compact(budget int64) {
	a := &s.ar
	if w := a.waste(); w < int64(2*a.chunkSize) || w*4 < a.capBytes.Load() {
		return
	}
	cs := a.sealedChunks()
	slices.SortFunc(cs, func(x, y *chunk) int {
		lx, ly := x.live.Load(), y.live.Load()
		switch {
		case lx < ly:
			return -1
		case lx > ly:
			return 1
		}
		return 0
	})
	var copied int64
	for _, c := range cs {
		if copied >= budget || a.waste()*8 <= a.capBytes.Load() {
			break
		}
		if c.live.Load()*4 > int64(len(c.buf))*3 {
			break // denser than 3/4: copying it frees too little
		}
		copied += s.compactChunk(c)
	}
}

// compactChunk moves the live records out of a sealed chunk and returns
// the bytes copied. Once they are out, the chunk leaves the table.
func (s *Store) compactChunk(c *chunk) int64 {
	var copied int64
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	for off := 0; off < c.used; {
		r := (*recHead)(unsafe.Pointer(&c.buf[off]))
		if r.size == 0 {
			break // never written: cannot happen for a sealed chunk with no writers
		}
		off += int(r.size)
		if r.state.Load() != stLive {
			continue
		}
		switch r.kind {
		case kindEntry:
			if s.moveLocked((*Entry)(unsafe.Pointer(r))) {
				copied += int64(r.size)
				s.met.compactMoves.Inc()
			}
		case kindPrepared:
			// Not moved: dropped, and rebuilt by the next hit.
			p := (*preparedBlock)(unsafe.Pointer(r))
			if o := s.ar.record(p.owner); o != nil && o.kind == kindEntry {
				(*Entry)(unsafe.Pointer(o)).prepared.CompareAndSwap(r.self, 0)
			}
			s.releasePrepared(r.self)
		}
	}
	s.met.compactBytes.Add(float64(copied))
	return copied
}

// moveLocked copies a live entry to the head chunk and points its handle
// at the copy (under idx.mu: purges, index edits, retirement and identity
// links all hold it, so nothing set on the old copy is lost). Readers of
// the old copy keep reading it.
func (s *Store) moveLocked(old *Entry) bool {
	if s.hs.loc(old.handle) != old.self {
		return false
	}
	loc, buf, c := s.ar.alloc(int(old.size))
	src := unsafe.Slice((*byte)(unsafe.Pointer(old)), old.size)
	copy(buf[entryHeader:], src[entryHeader:])
	n := (*Entry)(unsafe.Pointer(&buf[0]))
	n.size, n.kind, n.self = old.size, old.kind, loc
	n.handle, n.seq, n.next, n.owner = old.handle, old.seq, old.next, old.owner
	n.identity.Store(old.identity.Load())
	n.purged.Store(old.purged.Load())
	n.identityHits.Store(old.identityHits.Load())
	n.status, n.native, n.hasBody = old.status, old.native, old.hasBody
	n.cost, n.bodySize, n.respTime = old.cost, old.bodySize, old.respTime
	n.cia, n.lifetime, n.sie, n.dir = old.cia, old.lifetime, old.sie, old.dir
	n.strs, n.bodies = old.strs, old.bodies
	s.ar.written(c)
	if !old.state.CompareAndSwap(stLive, stMoved) || !s.hs.move(old.handle, old.self, loc) {
		old.state.CompareAndSwap(stMoved, stLive)
		n.state.Store(stDead)
		s.ar.release(&n.recHead)
		return false
	}
	s.dropPrepared(old)
	s.ar.release(&old.recHead)
	return true
}
