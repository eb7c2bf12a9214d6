package geodata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Result is the region for a client address.
type Result struct {
	// Region is the name of the region that serves the address.
	Region string
	// Scope is the network that decided the answer: it contains the
	// address, and every address in it gets this same Region (it may be
	// wider than Location.Network when neighbouring networks map to the
	// same region). Use it as the ECS scope. IPv4 addresses get IPv4
	// scopes.
	Scope netip.Prefix
	// Rule is the step that decided: RuleCoverage, RuleSubdivision,
	// RuleCountry, RuleContinent, RuleNearest or RuleDefault.
	Rule string
	// Location is the database record of the address (also looked up
	// when a coverage entry decided).
	Location Location
}

// Stats are the Geo's counters and what it has loaded.
type Stats struct {
	Reloads        uint64    // successful reloads (watcher and Reload)
	ReloadFailures uint64    // reloads that failed; the old state kept serving
	Lookups        uint64    // Locate and LocateRegion calls
	LookupFailures uint64    // lookups the database could not answer (default region given)
	CacheHits      uint64    // Locate calls answered from the cache
	TableHits      uint64    // LocateRegion calls answered from the IPv4 block table
	TableBlocks    int       // IPv4 /24 blocks the table answers (of 16,777,216)
	DatabaseType   string    // database_type of the loaded database
	DatabaseBuilt  time.Time // its build time
	Networks       int       // coverage entries loaded
}

// Geo maps client addresses to regions. Create it with New; Start watches
// the files for changes. All methods are safe for concurrent use.
type Geo struct {
	logger  *slog.Logger
	dbBytes []byte
	bytesDB *DB
	hook    func(error)

	st atomic.Pointer[state]

	// mu serialises state builds: the watcher's and Reload's.
	mu sync.Mutex
	// failed is the (database, coverage) version whose load last failed:
	// the watcher does not retry it until a file changes again. Guarded
	// by mu.
	failed    [2]stamp
	hasFailed bool

	reloads, reloadFailures atomic.Uint64
	misses, hits, failures  stripes // Lookups = misses + hits + tableHits
	tableHits               stripes

	runMu sync.Mutex
	stop  chan struct{}
	done  chan struct{}
}

// Option configures a Geo beyond its Config.
type Option func(*Geo)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(g *Geo) { g.logger = l } }

// WithDatabaseBytes uses the database in b (not copied: do not modify it)
// whenever Config.Database is "": for the demo node and tests.
func WithDatabaseBytes(b []byte) Option { return func(g *Geo) { g.dbBytes = b } }

// WithReloadHook calls fn after every reload attempt, by the watcher or by
// Reload, with nil on success. fn runs on the reloading goroutine and must
// not block for long.
func WithReloadHook(fn func(err error)) Option { return func(g *Geo) { g.hook = fn } }

// New validates cfg (after filling defaults), opens the database and the
// coverage file and builds the lookup state. It starts no goroutine.
func New(cfg Config, opts ...Option) (*Geo, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Geo{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(g)
	}
	g.logger = g.logger.With("component", "geodata")
	if g.dbBytes != nil {
		db, err := FromBytes(g.dbBytes)
		if err != nil {
			return nil, err
		}
		g.bytesDB = db
	}
	s, err := buildState(cfg, nil, g.bytesDB)
	if err != nil {
		return nil, err
	}
	g.st.Store(s)
	return g, nil
}

// Config returns the config in effect, defaults filled in.
func (g *Geo) Config() Config { return g.st.Load().cfg }

// Ready reports whether a database is loaded (always, once New succeeded).
func (g *Geo) Ready() bool { return g.st.Load() != nil }

// Start starts the file watcher: every CheckInterval it stats the database
// and coverage files and reloads them when one changed (size,
// modification time or inode). A file that fails to load is logged,
// counted and passed to the reload hook once; the old state keeps serving
// and the file is tried again when it changes.
func (g *Geo) Start(ctx context.Context) error {
	g.runMu.Lock()
	defer g.runMu.Unlock()
	if g.stop != nil {
		return errors.New("geodata: already started")
	}
	g.stop, g.done = make(chan struct{}), make(chan struct{})
	go g.watch(g.stop, g.done)
	return nil
}

// Stop ends the watcher, waiting for a reload in progress within ctx.
// Calling it twice, or without Start, is harmless.
func (g *Geo) Stop(ctx context.Context) error {
	g.runMu.Lock()
	defer g.runMu.Unlock()
	if g.stop == nil {
		return nil
	}
	close(g.stop)
	done := g.done
	g.stop, g.done = nil, nil
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("geodata: stop: %w", ctx.Err())
	}
}

func (g *Geo) watch(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTimer(g.st.Load().cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		g.check()
		t.Reset(g.st.Load().cfg.CheckInterval)
	}
}

