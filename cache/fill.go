package cache

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// A Fill is one origin fetch for a key that any number of requests share
// (request collapsing). The request that starts it (the leader, by Begin)
// arranges for the fetch — normally on a goroutine of its own, so that a
// slow or vanished client never slows the others — and feeds the fill:
// SetHead once the response header is known, Write for the body bytes,
// Finish at the end with the stored Entry (if any). Every request, the
// leader's included, reads the fill through a FillReader: it waits for the
// head, then streams the body as it arrives (read-while-writer), or waits
// for the stored entry.
//
// The body is buffered whole while the response may be stored. A body that
// turns out larger than the object limit switches the fill to a window
// (Windowed): bytes every reader has taken are dropped, the fetch waits for
// the slowest reader, and requests arriving later fetch for themselves.
//
// Interleaving worth spelling out: a purge can land while a fill is in
// flight. The fill recorded the purge sequence when it began (Seq), the
// Entry it stores carries it, and Put refuses (hard) or marks stale (soft)
// an entry that a newer purge matches — so the purge wins even though the
// response arrives after it.
type Fill struct {
	// Key is the key the fill is registered under.
	Key string
	// Started is when Begin created it.
	Started time.Time

	store *Store
	seq   uint64

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced when state changes and someone sleeps
	sleeping int
	head     *FillHead
	data     []byte // body bytes from offset base
	base     int64
	windowed bool
	readers  []*FillReader
	bodyEnd  bool // EndBody: the body is complete
	done     bool
	doneAt   time.Time
	err      error
	entry    *Entry
	reusable bool // entry may answer requests that arrive after the fill
	waiters  int
	private  bool // not registered (NewPrivateFill)

	pooled     *[]byte // data came from bodyPools
	recyclable bool    // the producer no longer needs data and nothing stored aliases it
	recycled   bool    // data went back to its pool
}

// Body buffers of fills with a known length come from these pools (by
// capacity class) and go back once the fill is over, nobody reads it and
// the stored entry does not point into it (compressed objects): on a
// miss-heavy load this is the largest single piece of garbage per fill.
var bodyClasses = [...]int{4 << 10, 16 << 10, 64 << 10, 256 << 10}

var bodyPools [len(bodyClasses)]sync.Pool

func bodyBuffer(n int64) ([]byte, *[]byte) {
	for i, c := range bodyClasses {
		if n <= int64(c) {
			if p, ok := bodyPools[i].Get().(*[]byte); ok {
				return (*p)[:0], p
			}
			b := make([]byte, 0, c)
			return b, &b
		}
	}
	return make([]byte, 0, n), nil
}

func putBodyBuffer(p *[]byte) {
	for i, c := range bodyClasses {
		if cap(*p) == c {
			bodyPools[i].Put(p)
			return
		}
	}
}

// Recyclable tells the fill that the producer is done with Body and that
// nothing stored points into it: the buffer may be reused once every
// reader has finished.
func (f *Fill) Recyclable() {
	f.mu.Lock()
	f.recyclable = true
	f.maybeRecycle()
	f.mu.Unlock()
}

// maybeRecycle returns the body buffer to its pool when the fill is done,
// the producer allowed it and no reader holds a view of it (f.mu held).
func (f *Fill) maybeRecycle() {
	if f.pooled == nil || f.recycled || !f.recyclable || !f.done || len(f.readers) > 0 || f.windowed {
		return
	}
	f.recycled = true
	*f.pooled = f.data[:0]
	f.data = nil
	putBodyBuffer(f.pooled)
	f.pooled = nil
}

