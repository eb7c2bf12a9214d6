package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecdn/edgecdn/bgp"
)

// Check names (the label values of the health metrics).
const (
	checkHTTP      = "http"
	checkDNS       = "dns"
	checkOrigins   = "origins"
	checkResources = "resources"
)

// Drain sources.
const (
	drainOperator    = "operator"
	drainMaintenance = "maintenance"
	drainShutdown    = "shutdown"
)

// healthChecker runs the node's checks, feeds the health machine and
// drives the BGP speaker from its state.
type healthChecker struct {
	n       *Node
	logger  *slog.Logger
	met     *healthMetrics
	speaker *bgp.Speaker // nil without a bgp section
	client  *http.Client // the HTTP check's: a new connection each time

	mu         sync.Mutex
	cfg        HealthConfig
	m          *healthMachine
	checks     []*checkTracker
	operator   bool // drained through the admin API
	maint      bool // the maintenance file exists
	shutdown   bool
	mode       bgp.Mode
	modeErr    string
	applied    HealthState        // the state whose BGP mode was last applied
	recent     []TransitionStatus // the last recentTransitions, oldest first
	changed    chan struct{}      // closed and replaced on every state change
	lastFDScan time.Time
	lastFDs    int

	wake   chan struct{}
	evals  atomic.Uint64 // evaluations done, for callers waiting for one
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ran    atomic.Bool
}

func newHealthChecker(n *Node, cfg *Config, met *healthMetrics, speaker *bgp.Speaker) *healthChecker {
	hc := &healthChecker{
		n: n, logger: n.base.With("component", "health"), met: met, speaker: speaker,
		cfg: cfg.Health, changed: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	hc.client = &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	hc.m = newHealthMachine(&hc.cfg, n.now())
	add := func(name string, enabled bool, fall int) {
		if enabled {
			hc.checks = append(hc.checks, &checkTracker{name: name, rise: hc.cfg.Rise, fall: fall})
		}
	}
	hch := &cfg.Health.Checks
	add(checkHTTP, on(hch.HTTP) && len(cfg.HTTP.Listen) > 0, hc.cfg.Fall)
	add(checkDNS, on(hch.DNS) && cfg.DNS != nil, hc.cfg.Fall)
	// The pools already apply their own rise/fall to probes: one look
	// at them is enough.
	add(checkOrigins, on(hch.Origins), 1)
	add(checkResources, on(hch.Resources), hc.cfg.Fall)
	met.setState(StateStarting)
	return hc
}

// start runs the checks and the machine until stop.
func (hc *healthChecker) start() {
	hc.ctx, hc.cancel = context.WithCancel(context.Background())
	hc.ran.Store(true)
	for _, c := range hc.checks {
		hc.wg.Add(1)
		go hc.checkLoop(c)
	}
	hc.wg.Add(1)
	go hc.evalLoop()
}

// stop ends the checks; the state stays as it is.
func (hc *healthChecker) stop() {
	if hc.ran.Load() {
		hc.cancel()
		hc.wg.Wait()
	}
}

// reload takes the timings and thresholds of a new config (the set of
// checks is fixed at start).
func (hc *healthChecker) reload(c *HealthConfig) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.cfg = *c
	hc.m.configure(c)
	for _, t := range hc.checks {
		t.rise = c.Rise
		if t.name != checkOrigins {
			t.fall = c.Fall
		}
	}
}

func (hc *healthChecker) poke() {
	select {
	case hc.wake <- struct{}{}:
	default:
	}
}

// checkLoop runs one check every Interval (FastInterval while its state
// is in question).
func (hc *healthChecker) checkLoop(c *checkTracker) {
	defer hc.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-hc.ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		hc.mu.Lock()
		cfg := hc.cfg
		hc.mu.Unlock()
		r := hc.run(c.name, &cfg)
		if hc.ctx.Err() != nil {
			return
		}
		hc.mu.Lock()
		changed := c.record(r, hc.n.now())
		next := cfg.Interval
		if c.inQuestion() {
			next = cfg.FastInterval
		}
		up := c.up
		hc.mu.Unlock()
		hc.met.result(c.name, r)
		if changed {
			hc.met.checkUp.WithLabelValues(c.name).Set(b2f(up))
			lvl, msg := slog.LevelInfo, "health check up"
			if !up {
				lvl, msg = slog.LevelWarn, "health check down"
			}
			hc.logger.Log(context.Background(), lvl, msg, "check", c.name, "reason", r.detail)
			hc.poke()
		}
		t.Reset(max(next-time.Since(start), time.Millisecond))
	}
}