// check reloads the files of the current config if one changed.
func (g *Geo) check() {
	g.mu.Lock()
	s := g.st.Load()
	var now [2]stamp
	if s.cfg.Database != "" {
		now[0] = statFile(s.cfg.Database)
	}
	if s.cfg.CoverageFile != "" {
		now[1] = statFile(s.cfg.CoverageFile)
	}
	unchanged := now[0].same(s.dbStamp) && now[1].same(s.covStamp)
	if unchanged || g.hasFailed && now[0].same(g.failed[0]) && now[1].same(g.failed[1]) {
		g.mu.Unlock()
		return
	}
	start := time.Now()
	ns, err := buildState(s.cfg, s, g.bytesDB)
	if err != nil {
		g.failed, g.hasFailed = now, true
	} else {
		g.hasFailed = false
		g.st.Store(ns)
	}
	g.mu.Unlock()
	if err != nil {
		g.reloadFailures.Add(1)
		g.logger.Warn("reload failed, keeping the loaded data", "err", err)
	} else {
		g.reloads.Add(1)
		g.logger.Info("files reloaded", "database_type", ns.db.Type(), "database_built", ns.db.BuildTime(),
			"coverage_entries", len(ns.coverage), "duration_s", time.Since(start).Seconds())
	}
	if g.hook != nil {
		g.hook(err)
	}
}

// Reload applies a new config (regions, files): it validates it, opens the
// files and builds the new state next to the old one, then swaps it in.
// On any error the old state keeps serving. A database file unchanged
// since it was loaded is not read again.
func (g *Geo) Reload(cfg Config) error {
	cfg.SetDefaults()
	err := cfg.Validate()
	if err == nil {
		g.mu.Lock()
		var ns *state
		if ns, err = buildState(cfg, g.st.Load(), g.bytesDB); err == nil {
			g.st.Store(ns)
			g.hasFailed = false
		}
		g.mu.Unlock()
	}
	if err != nil {
		g.reloadFailures.Add(1)
	} else {
		g.reloads.Add(1)
	}
	if g.hook != nil {
		g.hook(err)
	}
	return err
}

// Locate returns the region for client address a. A 4in6 address is
// treated as IPv4, a zone is ignored; the zero Addr gets the default
// region with an invalid Scope. Answers are cached per network, so
// repeated lookups in one scope cost one table probe and no allocation.
func (g *Geo) Locate(a netip.Addr) Result {
	s := g.st.Load()
	if !a.IsValid() {
		return Result{Region: s.names[s.def], Rule: RuleDefault}
	}
	a = a.Unmap()
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	if s.cache != nil {
		if e, ok := s.cache.get(a); ok {
			g.hits.add(stripeOf(a), 1)
			return e.res
		}
	}
	res, exact, failed := s.locate(a)
	i := stripeOf(a)
	g.misses.add(i, 1)
	if failed {
		g.failures.add(i, 1)
	} else if s.cache != nil {
		s.cache.put(a, exact, res)
	}
	return res
}

// LocateRegion returns what Locate returns as Region and Scope, without
// the database record: for IPv4 from a table of every /24 block built at
// load, so the common answer costs one or two array reads whatever the
// number of client networks; otherwise as Locate does (and counted as
// Locate is).
func (g *Geo) LocateRegion(a netip.Addr) (region string, scope netip.Prefix) {
	s := g.st.Load()
	if s.t4 != nil {
		a = a.Unmap()
		if a.Is4() {
			if r, p, ok := s.t4.region4(s, a); ok {
				g.tableHits.add(stripeOf(a), 1)
				return r, p
			}
		}
	}
	res := g.Locate(a)
	return res.Region, res.Scope
}

// stripeOf picks a counter stripe: addresses, not goroutines, are at
// hand, and they spread well enough.
func stripeOf(a netip.Addr) uint64 {
	if a.Is4() {
		v := a.As4()
		return uint64(v[2] ^ v[3])
	}
	v := a.As16()
	return uint64(v[5] ^ v[7])
}

// Regions returns the region names in config order.
func (g *Geo) Regions() []string {
	return append([]string(nil), g.st.Load().names...)
}

// Fallback returns every other region ordered by great-circle distance
// from region's site, nearest first (config order on ties); nil for an
// unknown region. The slice is shared: do not modify it.
func (g *Geo) Fallback(region string) []string {
	return g.st.Load().fallback[region]
}

// Stats returns the counters and what is loaded.
func (g *Geo) Stats() Stats {
	s := g.st.Load()
	hits, table := g.hits.load(), g.tableHits.load()
	return Stats{
		Reloads:        g.reloads.Load(),
		ReloadFailures: g.reloadFailures.Load(),
		Lookups:        g.misses.load() + hits + table,
		LookupFailures: g.failures.load(),
		CacheHits:      hits,
		TableHits:      table,
		TableBlocks:    s.t4.covered(),
		DatabaseType:   s.db.Type(),
		DatabaseBuilt:  s.db.BuildTime(),
		Networks:       len(s.coverage),
	}
}