// FillHead is what a fill's readers learn once the response header is in.
type FillHead struct {
	// Status and Header are the origin's response (hop-by-hop fields
	// removed).
	Status int
	Header http.Header
	// ContentLength is the body length, -1 if unknown.
	ContentLength int64
	// Shareable tells whether requests other than the leader's may be
	// answered with this response: only a storable one may (a private or
	// uncacheable answer is for the leader alone; the others then fetch
	// for themselves).
	Shareable bool
	// VaryNames and VaryKey: when the response varies, the fields it
	// varies on and the leader's secondary key for them; a reader whose
	// own secondary key differs must not use this response.
	VaryNames []string
	VaryKey   string
	// Encoding is the content-coding of the streamed bytes (Identity, or
	// Gzip when the origin compressed).
	Encoding Encoding
	// WillEncode tells that the finished entry will hold compressed
	// encodings: a reader that wants one may wait for the entry instead
	// of streaming the raw bytes.
	WillEncode bool
	// Analysis is the caching verdict on the response.
	Analysis Analysis
	// RequestTime and ResponseTime bound the exchange (RFC 9111 4.2.3).
	RequestTime, ResponseTime time.Time
}

// Errors of fills.
var (
	// ErrNoReaders: a windowed fill has nobody left to stream to.
	ErrNoReaders = errors.New("cache: fill has no readers left")
	// ErrFillAborted: the fill ended before its body was complete.
	ErrFillAborted = errors.New("cache: fill aborted")
)

// windowBytes is how far a windowed fill may run ahead of its slowest
// reader.
const windowBytes = 4 << 20

const flightShards = 64

type flightShard struct {
	mu sync.Mutex
	m  map[string]*Fill
}

var flightSeed = maphash.MakeSeed()

func (s *Store) shardFor(key string) *flightShard {
	return &s.flights[maphash.String(flightSeed, key)%flightShards]
}

// Begin registers interest in fetching key. If a fill for key is in flight
// (or has just finished with a stored entry, which ristretto may not show
// yet), the caller joins it: leader is false and f is shared. Otherwise the
// caller becomes the leader of a new fill and must feed it (and Finish it,
// always). With reuseDone false, a finished fill is never joined (the
// caller needs a new fetch, e.g. to revalidate the entry it produced).
func (s *Store) Begin(key string, reuseDone bool) (f *Fill, leader bool) {
	sh := s.shardFor(key)
	sh.mu.Lock()
	if old := sh.m[key]; old != nil && !s.purgedSince(old.seq, key) {
		old.mu.Lock()
		inFlight := !old.done
		join := inFlight || (reuseDone && old.reusable && !s.isHardPurged(old.entry))
		if join {
			old.waiters++
		}
		old.mu.Unlock()
		if join {
			sh.mu.Unlock()
			if inFlight {
				// Only a join of a fill still in flight is a collapse; a
				// finished one answers like a hit.
				s.met.collapsed.Inc()
			}
			return old, false
		}
	}
	f = &Fill{Key: key, Started: s.now(), store: s, seq: s.seq.Load(), wake: make(chan struct{})}
	sh.m[key] = f
	sh.mu.Unlock()
	s.met.fills.Inc()
	return f, true
}

