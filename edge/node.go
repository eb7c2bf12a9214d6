package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgecdn/edgecdn/bgp"
	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/edge/demo"
	"github.com/edgecdn/edgecdn/edge/internal/h1"
	"github.com/edgecdn/edgecdn/origin"
)

// Version is the node's version, stamped at build time with
// -ldflags "-X github.com/edgecdn/edgecdn/edge.Version=...".
var Version = "dev"

// Node is one edge node: cache, origin pools, the client HTTP listeners,
// the admin server and (optionally) the demo origin. Create it with New,
// then Start; Stop shuts it down; Reload swaps in a new config.
type Node struct {
	logger    *slog.Logger // with component=node
	base      *slog.Logger // as given, for the components
	level     *slog.LevelVar
	reg       *prometheus.Registry
	met       *metrics
	originMet *origin.Metrics
	originRP  *origin.ReadPoller // nil with http.read_order: runtime
	regionMet *regionMetrics
	dnsMet    *dnsserver.Metrics
	bgpMet    *bgp.Metrics
	speaker   *bgp.Speaker // nil without a bgp section
	hc        *healthChecker
	sum       summarizer
	sumStop   chan struct{}
	auth      authority
	purgeLim  rateLimiter
	auditor   *auditLog
	source    func() (*Config, error) // for POST /reload; nil: none
	store     *cache.Store
	handler   *handler
	demo      *demo.Server
	now       func() time.Time

	mu      sync.Mutex // serialises Start, Stop and Reload
	cfg     atomic.Pointer[Config]
	genID   uint64
	pools   []*origin.Pool
	dns     *dnsPart // nil without a dns section; set in New
	httpSrv *h1.Server
	httpLns []net.Listener
	admin   *http.Server
	adminLn net.Listener
	started time.Time
	running atomic.Bool
	stopped bool
	wg      sync.WaitGroup

	fillCtx    context.Context
	fillCancel context.CancelFunc

	// livePools is the pools of the current generation, for the origins
	// health check (which must not take mu).
	livePools     atomic.Pointer[[]*origin.Pool]
	firstHTTPAddr atomic.Pointer[string]
}

// Option configures a Node beyond its Config.
type Option func(*Node)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.logger = l } }

// WithLevelVar lets the node report (and later change) the log level.
func WithLevelVar(v *slog.LevelVar) Option { return func(n *Node) { n.level = v } }

// WithConfigSource gives the node where its config comes from, for
// POST /reload (cmd/edged: re-read the -config file).
func WithConfigSource(src func() (*Config, error)) Option {
	return func(n *Node) { n.source = src }
}

// WithClock sets the clock for freshness decisions (tests only).
func WithClock(now func() time.Time) Option { return func(n *Node) { n.now = now } }

// New validates cfg and builds the node. It opens no sockets and starts
// no goroutines.
func New(cfg *Config, opts ...Option) (*Node, error) {
	c := *cfg
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	n := &Node{logger: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(n)
	}
	base := n.logger // components add their own "component"
	n.logger = base.With("component", "node")
	n.base = base
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.met = newMetrics()
	n.reg.MustRegister(n.met.collectors()...)
	n.originMet = origin.NewMetrics()
	n.reg.MustRegister(n.originMet)
	if c.HTTP.ReadOrder == ReadOrderArrival {
		n.originRP = origin.NewReadPoller(n.originPollerFailed)
		n.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edge_origin_kicked_reads_total",
			Help: "Origin responses handed to their fills between two client requests (origin read poller, http.read_order: arrival) rather than at the end of a scheduler round.",
		}, func() float64 { return float64(n.originRP.Kicked()) }))
	}
	n.regionMet = newRegionMetrics()
	n.reg.MustRegister(n.regionMet.collectors()...)
	store, err := cache.New(c.Cache, cache.WithLogger(base), cache.WithRegisterer(n.reg), cache.WithClock(n.now))
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	n.store = store
	if err := n.auth.load(&c.Admin); err != nil {
		return nil, err
	}
	n.purgeLim.setRate(c.Admin.PurgeRate)
	n.fillCtx, n.fillCancel = context.WithCancel(context.Background())
	n.handler = &handler{store: store, met: n.met, logger: base.With("component", "http"), now: n.now, fillCtx: n.fillCtx}
	n.handler.fills = newFillWorkers(n.fillCtx, n.handler.runFill, fillWorkerIdle, fillWorkersIdleMax)
	g, pools, err := n.buildGeneration(&c, 1)
	if err != nil {
		return nil, err
	}
	n.genID, n.pools = 1, pools
	n.livePools.Store(&pools)
	n.handler.gen.Store(g)
	if c.Demo != nil {
		if n.demo, err = demo.New(*c.Demo, demo.WithLogger(base)); err != nil {
			return nil, fmt.Errorf("edge: demo origin: %w", err)
		}
	}
	n.cfg.Store(&c)
	n.dnsMet = dnsserver.NewMetrics()
	n.reg.MustRegister(n.dnsMet, newGeoCollector(n))
	if n.dns, err = newDNS(&c, nodeHealth{n}, n.dnsMet, base); err != nil {
		for _, p := range pools {
			p.Close()
		}
		return nil, fmt.Errorf("edge: %w", err)
	}
	if n.dns != nil {
		n.handler.geo.Store(n.dns.geo) // client regions for the regional metrics
	}
	if c.BGP != nil {
		n.bgpMet = bgp.NewMetrics()
		n.reg.MustRegister(n.bgpMet)
		n.speaker, err = bgp.New(*c.BGP, bgp.WithLogger(base), bgp.WithMetrics(n.bgpMet), bgp.WithPeerHook(n.peerEvent))
		if err != nil {
			for _, p := range pools {
				p.Close()
			}
			return nil, fmt.Errorf("edge: %w", err)
		}
	}
	hm := newHealthMetrics()
	n.reg.MustRegister(hm.collectors()...)
	n.hc = newHealthChecker(n, &c, hm, n.speaker)
	n.met.configGen.Set(1)
	return n, nil
}