// run runs one check once.
func (hc *healthChecker) run(name string, cfg *HealthConfig) checkResult {
	switch name {
	case checkHTTP:
		return hc.checkHTTP(cfg)
	case checkDNS:
		return hc.checkDNS(cfg)
	case checkOrigins:
		return hc.checkOrigins()
	case checkResources:
		return hc.checkResources(cfg)
	}
	return checkResult{detail: "unknown check " + name}
}

// checkHTTP requests HealthPath through the node's first HTTP listener on
// a new connection. A timeout while the handler keeps finishing other
// requests is slow, not broken.
func (hc *healthChecker) checkHTTP(cfg *HealthConfig) checkResult {
	addr := hc.n.healthHTTPAddr()
	if addr == "" {
		return checkResult{detail: "no http listener"}
	}
	before := hc.n.handler.answered.Load()
	ctx, cancel := context.WithTimeout(hc.ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+HealthPath, nil)
	if err != nil {
		return checkResult{detail: err.Error()}
	}
	req.Header.Set("User-Agent", "edgecdn-health")
	resp, err := hc.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && hc.n.handler.answered.Load() != before {
			return checkResult{slow: true, detail: fmt.Sprintf("no answer within %s, but requests are being answered", cfg.Timeout)}
		}
		if ctx.Err() != nil {
			return checkResult{detail: fmt.Sprintf("http %s: no answer within %s", addr, cfg.Timeout)}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return checkResult{detail: "http " + addr + ": " + err.Error()}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return checkResult{detail: fmt.Sprintf("http %s: status %d", addr, resp.StatusCode)}
	}
	return checkResult{ok: true}
}

// checkDNS sends a real query to the node's DNS listener.
func (hc *healthChecker) checkDNS(cfg *HealthConfig) checkResult {
	if hc.n.dns == nil {
		return checkResult{ok: true}
	}
	ctx, cancel := context.WithTimeout(hc.ctx, cfg.Timeout)
	defer cancel()
	if err := hc.n.dns.srv.Check(ctx); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return checkResult{detail: fmt.Sprintf("dns: no answer within %s", cfg.Timeout)}
		}
		return checkResult{detail: err.Error()}
	}
	return checkResult{ok: true}
}

// checkOrigins fails while a site has no usable origin.
func (hc *healthChecker) checkOrigins() checkResult {
	for _, p := range *hc.n.livePools.Load() {
		if !p.Ready() {
			return checkResult{detail: "site " + p.Site() + ": no origin is up"}
		}
		if !p.Confirmed() {
			return checkResult{detail: "site " + p.Site() + ": no origin has answered a probe yet"}
		}
	}
	return checkResult{ok: true}
}

const memMetricName = "/memory/classes/total:bytes"

// checkResources fails under file descriptor or memory pressure. Open
// descriptors are counted at most once a second.
func (hc *healthChecker) checkResources(cfg *HealthConfig) checkResult {
	now := time.Now()
	if now.Sub(hc.lastFDScan) >= time.Second {
		if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
			hc.lastFDs = len(fds)
		}
		hc.lastFDScan = now
	}
	if lim, ok := fdLimit(); hc.lastFDs > 0 && ok {
		if ratio := float64(hc.lastFDs) / float64(lim); ratio > cfg.MaxFDRatio {
			return checkResult{detail: fmt.Sprintf("%d of %d file descriptors open (over %.0f%%)", hc.lastFDs, lim, cfg.MaxFDRatio*100)}
		}
	}
	limit := cfg.MaxMemory
	if limit == 0 {
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
			limit = l
		}
	}
	if limit > 0 {
		s := []rtmetrics.Sample{{Name: memMetricName}}
		rtmetrics.Read(s)
		if used := s[0].Value.Uint64(); used > uint64(limit) {
			return checkResult{detail: fmt.Sprintf("memory %d bytes over the limit of %d", used, limit)}
		}
	}
	return checkResult{ok: true}
}

// evalLoop steps the machine every Interval and whenever a check changes.
func (hc *healthChecker) evalLoop() {
	defer hc.wg.Done()
	hc.mu.Lock()
	iv := hc.cfg.Interval
	hc.mu.Unlock()
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-hc.ctx.Done():
			return
		case <-t.C:
		case <-hc.wake:
		}
		hc.evaluate()
		hc.evals.Add(1)
		hc.mu.Lock()
		if hc.cfg.Interval != iv {
			iv = hc.cfg.Interval
			t.Reset(iv)
		}
		hc.mu.Unlock()
	}
}