// TryBegin starts a fill for key only if none is registered (in flight or
// just finished): for background refreshes, which must run one at a time
// and never wait.
func (s *Store) TryBegin(key string) (*Fill, bool) {
	sh := s.shardFor(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old := sh.m[key]; old != nil {
		old.mu.Lock()
		busy := !old.done
		old.mu.Unlock()
		if busy {
			return nil, false
		}
	}
	f := &Fill{Key: key, Started: s.now(), store: s, seq: s.seq.Load(), wake: make(chan struct{})}
	sh.m[key] = f
	s.met.fills.Inc()
	return f, true
}

// purgedSince reports whether a purge issued after sequence seq may match
// key: a fill that began before such a purge must not be joined by
// requests that arrive after it. Tag and whole-cache purges match any key
// (a response's tags are unknown until it arrives).
func (s *Store) purgedSince(seq uint64, key string) bool {
	if s.seq.Load() <= seq {
		return false
	}
	primary, _, _ := strings.Cut(key, "\x00")
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	for i := range s.idx.markers {
		m := &s.idx.markers[i]
		if m.seq <= seq {
			continue
		}
		r := &m.req
		if r.All || len(r.Tags) > 0 || slices.Contains(r.Keys, primary) || slices.Contains(r.Hosts, keyHost(primary)) {
			return true
		}
		for _, p := range r.Prefixes {
			if strings.HasPrefix(primary, p) {
				return true
			}
		}
	}
	return false
}

// removeFlight unregisters f if it is still the fill for its key.
func (s *Store) removeFlight(f *Fill) {
	sh := s.shardFor(f.Key)
	sh.mu.Lock()
	if sh.m[f.Key] == f {
		delete(sh.m, f.Key)
	}
	sh.mu.Unlock()
}

// sweepFlights returns finished fills that hold an entry, and the lowest
// purge sequence among fills still in flight.
func (s *Store) sweepFlights() (done []*Fill, minSeq uint64, inflight bool) {
	for i := range s.flights {
		sh := &s.flights[i]
		sh.mu.Lock()
		for _, f := range sh.m {
			f.mu.Lock()
			if f.done {
				done = append(done, f)
			} else if !inflight || f.seq < minSeq {
				minSeq, inflight = f.seq, true
			}
			f.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	return done, minSeq, inflight
}

// InFlight returns how many fills are registered (in flight or just done).
func (s *Store) InFlight() int {
	n := 0
	for i := range s.flights {
		sh := &s.flights[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Waiters returns how many requests joined the fill after its leader.
func (f *Fill) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiters
}

// broadcast wakes sleeping readers (and a producer waiting for room).
// Called with f.mu held.
func (f *Fill) broadcast() {
	if f.sleeping > 0 {
		close(f.wake)
		f.wake = make(chan struct{})
	}
}

// sleep waits for a broadcast or ctx. Called with f.mu held; returns with
// it held.
func (f *Fill) sleep(ctx context.Context) error {
	ch := f.wake
	f.sleeping++
	f.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	}
	f.mu.Lock()
	f.sleeping--
	return err
}

// SetHead publishes the response header. With a known ContentLength the
// body buffer is sized once.
func (f *Fill) SetHead(h *FillHead) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head = h
	if h.ContentLength > 0 && h.ContentLength <= f.store.cfg.Load().MaxObjectSize {
		f.data, f.pooled = bodyBuffer(h.ContentLength)
	}
	f.broadcast()
}

// Windowed switches the fill to streaming only: the body will not be
// stored, bytes every reader has taken are dropped, and Write waits for
// the slowest reader.
func (f *Fill) Windowed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.windowed = true
	f.trim()
}

// Write appends body bytes (copied). On a windowed fill it blocks while
// the fill is windowBytes ahead of its slowest reader, and fails with
// ErrNoReaders once no reader is left.
func (f *Fill) Write(ctx context.Context, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.windowed {
		for {
			if len(f.readers) == 0 {
				return ErrNoReaders
			}
			if f.base+int64(len(f.data))-f.minPos() < windowBytes {
				break
			}
			if err := f.sleep(ctx); err != nil {
				return err
			}
		}
	}
	f.data = append(f.data, p...)
	f.broadcast()
	return nil
}

// EndBody says the body is complete: readers that have taken all of it
// get io.EOF now, before the producer stores it and calls Finish.
func (f *Fill) EndBody() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodyEnd = true
	f.broadcast()
}

// BodyEnded reports whether EndBody was called, and the body's length
// so far (all of it once ended).
func (f *Fill) BodyEnded() (bool, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodyEnd, f.base + int64(len(f.data))
}

// Body returns the whole body of a fill that is not windowed (the bytes
// must not be modified).
func (f *Fill) Body() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.windowed {
		return nil
	}
	return f.data
}

// Finish ends the fill with the entry it built (nil if none) or an error.
// Readers then get the rest of the body and io.EOF (or err). reusable
// says whether e may also answer requests that arrive after the fill (it
// was stored): Begin then hands it out until ristretto shows it.
func (f *Fill) Finish(e *Entry, reusable bool, err error) {
	f.mu.Lock()
	if f.done {
		f.mu.Unlock()
		return
	}
	f.done, f.doneAt, f.entry, f.err = true, f.store.now(), e, err
	f.reusable = reusable && e != nil && err == nil
	if f.head == nil && err == nil && e == nil {
		f.err = ErrFillAborted
	}
	f.broadcast()
	f.maybeRecycle()
	f.mu.Unlock()
	if !f.reusable && !f.private {
		f.store.removeFlight(f)
	}
}