// originPollerFailed counts and logs an origin read poller that could not
// start or stopped; origin reads then wait in the Go poller.
func (n *Node) originPollerFailed(err error) {
	n.met.pollerFails.Inc()
	n.logger.Error("origin: read poller failed; origin responses wait in the Go poller", "err", err)
}

// regionNames are the configured client regions (none without geodata).
func regionNames(c *Config) []string {
	if c.Geodata == nil {
		return nil
	}
	var out []string
	for _, r := range c.Geodata.Regions {
		out = append(out, r.Name)
	}
	return out
}

// peerEvent receives BGP session changes. The speaker logs sessions
// coming up and going down and counts them; the node notes each state at
// debug level (a router that is away cycles through connect and active).
func (n *Node) peerEvent(e bgp.PeerEvent) {
	n.logger.Debug("bgp peer state", "peer", e.Address, "asn", e.ASN, "state", e.State, "up", e.Up)
}

// poolHook is every origin pool's state hook: an origin going up or down
// re-runs the health evaluation at once.
func (n *Node) poolHook(origin.State) {
	if n.hc != nil && n.hc.ran.Load() {
		n.hc.poke()
	}
}

// buildGeneration compiles a config into what the request path reads.
func (n *Node) buildGeneration(c *Config, id uint64) (*generation, []*origin.Pool, error) {
	comp, err := newCompressor(&c.Compression)
	if err != nil {
		return nil, nil, err
	}
	var sites []*site
	var pools []*origin.Pool
	for i := range c.Sites {
		sc := c.Sites[i]
		opts := []origin.Option{origin.WithLogger(n.base), origin.WithMetrics(n.originMet), origin.WithStateHook(n.poolHook), origin.WithReadPoller(n.originRP)}
		for _, old := range n.pools {
			if old.Site() == sc.Name {
				opts = append(opts, origin.WithPrevious(old))
			}
		}
		pool, err := origin.NewPool(sc.Name, sc.OriginPolicy, sc.Origins, opts...)
		if err != nil {
			for _, p := range pools {
				p.Close()
			}
			return nil, nil, fmt.Errorf("sites[%d]: %w", i, err)
		}
		pools = append(pools, pool)
		sites = append(sites, &site{
			name: sc.Name, cfg: sc, pool: pool, met: n.met.forSite(sc.Name),
			policy: cache.Policy{DefaultTTL: sc.DefaultTTL, StaleIfError: *sc.StaleIfError, HeuristicMax: *c.Cache.HeuristicMax},
		})
	}
	return &generation{
		id:         id,
		nodeID:     c.Node.ID,
		sites:      newSiteTable(sites),
		comp:       comp,
		maxBody:    c.HTTP.MaxRequestBody,
		maxObj:     c.Cache.MaxObjectSize,
		via:        "1.1 " + c.Node.ID,
		healthBody: []byte("ok " + c.Node.ID + "\n"),
		regions:    n.regionMet.table(regionNames(c)),
		csPrefix:   c.Node.ID + "; ",
	}, pools, nil
}

