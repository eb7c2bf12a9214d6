package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is the object store. Create it with New, then Start it; Stop
// releases it. All methods are safe for concurrent use.
type Store struct {
	cfg     atomic.Pointer[Config]
	rc      *ristretto.Cache[string, uint64] // key → handle
	ar      arena
	hs      handles
	logger  *slog.Logger
	reg     prometheus.Registerer
	met     *metrics
	now     func() time.Time
	seq     atomic.Uint64 // purge sequence
	idx     index
	flights [flightShards]flightShard
	reclaim chan reclaimItem

	stop     chan struct{}
	wg       sync.WaitGroup
	sweeps   sync.WaitGroup // background index clean-ups of large purges
	started  atomic.Bool
	stopOnce sync.Once
}

// Option configures a Store beyond its Config.
type Option func(*Store)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.logger = l } }

// WithRegisterer registers the store's metrics with r (default: none).
func WithRegisterer(r prometheus.Registerer) Option { return func(s *Store) { s.reg = r } }

// WithClock sets the clock used for freshness and purge bookkeeping
// (tests only).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New validates cfg (after filling defaults) and prepares a Store. It
// starts nothing.
func New(cfg Config, opts ...Option) (*Store, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		logger:  slog.New(slog.DiscardHandler),
		now:     time.Now,
		reclaim: make(chan reclaimItem, 1<<16),
		stop:    make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.logger = s.logger.With("component", "cache")
	s.cfg.Store(&cfg)
	s.idx.init()
	s.ar.init(cfg.MaxMemory)
	s.hs.init()
	for i := range s.flights {
		s.flights[i].m = make(map[string]*Fill)
	}
	s.met = newMetrics(s)
	if s.reg != nil {
		if err := s.met.register(s.reg); err != nil {
			return nil, fmt.Errorf("cache: metrics: %w", err)
		}
	}
	return s, nil
}

// Config returns the config in effect.
func (s *Store) Config() Config { return *s.cfg.Load() }

// Start creates the underlying ristretto cache and the store's
// housekeeping goroutine.
func (s *Store) Start(ctx context.Context) error {
	if s.started.Swap(true) {
		return errors.New("cache: already started")
	}
	cfg := s.cfg.Load()
	rc, err := ristretto.NewCache(&ristretto.Config[string, uint64]{
		// Ten counters per expected object (objects of ~4 KiB).
		NumCounters:        max(cfg.MaxMemory/4096*10, 100_000),
		MaxCost:            cfg.MaxMemory,
		BufferItems:        64,
		IgnoreInternalCost: true, // our cost already includes an overhead estimate
		OnEvict:            func(*ristretto.Item[uint64]) { s.met.evictions.Inc() },
		OnReject:           func(*ristretto.Item[uint64]) { s.met.rejections.WithLabelValues("admission").Inc() },
		OnExit:             s.onExit,
	})
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	s.rc = rc
	s.wg.Add(2)
	go s.janitor()
	go s.reclaimer()
	return nil
}

// Stop ends housekeeping and drops every object. Calling it twice is
// harmless.
func (s *Store) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.sweeps.Wait()
		s.wg.Wait()
		if s.rc != nil {
			s.rc.Close()
		}
	})
	return nil
}

// Reload applies a new config: the memory budget and limits change in
// place (shrinking the budget evicts as objects are added).
func (s *Store) Reload(cfg Config) error {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.cfg.Store(&cfg)
	if s.rc != nil {
		s.rc.UpdateMaxCost(cfg.MaxMemory)
	}
	return nil
}

// Ready reports whether the store is started.
func (s *Store) Ready() bool { return s.started.Load() && s.rc != nil }

// Wait blocks until every Put so far is visible to Get (tests).
func (s *Store) Wait() {
	s.sweeps.Wait()
	s.rc.Wait()
}

// entryOverhead estimates what one stored object costs beyond its
// record: ristretto's bookkeeping, its handle and the purge index.
const entryOverhead = 192

// passHandle is the value of a hit-for-pass key in ristretto.
const passHandle = ^uint64(0)

// resolve returns the current copy of the entry a handle names (nil if
// it is gone).
func (s *Store) resolve(h uint64) *Entry {
	if h == 0 || h == passHandle {
		return nil
	}
	r := s.ar.record(s.hs.loc(h))
	if r == nil || r.kind != kindEntry {
		return nil
	}
	e := (*Entry)(unsafe.Pointer(r))
	if e.handle != h {
		return nil
	}
	return e
}

// usable returns the entry a handle names if it may be served (not
// retired, not hard-purged).
func (s *Store) usable(h uint64) *Entry {
	e := s.resolve(h)
	if e == nil || e.state.Load() == stDead || e.purged.Load() == hardPurged {
		return nil
	}
	return e
}

// Get returns the entry stored under the exact key, if it is usable
// (not hard-purged).
func (s *Store) Get(key string) (*Entry, bool) {
	h, ok := s.rc.Get(key)
	if !ok {
		return nil, false
	}
	e := s.usable(h)
	return e, e != nil
}

// HeaderGetter reads request fields (http.Header and the node's own request
// type both satisfy it).
type HeaderGetter interface {
	Get(name string) string
}

