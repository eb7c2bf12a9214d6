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

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is the object store. Create it with New, then Start it; Stop
// releases it. All methods are safe for concurrent use.
type Store struct {
	cfg     atomic.Pointer[Config]
	rc      *ristretto.Cache[string, *Entry]
	logger  *slog.Logger
	reg     prometheus.Registerer
	met     *metrics
	now     func() time.Time
	seq     atomic.Uint64 // purge sequence
	idx     index
	flights [flightShards]flightShard
	reclaim chan *Entry

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
		reclaim: make(chan *Entry, 1<<16),
		stop:    make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.logger = s.logger.With("component", "cache")
	s.cfg.Store(&cfg)
	s.idx.init()
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
	rc, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		// Ten counters per expected object (objects of ~4 KiB).
		NumCounters:        max(cfg.MaxMemory/4096*10, 100_000),
		MaxCost:            cfg.MaxMemory,
		BufferItems:        64,
		IgnoreInternalCost: true, // our cost already includes an overhead estimate
		OnEvict:            func(*ristretto.Item[*Entry]) { s.met.evictions.Inc() },
		OnReject:           func(*ristretto.Item[*Entry]) { s.met.rejections.WithLabelValues("admission").Inc() },
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

// entryOverhead estimates what one stored object costs beyond its bytes:
// the Entry, ristretto's bookkeeping and the purge index.
const entryOverhead = 512

// Get returns the entry stored under the exact key, if it is usable
// (not hard-purged).
func (s *Store) Get(key string) (*Entry, bool) {
	e, ok := s.rc.Get(key)
	if !ok || e == nil {
		return nil, false
	}
	if e.purged.Load() == hardPurged {
		return nil, false
	}
	return e, true
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
	e, ok := s.Get(primary)
	if !ok {
		return nil, primary, URIMiss
	}
	if e.Status == passStatus {
		return e, primary, Pass
	}
	if !e.IsVaryMarker() {
		return e, primary, Found
	}
	full := primary + "\x00" + SecondaryKey(e.VaryNames, h)
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
	}
	return string(b)
}

// passStatus marks a hit-for-pass entry.
const passStatus = -1

// MarkPass remembers for the configured hit-for-pass time that key's
// responses cannot be stored.
func (s *Store) MarkPass(key string) {
	d := *s.cfg.Load().HitForPass
	if d <= 0 {
		return
	}
	e := &Entry{Key: key, Status: passStatus, owner: passOwner}
	s.rc.SetWithTTL(key, e, 64, d)
	s.met.passes.Inc()
}

// passOwner tags entries that are not indexed (hit-for-pass markers).
var passOwner = &Entry{}

// Put stores e (built from a response fetched by a fill that began at
// e's sequence) unless a purge issued since then matches it. It returns
// whether the store accepted it (ristretto may still decline to admit it).
// ttl is how long to keep it.
func (s *Store) Put(e *Entry, ttl time.Duration) bool {
	cfg := s.cfg.Load()
	ttl = min(ttl, cfg.MaxTTL)
	if ttl <= 0 {
		return false
	}
	e.pack()
	e.cost = e.computeCost()
	if !s.idx.add(e) {
		s.met.rejections.WithLabelValues("purged").Inc()
		return false
	}
	if !s.rc.SetWithTTL(e.fullKey(), e, e.cost, ttl) {
		s.idx.remove(e)
		s.met.rejections.WithLabelValues("buffer").Inc()
		return false
	}
	s.met.stores.Inc()
	return true
}

// fullKey is the key an entry is stored under.
func (e *Entry) fullKey() string {
	if e.VaryKey == "" {
		return e.Key
	}
	return e.Key + "\x00" + e.VaryKey
}

func (e *Entry) computeCost() int64 {
	c := int64(entryOverhead + len(e.Key) + len(e.VaryKey) + len(e.Header) + len(e.ETag) + len(e.Vary))
	for _, b := range e.Bodies {
		c += int64(len(b))
	}
	for _, t := range e.Tags {
		c += int64(len(t)) + 48
	}
	return c
}

// onExit runs when ristretto lets go of a value.
func (s *Store) onExit(e *Entry) {
	switch {
	case e == nil || e.owner == passOwner:
	case e.owner != nil: // a promoted identity item
		e.owner.identity.CompareAndSwap(e, nil)
	default:
		s.idx.remove(e)
		// Its promoted identity item goes with it (deleted by the
		// reclaimer: onExit runs inside ristretto's own loop).
		if a := e.identity.Swap(nil); a != nil {
			select {
			case s.reclaim <- a:
			default: // its TTL reclaims it
			}
		}
	}
}

// IdentityBody returns the identity body of e: stored, or promoted after
// earlier identity hits. The second result is false when the caller must
// decode it from another encoding.
func (s *Store) IdentityBody(e *Entry) ([]byte, bool) {
	if b := e.Bodies[Identity]; b != nil {
		return b, true
	}
	if a := e.identity.Load(); a != nil {
		return a.Bodies[Identity], true
	}
	return nil, false
}

// NoteIdentityHit counts an identity hit on an entry that does not store
// its identity body and reports whether the decoded body should now be
// kept (PromoteIdentity): a client that cannot take compressed encodings
// asked for a stored object, so more such clients are likely. (Objects
// fetched once and never asked for again stay compressed only.)
func (s *Store) NoteIdentityHit(e *Entry) bool {
	return e.identityHits.Add(1) == 1
}

// PromoteIdentity stores a decoded identity body next to e, so later
// identity hits on e cost no decoding. It lives and is evicted on its own.
func (s *Store) PromoteIdentity(e *Entry, body []byte) {
	a := &Entry{Key: e.Key, owner: e}
	a.Bodies[Identity] = body
	ttl := e.Lifetime - e.Age(s.now()) + e.StaleIfError
	if ttl <= 0 {
		ttl = time.Minute
	}
	// The entry links the item while ristretto holds it: onExit unlinks it
	// when it is evicted or refused, so its memory is always accounted for.
	e.identity.Store(a)
	if s.rc.SetWithTTL(e.fullKey()+"\x00identity", a, int64(len(body))+entryOverhead, min(ttl, s.cfg.Load().MaxTTL)) {
		s.met.promotions.Inc()
	} else {
		e.identity.CompareAndSwap(a, nil)
	}
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
		case e := <-s.reclaim:
			k := e.fullKey()
			if e.owner != nil {
				k = e.owner.fullKey() + "\x00identity"
			}
			if cur, ok := s.rc.Get(k); ok && cur == e {
				s.rc.Del(k)
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
