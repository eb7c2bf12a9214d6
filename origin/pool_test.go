package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/edgecdn/edgecdn/origin/origintest"
)

// The tests in this file run pools against real origins on loopback
// (origintest). Probe intervals are short (20-300 ms) so that the suite
// stays fast; every wait is a poll with a generous deadline, never a bare
// sleep that pass or fail depends on.

const testSite = "site.test"

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startOrigin starts an origin answering "ok" on every path after delay.
func startOrigin(t *testing.T, delay time.Duration) *origintest.Server {
	t.Helper()
	s := origintest.New(t)
	s.HandleFallback(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s.SetDelay(delay)
	return s
}

// probePolicy probes /probe every interval (timeout = interval), rise 2,
// fall 2.
func probePolicy(interval time.Duration) PolicyConfig {
	return PolicyConfig{Probe: ProbeConfig{Path: "/probe", Interval: interval, Timeout: interval, Rise: 2, Fall: 2}}
}

// noProbes is a policy without probes: origins are ranked in
// configuration order and only breakers take them out.
func noProbes() PolicyConfig { return PolicyConfig{Probe: ProbeConfig{Disabled: true}} }

func cfgsOf(servers ...*origintest.Server) []Config {
	out := make([]Config, len(servers))
	for i, s := range servers {
		out[i] = Config{URL: s.URL}
	}
	return out
}

// newTestPool builds a pool (not started) that is closed when the test
// ends, before its origins are.
func newTestPool(t testing.TB, pol PolicyConfig, cfgs []Config, opts ...Option) *Pool {
	t.Helper()
	p, err := NewPool(testSite, pol, cfgs, opts...)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func newMetrics(t testing.TB) (*prometheus.Registry, *Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	return reg, m
}

// metricValue sums the series of name whose labels include the given
// name/value pairs.
func metricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// doReq sends one request through the pool with key and drains the answer.
func doReq(p *Pool, method, path, key string, body io.Reader) (int, error) {
	req, err := http.NewRequest(method, "http://"+testSite+path, body)
	if err != nil {
		return 0, err
	}
	resp, err := p.Do(context.Background(), req, key)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

func doGet(p *Pool, path, key string) (int, error) { return doReq(p, http.MethodGet, path, key, nil) }

// mustGet sends n GETs for path and fails the test on any error or a
// status other than 200.
func mustGet(t *testing.T, p *Pool, path string, n int) {
	t.Helper()
	for i := range n {
		code, err := doGet(p, path, "")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s #%d: %d %v", path, i, code, err)
		}
	}
}

// waitUntil polls cond every 5 ms until it holds or d has passed.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stateOf(p *Pool, url string) State {
	for _, s := range p.Snapshot() {
		if s.Origin == url {
			return s
		}
	}
	return State{}
}

func selected(p *Pool) string {
	for _, s := range p.Snapshot() {
		if s.Selected {
			return s.Origin
		}
	}
	return ""
}

func waitProbes(t testing.TB, p *Pool, n int64) {
	t.Helper()
	waitUntil(t, 10*time.Second, fmt.Sprintf("%d successful probes of every origin", n), func() bool {
		for _, s := range p.Snapshot() {
			if s.ProbesOK < n {
				return false
			}
		}
		return true
	})
}

func waitUp(t testing.TB, p *Pool, url string, up bool) {
	t.Helper()
	waitUntil(t, 10*time.Second, fmt.Sprintf("%s up=%v", url, up), func() bool { return stateOf(p, url).Up == up })
}

func waitSelected(t testing.TB, p *Pool, url string) {
	t.Helper()
	waitUntil(t, 10*time.Second, "selection of "+url, func() bool { return selected(p) == url })
}

// Probes rank three origins by latency, whatever their configuration
// order, and Do sends to the fastest; raising the fastest one's latency
// moves traffic to the next within a few probe intervals.
func TestLowestLatencyRanking(t *testing.T) {
	slow, fast, mid := startOrigin(t, 150*time.Millisecond), startOrigin(t, 5*time.Millisecond), startOrigin(t, 40*time.Millisecond)
	reg, m := newMetrics(t)
	// The probe timeout (= interval) must exceed the slowest delay, 200 ms
	// after the raise below. switch_min is raised so that scheduler noise
	// on a loaded machine cannot move the choice between the fast and the
	// mid origin (see TestEqualLatencyDoesNotFlap); the delays differ far
	// more.
	pol := probePolicy(300 * time.Millisecond)
	pol.SwitchMin = ptr(20 * time.Millisecond)
	p := newTestPool(t, pol, cfgsOf(slow, mid, fast), WithMetrics(m))
	p.Start(context.Background())
	waitProbes(t, p, 3)

	// One sample delayed by a loaded scheduler can disorder the EWMAs for
	// a while: wait for the order rather than read it once.
	var s, f, md State
	waitUntil(t, 15*time.Second, "RTT EWMAs in delay order", func() bool {
		s, f, md = stateOf(p, slow.URL), stateOf(p, fast.URL), stateOf(p, mid.URL)
		return f.RTTEWMAms < md.RTTEWMAms && md.RTTEWMAms < s.RTTEWMAms
	})
	for _, c := range []struct {
		st    State
		delay float64
	}{{f, 5}, {md, 40}, {s, 150}} {
		if c.st.RTTEWMAms < c.delay || c.st.RTTEWMAms > c.delay+250 {
			t.Errorf("%s: RTT EWMA %.1fms for a %vms delay", c.st.Origin, c.st.RTTEWMAms, c.delay)
		}
		if !c.st.Up || c.st.Breaker != "closed" || c.st.ProbesFail != 0 {
			t.Errorf("%s: %+v", c.st.Origin, c.st)
		}
	}
	waitSelected(t, p, fast.URL)
	mustGet(t, p, "/obj", 30)
	if f, md, s := fast.Hits("/obj"), mid.Hits("/obj"), slow.Hits("/obj"); f != 30 || md != 0 || s != 0 {
		t.Fatalf("hits fast/mid/slow = %d/%d/%d, want 30/0/0", f, md, s)
	}
	switches := metricValue(t, reg, "edge_origin_switches_total", "site", testSite)

	fast.SetDelay(200 * time.Millisecond)
	waitSelected(t, p, mid.URL)
	mustGet(t, p, "/obj", 20)
	if f, md, s := fast.Hits("/obj"), mid.Hits("/obj"), slow.Hits("/obj"); f != 30 || md != 20 || s != 0 {
		t.Errorf("after the raise: hits fast/mid/slow = %d/%d/%d, want 30/20/0", f, md, s)
	}
	if got := metricValue(t, reg, "edge_origin_switches_total", "site", testSite); got != switches+1 {
		t.Errorf("edge_origin_switches_total went from %v to %v, want one switch", switches, got)
	}
	if got := metricValue(t, reg, "edge_origin_selected", "origin", mid.URL); got != 1 {
		t.Errorf("edge_origin_selected{origin=mid} = %v", got)
	}
	if got := metricValue(t, reg, "edge_origin_selections_total", "origin", mid.URL); got != 20 {
		t.Errorf("edge_origin_selections_total{origin=mid} = %v, want 20", got)
	}
}

// Two origins of the same latency: the hysteresis keeps the choice over
// ~30 probe intervals, and traffic stays on one origin.
//
// switch_min is raised from its default (5ms) to 25ms: with the default, a
// single probe delayed ~7ms by the scheduler (common under -race on a
// loaded machine) lifts EWMA + stddev of a 10ms origin enough to switch.
// TestHysteresisRule checks the default rule without timing.
func TestEqualLatencyDoesNotFlap(t *testing.T) {
	a, b := startOrigin(t, 10*time.Millisecond), startOrigin(t, 10*time.Millisecond)
	reg, m := newMetrics(t)
	const interval = 50 * time.Millisecond
	pol := probePolicy(interval)
	pol.SwitchMin = ptr(25 * time.Millisecond)
	p := newTestPool(t, pol, cfgsOf(a, b), WithMetrics(m))
	p.Start(context.Background())
	waitProbes(t, p, 3) // past the first samples, which settle the initial choice
	before := metricValue(t, reg, "edge_origin_switches_total", "site", testSite)
	first := selected(p)
	if first == "" {
		t.Fatal("nothing selected")
	}
	probes := stateOf(p, a.URL).ProbesOK
	changes := 0
	last := first
	for deadline := time.Now().Add(30 * interval); time.Now().Before(deadline); {
		if s := selected(p); s != last {
			changes++
			t.Logf("selection changed to %s: %+v", s, p.Snapshot())
			last = s
		}
		if _, err := doGet(p, "/obj", ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := stateOf(p, a.URL).ProbesOK - probes; got < 10 {
		t.Fatalf("only %d probes in 30 intervals", got)
	}
	if changes != 0 {
		t.Errorf("selection changed %d times", changes)
	}
	if got := metricValue(t, reg, "edge_origin_switches_total", "site", testSite); got != before {
		t.Errorf("edge_origin_switches_total went from %v to %v", before, got)
	}
	if a.Hits("/obj") > 0 && b.Hits("/obj") > 0 {
		t.Errorf("traffic split: a %d, b %d", a.Hits("/obj"), b.Hits("/obj"))
	}
}

// The hysteresis rule of lowest-latency with the default policy, on probe
// samples fed directly (no timing): the current choice is replaced only by
// an origin below 0.8 times its estimate and at least 5ms lower; weights
// divide the estimate; a down choice is replaced at once; backups wait.
func TestHysteresisRule(t *testing.T) {
	ms := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
	for _, c := range []struct {
		name       string
		a, b       float64 // steady probe RTTs, ms
		wa, wb     int
		aDown      bool
		wantSwitch bool
	}{
		{name: "equal", a: 10, b: 10},
		{name: "better by ratio only (0.85)", a: 10, b: 8.5},
		{name: "ratio met, gap below switch_min", a: 20, b: 15.5},
		{name: "clearly better", a: 20, b: 10, wantSwitch: true},
		{name: "ratio just met", a: 30, b: 23.9, wantSwitch: true},
		{name: "slower but weight 3", a: 20, b: 30, wb: 3, wantSwitch: true},
		{name: "faster but weight of a", a: 20, b: 10, wa: 4},
		{name: "current down", a: 10, b: 50, aDown: true, wantSwitch: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfgs := []Config{{URL: "http://a.test", Weight: c.wa}, {URL: "http://b.test", Weight: c.wb}, {URL: "http://backup.test", Backup: true}}
			reg, m := newMetrics(t)
			p := newTestPool(t, noProbes(), cfgs, WithMetrics(m))
			a, b, bk := p.origins[0], p.origins[1], p.origins[2]
			feed := func(o *Origin, rtt float64, n int) {
				for range n {
					o.record(true, ms(rtt), "", &p.policy.Probe, time.Now())
					p.rebalance(o)
				}
			}
			feed(a, c.a, 10) // a is chosen first (it has the only estimate)
			feed(bk, 0.1, 10)
			if selected(p) != a.name {
				t.Fatalf("selected %s before b's samples", selected(p))
			}
			feed(b, c.b, 20)
			if c.aDown {
				a.up.Store(false)
				p.rebalance(nil)
			}
			want := a.name
			if c.wantSwitch {
				want = b.name
			}
			if got := selected(p); got != want {
				t.Errorf("selected %s, want %s (estimates a %.2fms, b %.2fms)", got, want, a.estimate()*1000, b.estimate()*1000)
			}
			if o, _ := p.pick("", nil, p.now()); o.name != want {
				t.Errorf("pick %s, want %s", o.name, want)
			}
			wantSwitches := 0.0
			if c.wantSwitch {
				wantSwitches = 1
			}
			if got := metricValue(t, reg, "edge_origin_switches_total"); got != wantSwitches {
				t.Errorf("edge_origin_switches_total = %v, want %v", got, wantSwitches)
			}
		})
	}
}

// The chosen origin dies during a stream of GETs (sequential and
// concurrent): no request fails, thanks to the retry on the next origin,
// and the dead origin is taken out by its breaker or its probes.
func TestKillChosenOriginRetries(t *testing.T) {
	a, b := startOrigin(t, 0), startOrigin(t, 0)
	reg, m := newMetrics(t)
	pol := probePolicy(50 * time.Millisecond)
	pol.SwitchMin = ptr(25 * time.Millisecond) // no switch by scheduler noise
	p := newTestPool(t, pol, cfgsOf(a, b), WithMetrics(m))
	p.Start(context.Background())
	waitProbes(t, p, 2)
	if selected(p) == b.URL { // whichever answered its first probe first
		a, b = b, a
	}
	waitSelected(t, p, a.URL)

	var failures atomic.Int64
	var firstErr atomic.Value
	check := func(code int, err error) {
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("status %d", code)
		}
		if err != nil && failures.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				check(doGet(p, "/obj", ""))
			}
		})
	}
	const n = 300
	for i := range n {
		if i == n/3 {
			a.Kill()
		}
		check(doGet(p, "/obj", ""))
	}
	stop.Store(true)
	wg.Wait()
	concurrent := a.Hits("/obj") + b.Hits("/obj") - n
	if got := failures.Load(); got != 0 {
		t.Fatalf("%d requests failed, first: %v", got, firstErr.Load())
	}
	retried := metricValue(t, reg, "edge_origin_retries_total", "site", testSite, "result", "retried")
	if retried < 1 {
		t.Errorf("edge_origin_retries_total{result=retried} = %v, want at least 1", retried)
	}
	if other := metricValue(t, reg, "edge_origin_retries_total", "site", testSite) - retried; other != 0 {
		t.Errorf("%v retries not done (budget or no alternative)", other)
	}
	waitUntil(t, 5*time.Second, "the dead origin to be taken out", func() bool {
		s := stateOf(p, a.URL)
		return s.Breaker == "open" || !s.Up
	})
	t.Logf("%d concurrent requests, %v retried; dead origin: %+v", concurrent, retried, stateOf(p, a.URL))
}

