package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pool holds the origins of one site: it probes them, ranks them and sends
// the site's requests to the best one, retrying once elsewhere when that
// is safe.
type Pool struct {
	site    string
	policy  PolicyConfig
	origins []*Origin
	logger  *slog.Logger
	met     *Metrics
	hook    func(State)
	now     func() time.Time
	rand    func() float64
	prev    *Pool
	rp      *ReadPoller

	expectLo, expectHi int

	mu      sync.Mutex // serialises rebalance and probe up/down changes
	current *Origin    // lowest-latency: the chosen primary
	// challenger is the origin clearly better than current, and
	// confirmations how many of its probes in a row found it so.
	challenger    *Origin
	confirmations int
	ranking       atomic.Pointer[[]*Origin]

	budget retryBudget

	ctx     context.Context // cancelled by Close: ends probes in flight
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	startMu sync.Mutex
	started bool
	closed  bool
}

// Origin is one origin server with its own connection pool, health and
// latency estimate.
type Origin struct {
	name      string // the configured URL, used as metric label
	idx       int
	cfg       Config
	base      *url.URL
	tr        *http.Transport
	rp        *ReadPoller // nil: reads wait in the Go poller
	probeHost string
	seed      uint64 // rendezvous hashing: from the URL, the same on every node

	up atomic.Bool
	br breaker

	opened   atomic.Int64
	open     atomic.Int64
	inflight atomic.Int64
	answered atomic.Uint64 // responses from real requests (not probes)

	mu         sync.Mutex // the probe statistics
	samples    int64
	ewma       float64 // seconds
	variance   float64
	loss       float64
	okRun      int
	failRun    int
	lastProbe  time.Time
	lastRTT    time.Duration
	lastErr    string
	probesOK   int64
	probesFail int64

	requests   *prometheus.CounterVec
	duration   prometheus.Observer
	openedCtr  prometheus.Counter
	selections prometheus.Counter
	probeRTT   prometheus.Observer
	probeOK    prometheus.Counter
	probeFail  prometheus.Counter
	probeSlow  prometheus.Counter
}

// Option configures a Pool beyond its Config.
type Option func(*Pool)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Pool) { p.logger = l } }

// WithMetrics makes the pool record into m (shared by every pool of a
// node; create it once with NewMetrics).
func WithMetrics(m *Metrics) Option { return func(p *Pool) { p.met = m } }

// WithStateHook calls fn whenever an origin goes up or down (on the probe
// goroutine) or its breaker changes state (on the goroutine of the request
// that caused it, with the breaker locked): fn must be quick and must not
// call back into the pool.
func WithStateHook(fn func(State)) Option { return func(p *Pool) { p.hook = fn } }

// WithClock sets the clock used for breaker and retry-budget time (tests).
func WithClock(now func() time.Time) Option { return func(p *Pool) { p.now = now } }

// WithRand sets the source of probe jitter, a function returning [0, 1)
// (tests).
func WithRand(r func() float64) Option { return func(p *Pool) { p.rand = r } }

// WithPrevious carries the health and latency state of origins with the
// same URL over from the pool this one replaces (a config reload), so a
// reload neither forgets a down origin nor resets the ranking.
func WithPrevious(prev *Pool) Option { return func(p *Pool) { p.prev = prev } }

// WithReadPoller has the pool's plain-HTTP connections read through rp
// (see ReadPoller); the caller starts and closes rp.
func WithReadPoller(rp *ReadPoller) Option { return func(p *Pool) { p.rp = rp } }

