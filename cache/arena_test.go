package cache

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A location whose chunk was dropped never resolves again, even once the
// chunk's slot holds a new chunk.
func TestArenaStaleLocation(t *testing.T) {
	var a arena
	a.init(1 << 20) // 64 KiB chunks
	put := func(n int) (*recHead, *chunk) {
		loc, buf, c := a.alloc(n)
		r := (*recHead)(ptrOf(buf))
		r.size, r.kind, r.self = uint32(len(buf)), kindEntry, loc
		a.written(c)
		return r, c
	}
	drop := func(r *recHead) {
		r.state.Store(stDead)
		a.release(r)
	}
	first, c := put(entryHeader)
	loc := first.self
	if a.record(loc) == nil {
		t.Fatal("fresh record does not resolve")
	}
	// Fill the chunk until it is sealed, then release everything in it.
	in := []*recHead{first}
	for a.head == c {
		r, rc := put(4 << 10)
		if rc == c {
			in = append(in, r)
		}
	}
	for _, r := range in[:len(in)-1] {
		drop(r)
	}
	if a.record(loc) == nil {
		t.Fatal("chunk dropped while a record in it is live")
	}
	drop(in[len(in)-1])
	if a.record(loc) != nil {
		t.Fatal("location of a dropped chunk still resolves")
	}
	if len(a.free) != 1 {
		t.Fatalf("free slots %v, want the dropped one", a.free)
	}
	// The slot is reused under a new generation.
	for len(a.free) > 0 {
		put(4 << 10)
	}
	if a.record(loc) != nil {
		t.Fatal("stale location resolves into the slot's new chunk")
	}
	// Large records get a chunk of their own, dropped on release.
	before := a.capBytes.Load()
	big, bc := put(a.chunkSize)
	if !bc.dedicated || len(bc.buf) != a.chunkSize {
		t.Fatalf("large record: dedicated %v, chunk %d bytes", bc.dedicated, len(bc.buf))
	}
	drop(big)
	if got := a.capBytes.Load(); got != before {
		t.Fatalf("arena bytes %d after releasing a large record, want %d", got, before)
	}
}

// fillMany stores n entries of about size bytes under http://c.example/<i>,
// tagged "odd" or "even", and returns them.
func fillMany(t *testing.T, s *Store, n, size int) []*Entry {
	t.Helper()
	out := make([]*Entry, n)
	for i := range n {
		key := fmt.Sprintf("http://c.example/d%d/%d", i%7, i)
		tag := "even"
		if i%2 == 1 {
			tag = "odd"
		}
		out[i] = fillEntry(t, s, key, bodyFor(i, size), tag)
	}
	s.Wait()
	return out
}

func bodyFor(i, size int) string {
	s := fmt.Sprintf("<%d>", i)
	return s + strings.Repeat("x", max(size-len(s), 0))
}

// Compaction copies the live records out of sparse chunks and gives the
// chunks back; the moved entries keep serving, stay purgeable, and
// readers that held the old copies still read correct bytes.
func TestCompaction(t *testing.T) {
	s := newStore(t, Config{MaxMemory: 16 << 20}) // 256 KiB chunks
	const n = 3000
	es := fillMany(t, s, n, 1000)
	for i, e := range es {
		if i%3 == 0 {
			s.SetPrepared(e, 1, Identity, []byte(fmt.Sprintf("head-%d", i)))
		}
	}
	if r := s.Purge(PurgeRequest{Tags: []string{"odd"}}); r.Matched != n/2 {
		t.Fatalf("purge matched %d, want %d", r.Matched, n/2)
	}
	s.Wait()
	capBefore, liveBefore := s.ar.capBytes.Load(), s.ar.liveBytes.Load()
	if s.ar.waste()*4 < capBefore {
		t.Fatalf("only %d of %d arena bytes are holes: the test needs more", s.ar.waste(), capBefore)
	}
	s.compact(1 << 40)
	capAfter := s.ar.capBytes.Load()
	if capAfter*3 > capBefore*2 {
		t.Fatalf("arena %d bytes after compaction, was %d (live %d)", capAfter, capBefore, liveBefore)
	}
	if s.ar.waste()*8 > capAfter+int64(2*s.ar.chunkSize) {
		t.Errorf("still %d of %d bytes holes after compaction", s.ar.waste(), capAfter)
	}
	moved := 0
	for i, old := range es {
		key := fmt.Sprintf("http://c.example/d%d/%d", i%7, i)
		// The copy handed out before compaction reads as before.
		if got := string(old.Body(Identity)); got != bodyFor(i, 1000) {
			t.Fatalf("%d: old copy reads %.20q", i, got)
		}
		e, ok := s.Get(key)
		if i%2 == 1 {
			if ok {
				t.Fatalf("%d: purged entry served", i)
			}
			continue
		}
		if !ok || string(e.Body(Identity)) != bodyFor(i, 1000) || e.Key() != key {
			t.Fatalf("%d: after compaction got %v", i, ok)
		}
		if e != old {
			moved++
			if s.Prepared(e, 1, Identity) != nil {
				t.Fatalf("%d: moved copy kept the old prepared block", i)
			}
		} else if i%3 == 0 && string(s.Prepared(e, 1, Identity)) != fmt.Sprintf("head-%d", i) {
			t.Fatalf("%d: unmoved entry lost its prepared data", i)
		}
	}
	if moved == 0 {
		t.Fatal("no entry moved")
	}
	// The index follows the moves: a purge finds every moved entry.
	if r := s.Purge(PurgeRequest{Tags: []string{"even"}}); r.Matched != n/2 {
		t.Fatalf("purge after compaction matched %d, want %d", r.Matched, n/2)
	}
	s.Wait()
	if s.StoredObjects() != 0 {
		t.Fatalf("%d objects left", s.StoredObjects())
	}
	if live := s.ar.liveBytes.Load(); live != 0 {
		t.Fatalf("arena still counts %d live bytes with nothing stored", live)
	}
	if c := s.ar.chunks.Load(); c > 1 {
		t.Fatalf("%d chunks with nothing stored, want at most the head", c)
	}
	if s.hs.used.Load() != 0 {
		t.Fatalf("%d handles in use with nothing stored", s.hs.used.Load())
	}
}