// Only idempotent requests without a body are retried: a POST (with or
// without body) and a GET with a body that hit a dead origin fail.
func TestNoRetryForUnsafeOrBodyRequests(t *testing.T) {
	a, b := startOrigin(t, 0), startOrigin(t, 0)
	reg, m := newMetrics(t)
	pol := noProbes() // a first, always
	pol.Breaker.Failures = -1
	p := newTestPool(t, pol, cfgsOf(a, b), WithMetrics(m))
	a.Kill()
	for _, c := range []struct {
		method string
		body   io.Reader
	}{
		{http.MethodPost, strings.NewReader("x=1")},
		{http.MethodPost, nil},
		{http.MethodPut, strings.NewReader("x")},
		{http.MethodDelete, nil},
		{http.MethodGet, strings.NewReader("body")},
	} {
		_, err := doReq(p, c.method, "/obj", "", c.body)
		if err == nil {
			t.Errorf("%s (body %v) to a dead origin succeeded", c.method, c.body != nil)
			continue
		}
		if !IsConnect(err) || IsUnavailable(err) {
			t.Errorf("%s: err %v, want a connect error", c.method, err)
		}
	}
	if got := metricValue(t, reg, "edge_origin_retries_total", "site", testSite); got != 0 {
		t.Errorf("edge_origin_retries_total = %v, want 0", got)
	}
	if got := b.Hits("/obj"); got != 0 {
		t.Errorf("%d requests reached the second origin", got)
	}
	// The same GET without a body is retried.
	if _, err := doGet(p, "/obj", ""); err != nil {
		t.Fatalf("GET: %v", err)
	}
	if got := b.Hits("/obj"); got != 1 {
		t.Errorf("GET: second origin hits = %d, want 1", got)
	}
	if got := metricValue(t, reg, "edge_origin_retries_total", "result", "retried"); got != 1 {
		t.Errorf("retried = %v, want 1", got)
	}
}