// NewPool validates the policy and origins of site (defaults filled in)
// and builds their transports. It opens no connections; Start begins the
// probes.
func NewPool(site string, policy PolicyConfig, cfgs []Config, opts ...Option) (*Pool, error) {
	p := &Pool{site: site, logger: slog.New(slog.DiscardHandler), now: time.Now, rand: rand.Float64}
	for _, o := range opts {
		o(p)
	}
	if p.met == nil {
		p.met = NewMetrics()
	}
	p.logger = p.logger.With("component", "origin", "site", site)
	if len(cfgs) == 0 {
		return nil, errors.New("origin: a site needs an origin")
	}
	policy.SetDefaults()
	var errs []error
	if err := policy.Validate(); err != nil {
		errs = append(errs, prefixErr("origin_policy", err))
	}
	p.policy = policy
	p.expectLo, p.expectHi, _ = parseStatusRange(policy.Probe.ExpectStatus)
	for i, c := range cfgs {
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			errs = append(errs, prefixErr(fmt.Sprintf("origins[%d]", i), err))
			continue
		}
		o, err := p.newOrigin(i, c)
		if err != nil {
			errs = append(errs, prefixErr(fmt.Sprintf("origins[%d]", i), err))
			continue
		}
		p.origins = append(p.origins, o)
	}
	if err := ValidateSet(cfgs); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		for _, o := range p.origins {
			o.tr.CloseIdleConnections()
		}
		return nil, err
	}
	p.budget.init(policy.Retry, p.now())
	if p.prev != nil {
		p.inherit(p.prev)
		p.prev = nil
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.rebalance(nil)
	p.met.track(p)
	return p, nil
}

func prefixErr(prefix string, err error) error {
	var out []error
	for _, e := range flatten(err) {
		out = append(out, fmt.Errorf("%s.%w", prefix, e))
	}
	return errors.Join(out...)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func (p *Pool) newOrigin(i int, c Config) (*Origin, error) {
	base, _ := parseBase(c.URL)
	o := &Origin{name: c.URL, idx: i, cfg: c, base: base, seed: splitmix64(nameHash(c.URL)), rp: p.rp}
	o.probeHost = p.policy.Probe.Host
	if o.probeHost == "" {
		o.probeHost = c.HostHeader
	}
	if o.probeHost == "" {
		o.probeHost = base.Host
	}
	o.up.Store(true) // optimistic until probes say otherwise
	o.br.init(&p.policy.Breaker, func(from, to int32, early bool) { p.breakerChanged(o, from, to, early) })
	tr, err := o.newTransport()
	if err != nil {
		return nil, err
	}
	o.tr = tr
	m := p.met
	o.requests = m.requests.MustCurryWith(prometheus.Labels{"site": p.site, "origin": o.name})
	o.duration = m.duration.WithLabelValues(p.site, o.name)
	o.openedCtr = m.opened.WithLabelValues(p.site, o.name)
	o.selections = m.selections.WithLabelValues(p.site, o.name)
	o.probeRTT = m.probeRTT.WithLabelValues(p.site, o.name)
	o.probeOK = m.probes.WithLabelValues(p.site, o.name, "ok")
	o.probeFail = m.probes.WithLabelValues(p.site, o.name, "fail")
	o.probeSlow = m.probes.WithLabelValues(p.site, o.name, "slow")
	if c.TLS.InsecureSkipVerify {
		p.logger.Warn("origin certificate is not verified (tls.insecure_skip_verify)", "origin", o.name)
	}
	return o, nil
}

func (o *Origin) newTransport() (*http.Transport, error) {
	d := &net.Dialer{Timeout: o.cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &ConnectError{Origin: o.name, Err: err}
			}
			o.opened.Add(1)
			o.open.Add(1)
			o.openedCtr.Inc()
			if o.base.Scheme == "http" {
				c = o.rp.wrap(c)
			}
			return &countedConn{Conn: c, o: o}, nil
		},
		TLSHandshakeTimeout:   o.cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: o.cfg.ResponseHeaderTimeout,
		IdleConnTimeout:       o.cfg.IdleTimeout,
		MaxIdleConns:          o.cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   o.cfg.MaxIdleConns,
		MaxConnsPerHost:       o.cfg.MaxConns,
		DisableCompression:    true, // the edge handles content-codings itself
		ForceAttemptHTTP2:     o.base.Scheme == "https",
		ExpectContinueTimeout: time.Second,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        32 << 10,
		// A response header this large is an origin fault; Go's default
		// (10 MB) would let one origin make every fill allocate that much.
		MaxResponseHeaderBytes: 256 << 10,
	}
	if o.base.Scheme == "https" {
		tc, err := o.cfg.tlsClientConfig(o.base.Hostname())
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	return tr, nil
}