// Start starts the cache, the demo origin, the HTTP listeners and the
// admin server, in that order, and returns once all are serving. On error
// everything started is stopped again.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running.Load() || n.stopped {
		return errors.New("edge: node already started")
	}
	cfg := n.cfg.Load()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GCPercent)
	}
	if err := n.store.Start(ctx); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			n.stopLocked(context.Background())
		}
	}()
	if n.demo != nil {
		if err := n.demo.Start(ctx); err != nil {
			return fmt.Errorf("edge: demo origin: %w", err)
		}
	}
	if err := n.originRP.Start(); err != nil {
		n.originPollerFailed(err)
	}
	for _, p := range n.pools {
		if err := p.Start(ctx); err != nil { // probes
			return err
		}
	}
	h := &cfg.HTTP
	n.httpSrv = &h1.Server{
		Handler:           n.handler,
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		IdleTimeout:       h.IdleTimeout,
		WriteTimeout:      h.WriteTimeout,
		MaxHeaderBytes:    int(h.MaxHeaderBytes),
		MaxURIBytes:       int(h.MaxURIBytes),
		MaxConns:          h.MaxConnections,
		RuntimeReadOrder:  h.ReadOrder == ReadOrderRuntime,
		BeforeWait:        n.originRP.Kick,
		OnPollerError: func(err error) {
			n.met.pollerFails.Inc()
			n.logger.Error("http: own poller failed; connections wait in the Go poller", "err", err)
		},
		ErrorFields: []byte("Cache-Status: " + cfg.Node.ID + "; detail=rejected\r\n"),
		OnReject:    func(reason string) { n.met.rejected.WithLabelValues(reason).Inc() },
		OnConnOpen:  func() { n.met.connsOpen.Inc(); n.met.connsTotal.Inc() },
		OnConnClose: func() { n.met.connsOpen.Dec() },
		OnPanic: func(v any) {
			n.met.panics.Inc()
			n.logger.Error("request handler panic", "err", fmt.Sprint(v), "stack", string(debug.Stack()))
		},
	}
	if err := n.dns.start(ctx); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	lc := net.ListenConfig{}
	for _, addr := range h.Listen {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("edge: http listen %s: %w", addr, err)
		}
		n.httpLns = append(n.httpLns, ln)
	}
	adminLn, err := lc.Listen(ctx, "tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("edge: admin listen %s: %w", cfg.Admin.Listen, err)
	}
	tlsCfg, err := adminTLSConfig(&cfg.Admin)
	if err != nil {
		adminLn.Close()
		return fmt.Errorf("edge: %w", err)
	}
	if tlsCfg != nil {
		adminLn = tls.NewListener(adminLn, tlsCfg)
	}
	n.adminLn = adminLn
	n.auditor = &auditLog{logger: n.base.With("component", "audit")}
	if cfg.Admin.AuditLog != "" {
		f, err := os.OpenFile(cfg.Admin.AuditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("edge: admin.audit_log: %w", err)
		}
		n.auditor.f = f
	}
	n.admin = &http.Server{Handler: n.adminHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	for _, ln := range n.httpLns {
		n.wg.Add(1)
		go func(ln net.Listener) {
			defer n.wg.Done()
			if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, h1.ErrServerClosed) {
				n.logger.Error("http listener failed", "addr", ln.Addr().String(), "err", err)
			}
		}(ln)
		n.logger.Info("http listening", "addr", ln.Addr().String())
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("admin listener failed", "addr", adminLn.Addr().String(), "err", err)
		}
	}()
	n.logger.Info("admin listening", "addr", adminLn.Addr().String())
	if len(n.httpLns) > 0 {
		a := checkAddr(n.httpLns[0].Addr())
		n.firstHTTPAddr.Store(&a)
	}
	// BGP last: the speaker starts with nothing announced; the health
	// machine announces once every check has passed rise times.
	if n.speaker != nil {
		if err := n.speaker.Start(ctx); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
	}
	n.hc.start()
	n.sum.zero = &metricSnap{at: time.Now()}
	n.sumStop = make(chan struct{})
	n.wg.Add(1)
	go n.minuteLoop(n.sumStop)
	n.started = n.now()
	n.running.Store(true)
	n.logger.Info("node started", "node", cfg.Node.ID, "region", cfg.Node.Region, "version", Version,
		"sites", len(cfg.Sites), "cache_bytes", cfg.Cache.MaxMemory)
	return nil
}