// All origins dead: before the probes notice, a request fails at once
// with a connect error; after, Do refuses at once with UnavailableError.
func TestAllOriginsDown(t *testing.T) {
	t.Run("before probes notice", func(t *testing.T) {
		a, b := startOrigin(t, 0), startOrigin(t, 0)
		pol := probePolicy(time.Hour)
		pol.Probe.Timeout = 2 * time.Second
		p := newTestPool(t, pol, cfgsOf(a, b))
		p.Start(context.Background()) // the first probes go out at once, then not for an hour
		waitProbes(t, p, 1)
		a.Kill()
		b.Kill()
		start := time.Now()
		_, err := doGet(p, "/obj", "")
		if el := time.Since(start); el > time.Second {
			t.Errorf("failing took %v", el)
		}
		if err == nil || !IsConnect(err) || IsUnavailable(err) || IsTimeout(err) {
			t.Fatalf("err = %v, want a connect error", err)
		}
		for _, s := range p.Snapshot() {
			if !s.Up {
				t.Errorf("%s down already: the probes were not to notice", s.Origin)
			}
		}
	})
	t.Run("after probes mark them down", func(t *testing.T) {
		a, b := startOrigin(t, 0), startOrigin(t, 0)
		reg, m := newMetrics(t)
		p := newTestPool(t, probePolicy(20*time.Millisecond), cfgsOf(a, b), WithMetrics(m))
		p.Start(context.Background())
		waitProbes(t, p, 1)
		a.Kill()
		b.Kill()
		waitUp(t, p, a.URL, false)
		waitUp(t, p, b.URL, false)
		start := time.Now()
		_, err := doGet(p, "/obj", "")
		if el := time.Since(start); el > time.Second {
			t.Errorf("refusing took %v", el)
		}
		if !IsUnavailable(err) {
			t.Fatalf("err = %v, want UnavailableError", err)
		}
		if !strings.Contains(err.Error(), testSite) {
			t.Errorf("error %q does not name the site", err)
		}
		if got := metricValue(t, reg, "edge_origin_unavailable_total", "site", testSite); got != 1 {
			t.Errorf("edge_origin_unavailable_total = %v, want 1", got)
		}
		if got := metricValue(t, reg, "edge_origin_up"); got != 0 {
			t.Errorf("edge_origin_up sums to %v", got)
		}
		if s := selected(p); s != "" {
			t.Errorf("selected %s with every origin down", s)
		}
	})
}