// LookupResult tells what Lookup found.
type LookupResult uint8

const (
	// Found: a stored response for the request.
	Found LookupResult = iota
	// URIMiss: nothing stored for the URL.
	URIMiss
	// VaryMiss: responses for the URL vary and none matches the request.
	VaryMiss
	// Pass: the URL recently gave an uncacheable response (hit-for-pass).
	Pass
)

// Lookup finds the stored response for a request: the entry at the primary
// key, or, if responses there vary, the one whose secondary key matches
// the request's fields. fullKey is the key a fill for this request should
// use (primary, plus the secondary key when the Vary fields are known).
func (s *Store) Lookup(primary string, h HeaderGetter) (e *Entry, fullKey string, res LookupResult) {
	hd, ok := s.rc.Get(primary)
	if !ok {
		return nil, primary, URIMiss
	}
	if hd == passHandle {
		return nil, primary, Pass
	}
	e = s.usable(hd)
	if e == nil {
		return nil, primary, URIMiss
	}
	if !e.IsVaryMarker() {
		return e, primary, Found
	}
	full := primary + "\x00" + e.SecondaryKey(h)
	if v, ok := s.Get(full); ok {
		return v, full, Found
	}
	return nil, full, VaryMiss
}

// SecondaryKey builds the secondary key for the named request fields: each
// field's values, whitespace around commas removed, in name order.
func SecondaryKey(names []string, h HeaderGetter) string {
	var b []byte
	for i, n := range names {
		b = appendSecondary(b, i, n, h)
	}
	return string(b)
}

// appendSecondary appends the i-th field of a secondary key.
func appendSecondary(b []byte, i int, n string, h HeaderGetter) []byte {
	if i > 0 {
		b = append(b, 0)
	}
	b = append(b, n...)
	b = append(b, '=')
	v := h.Get(n)
	for j := 0; j < len(v); j++ {
		c := v[j]
		if c == ' ' || c == '\t' {
			continue
		}
		b = append(b, c)
	}
	return b
}

// MarkPass remembers for the configured hit-for-pass time that key's
// responses cannot be stored.
func (s *Store) MarkPass(key string) {
	d := *s.cfg.Load().HitForPass
	if d <= 0 {
		return
	}
	s.rc.SetWithTTL(key, passHandle, 64, d)
	s.met.passes.Inc()
}

// Put copies d into the store (d came from a fill that began at its
// sequence) unless a purge issued since then matches it, and keeps it for
// ttl. It returns the entry, which the caller may serve whether or not it
// was stored, and whether the store accepted it (ristretto may still
// decline to admit it).
func (s *Store) Put(d *Draft, ttl time.Duration) (*Entry, bool) {
	cfg := s.cfg.Load()
	ttl = min(ttl, cfg.MaxTTL)
	if ttl <= 0 {
		return d.Entry(), false
	}
	e, c := s.newRecord(d, 0)
	// Indexed before the chunk counts as written: compaction never moves
	// a record that is still being set up.
	ok := s.idx.add(s, e)
	if !ok {
		s.discard(e)
	}
	s.ar.written(c)
	if !ok {
		s.met.rejections.WithLabelValues("purged").Inc()
		return e, false
	}
	if !s.rc.SetWithTTL(e.fullKey(), e.handle, e.cost, ttl) {
		s.retire(e.handle)
		s.met.rejections.WithLabelValues("buffer").Inc()
		return e, false
	}
	s.met.stores.Inc()
	return e, true
}

// newRecord copies d into the arena under a new handle (owner: the
// entry a promoted identity item belongs to, or 0). The caller calls
// s.ar.written(c) once the record is set up.
func (s *Store) newRecord(d *Draft, owner uint64) (*Entry, *chunk) {
	strs, size := d.layout()
	loc, buf, c := s.ar.alloc(size)
	e := d.write(buf, &strs)
	e.self, e.owner = loc, owner
	e.cost = int64(e.size) + entryOverhead
	e.handle = s.hs.reserve()
	s.hs.publish(e.handle, loc)
	return e, c
}

// discard gives back a new record that ristretto never got.
func (s *Store) discard(e *Entry) {
	e.state.Store(stDead)
	s.hs.release(e.handle)
	s.ar.release(&e.recHead)
}

// fullKey is the key an entry is stored under.
func (e *Entry) fullKey() string {
	if e.strs[sVaryKey].n == 0 {
		return e.Key()
	}
	return e.Key() + "\x00" + e.VaryKey()
}

// identityKey is the key of an entry's promoted identity item.
func (e *Entry) identityKey() string { return e.fullKey() + "\x00identity" }

// onExit runs when ristretto lets go of a value.
func (s *Store) onExit(h uint64) {
	if h != passHandle && h != 0 {
		s.retire(h)
	}
}

// retire takes the entry a handle names out of the store: out of the
// index, its handle freed, its bytes given back to the arena (readers
// holding it keep reading it).
func (s *Store) retire(h uint64) {
	s.idx.mu.Lock()
	s.retireLocked(h)
	s.idx.mu.Unlock()
}