// evaluate steps the machine once and applies a transition.
func (hc *healthChecker) evaluate() {
	hc.mu.Lock()
	if f := hc.cfg.MaintenanceFile; f != "" {
		_, err := os.Stat(f)
		if maint := err == nil; maint != hc.maint {
			hc.maint = maint
			hc.logger.Info("maintenance file", "file", f, "present", maint)
		}
	}
	down := ""
	for _, c := range hc.checks {
		if !c.up {
			down = c.name + " check down"
			if c.lastErr != "" {
				down += ": " + c.lastErr
			} else if c.lastAt.IsZero() {
				down += ": not run yet"
			}
			break
		}
	}
	drain := hc.drainReason()
	t, ok := hc.m.step(hc.n.now(), down, drain)
	hc.met.setDrain(hc.operator, hc.maint, hc.shutdown)
	hc.mu.Unlock()
	if ok {
		hc.apply(t)
	}
}

func (hc *healthChecker) drainReason() string {
	switch {
	case hc.shutdown:
		return drainShutdown
	case hc.operator:
		return drainOperator
	case hc.maint:
		return drainMaintenance + " file " + hc.cfg.MaintenanceFile
	}
	return ""
}

// modeFor maps a health state to what BGP announces.
func modeFor(s HealthState) bgp.Mode {
	switch s {
	case StateHealthy:
		return bgp.ModeAnnounce
	case StateDegraded:
		return bgp.ModeDegraded
	case StateDraining:
		return bgp.ModeDraining
	}
	return bgp.ModeWithdrawn
}

// apply logs and counts a transition and sets the BGP mode.
func (hc *healthChecker) apply(t transition) {
	lvl := slog.LevelInfo
	if t.to == StateDegraded {
		lvl = slog.LevelWarn
	}
	hc.logger.Log(context.Background(), lvl, "health state", "from", t.from.String(), "to", t.to.String(), "reason", t.reason)
	hc.met.transitions.WithLabelValues(t.from.String(), t.to.String()).Inc()
	hc.met.setState(t.to)
	var modeErr string
	mode := modeFor(t.to)
	if hc.speaker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := hc.speaker.SetMode(ctx, mode); err != nil {
			modeErr = err.Error()
			hc.logger.Error("bgp: setting the announcement failed", "mode", mode.String(), "err", err)
		}
		cancel()
	}
	hc.mu.Lock()
	hc.recent = append(hc.recent, TransitionStatus{From: t.from, To: t.to, Reason: t.reason, At: t.at})
	if len(hc.recent) > recentTransitions {
		hc.recent = slices.Delete(hc.recent, 0, len(hc.recent)-recentTransitions)
	}
	hc.mode, hc.modeErr, hc.applied = mode, modeErr, t.to
	close(hc.changed)
	hc.changed = make(chan struct{})
	hc.mu.Unlock()
}

// setOperatorDrain starts (on) or ends an operator drain, and returns
// once the machine has evaluated it (at most a second later), so that the
// state a caller reads next reflects it.
func (hc *healthChecker) setOperatorDrain(on bool) {
	hc.mu.Lock()
	hc.operator = on
	hc.mu.Unlock()
	if !hc.ran.Load() {
		return
	}
	before := hc.evals.Load()
	hc.poke()
	for deadline := time.Now().Add(time.Second); hc.evals.Load() < before+2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// drainForShutdown drains the node for its stop: it returns once the
// prefixes are withdrawn (after DrainDelay when they were announced) and
// the lameduck period has passed, or ctx is done.
func (hc *healthChecker) drainForShutdown(ctx context.Context) {
	hc.mu.Lock()
	hc.shutdown = true
	lameduck := *hc.cfg.Lameduck
	hc.mu.Unlock()
	if !hc.ran.Load() {
		return
	}
	hc.poke()
	for {
		hc.mu.Lock()
		st, ch := hc.applied, hc.changed
		hc.mu.Unlock()
		if st == StateWithdrawn { // and the speaker has withdrawn
			break
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Millisecond): // the machine steps on its own ticker
			hc.poke()
		case <-ctx.Done():
			return
		}
	}
	if lameduck > 0 {
		hc.logger.Info("lameduck: serving late requests before closing the listeners", "duration_s", lameduck.Seconds())
		select {
		case <-time.After(lameduck):
		case <-ctx.Done():
		}
	}
}