// A revived origin is used again after rise successful probes, and the
// traffic goes back to it, the fastest.
func TestReviveTrafficReturns(t *testing.T) {
	slow, fast := startOrigin(t, 40*time.Millisecond), startOrigin(t, 0)
	pol := probePolicy(100 * time.Millisecond)
	pol.Probe.Rise = 3
	pol.Breaker.OpenFor = 100 * time.Millisecond
	p := newTestPool(t, pol, cfgsOf(slow, fast))
	p.Start(context.Background())
	waitProbes(t, p, 2)
	waitSelected(t, p, fast.URL)

	fast.Kill()
	mustGet(t, p, "/obj", 3) // retried on the slow one
	waitUp(t, p, fast.URL, false)
	waitSelected(t, p, slow.URL)
	h := slow.Hits("/obj")
	mustGet(t, p, "/obj", 5)
	if got := slow.Hits("/obj") - h; got != 5 {
		t.Fatalf("while the fast origin is down: %d of 5 requests on the slow one", got)
	}

	okBefore := stateOf(p, fast.URL).ProbesOK
	fast.Revive()
	waitUp(t, p, fast.URL, true)
	if got := stateOf(p, fast.URL).ProbesOK - okBefore; got < int64(pol.Probe.Rise) {
		t.Errorf("up again after %d successful probes, want rise = %d", got, pol.Probe.Rise)
	}
	waitSelected(t, p, fast.URL)
	h = fast.Hits("/obj")
	mustGet(t, p, "/obj", 5)
	if got := fast.Hits("/obj") - h; got != 5 {
		t.Errorf("after revival: %d of 5 requests on the fast origin", got)
	}
}