// inherit copies probe state of same-URL origins from the pool replaced.
func (p *Pool) inherit(prev *Pool) {
	prev.mu.Lock()
	prevCurrent := prev.current
	prev.mu.Unlock()
	for _, o := range p.origins {
		for _, q := range prev.origins {
			if q.name != o.name {
				continue
			}
			q.mu.Lock()
			o.samples, o.ewma, o.variance, o.loss = q.samples, q.ewma, q.variance, q.loss
			o.okRun, o.failRun, o.lastProbe, o.lastRTT, o.lastErr = q.okRun, q.failRun, q.lastProbe, q.lastRTT, q.lastErr
			o.probesOK, o.probesFail = q.probesOK, q.probesFail
			q.mu.Unlock()
			o.up.Store(q.up.Load())
			if prevCurrent == q {
				p.current = o
			}
		}
	}
}

// Start begins probing every origin (unless probes are disabled) and
// returns; the first probe of each origin goes out at once. Starting a
// started or stopped pool does nothing.
func (p *Pool) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.started || p.closed || p.policy.Probe.Disabled {
		return nil
	}
	p.started = true
	for _, o := range p.origins {
		p.wg.Add(1)
		go p.probeLoop(o)
	}
	return nil
}

// Stop ends the probes (a probe in flight is cancelled) and releases idle
// connections, also those a cancelled dial still delivers afterwards;
// requests in flight finish on their own. It waits for the
// probe goroutines until ctx ends. Calling it twice is harmless.
func (p *Pool) Stop(ctx context.Context) error {
	p.startMu.Lock()
	p.closed = true
	p.startMu.Unlock()
	p.cancel()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("origin: pool %s: probes still running: %w", p.site, ctx.Err())
	}
	for _, o := range p.origins {
		o.tr.CloseIdleConnections()
		// A dial in flight when its request was cancelled completes in
		// the background and parks its connection in the idle pool (seen
		// with HTTP/2 probes of TLS origins): close such connections as
		// they land, up to the longest such a dial can take. Timers, not
		// goroutines, until they fire.
		for _, d := range [...]time.Duration{50 * time.Millisecond, 500 * time.Millisecond, o.cfg.ConnectTimeout + o.cfg.TLSHandshakeTimeout} {
			time.AfterFunc(d, o.tr.CloseIdleConnections)
		}
	}
	p.met.untrack(p)
	return err
}

// Close is Stop without a deadline (for defer and t.Cleanup).
func (p *Pool) Close() { p.Stop(context.Background()) }

// Ready reports whether some origin may take requests (up by its probes;
// breakers aside).
func (p *Pool) Ready() bool { return len(*p.ranking.Load()) > 0 }