// state returns the current state.
func (hc *healthChecker) state() HealthState {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return hc.m.state
}

// HealthStatus is the health part of GET /status.
type HealthStatus struct {
	State  HealthState   `json:"state"`
	Since  time.Time     `json:"since"`
	Reason string        `json:"reason"`
	Drain  string        `json:"drain,omitempty"` // why the node drains, if it does
	BGP    string        `json:"bgp_mode"`        // what the speaker was told to announce
	BGPErr string        `json:"bgp_error,omitempty"`
	Checks []CheckStatus `json:"checks"`
	// Recent are the last transitions, oldest first.
	Recent []TransitionStatus `json:"recent_transitions"`
}

// recentTransitions is how many transitions the status keeps.
const recentTransitions = 20

// TransitionStatus is one health state change.
type TransitionStatus struct {
	From   HealthState `json:"from"`
	To     HealthState `json:"to"`
	Reason string      `json:"reason"`
	At     time.Time   `json:"at"`
}

// CheckStatus is one check's state.
type CheckStatus struct {
	Name      string    `json:"name"`
	Up        bool      `json:"up"`
	OKRun     int       `json:"ok_in_a_row"`
	FailRun   int       `json:"failed_in_a_row"`
	Slow      uint64    `json:"slow_results"`
	LastAt    time.Time `json:"last_at,omitzero"`
	LastOK    bool      `json:"last_ok"`
	LastError string    `json:"last_error,omitempty"`
}

func (hc *healthChecker) status() HealthStatus {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	s := HealthStatus{
		State: hc.m.state, Since: hc.m.since, Reason: hc.m.reason, Drain: hc.drainReason(),
		BGP: hc.mode.String(), BGPErr: hc.modeErr, Recent: slices.Clone(hc.recent),
	}
	for _, c := range hc.checks {
		s.Checks = append(s.Checks, CheckStatus{
			Name: c.name, Up: c.up, OKRun: c.okRun, FailRun: c.failRun, Slow: c.slow,
			LastAt: c.lastAt, LastOK: c.lastOK, LastError: c.lastErr,
		})
	}
	return s
}

// healthHTTPAddr is where the HTTP check connects: the first listener,
// with a wildcard address replaced by loopback.
func (n *Node) healthHTTPAddr() string {
	a := n.firstHTTPAddr.Load()
	if a == nil {
		return ""
	}
	return *a
}

func checkAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip.IsUnspecified() {
		if ip.To4() != nil {
			ip = net.IPv4(127, 0, 0, 1)
		} else {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// healthMetrics are the health machine's series.
type healthMetrics struct {
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	checkUp     *prometheus.GaugeVec
	results     *prometheus.CounterVec
	drain       *prometheus.GaugeVec
}

func newHealthMetrics() *healthMetrics {
	return &healthMetrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edge_health_state",
			Help: "1 for the node's current health state (starting, healthy, degraded, draining, withdrawn).",
		}, []string{"state"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_health_transitions_total",
			Help: "Health state changes, by old and new state.",
		}, []string{"from", "to"}),
		checkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edge_health_check_up",
			Help: "1 while a health check is up (passed rise times, not failed fall times since).",
		}, []string{"check"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_health_check_results_total",
			Help: "Health check runs, by check and result (ok, fail, slow: timed out while requests were answered).",
		}, []string{"check", "result"}),
		drain: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edge_health_drain",
			Help: "1 while a drain is requested, by source (operator, maintenance, shutdown).",
		}, []string{"source"}),
	}
}

func (m *healthMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.state, m.transitions, m.checkUp, m.results, m.drain}
}

func (m *healthMetrics) setState(s HealthState) {
	for i := range stateNames {
		m.state.WithLabelValues(stateNames[i]).Set(b2f(HealthState(i) == s))
	}
}

func (m *healthMetrics) setDrain(operator, maint, shutdown bool) {
	m.drain.WithLabelValues(drainOperator).Set(b2f(operator))
	m.drain.WithLabelValues(drainMaintenance).Set(b2f(maint))
	m.drain.WithLabelValues(drainShutdown).Set(b2f(shutdown))
}

func (m *healthMetrics) result(check string, r checkResult) {
	res := "fail"
	switch {
	case r.slow:
		res = "slow"
	case r.ok:
		res = "ok"
	}
	m.results.WithLabelValues(check, res).Inc()
}