// A backup origin, even a faster one, gets traffic only while no primary
// is up.
func TestBackupTier(t *testing.T) {
	for _, sel := range []string{LowestLatency, ConsistentHash} {
		t.Run(sel, func(t *testing.T) {
			prim, backup := startOrigin(t, 5*time.Millisecond), startOrigin(t, 0)
			pol := probePolicy(50 * time.Millisecond)
			pol.Selection = sel
			cfgs := []Config{{URL: backup.URL, Backup: true}, {URL: prim.URL}}
			p := newTestPool(t, pol, cfgs)
			p.Start(context.Background())
			waitProbes(t, p, 2)
			send := func(n int) {
				t.Helper()
				for i := range n {
					if code, err := doGet(p, "/obj", fmt.Sprint("key", i)); err != nil || code != 200 {
						t.Fatalf("request %d: %d %v", i, code, err)
					}
				}
			}
			send(20)
			if got := backup.Hits("/obj"); got != 0 {
				t.Fatalf("backup got %d requests while the primary is up", got)
			}
			prim.Kill()
			waitUp(t, p, prim.URL, false)
			send(20)
			if got := backup.Hits("/obj"); got != 20 {
				t.Fatalf("backup got %d of 20 requests with the primary down", got)
			}
			prim.Revive()
			waitUp(t, p, prim.URL, true)
			send(20)
			if got := backup.Hits("/obj"); got != 20 {
				t.Errorf("backup got %d more requests after the primary came back", got-20)
			}
			if got := prim.Hits("/obj"); got != 40 {
				t.Errorf("primary hits = %d, want 40", got)
			}
		})
	}
}