// Confirmed is Ready, and more: some origin that may take requests has
// answered a probe (unless probes are off). Origins start up, so that a
// node serves at once; this is for the node's health, which must not
// announce the node before its origins are known to answer.
func (p *Pool) Confirmed() bool {
	r := *p.ranking.Load()
	if p.policy.Probe.Disabled {
		return len(r) > 0
	}
	for _, o := range r {
		o.mu.Lock()
		ok := o.probesOK > 0
		o.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// countedConn tracks open origin connections.
type countedConn struct {
	net.Conn
	o      *Origin
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if !c.closed.Swap(true) {
		c.o.open.Add(-1)
	}
	return c.Conn.Close()
}

// ConnectError is a failure to reach the origin at all (no byte of the
// request was sent), so the request may be retried elsewhere.
type ConnectError struct {
	Origin string
	Err    error
}

func (e *ConnectError) Error() string { return "origin: connect " + e.Origin + ": " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// UnavailableError is returned when a site has no origin that may take a
// request: every origin is down by its probes or has an open breaker.
type UnavailableError struct{ Site string }

func (e *UnavailableError) Error() string { return "site " + e.Site + ": no healthy origin" }

// IsUnavailable reports whether err says no origin could be tried.
func IsUnavailable(err error) bool {
	var ue *UnavailableError
	return errors.As(err, &ue)
}

// IsTimeout reports whether err is an origin timeout (connect, response
// header or body idle).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, ErrBodyIdle) || (errors.As(err, &ne) && ne.Timeout())
}

// IsConnect reports whether err happened before the request reached the
// origin (refused, unreachable, DNS, connect timeout).
func IsConnect(err error) bool {
	var ce *ConnectError
	return errors.As(err, &ce) || errors.Is(err, syscall.ECONNREFUSED)
}

// ErrBodyIdle is returned by a response body that went without data for
// longer than the origin's BodyIdleTimeout.
var ErrBodyIdle = errors.New("origin: response body idle timeout")

// Do sends req to the best origin of the site under ctx. key is the
// request's cache key (consistent-hash selection uses it). Do sets the
// URL's scheme and host from the origin (path and query are kept) and the
// Host header (the origin's host_header, else the req.Host the caller
// set), on a copy: req itself is not changed. An idempotent request
// without a body that fails before any response arrived (connect error,
// connection reset), and not by timeout, is retried once on the next-best
// origin if the retry budget allows (on the same origin when it is the
// only one and the failure was not a connect error). The response body is watched for
// BodyIdleTimeout; closing it releases the connection.
func (p *Pool) Do(ctx context.Context, req *http.Request, key string) (*http.Response, error) {
	now := p.now()
	o, trial := p.pick(key, nil, now)
	if o == nil {
		p.met.unavailable.WithLabelValues(p.site).Inc()
		return nil, &UnavailableError{Site: p.site}
	}
	p.budget.deposit()
	resp, err := p.attempt(ctx, o, trial, req)
	if err == nil || p.policy.Retry.Disabled || !retryable(req, err) || ctx.Err() != nil {
		return resp, err
	}
	o2, trial2 := p.pick(key, o, p.now())
	if o2 == nil && !IsConnect(err) {
		// No other origin, and the failure was on an established
		// connection (a kept-alive connection the origin had closed, an
		// HTTP/2 connection lost): a new connection to the same origin is
		// the next best.
		if ok, trial := o.br.allow(p.now()); ok {
			o2, trial2 = o, trial
		}
	}
	if o2 == nil {
		p.met.retries.WithLabelValues(p.site, "no_alternative").Inc()
		return nil, err
	}
	if !p.budget.withdraw(p.now()) {
		o2.br.release(trial2)
		p.met.retries.WithLabelValues(p.site, "budget_exhausted").Inc()
		return nil, err
	}
	p.met.retries.WithLabelValues(p.site, "retried").Inc()
	p.logger.Debug("retrying on the next origin", "from", o.name, "to", o2.name, "err", err)
	return p.attempt(ctx, o2, trial2, req)
}

// retryable tells whether a failed request may be sent again elsewhere:
// idempotent, no body, and not failed by a timeout (whose time is spent)
// or by the caller.
func retryable(req *http.Request, err error) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	return IsConnect(err) || !IsTimeout(err)
}

// attempt sends one request to one origin.
func (p *Pool) attempt(parent context.Context, o *Origin, trial bool, req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(parent)
	r := req.WithContext(ctx)
	u := *req.URL
	u.Scheme, u.Host = o.base.Scheme, o.base.Host
	r.URL = &u
	if o.cfg.HostHeader != "" {
		r.Host = o.cfg.HostHeader
	}
	o.selections.Inc()
	o.inflight.Add(1)
	start := time.Now()
	resp, err := o.tr.RoundTrip(r)
	o.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		cancel()
		o.inflight.Add(-1)
		o.requests.WithLabelValues(errorClass(err)).Inc()
		if parent.Err() != nil {
			o.br.release(trial) // the caller gave up: says nothing about the origin
		} else {
			o.br.failure(trial, p.now())
		}
		return nil, fmt.Errorf("origin %s: %w", o.name, err)
	}
	o.requests.WithLabelValues(codeClass(resp.StatusCode)).Inc()
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		o.br.failure(trial, p.now())
	default:
		o.br.success(trial)
	}
	o.answered.Add(1)
	resp.Body = newIdleBody(resp.Body, o.cfg.BodyIdleTimeout, cancel, o, p)
	return resp, nil
}

// pick returns the origin for a request (skipping exclude) and whether it
// is a half-open breaker's trial; nil when none may take it. Primaries
// come before backups; within a tier, lowest-latency follows the ranking
// and consistent-hash the key's rendezvous order. When every up origin is
// shut out by its breaker, the first in that order gets an early trial
// request (the rest fail fast), so that breakers cannot keep a recovered
// site down for their whole open period.
func (p *Pool) pick(key string, exclude *Origin, now time.Time) (*Origin, bool) {
	r := *p.ranking.Load()
	if p.policy.Selection == ConsistentHash {
		return p.pickHash(r, key, exclude, now)
	}
	for _, o := range r {
		if o == exclude {
			continue
		}
		if ok, trial := o.br.allow(now); ok {
			return o, trial
		}
	}
	for _, o := range r {
		if o == exclude {
			continue
		}
		if ok, trial := o.br.earlyTrial(now); ok {
			return o, trial
		}
	}
	return nil, false
}