// Stop drains the node first: with BGP, its prefixes are announced with
// the drain attributes for health.drain_delay and then withdrawn; then it
// keeps serving for health.lameduck. Then it stops accepting requests,
// lets those in progress finish within ctx (at most http.shutdown_grace),
// and stops the admin server, fills, origin pools, the demo origin and the
// cache. Calling it twice is harmless.
func (n *Node) Stop(ctx context.Context) error {
	if n.running.Load() {
		n.hc.drainForShutdown(ctx)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked(ctx)
}

func (n *Node) stopLocked(ctx context.Context) error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	n.running.Store(false)
	grace := n.cfg.Load().HTTP.ShutdownGrace
	sctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	var errs []error
	n.hc.stop()
	if n.speaker != nil {
		if err := n.speaker.Stop(sctx); err != nil {
			errs = append(errs, fmt.Errorf("bgp: %w", err))
		}
	}
	if err := n.dns.stop(sctx); err != nil {
		errs = append(errs, fmt.Errorf("dns: %w", err))
	}
	if n.httpSrv != nil {
		if err := n.httpSrv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	} else {
		for _, ln := range n.httpLns {
			ln.Close()
		}
	}
	if n.admin != nil {
		if err := n.admin.Shutdown(sctx); err != nil {
			n.admin.Close()
		}
	} else if n.adminLn != nil {
		n.adminLn.Close()
	}
	n.fillCancel()
	// Fills answer their clients before they store the body: wait for
	// them before the store closes.
	if err := n.handler.fills.wait(sctx); err != nil {
		errs = append(errs, fmt.Errorf("fills still running: %w", err))
	}
	if n.sumStop != nil {
		close(n.sumStop)
	}
	n.wg.Wait()
	if n.auditor != nil && n.auditor.f != nil {
		n.auditor.f.Close()
	}
	for _, p := range n.pools {
		if err := p.Stop(sctx); err != nil {
			n.logger.Warn("stopping origin pool", "err", err)
		}
	}
	n.originRP.Close()
	if n.demo != nil {
		if err := n.demo.Stop(sctx); err != nil {
			errs = append(errs, fmt.Errorf("demo: %w", err))
		}
	}
	if err := n.store.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	n.logger.Info("node stopped")
	return errors.Join(errs...)
}