// With max_conns 16 and max_idle_conns 16, 10,000 requests from 64
// goroutines (and the probes, over the same pool) open at most 16
// connections.
func TestConnectionReuse(t *testing.T) {
	o := startOrigin(t, 0)
	// The probes queue with the requests for the 16 connections; a probe
	// that waits a whole interval gives no verdict, so the busy origin
	// stays up.
	p := newTestPool(t, probePolicy(200*time.Millisecond), []Config{{URL: o.URL, MaxConns: 16, MaxIdleConns: 16}})
	p.Start(context.Background())
	const workers, total = 64, 10000
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= total {
				if code, err := doGet(p, "/obj", ""); err != nil || code != 200 {
					if failed.Add(1) == 1 {
						t.Errorf("request: %d %v", code, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if got := o.Hits("/obj"); got != total {
		t.Errorf("origin hits = %d, want %d (%d failed)", got, total, failed.Load())
	}
	if got := o.Conns(); got > 16 {
		t.Errorf("origin accepted %d connections, want at most 16", got)
	}
	if got := o.PeakInflight(); got > 16 {
		t.Errorf("origin peak concurrency %d, want at most 16", got)
	}
	s := stateOf(p, o.URL)
	if s.ConnectionsOpened > 16 || s.ConnectionsOpen > 16 || s.InFlight != 0 {
		t.Errorf("state: opened %d, open %d, in flight %d", s.ConnectionsOpened, s.ConnectionsOpen, s.InFlight)
	}
	if s.ProbesOK == 0 || !s.Up {
		t.Errorf("probes: %d ok, up %v", s.ProbesOK, s.Up)
	}
	t.Logf("%d connections, peak %d in flight, %d probes (%d failed)", o.Conns(), o.PeakInflight(), s.ProbesOK, s.ProbesFail)
}

// Start and Close, repeated, leave no goroutine behind: probe loops end
// and pooled connections are closed.
func TestStartCloseLeaksNothing(t *testing.T) {
	a, b := startOrigin(t, 0), origintest.NewTLS(t, origintest.TLSOptions{HTTP2: true})
	b.HandleFallback(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cfgs := []Config{{URL: a.URL}, {URL: b.URL, TLS: TLSConfig{CAFile: b.CAFile}}}
	settle := func() int {
		// Server-side connection goroutines end shortly after the client
		// closes; give them a moment.
		n := runtime.NumGoroutine()
		for range 50 {
			time.Sleep(10 * time.Millisecond)
			if m := runtime.NumGoroutine(); m >= n {
				break
			} else {
				n = m
			}
		}
		return n
	}
	// Probes time out after 10ms: under -race on a loaded machine two TLS
	// probes in a row can miss that and take an origin down ("no healthy
	// origin" at doGet). This test is about leaks, not health: 100 failed
	// probes take an origin down.
	pol := probePolicy(10 * time.Millisecond)
	pol.Probe.Fall = 100
	before := settle()
	for i := range 10 {
		p, err := NewPool(testSite, pol, cfgs)
		if err != nil {
			t.Fatal(err)
		}
		p.Start(context.Background())
		p.Start(context.Background()) // twice is harmless
		waitProbes(t, p, 1)
		if i%2 == 0 {
			for _, key := range []string{"a", "b", "c"} {
				if _, err := doGet(p, "/obj", key); err != nil {
					t.Fatal(err)
				}
			}
		}
		p.Close()
		p.Close()                     // twice is harmless
		p.Start(context.Background()) // after Close: does nothing
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		after := runtime.NumGoroutine()
		if after <= before {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A pool built WithPrevious takes over the probe state of same-URL
// origins: a down origin stays down and the chosen one stays chosen,
// before the new pool has probed anything.
func TestReloadInheritsState(t *testing.T) {
	fast, slow, dead, added := startOrigin(t, 0), startOrigin(t, 15*time.Millisecond), startOrigin(t, 0), startOrigin(t, 0)
	old := newTestPool(t, probePolicy(50*time.Millisecond), cfgsOf(slow, dead, fast))
	old.Start(context.Background())
	waitProbes(t, old, 1)
	dead.Kill()
	waitUp(t, old, dead.URL, false)
	waitSelected(t, old, fast.URL)
	oldFast := stateOf(old, fast.URL)

	// New order, one more origin: without the old state the first origin
	// listed would be chosen, and dead would count as up.
	nw := newTestPool(t, probePolicy(50*time.Millisecond), cfgsOf(slow, added, dead, fast), WithPrevious(old))
	if s := stateOf(nw, dead.URL); s.Up {
		t.Errorf("dead origin up in the new pool: %+v", s)
	}
	if got := selected(nw); got != fast.URL {
		t.Errorf("new pool selects %s, want %s", got, fast.URL)
	}
	if s := stateOf(nw, fast.URL); s.RTTEWMAms == 0 || s.ProbesOK < oldFast.ProbesOK {
		t.Errorf("fast origin's probe state not carried over: %+v (old %+v)", s, oldFast)
	}
	if s := stateOf(nw, added.URL); !s.Up || s.ProbesOK != 0 || s.RTTEWMAms != 0 {
		t.Errorf("new origin: %+v", s)
	}
	old.Close()
	mustGet(t, nw, "/obj", 3) // before its own probes
	if got := fast.Hits("/obj"); got != 3 {
		t.Errorf("fast origin got %d of 3 requests", got)
	}
	nw.Start(context.Background())
	time.Sleep(150 * time.Millisecond) // a few probes of the new pool
	if s := stateOf(nw, dead.URL); s.Up {
		t.Errorf("dead origin up after the new pool's probes: %+v", s)
	}
}

// The state hook hears of up/down changes and of breaker changes.
func TestStateHook(t *testing.T) {
	var mu sync.Mutex
	var events []State
	hook := func(s State) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	seen := func(match func(State) bool) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if match(e) {
				return true
			}
		}
		return false
	}
	all := func() []State {
		mu.Lock()
		defer mu.Unlock()
		return append([]State(nil), events...)
	}

	t.Run("up and down", func(t *testing.T) {
		mu.Lock()
		events = nil
		mu.Unlock()
		a, b := startOrigin(t, 0), startOrigin(t, 0)
		p := newTestPool(t, probePolicy(50*time.Millisecond), cfgsOf(a, b), WithStateHook(hook))
		p.Start(context.Background())
		waitProbes(t, p, 2)
		if seen(func(State) bool { return true }) {
			t.Errorf("hook called with nothing changed: %+v", all())
		}
		a.Kill()
		waitUntil(t, 5*time.Second, "a down event", func() bool {
			return seen(func(s State) bool { return s.Origin == a.URL && !s.Up && s.Site == testSite })
		})
		a.Revive()
		waitUntil(t, 5*time.Second, "an up event", func() bool {
			return seen(func(s State) bool { return s.Origin == a.URL && s.Up })
		})
		if seen(func(s State) bool { return s.Origin == b.URL }) {
			t.Errorf("events for the healthy origin: %+v", all())
		}
	})

	t.Run("breaker", func(t *testing.T) {
		mu.Lock()
		events = nil
		mu.Unlock()
		o := origintest.New(t)
		var status atomic.Int32
		status.Store(http.StatusServiceUnavailable)
		o.HandleFallback(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
		clk := newFakeClock()
		pol := noProbes()
		pol.Breaker = BreakerConfig{Failures: 2, OpenFor: time.Second}
		p := newTestPool(t, pol, []Config{{URL: o.URL}}, WithStateHook(hook), WithClock(clk.Now))
		doGet(p, "/", "")
		doGet(p, "/", "")
		clk.Add(time.Second)
		status.Store(http.StatusOK)
		doGet(p, "/", "")
		var got []string
		for _, e := range all() {
			got = append(got, e.Breaker)
		}
		if want := []string{"open", "half-open", "closed"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("breaker events %v, want %v", got, want)
		}
	})
}

// The origin series pass promlint, and the gauges read at scrape time
// report every origin of a tracked pool.
func TestMetricsLint(t *testing.T) {
	o := startOrigin(t, 0)
	reg, m := newMetrics(t)
	p := newTestPool(t, probePolicy(20*time.Millisecond), cfgsOf(o), WithMetrics(m))
	p.Start(context.Background())
	waitProbes(t, p, 1)
	mustGet(t, p, "/obj", 2)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("%s: %s", pr.Metric, pr.Text)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if !strings.HasPrefix(mf.GetName(), "edge_origin_") {
			t.Errorf("series %s outside edge_origin_", mf.GetName())
		}
	}
	for _, n := range []string{"edge_origin_up", "edge_origin_selected", "edge_origin_rtt_ewma_seconds",
		"edge_origin_breaker_state", "edge_origin_connections", "edge_origin_requests_total", "edge_origin_probes_total"} {
		if !names[n] {
			t.Errorf("no %s", n)
		}
	}
	if got := metricValue(t, reg, "edge_origin_requests_total", "origin", o.URL, "outcome", "2xx"); got != 2 {
		t.Errorf("requests_total{2xx} = %v", got)
	}
	p.Close()
	if got := metricValue(t, reg, "edge_origin_up"); got != 0 {
		t.Errorf("a closed pool still reports edge_origin_up (%v)", got)
	}
}

// A caller that cancels Do's context says nothing about the origin: it
// must not count as a breaker failure. Do takes ctx apart from the
// request's own context, and the edge passes a context of its own with a
// request built without one.
func TestCallerCancelIsNotAnOriginFailure(t *testing.T) {
	for _, viaRequest := range []bool{true, false} {
		t.Run(fmt.Sprintf("request context=%v", viaRequest), func(t *testing.T) {
			o := startOrigin(t, 5*time.Second)
			pol := noProbes()
			pol.Breaker.Failures = 1
			p := newTestPool(t, pol, cfgsOf(o))
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequest(http.MethodGet, "http://"+testSite+"/slow", nil)
			if viaRequest {
				req = req.WithContext(ctx)
			}
			go func() {
				for o.Hits("/slow") == 0 {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			_, err := p.Do(ctx, req, "")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if s := stateOf(p, o.URL); s.Breaker != "closed" {
				t.Errorf("breaker %s after a caller's cancel", s.Breaker)
			}
		})
	}
}

// fixedURLs are origins that are never dialled: pools built on them only
// pick.
var fixedURLs = []string{"http://shard-a.test", "http://shard-b.test:8080", "https://shard-c.test"}

func hashPool(t testing.TB, weights ...int) *Pool {
	t.Helper()
	cfgs := make([]Config, len(weights))
	for i, w := range weights {
		cfgs[i] = Config{URL: fixedURLs[i], Weight: w}
	}
	return newTestPool(t, PolicyConfig{Selection: ConsistentHash, Probe: ProbeConfig{Disabled: true}}, cfgs)
}

func pickName(p *Pool, key string) string {
	o, _ := p.pick(key, nil, p.now())
	if o == nil {
		return ""
	}
	return o.name
}

// Weighted rendezvous spreads keys in proportion to the weights.
func TestConsistentHashSpread(t *testing.T) {
	for _, c := range []struct {
		name    string
		weights []int
	}{
		{"1-1-2", []int{1, 1, 2}},
		{"1-1-1", []int{1, 1, 1}},
		{"10-1-5", []int{10, 1, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := hashPool(t, c.weights...)
			const keys = 20000
			count := map[string]int{}
			for i := range keys {
				count[pickName(p, fmt.Sprintf("/objects/%d.jpg", i))]++
			}
			sum := 0
			for _, w := range c.weights {
				sum += w
			}
			for i, w := range c.weights {
				share, want := float64(count[fixedURLs[i]])/keys, float64(w)/float64(sum)
				// The keys and the hash are fixed, so this is not flaky; 2%
				// is about six standard deviations.
				if share < want-0.02 || share > want+0.02 {
					t.Errorf("%s (weight %d): share %.3f, want %.3f±0.02", fixedURLs[i], w, share, want)
				}
			}
		})
	}
}

// The mapping depends only on the key and the origins' URLs and weights:
// two pools built apart (two nodes) agree on every key, and the hash is
// FNV-1a, pinned by a golden mapping so that a change of hash (which
// would move every key of every shard) is noticed.
func TestConsistentHashDeterministic(t *testing.T) {
	p1, p2 := hashPool(t, 1, 1, 2), hashPool(t, 1, 1, 2)
	for i := range 5000 {
		k := fmt.Sprint("key-", i)
		if a, b := pickName(p1, k), pickName(p2, k); a != b {
			t.Fatalf("key %q: %s on one pool, %s on the other", k, a, b)
		}
	}
	var got []string
	for i := range 12 {
		u := pickName(p1, fmt.Sprint("/golden/", i))
		got = append(got, u[strings.Index(u, "//")+2:])
	}
	want := "[shard-a.test shard-b.test:8080 shard-a.test shard-b.test:8080 shard-b.test:8080 shard-a.test shard-a.test shard-b.test:8080 shard-b.test:8080 shard-c.test shard-a.test shard-c.test]"
	if fmt.Sprint(got) != want {
		t.Errorf("mapping of /golden/0..11 changed:\n got %v\nwant %v", got, want)
	}
	for _, c := range []struct {
		in   string
		want uint64
	}{{"", 0xcbf29ce484222325}, {"a", 0xaf63dc4c8601ec8c}, {"foobar", 0x85944171f73967e8}} {
		if got := nameHash(c.in); got != c.want {
			t.Errorf("nameHash(%q) = %#x, want FNV-1a %#x", c.in, got, c.want)
		}
	}
}

// Through Do against real origins: a key always reaches the same origin;
// when an origin goes down only its keys move, and they come back when it
// is up again.
func TestConsistentHashOriginDown(t *testing.T) {
	a, b, c := startOrigin(t, 0), startOrigin(t, 0), startOrigin(t, 0)
	pol := probePolicy(50 * time.Millisecond)
	pol.Selection = ConsistentHash
	cfgs := []Config{{URL: a.URL, Weight: 1}, {URL: b.URL, Weight: 1}, {URL: c.URL, Weight: 2}}
	p := newTestPool(t, pol, cfgs)
	p.Start(context.Background())
	waitProbes(t, p, 1)
	servers := []*origintest.Server{a, b, c}
	owner := func(path string) string { // the one origin that served path
		found := ""
		for _, s := range servers {
			if s.Hits(path) > 0 {
				if found != "" {
					t.Fatalf("%s reached %s and %s", path, found, s.URL)
				}
				found = s.URL
			}
		}
		return found
	}
	for i := range 60 {
		path := fmt.Sprint("/k/", i)
		for range 3 {
			if code, err := doGet(p, path, path); err != nil || code != 200 {
				t.Fatalf("%s: %d %v", path, code, err)
			}
		}
		if got, want := owner(path), pickName(p, path); got != want {
			t.Errorf("%s served by %s, pick says %s", path, got, want)
		}
	}

	const keys = 3000
	before := make([]string, keys)
	for i := range before {
		before[i] = pickName(p, fmt.Sprint("/m/", i))
	}
	c.Kill()
	waitUp(t, p, c.URL, false)
	moved := map[string]int{}
	for i := range before {
		after := pickName(p, fmt.Sprint("/m/", i))
		switch {
		case before[i] != c.URL && after != before[i]:
			t.Fatalf("key %d moved from %s to %s, though its origin is up", i, before[i], after)
		case before[i] == c.URL && (after == c.URL || after == ""):
			t.Fatalf("key %d still maps to the dead origin (%q)", i, after)
		case before[i] == c.URL:
			moved[after]++
		}
	}
	if moved[a.URL] == 0 || moved[b.URL] == 0 {
		t.Errorf("the dead origin's keys all went one way: %v", moved)
	}
	for i := range 30 { // and through Do, without errors
		if _, err := doGet(p, fmt.Sprint("/m/", i), fmt.Sprint("/m/", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Revive()
	waitUp(t, p, c.URL, true)
	for i := range before {
		if after := pickName(p, fmt.Sprint("/m/", i)); after != before[i] {
			t.Fatalf("key %d: %s after the revival, %s before the outage", i, after, before[i])
		}
	}
}

// The retry budget: with the clock frozen (no per-second refill), at most
// the bucket (max(10, 2*min_per_second) tokens) plus budget × requests
// retries happen; the others are counted as budget_exhausted and their
// requests fail.
func TestRetryBudget(t *testing.T) {
	for _, c := range []struct {
		name     string
		budget   float64
		min, n   int
		retried  int // exact when the budget deposits nothing
		atMost   int
		atLeast  int
		exactish bool
	}{
		{name: "budget 0", budget: 0, min: 1, n: 60, retried: 2, exactish: true},
		{name: "budget 0 min 0", budget: 0, min: 0, n: 20, retried: 0, exactish: true},
		{name: "budget 0.1", budget: 0.1, min: 1, n: 200, atLeast: 12, atMost: 12 + 20 + 1},
		{name: "budget 0.5 min 20", budget: 0.5, min: 20, n: 100, atLeast: 50, atMost: 50 + 50 + 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dead, live := startOrigin(t, 0), startOrigin(t, 0)
			dead.Kill()
			reg, m := newMetrics(t)
			clk := newFakeClock()
			pol := noProbes() // dead first, always
			pol.Breaker.Failures = -1
			pol.Retry = RetryConfig{Budget: ptr(c.budget), MinPerSecond: ptr(c.min)}
			p := newTestPool(t, pol, cfgsOf(dead, live), WithMetrics(m), WithClock(clk.Now))
			failed := 0
			for range c.n {
				if _, err := doGet(p, "/obj", ""); err != nil {
					if !IsConnect(err) {
						t.Fatalf("err %v, want the dead origin's connect error", err)
					}
					failed++
				}
			}
			retried := int(metricValue(t, reg, "edge_origin_retries_total", "result", "retried"))
			exhausted := int(metricValue(t, reg, "edge_origin_retries_total", "result", "budget_exhausted"))
			if retried+exhausted != c.n || exhausted != failed || live.Hits("/obj") != retried {
				t.Errorf("retried %d + exhausted %d != %d requests, or %d failed, or the live origin saw %d",
					retried, exhausted, c.n, failed, live.Hits("/obj"))
			}
			if c.exactish {
				if retried != c.retried {
					t.Errorf("retried %d, want %d", retried, c.retried)
				}
			} else if retried < c.atLeast || retried > c.atMost {
				t.Errorf("retried %d, want %d-%d", retried, c.atLeast, c.atMost)
			}
			// Time refills the bucket: min_per_second per second.
			clk.Add(time.Second)
			for range c.min {
				if _, err := doGet(p, "/obj", ""); err != nil {
					t.Errorf("after a second: %v", err)
				}
			}
		})
	}
}