func (p *Pool) pickHash(r []*Origin, key string, exclude *Origin, now time.Time) (*Origin, bool) {
	kh := nameHash(key)
	var buf [16]scored
	cand := buf[:0]
	for _, o := range r {
		if o != exclude {
			cand = append(cand, scored{o, rendezvous(kh, o)})
		}
	}
	// Primaries first (r lists them first), each tier by score.
	slices.SortStableFunc(cand, func(a, b scored) int {
		if a.o.cfg.Backup != b.o.cfg.Backup {
			if a.o.cfg.Backup {
				return 1
			}
			return -1
		}
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return 0
	})
	for _, c := range cand {
		if ok, trial := c.o.br.allow(now); ok {
			return c.o, trial
		}
	}
	for _, c := range cand {
		if ok, trial := c.o.br.earlyTrial(now); ok {
			return c.o, trial
		}
	}
	return nil, false
}

type scored struct {
	o *Origin
	s float64
}

// rendezvous is the weighted highest-random-weight score of an origin for
// a key hash: -weight / ln(u), u uniform in (0, 1).
func rendezvous(kh uint64, o *Origin) float64 {
	h := splitmix64(kh ^ o.seed)
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return -float64(o.cfg.Weight) / math.Log(u)
}

// nameHash is FNV-1a: deterministic, so that every node maps a key to the
// same origin.
func nameHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// estimate is the origin's latency score in seconds: EWMA plus one
// standard deviation, divided by the weight; +Inf without samples.
func (o *Origin) estimate() float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.samples == 0 {
		return math.Inf(1)
	}
	return (o.ewma + math.Sqrt(o.variance)) / float64(o.cfg.Weight)
}

// switchConfirmations is how many of its own probes in a row must find a
// challenger clearly better than the current choice before it takes over
// (one late probe of the current origin must not move the traffic).
const switchConfirmations = 2

// rebalance recomputes the ranking from probe state after a probe of
// origin from (nil: no probe): up primaries by estimate (the current
// choice kept first unless another is clearly better, as confirmed by the
// challenger's own probes), then up backups by estimate.
func (p *Pool) rebalance(from *Origin) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rebalanceLocked(from)
}

// rebalanceLocked is rebalance with p.mu held.
func (p *Pool) rebalanceLocked(from *Origin) {
	type est struct {
		o *Origin
		e float64
	}
	var prim, back []est
	curEst := math.Inf(1)
	if p.current != nil {
		curEst = p.current.estimate()
	}
	for _, o := range p.origins {
		if !o.up.Load() {
			continue
		}
		e := est{o, o.estimate()}
		if o.cfg.Backup {
			back = append(back, e)
		} else {
			prim = append(prim, e)
		}
	}
	byEstimate := func(a, b est) int {
		switch {
		case a.e < b.e:
			return -1
		case a.e > b.e:
			return 1
		}
		return a.o.idx - b.o.idx
	}
	slices.SortFunc(prim, byEstimate)
	slices.SortFunc(back, byEstimate)
	if i := slices.IndexFunc(prim, func(e est) bool { return e.o == p.current }); i > 0 && p.policy.Selection == LowestLatency {
		c, best := prim[i], prim[0]
		keep := false
		switch {
		case math.IsInf(c.e, 1):
			// The current choice has no estimate yet: no hysteresis.
		case !p.clearlyBetter(best.e, c.e):
			keep = true
			p.challenger, p.confirmations = nil, 0
		default:
			if best.o != p.challenger {
				p.challenger, p.confirmations = best.o, 0
			}
			if from == best.o {
				p.confirmations++
			}
			keep = p.confirmations < switchConfirmations
		}
		if keep {
			copy(prim[1:i+1], prim[:i])
			prim[0] = c
		}
	}
	r := make([]*Origin, 0, len(prim)+len(back))
	for _, e := range prim {
		r = append(r, e.o)
	}
	for _, e := range back {
		r = append(r, e.o)
	}
	var chosen *Origin
	if len(r) > 0 {
		chosen = r[0]
	}
	if chosen != p.current {
		// A first estimate replacing the configuration order is not a
		// switch worth counting.
		if p.current != nil && chosen != nil && !math.IsInf(curEst, 1) {
			p.met.switches.WithLabelValues(p.site).Inc()
			p.logger.Info("origin choice changed", "from", p.current.name, "to", chosen.name)
		}
		p.current = chosen
		p.challenger, p.confirmations = nil, 0
	}
	p.ranking.Store(&r)
}