// retireLocked is retire under idx.mu (which compaction holds too, so the
// copy found is the current one).
func (s *Store) retireLocked(h uint64) {
	e := s.resolve(h)
	if e == nil || !e.state.CompareAndSwap(stLive, stDead) {
		return
	}
	if e.owner == 0 {
		s.idx.removeLocked(s, e)
	} else if o := s.resolve(e.owner); o != nil {
		o.identity.CompareAndSwap(h, 0)
	}
	// Its promoted identity item goes with it (deleted from ristretto by
	// the reclaimer: this may run inside ristretto's own loop).
	if a := e.identity.Swap(0); a != 0 {
		s.queueReclaim(e.identityKey(), a)
	}
	s.dropPrepared(e)
	s.hs.release(h)
	s.ar.release(&e.recHead)
}

type reclaimItem struct {
	key string
	h   uint64
}

func (s *Store) queueReclaim(key string, h uint64) {
	select {
	case s.reclaim <- reclaimItem{key, h}:
	default: // ristretto's TTL and eviction reclaim it instead
	}
}

// IdentityBody returns the identity body of e: stored, or promoted after
// earlier identity hits. The second result is false when the caller must
// decode it from another encoding.
func (s *Store) IdentityBody(e *Entry) ([]byte, bool) {
	if b := e.Body(Identity); b != nil {
		return b, true
	}
	if a := s.resolve(e.identity.Load()); a != nil && a.owner == e.handle && a.state.Load() != stDead {
		return a.Body(Identity), true
	}
	return nil, false
}

// NoteIdentityHit counts an identity hit on an entry that does not store
// its identity body and reports whether the decoded body should now be
// kept (PromoteIdentity): a client that cannot take compressed encodings
// asked for a stored object, so more such clients are likely. (Objects
// fetched once and never asked for again stay compressed only.)
func (s *Store) NoteIdentityHit(e *Entry) bool {
	return e.handle != 0 && e.identityHits.Add(1) == 1
}

// PromoteIdentity stores a decoded identity body next to e, so later
// identity hits on e cost no decoding. It lives and is evicted on its own.
func (s *Store) PromoteIdentity(e *Entry, body []byte) {
	if e.handle == 0 {
		return
	}
	d := Draft{Key: e.Key(), VaryKey: e.VaryKey(), Size: int64(len(body))}
	d.Bodies[Identity] = body
	a, c := s.newRecord(&d, e.handle)
	s.ar.written(c)
	ttl := e.lifetime - e.Age(s.now()) + e.sie
	if ttl <= 0 {
		ttl = time.Minute
	}
	// The owner links the item while ristretto holds it: retiring the item
	// unlinks it, so its memory is always accounted for. Linked under the
	// index lock, which compaction holds while it moves the owner.
	s.idx.mu.Lock()
	o := s.resolve(e.handle)
	linked := o != nil && o.state.Load() == stLive && o.identity.CompareAndSwap(0, a.handle)
	s.idx.mu.Unlock()
	if !linked {
		s.discard(a)
		return
	}
	if s.rc.SetWithTTL(e.identityKey(), a.handle, a.cost, min(ttl, s.cfg.Load().MaxTTL)) {
		s.met.promotions.Inc()
	} else {
		s.retire(a.handle)
	}
}

// isHardPurged reports whether e, or the current copy of it, was removed
// by a hard purge.
func (s *Store) isHardPurged(e *Entry) bool {
	if e.purged.Load() == hardPurged {
		return true
	}
	c := s.resolve(e.handle)
	return c != nil && c.purged.Load() == hardPurged
}

// janitor prunes purge markers and completed fills.
func (s *Store) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		done, minSeq, any := s.sweepFlights()
		if len(done) > 0 {
			// Once ristretto has applied the Sets, the completed fills are
			// no longer needed to answer for their keys.
			s.rc.Wait()
			for _, f := range done {
				s.removeFlight(f)
			}
		}
		s.idx.pruneMarkers(minSeq, any)
		s.compact(compactBudget)
	}
}

// reclaimer deletes hard-purged entries, and the identity items of
// entries that left, from ristretto in the background (a purge flags
// entries at once; memory comes back here).
func (s *Store) reclaimer() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case it := <-s.reclaim:
			if cur, ok := s.rc.Get(it.key); ok && cur == it.h {
				s.rc.Del(it.key)
			}
		}
	}
}

// StoredBytes and StoredObjects report what the purge index holds (every
// admitted or pending entry, vary markers included).
func (s *Store) StoredBytes() int64   { return s.idx.bytes.Load() }
func (s *Store) StoredObjects() int64 { return s.idx.objects.Load() }

// Stats is a snapshot for status pages.
type Stats struct {
	Objects, Bytes, MaxBytes int64
}

// Stats returns a snapshot of the store's size.
func (s *Store) Stats() Stats {
	return Stats{Objects: s.StoredObjects(), Bytes: s.StoredBytes(), MaxBytes: s.cfg.Load().MaxMemory}
}

// RequestHeaderGetter adapts http.Header for Lookup (http.Header already
// satisfies HeaderGetter; this is for documentation).
var _ HeaderGetter = http.Header(nil)