// Reload validates cfg completely and swaps it in atomically; on any
// error the running config stays in effect. Listeners survive: their
// addresses cannot change on reload.
func (n *Node) Reload(cfg *Config) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer func() {
		if err != nil {
			n.met.reloads.WithLabelValues("error").Inc()
			n.logger.Warn("config reload rejected; the running config stays", "err", err)
		}
	}()
	c := *cfg
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	old := n.cfg.Load()
	if c.Node.ID != old.Node.ID {
		return errors.New("node.id: cannot change on reload (restart the node)")
	}
	if !slices.Equal(c.HTTP.Listen, old.HTTP.Listen) {
		return errors.New("http.listen: cannot change on reload (restart the node)")
	}
	if c.Admin.Listen != old.Admin.Listen {
		return errors.New("admin.listen: cannot change on reload (restart the node)")
	}
	if c.HTTP.ReadOrder != old.HTTP.ReadOrder {
		return errors.New("http.read_order: cannot change on reload (restart the node)")
	}
	if c.Admin.Pprof != old.Admin.Pprof {
		return errors.New("admin.pprof: cannot change on reload (restart the node)")
	}
	if !reflect.DeepEqual(c.Admin.TLS, old.Admin.TLS) {
		return errors.New("admin.tls: cannot change on reload (restart the node)")
	}
	if c.Admin.AuditLog != old.Admin.AuditLog {
		return errors.New("admin.audit_log: cannot change on reload (restart the node)")
	}
	var auth authority
	if err := auth.load(&c.Admin); err != nil {
		return err
	}
	if (c.Demo == nil) != (old.Demo == nil) || (c.Demo != nil && c.Demo.Listen != old.Demo.Listen) {
		return errors.New("demo: cannot change on reload (restart the node)")
	}
	if (c.DNS == nil) != (old.DNS == nil) {
		return errors.New("dns: adding or removing the dns section needs a restart")
	}
	if c.DNS != nil && !slices.Equal(c.DNS.Listen, old.DNS.Listen) {
		return errors.New("dns.listen: cannot change on reload (restart the node)")
	}
	if c.DNS != nil && (c.Geodata.Database == "") != (old.Geodata.Database == "") {
		return errors.New("geodata.database: switching between the demo database and a file needs a restart")
	}
	if (c.BGP == nil) != (old.BGP == nil) {
		return errors.New("bgp: adding or removing the bgp section needs a restart")
	}
	if !sameServerSettings(c.HTTP, old.HTTP) {
		return errors.New("http: timeouts and limits of the listeners cannot change on reload (restart the node); max_request_body and shutdown_grace can")
	}
	g, pools, err := n.buildGeneration(&c, n.genID+1)
	if err != nil {
		return err
	}
	if n.speaker != nil {
		if err := n.speaker.Reload(*c.BGP); err != nil {
			for _, p := range pools {
				p.Close()
			}
			return err
		}
	}
	if n.dns != nil {
		if err := n.dns.reload(&c); err != nil {
			for _, p := range pools {
				p.Close()
			}
			return err
		}
	}
	if err := n.store.Reload(c.Cache); err != nil {
		for _, p := range pools {
			p.Close()
		}
		return fmt.Errorf("cache: %w", err)
	}
	n.genID++
	n.handler.gen.Store(g)
	oldPools := n.pools
	n.pools = pools
	n.livePools.Store(&pools)
	n.cfg.Store(&c)
	n.hc.reload(&c.Health)
	n.auth.mu.Lock()
	n.auth.creds, n.auth.open = auth.creds, auth.open
	n.auth.mu.Unlock()
	n.purgeLim.setRate(c.Admin.PurgeRate)
	if n.running.Load() {
		for _, p := range pools {
			p.Start(context.Background())
		}
	}
	for _, p := range oldPools {
		p.Close() // probes and idle connections; requests in flight finish
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(c.Runtime.GCPercent)
	}
	n.met.reloads.WithLabelValues("ok").Inc()
	n.met.configGen.Set(float64(n.genID))
	n.logger.Info("config reloaded", "generation", n.genID)
	return nil
}

// sameServerSettings compares what is fixed in the running listeners.
func sameServerSettings(a, b HTTPConfig) bool {
	a.Listen, b.Listen = nil, nil
	a.MaxRequestBody, b.MaxRequestBody = 0, 0
	a.ShutdownGrace, b.ShutdownGrace = 0, 0
	return reflect.DeepEqual(a, b)
}

// Ready reports whether the node is serving and healthy: not degraded,
// draining or drained (a starting node serves, and is ready, while its
// checks warm up; only its BGP announcement waits for them).
func (n *Node) Ready() bool {
	if !n.running.Load() || !n.store.Ready() {
		return false
	}
	s := n.hc.state()
	return s == StateStarting || s == StateHealthy
}

// Health returns the health machine's state.
func (n *Node) Health() HealthStatus { return n.hc.status() }

// Drain starts (true) or ends (false) an operator drain: the node
// withdraws its prefixes gracefully and /ready answers 503, but it keeps
// serving.
func (n *Node) Drain(on bool) { n.hc.setOperatorDrain(on) }

// Config returns the config in effect (do not modify it).
func (n *Node) Config() *Config { return n.cfg.Load() }

// HTTPAddrs returns the addresses the HTTP listeners are bound to.
func (n *Node) HTTPAddrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, ln := range n.httpLns {
		out = append(out, ln.Addr().String())
	}
	return out
}

// AdminAddr returns the admin server's address.
func (n *Node) AdminAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.adminLn == nil {
		return ""
	}
	return n.adminLn.Addr().String()
}

// DemoAddr returns the demo origin's address ("" without one).
func (n *Node) DemoAddr() string {
	if n.demo == nil {
		return ""
	}
	return n.demo.Addr()
}

// DNSAddr returns the DNS server's first address (UDP and TCP share its
// port), "" without DNS.
func (n *Node) DNSAddr() string {
	if n.dns == nil {
		return ""
	}
	if a := n.dns.srv.Addrs(); len(a) > 0 {
		return a[0].String()
	}
	return ""
}

// Store returns the node's cache (for purges and tests).
func (n *Node) Store() *cache.Store { return n.store }

// Registry returns the node's metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.reg }