// clearlyBetter applies the hysteresis: best replaces the current choice
// only when lower both by ratio and by an absolute margin.
func (p *Pool) clearlyBetter(best, cur float64) bool {
	if math.IsInf(cur, 1) {
		return !math.IsInf(best, 1)
	}
	return best < cur*p.policy.SwitchRatio && cur-best >= p.policy.SwitchMin.Seconds()
}

func (p *Pool) breakerChanged(o *Origin, from, to int32, early bool) {
	p.met.breakerTransitions.WithLabelValues(p.site, o.name, breakerNames[to]).Inc()
	// Opening is worth a warning and closing a notice; the half-open
	// round trips of an origin that stays broken are routine.
	lvl := slog.LevelDebug
	switch {
	case from == breakerClosed && to == breakerOpen:
		lvl = slog.LevelWarn
	case to == breakerClosed:
		lvl = slog.LevelInfo
	}
	p.logger.Log(context.Background(), lvl, "origin breaker "+breakerNames[to], "origin", o.name, "was", breakerNames[from], "early_trial", early)
	if p.hook != nil {
		p.hook(p.state(o))
	}
}

func codeClass(code int) string {
	switch {
	case code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}

func errorClass(err error) string {
	switch {
	case IsConnect(err):
		return "connect_error"
	case IsTimeout(err):
		return "timeout"
	}
	return "error"
}

// idleBody fails the request when a Read waits longer than the timeout
// for the origin (the time between Reads is the caller's and does not
// count), and ends the request's accounting when closed.
type idleBody struct {
	rc      io.ReadCloser
	d       time.Duration
	timer   *time.Timer
	cancel  context.CancelFunc
	o       *Origin
	expired atomic.Bool
	once    sync.Once
}

func newIdleBody(rc io.ReadCloser, d time.Duration, cancel context.CancelFunc, o *Origin, p *Pool) *idleBody {
	b := &idleBody{rc: rc, d: d, cancel: cancel, o: o}
	b.timer = time.AfterFunc(time.Hour, func() {
		b.expired.Store(true)
		o.br.failure(false, p.now())
		cancel()
	})
	b.timer.Stop()
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if b.expired.Load() {
		return n, ErrBodyIdle
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.once.Do(func() {
		b.timer.Stop()
		b.o.inflight.Add(-1)
	})
	err := b.rc.Close()
	b.cancel()
	return err
}

// retryBudget allows retries up to a fraction of requests plus a minimum
// per second, in milli-tokens.
type retryBudget struct {
	ratio  int64 // milli-tokens deposited per request
	perSec int64 // milli-tokens added per second
	limit  int64
	tokens atomic.Int64
	last   atomic.Int64 // unix nanos of the last time refill
}

func (b *retryBudget) init(c RetryConfig, now time.Time) {
	b.ratio = int64(*c.Budget * 1000)
	b.perSec = int64(*c.MinPerSecond) * 1000
	// Up to two seconds of the floor, plus a burst of ten when a share of
	// traffic may be retried.
	b.limit = 2 * b.perSec
	if b.ratio > 0 {
		b.limit += 10 * 1000
	}
	b.tokens.Store(b.limit)
	b.last.Store(now.UnixNano())
}

func (b *retryBudget) deposit() {
	if b.ratio == 0 {
		return
	}
	if t := b.tokens.Add(b.ratio); t > b.limit {
		b.tokens.CompareAndSwap(t, b.limit)
	}
}

func (b *retryBudget) withdraw(now time.Time) bool {
	n := now.UnixNano()
	if last := b.last.Load(); n > last && b.last.CompareAndSwap(last, n) {
		add := b.perSec * (n - last) / int64(time.Second)
		if t := b.tokens.Add(add); t > b.limit {
			b.tokens.CompareAndSwap(t, b.limit)
		}
	}
	for {
		t := b.tokens.Load()
		if t < 1000 {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-1000) {
			return true
		}
	}
}