// An identity item and its owner stay linked when either moves.
func TestCompactionKeepsIdentityLinks(t *testing.T) {
	s := newStore(t, Config{MaxMemory: 16 << 20})
	es := fillMany(t, s, 600, 1000)
	owner := es[0]
	// A compressed-only owner, as edge stores them.
	d := &Draft{Key: "http://c.example/gz", Status: 200, Native: Gzip, Size: 5, ResponseTime: time.Now(), Lifetime: time.Hour}
	d.Bodies[Gzip] = []byte("gzip!")
	owner, _ = s.Put(d, time.Hour)
	s.Wait()
	if !s.NoteIdentityHit(owner) {
		t.Fatal("first identity hit does not promote")
	}
	s.PromoteIdentity(owner, []byte("hello"))
	s.Wait()
	s.Purge(PurgeRequest{Tags: []string{"odd"}})
	s.Wait()
	s.compact(1 << 40)
	cur, ok := s.Get("http://c.example/gz")
	if !ok {
		t.Fatal("owner gone after compaction")
	}
	if b, ok := s.IdentityBody(cur); !ok || string(b) != "hello" {
		t.Fatalf("identity body after compaction: %q %v", b, ok)
	}
	// Retiring the owner takes the identity item with it.
	s.Purge(PurgeRequest{Keys: []string{"http://c.example/gz"}})
	s.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := s.rc.Get(owner.identityKey()); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("identity item outlived its purged owner")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Readers, prepared-head writers, purges, fills and compaction at once
// (run with -race): every body read is the one stored for its key.
func TestCompactionConcurrent(t *testing.T) {
	s := newStore(t, Config{MaxMemory: 16 << 20})
	const n = 1500
	fillMany(t, s, n, 700)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; !stop.Load(); i = (i + 7) % n {
				key := fmt.Sprintf("http://c.example/d%d/%d", i%7, i)
				e, ok := s.Get(key)
				if !ok {
					continue
				}
				if got := string(e.Body(Identity)); got != bodyFor(i, 700) {
					t.Errorf("%s: read %.20q", key, got)
					return
				}
				if p := s.Prepared(e, 1, Identity); p == nil {
					s.SetPrepared(e, 1, Identity, []byte(key))
				} else if string(p) != key {
					t.Errorf("%s: prepared %q", key, p)
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := 0; !stop.Load(); round++ {
			// Refill a slice of keys, purge another, compact.
			for i := round % 5; i < n; i += 5 {
				key := fmt.Sprintf("http://c.example/d%d/%d", i%7, i)
				if f, leader := s.Begin(key, false); leader {
					finishFill(t, s, f, key, bodyFor(i, 700), "even")
				}
			}
			s.Purge(PurgeRequest{Prefixes: []string{fmt.Sprintf("http://c.example/d%d/", round%7)}})
			s.compact(1 << 40)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no reads")
	}
	if testutil.ToFloat64(s.met.compactMoves) == 0 {
		t.Fatal("compaction never moved anything: the test exercised nothing")
	}
	runtime.GC()
}

func ptrOf(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// Under sustained churn (ten times the budget stored, ristretto evicting),
// compaction keeps the arena within a third of the budget plus the head
// and one spare chunk.
func TestArenaBoundedUnderChurn(t *testing.T) {
	const budget = 4 << 20
	s := newStore(t, Config{MaxMemory: budget}) // 64 KiB chunks
	const size = 2000
	n := 10 * budget / size
	for i := range n {
		key := fmt.Sprintf("http://churn.example/d%d/%d", i%5, i)
		fillEntry(t, s, key, bodyFor(i, size), "t")
		if i%200 == 0 {
			s.Wait()
			s.compact(compactBudget)
		}
	}
	s.Wait()
	s.compact(compactBudget)
	capBytes, live := s.ar.capBytes.Load(), s.ar.liveBytes.Load()
	limit := int64(budget)*4/3 + int64(2*s.ar.chunkSize)
	t.Logf("arena %d bytes, %d live, %d objects stored, %d moves", capBytes, live, s.StoredObjects(),
		int(testutil.ToFloat64(s.met.compactMoves)))
	if capBytes > limit {
		t.Fatalf("arena holds %d bytes for a %d budget (live %d), want at most %d", capBytes, budget, live, limit)
	}
	if testutil.ToFloat64(s.met.compactMoves) == 0 {
		t.Fatal("churn never needed compaction: the test exercised nothing")
	}
	// Every object still stored reads right.
	for i := range n {
		key := fmt.Sprintf("http://churn.example/d%d/%d", i%5, i)
		if e, ok := s.Get(key); ok && string(e.Body(Identity)) != bodyFor(i, size) {
			t.Fatalf("%s reads wrong bytes", key)
		}
	}
}