// Done reports whether the fill has finished.
func (f *Fill) Done() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

// Wait waits for the fill to finish and returns its entry (nil when the
// response was not stored) and error.
func (f *Fill) Wait(ctx context.Context) (*Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.done {
		if err := f.sleep(ctx); err != nil {
			return nil, err
		}
	}
	return f.entry, f.err
}

// Result returns the entry and error of a finished fill.
func (f *Fill) Result() (*Entry, error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.entry, f.err, f.done
}

// minPos is the lowest reader position (f.mu held).
func (f *Fill) minPos() int64 {
	m := f.base + int64(len(f.data))
	for _, r := range f.readers {
		m = min(m, r.pos)
	}
	return m
}

// trim drops bytes every reader has taken, on a windowed fill (f.mu held).
func (f *Fill) trim() {
	if !f.windowed {
		return
	}
	cut := f.minPos() - f.base
	if cut <= 0 || (cut < 1<<20 && cut < int64(len(f.data))) {
		return
	}
	if cut == int64(len(f.data)) {
		// Everything was taken: the next Write starts a buffer sized to
		// what arrives (a small body costs no window-sized buffer).
		f.data, f.base = nil, f.base+cut
		return
	}
	rest := make([]byte, int64(len(f.data))-cut, max(int64(cap(f.data))-cut, 64<<10))
	copy(rest, f.data[cut:])
	f.data, f.base = rest, f.base+cut
}

// FillReader reads one request's view of a fill.
type FillReader struct {
	f      *Fill
	pos    int64
	closed bool
}

// NewReader attaches a reader at the start of the body. It fails on a
// windowed fill that has already dropped bytes, and on a finished fill
// whose body buffer was recycled (its Result holds the entry): the caller
// must then use the entry or fetch for itself.
func (f *Fill) NewReader() (*FillReader, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if (f.windowed && f.base > 0) || f.recycled {
		return nil, false
	}
	r := &FillReader{f: f}
	f.readers = append(f.readers, r)
	return r, true
}

// Head waits for the response header (or the fill's failure).
func (r *FillReader) Head(ctx context.Context) (*FillHead, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.head == nil {
		if f.done {
			// With an entry and no head, the entry is the answer (a
			// revalidation that got 304).
			return nil, f.err
		}
		if err := f.sleep(ctx); err != nil {
			return nil, err
		}
	}
	return f.head, nil
}

// Next returns the next body bytes, waiting for them; io.EOF after the
// last, once the producer called EndBody or Finish. The slice must not be
// modified and stays valid after the fill ends.
func (r *FillReader) Next(ctx context.Context) ([]byte, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if end := f.base + int64(len(f.data)); r.pos < end {
			chunk := f.data[r.pos-f.base:]
			r.pos = end
			if f.windowed {
				f.trim()
				f.broadcast() // the producer may be waiting for room
			}
			return chunk, nil
		}
		if f.bodyEnd {
			// Complete: what Finish reports later is about storing it.
			return nil, io.EOF
		}
		if f.done {
			if f.err != nil {
				return nil, f.err
			}
			return nil, io.EOF
		}
		if err := f.sleep(ctx); err != nil {
			return nil, err
		}
	}
}

// Close detaches the reader (a windowed fill stops waiting for it).
func (r *FillReader) Close() {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if i := slices.Index(f.readers, r); i >= 0 {
		f.readers = slices.Delete(f.readers, i, i+1)
	}
	if f.windowed {
		f.trim()
		f.broadcast()
	}
	f.maybeRecycle()
}

// NewPrivateFill returns a fill that nobody can join (for requests that
// must not share a fetch, such as those carrying credentials, or keys
// marked hit-for-pass). It is fed and read like any other.
func (s *Store) NewPrivateFill(key string) *Fill {
	s.met.fills.Inc()
	return &Fill{Key: key, Started: s.now(), store: s, seq: s.seq.Load(), wake: make(chan struct{}), private: true}
}

// NewDraft returns an empty draft bound to the fill's purge sequence; the
// producer fills it in and passes it to Store.Put.
func (f *Fill) NewDraft() *Draft { return &Draft{seq: f.seq} }
