package edge_test

// Multi-origin sites end to end: a real node over loopback in front of
// real origins that are slowed down, killed and revived. Probes run every
// 50-100 ms (a few hundred where an origin is slow on purpose): short
// enough for a quick file, long enough that a loaded -race run does not
// time out probes of healthy origins.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// ogProbePath is where the probes of these tests go; ogOrigin does not
// count them as traffic.
const ogProbePath = "/probe"

// ogOrigin is a real origin that answers every path with "ok <path>" and
// an X-Origin header naming it, and counts the requests that are not
// probes. Paths under /nostore/ answer no-store and under /ttl10/
// max-age=10; everything else max-age=60.
type ogOrigin struct {
	*origintest.Server
	name string
	hits atomic.Int64
}

func ogNewOrigin(t *testing.T, name string) *ogOrigin {
	t.Helper()
	return ogServe(origintest.New(t), name)
}

// ogServe installs ogOrigin's handler on srv.
func ogServe(srv *origintest.Server, name string) *ogOrigin {
	o := &ogOrigin{Server: srv, name: name}
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != ogProbePath {
			o.hits.Add(1)
		}
		cc := "public, max-age=60"
		switch {
		case strings.HasPrefix(r.URL.Path, "/nostore/"):
			cc = "no-store"
		case strings.HasPrefix(r.URL.Path, "/ttl10/"):
			cc = "max-age=10"
		}
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Origin", name)
		io.WriteString(w, "ok "+r.URL.Path)
	})
	return o
}

// ogConfig is a node config with one site answering every host. policy is
// the origin_policy as a YAML flow mapping, each origin one too
// ("{url: http://..., backup: true}").
func ogConfig(site, policy string, origins ...string) string {
	var b strings.Builder
	b.WriteString("node:\n  id: edge-test\ncache:\n  max_memory: 64MiB\nsites:\n")
	b.WriteString("  - name: " + site + "\n    hosts: [\"*\"]\n")
	b.WriteString("    origin_policy: " + policy + "\n")
	b.WriteString("    origins:\n")
	for _, o := range origins {
		b.WriteString("      - " + o + "\n")
	}
	return b.String()
}

// ogStart starts a node and, if the test fails, logs the origins' state
// as /status shows it.
func ogStart(t *testing.T, yaml string, opts ...edge.Option) *edgetest.Node {
	t.Helper()
	n := edgetest.Start(t, yaml, opts...)
	t.Cleanup(func() { // before the node stops
		if t.Failed() {
			for _, s := range n.Status().Origins {
				t.Logf("origin %s (site %s): up=%v selected=%v breaker=%s rtt_ewma_ms=%.1f probes ok=%d failed=%d last_error=%q",
					s.Origin, s.Site, s.Up, s.Selected, s.Breaker, s.RTTEWMAms, s.ProbesOK, s.ProbesFail, s.LastError)
			}
		}
	})
	return n
}

// ogClient has the 5 s deadline that turns a hang into a failure.
func ogClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

type ogResponse struct {
	status int
	header http.Header
	body   string
}

func ogGet(c *http.Client, url string) (*ogResponse, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	return &ogResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// ogMustGet is ogGet from the test goroutine.
func ogMustGet(t *testing.T, c *http.Client, url string) *ogResponse {
	t.Helper()
	r, err := ogGet(c, url)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var ogAdmin = &http.Client{Timeout: 5 * time.Second}

// ogStatus reads GET /status from the admin listener.
func ogStatus(t *testing.T, n *edgetest.Node) edge.Status {
	t.Helper()
	resp, err := ogAdmin.Get(n.Admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s edge.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	return s
}

// ogStates returns the origins of /status by URL.
func ogStates(t *testing.T, n *edgetest.Node) map[string]origin.State {
	t.Helper()
	m := map[string]origin.State{}
	for _, s := range ogStatus(t, n).Origins {
		m[s.Origin] = s
	}
	return m
}

// ogWait polls cond every 5 ms and fails the test after within.
func ogWait(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ogWaitState waits until /status shows every listed origin in the wanted
// probe state, with at least one probe answered.
func ogWaitState(t *testing.T, n *edgetest.Node, up bool, origins ...*ogOrigin) {
	t.Helper()
	var names []string
	for _, o := range origins {
		names = append(names, o.name)
	}
	ogWait(t, 5*time.Second, fmt.Sprintf("origins %v up=%v", names, up), func() bool {
		st := ogStates(t, n)
		for _, o := range origins {
			s := st[o.URL]
			if s.Up != up || s.ProbesOK+s.ProbesFail == 0 {
				return false
			}
		}
		return true
	})
}

const retriedMetric = "edge_origin_retries_total"

// 1. Lowest-latency selection: probes rank three origins by their real
// latency, /status shows the ranking, and misses go to the fastest.
func TestOriginLowestLatencySelection(t *testing.T) {
	// Listed slowest first: the fastest must win on its probes, not by
	// its place in the list.
	slow, mid, fast := ogNewOrigin(t, "slow"), ogNewOrigin(t, "mid"), ogNewOrigin(t, "fast")
	slow.SetDelay(150 * time.Millisecond)
	mid.SetDelay(40 * time.Millisecond)
	fast.SetDelay(5 * time.Millisecond)
	// The probe timeout must exceed the slowest origin's delay.
	n := ogStart(t, ogConfig("s",
		"{probe: {path: "+ogProbePath+", interval: 400ms, timeout: 400ms}}",
		"{url: "+slow.URL+"}", "{url: "+mid.URL+"}", "{url: "+fast.URL+"}"))

	ogWait(t, 5*time.Second, "three probes answered by every origin", func() bool {
		for _, s := range ogStatus(t, n).Origins {
			if s.ProbesOK < 3 {
				return false
			}
		}
		return true
	})
	st := ogStates(t, n)
	for _, c := range []struct {
		o     *ogOrigin
		delay float64
	}{{fast, 5}, {mid, 40}, {slow, 150}} {
		s := st[c.o.URL]
		if !s.Up || s.Breaker != "closed" || s.Site != "s" {
			t.Errorf("%s: up=%v breaker=%s site=%q", c.o.name, s.Up, s.Breaker, s.Site)
		}
		// Every sample includes the origin's delay.
		if s.RTTEWMAms < c.delay || s.LastRTTms < c.delay {
			t.Errorf("%s: rtt_ewma_ms %.1f, last_rtt_ms %.1f, below its %gms delay", c.o.name, s.RTTEWMAms, s.LastRTTms, c.delay)
		}
	}
	if f, m, s := st[fast.URL].RTTEWMAms, st[mid.URL].RTTEWMAms, st[slow.URL].RTTEWMAms; !(f < m && m < s) {
		t.Errorf("rtt_ewma_ms fast %.1f, mid %.1f, slow %.1f: not in order", f, m, s)
	}
	if !st[fast.URL].Selected || st[mid.URL].Selected || st[slow.URL].Selected {
		t.Errorf("selected: fast %v, mid %v, slow %v; want only fast", st[fast.URL].Selected, st[mid.URL].Selected, st[slow.URL].Selected)
	}
	if v := n.Metric(t, "edge_origin_selected", "origin", fast.URL); v != 1 {
		t.Errorf("edge_origin_selected{fast} = %v, want 1", v)
	}

	c := ogClient(t)
	const misses = 20
	for i := range misses {
		path := fmt.Sprintf("/ll/%d", i)
		r := ogMustGet(t, c, n.URL+path)
		if r.status != 200 || r.body != "ok "+path || r.header.Get("X-Origin") != "fast" {
			t.Errorf("%s: %d %q from %q, want 200 from fast", path, r.status, r.body, r.header.Get("X-Origin"))
		}
		if fast.Hits(path) != 1 {
			t.Errorf("%s reached the fast origin %d times, want 1", path, fast.Hits(path))
		}
	}
	if got := fast.hits.Load(); got != misses {
		t.Errorf("fast origin served %d misses, want %d", got, misses)
	}
	if m, s := mid.hits.Load(), slow.hits.Load(); m+s != 0 {
		t.Errorf("slower origins served misses: mid %d, slow %d", m, s)
	}
	if !ogStates(t, n)[fast.URL].Selected {
		t.Error("the fast origin lost the selection while serving")
	}

	// The chosen origin slows down well past the next one: probes move
	// the choice (the hysteresis only holds back small differences).
	switches := n.Metric(t, "edge_origin_switches_total", "site", "s")
	fast.SetDelay(120 * time.Millisecond)
	ogWait(t, 10*time.Second, "mid selected after fast slowed down", func() bool {
		return ogStates(t, n)[mid.URL].Selected
	})
	if v := n.Metric(t, "edge_origin_switches_total", "site", "s"); v <= switches {
		t.Errorf("edge_origin_switches_total = %v, did not rise from %v", v, switches)
	}
	midHits := mid.hits.Load()
	if r := ogMustGet(t, c, n.URL+"/ll/after-switch"); r.status != 200 || r.header.Get("X-Origin") != "mid" {
		t.Errorf("after the switch: %d from %q, want mid", r.status, r.header.Get("X-Origin"))
	}
	if mid.hits.Load() != midHits+1 {
		t.Error("the miss after the switch did not reach mid")
	}
}

// 2. Killing the chosen origin under client traffic costs no client
// error: requests that fail on it are retried on the next-best origin.
func TestOriginFailoverNoClientErrors(t *testing.T) {
	a, b := ogNewOrigin(t, "a"), ogNewOrigin(t, "b")
	// b is clearly slower, so that a, listed first, stays chosen.
	b.SetDelay(15 * time.Millisecond)
	n := ogStart(t, ogConfig("s",
		"{probe: {path: "+ogProbePath+", interval: 100ms, timeout: 100ms, fall: 3}, breaker: {open_for: 100ms}}",
		"{url: "+a.URL+"}", "{url: "+b.URL+"}"))
	ogWait(t, 5*time.Second, "a selected, both probed", func() bool {
		st := ogStates(t, n)
		return st[a.URL].Selected && st[a.URL].ProbesOK >= 2 && st[b.URL].ProbesOK >= 2
	})
	retriedBefore := n.Metric(t, retriedMetric, "site", "s", "result", "retried")

	const clients, perClient, killAt = 4, 75, 100
	c := ogClient(t)
	var (
		done     atomic.Int64
		kill     sync.Once
		killed   atomic.Bool
		mu       sync.Mutex
		failures []string
		afterB   atomic.Int64 // misses answered by b after the kill
		wg       sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for ci := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perClient {
				path := fmt.Sprintf("/fo/%d-%d", ci, k)
				if k%3 == 2 {
					path = "/fo/hot" // repeated: a hit after the first
				}
				wasKilled := killed.Load()
				r, err := ogGet(c, n.URL+path)
				switch {
				case err != nil:
					fail("%s: %v", path, err)
				case r.status != 200 || r.body != "ok "+path:
					fail("%s: %d %q (Cache-Status %q)", path, r.status, r.body, r.header.Get("Cache-Status"))
				case wasKilled && path != "/fo/hot" && r.header.Get("X-Origin") == "b":
					afterB.Add(1)
				}
				if done.Add(1) == killAt {
					kill.Do(func() {
						a.Kill()
						killed.Store(true)
					})
				}
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if !killed.Load() {
		t.Fatal("the chosen origin was never killed")
	}
	if afterB.Load() == 0 {
		t.Error("no miss after the kill was answered by the next-best origin")
	}
	if v := n.Metric(t, retriedMetric, "site", "s", "result", "retried"); v <= retriedBefore {
		t.Errorf("%s{result=retried} = %v, did not rise from %v", retriedMetric, v, retriedBefore)
	}
	if v := n.Metric(t, retriedMetric, "site", "s", "result", "budget_exhausted"); v != 0 {
		t.Errorf("%s{result=budget_exhausted} = %v", retriedMetric, v)
	}
	ogWaitState(t, n, false, a)
	if st := ogStates(t, n); st[a.URL].Selected || !st[b.URL].Selected || !st[b.URL].Up {
		t.Errorf("after the kill: a selected=%v, b selected=%v up=%v", st[a.URL].Selected, st[b.URL].Selected, st[b.URL].Up)
	}
}

// 3. A stored response past its freshness is served stale (the site's
// default stale_if_error) while every origin is dead: both while the node
// still tries them (connect errors) and once probes have marked them down.
func TestOriginStaleWhenAllDead(t *testing.T) {
	a, b := ogNewOrigin(t, "a"), ogNewOrigin(t, "b")
	clk := edgetest.NewClock(time.Now())
	n := ogStart(t, ogConfig("s",
		"{probe: {path: "+ogProbePath+", interval: 50ms, timeout: 50ms, fall: 2}}",
		"{url: "+a.URL+"}", "{url: "+b.URL+"}"), edge.WithClock(clk.Now))
	c := ogClient(t)
	const path = "/ttl10/obj"
	if r := ogMustGet(t, c, n.URL+path); r.status != 200 || !strings.Contains(r.header.Get("Cache-Status"), "stored") {
		t.Fatalf("first GET: %d, Cache-Status %q", r.status, r.header.Get("Cache-Status"))
	}
	rvSettle(t, n)
	if r := ogMustGet(t, c, n.URL+path); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Fatalf("second GET not a hit: Cache-Status %q", r.header.Get("Cache-Status"))
	}
	a.Kill()
	b.Kill()
	clk.Advance(20 * time.Second) // max-age=10: stale, well within the 1h stale_if_error

	checkStale := func(when string) {
		t.Helper()
		start := time.Now()
		r := ogMustGet(t, c, n.URL+path)
		cs := r.header.Get("Cache-Status")
		if r.status != 200 || r.body != "ok "+path {
			t.Errorf("%s: %d %q, want the stale 200", when, r.status, r.body)
		}
		if !strings.Contains(cs, "fwd=stale") || !strings.Contains(cs, "detail=stale-if-error") {
			t.Errorf("%s: Cache-Status %q, want fwd=stale and detail=stale-if-error", when, cs)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: stale answer took %s", when, d)
		}
	}
	checkStale("origins refusing connections")
	ogWaitState(t, n, false, a, b)
	unavailable := n.Metric(t, "edge_origin_unavailable_total", "site", "s")
	checkStale("origins marked down")
	if v := n.Metric(t, "edge_origin_unavailable_total", "site", "s"); v <= unavailable {
		t.Errorf("the stale answer did not come from the no-healthy-origin path: edge_origin_unavailable_total %v", v)
	}
}

// ogCheckOriginError checks an error answer for a site whose origins all
// failed: quick, 502 or 504, short plain text naming the site.
func ogCheckOriginError(t *testing.T, c *http.Client, url, site string) *ogResponse {
	t.Helper()
	start := time.Now()
	r, err := ogGet(c, url)
	if err != nil {
		t.Fatalf("all origins dead: %v (a hang ends at the 5s client timeout)", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("all origins dead: the answer took %s", d)
	}
	if r.status != 502 && r.status != 504 {
		t.Errorf("all origins dead: %d %q, want 502 or 504", r.status, r.body)
	}
	if !strings.Contains(r.body, "site "+site) || len(r.body) > 200 {
		t.Errorf("error body %q does not name site %q in a short text", r.body, site)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("error Content-Type %q", ct)
	}
	if cs := r.header.Get("Cache-Status"); !strings.Contains(cs, "detail=origin-error") {
		t.Errorf("error Cache-Status %q, want detail=origin-error", cs)
	}
	return r
}

// 4. Every origin dead and nothing stored: a prompt 502/504 naming the
// site; once probes mark them down, 502 "no healthy origin" without
// trying them.
func TestOriginAllDead502(t *testing.T) {
	a, b := ogNewOrigin(t, "a"), ogNewOrigin(t, "b")
	n := ogStart(t, ogConfig("shop",
		"{probe: {path: "+ogProbePath+", interval: 50ms, timeout: 50ms, fall: 2}, breaker: {open_for: 100ms}}",
		"{url: "+a.URL+"}", "{url: "+b.URL+"}"))
	c := ogClient(t)
	if r := ogMustGet(t, c, n.URL+"/warm"); r.status != 200 {
		t.Fatalf("warm-up: %d", r.status)
	}
	a.Kill()
	b.Kill()
	ogCheckOriginError(t, c, n.URL+"/never-stored", "shop")

	ogWaitState(t, n, false, a, b)
	before := n.Metric(t, "edge_origin_unavailable_total", "site", "shop")
	tried := n.Metric(t, "edge_origin_requests_total", "site", "shop")
	r := ogCheckOriginError(t, c, n.URL+"/never-stored-2", "shop")
	if r.status != 502 || !strings.Contains(r.body, "no healthy origin") {
		t.Errorf("origins marked down: %d %q, want 502 no healthy origin", r.status, r.body)
	}
	if v := n.Metric(t, "edge_origin_unavailable_total", "site", "shop"); v != before+1 {
		t.Errorf("edge_origin_unavailable_total = %v, want %v", v, before+1)
	}
	if v := n.Metric(t, "edge_origin_requests_total", "site", "shop"); v != tried {
		t.Errorf("origins marked down were still tried: edge_origin_requests_total %v -> %v", tried, v)
	}
}

// 5. Revived origins are used again once `rise` probes in a row passed,
// not before.
func TestOriginReviveAfterRise(t *testing.T) {
	const (
		interval = 50 * time.Millisecond
		rise     = 4
	)
	a, b := ogNewOrigin(t, "a"), ogNewOrigin(t, "b")
	n := ogStart(t, ogConfig("s",
		fmt.Sprintf("{probe: {path: %s, interval: %s, timeout: %s, jitter: 0.2, rise: %d, fall: 2}, breaker: {open_for: 100ms}}", ogProbePath, interval, interval, rise),
		"{url: "+a.URL+"}", "{url: "+b.URL+"}"))
	c := ogClient(t)
	a.Kill()
	b.Kill()
	ogWaitState(t, n, false, a, b)
	if r := ogMustGet(t, c, n.URL+"/rv/0"); r.status != 502 {
		t.Fatalf("all down: %d %q", r.status, r.body)
	}

	okBefore := ogStates(t, n)[a.URL].ProbesOK
	a.Revive()
	revived := time.Now()
	// rise successes need at least rise-1 intervals (less the jitter)
	// after the first: an answer from the origin before that is too early.
	r := ogMustGet(t, c, n.URL+"/rv/1")
	if minUp := time.Duration(float64((rise-1)*interval) * 0.8); r.status == 200 && time.Since(revived) < minUp {
		t.Errorf("the revived origin was used %s after Revive, before %d probes could pass", time.Since(revived), rise)
	}
	ogWaitState(t, n, true, a)
	if s := ogStates(t, n)[a.URL]; s.ProbesOK-okBefore < rise {
		t.Errorf("up after %d successful probes, want at least rise=%d", s.ProbesOK-okBefore, rise)
	}
	hits := a.hits.Load()
	for i := 2; i < 12; i++ {
		path := fmt.Sprintf("/rv/%d", i)
		if r := ogMustGet(t, c, n.URL+path); r.status != 200 || r.body != "ok "+path {
			t.Errorf("after revival %s: %d %q", path, r.status, r.body)
		}
	}
	if got := a.hits.Load() - hits; got != 10 {
		t.Errorf("the revived origin served %d of 10 misses", got)
	}
	st := ogStates(t, n)
	if !st[a.URL].Up || !st[a.URL].Selected || st[b.URL].Up {
		t.Errorf("status: a up=%v selected=%v, b up=%v; want a up and selected, b still down", st[a.URL].Up, st[a.URL].Selected, st[b.URL].Up)
	}
}

// 6. The origin's connection cap holds under load: 10,000 misses over 64
// kept-alive client connections reach an origin with max_conns 16 over at
// most 16 TCP connections, probes included.
func TestOriginConnReuse(t *testing.T) {
	o := ogNewOrigin(t, "o")
	n := ogStart(t, ogConfig("s",
		"{probe: {path: "+ogProbePath+", interval: 500ms, timeout: 500ms}}",
		"{url: "+o.URL+", max_conns: 16, max_idle_conns: 16}"))
	const (
		clients  = 64
		requests = 10000
		budget   = 20 * time.Second
	)
	deadline := time.Now().Add(budget)
	var (
		next, done atomic.Int64
		mu         sync.Mutex
		failures   []string
		wg         sync.WaitGroup
	)
	for range clients {
		tr := &http.Transport{DisableCompression: true, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := next.Add(1)
				if i > requests {
					return
				}
				path := fmt.Sprintf("/nostore/%d", i)
				r, err := ogGet(c, n.URL+path)
				if err == nil && (r.status != 200 || r.body != "ok "+path) {
					err = fmt.Errorf("%s: %d %q", path, r.status, r.body)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d failed requests, first: %s", len(failures), failures[0])
	}
	if d := done.Load(); d < requests {
		t.Logf("only %d requests within %s", d, budget)
		if d < requests/10 {
			t.Errorf("only %d requests within %s", d, budget)
		}
	}
	if got := o.hits.Load(); got != done.Load() {
		t.Errorf("origin served %d misses for %d answers", got, done.Load())
	}
	if got := o.Conns(); got > 16 {
		t.Errorf("origin accepted %d connections, max_conns is 16", got)
	}
	if got := o.PeakInflight(); got > 16 {
		t.Errorf("origin saw %d concurrent requests, max_conns is 16", got)
	}
	if s := ogStates(t, n)[o.URL]; s.ConnectionsOpened > 16 || !s.Up {
		t.Errorf("status: connections_opened %d, up %v", s.ConnectionsOpened, s.Up)
	}
	// The node's own HTTP health check opens a connection per run (one
	// may be in flight, not yet counted as a result).
	checks := n.Metric(t, "edge_health_check_results_total", "check", "http")
	if got := n.Metric(t, "edge_http_connections_total") - checks; got > clients+1 {
		t.Errorf("the node accepted %v client connections from %d keep-alive clients (besides %v health checks)", got, clients, checks)
	}
	t.Logf("%d misses, %d origin connections", done.Load(), o.Conns())
}

// Probes share the origin's capped pool, but a probe must judge the
// origin, not the node's own queue for a connection: an origin busy with
// long answers on all its max_conns connections is alive and must stay up.
//
// (The probe's timeout starts once it has a connection; a probe that
// finds none free for an interval gives no verdict.)
func TestOriginProbeSaturatedPool(t *testing.T) {
	o := ogNewOrigin(t, "o")
	const hold = 800 * time.Millisecond
	o.Handle("/long", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(hold) // a long answer: the origin is busy, not dead
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "long")
	})
	n := ogStart(t, ogConfig("s",
		"{probe: {path: "+ogProbePath+", interval: 50ms, timeout: 50ms, fall: 2}}",
		"{url: "+o.URL+", max_conns: 1, max_idle_conns: 1}"))
	ogWaitState(t, n, true, o)
	c := ogClient(t)
	long := make(chan *ogResponse, 1)
	go func() {
		r, err := ogGet(c, n.URL+"/long")
		if err != nil {
			r = &ogResponse{body: err.Error()}
		}
		long <- r
	}()
	ogWait(t, time.Second, "the long request at the origin", func() bool { return o.Hits("/long") == 1 })
	wentDown := false
	for end := time.Now().Add(hold / 2); time.Now().Before(end) && !wentDown; time.Sleep(10 * time.Millisecond) {
		wentDown = !ogStates(t, n)[o.URL].Up
	}
	if wentDown {
		s := ogStates(t, n)[o.URL]
		t.Errorf("origin marked down while serving on its only connection: probes failed %d, last error %q", s.ProbesFail, s.LastError)
	}
	// Meanwhile a miss must wait for the connection, not be refused.
	if r := ogMustGet(t, c, n.URL+"/meanwhile"); r.status != 200 {
		t.Errorf("a miss while the pool is busy: %d %q", r.status, r.body)
	}
	if r := <-long; r.status != 200 {
		t.Errorf("long request: %d %q", r.status, r.body)
	}
}

// 7. A reload with the same origins keeps their probe state: a down
// origin stays down, counters and the choice carry over. A reload with a
// bad origin_policy is refused and changes nothing.
func TestOriginReloadKeepsProbeState(t *testing.T) {
	a, b := ogNewOrigin(t, "a"), ogNewOrigin(t, "b")
	b.SetDelay(10 * time.Millisecond)
	// fall 5: a new pool that forgot the verdict would show b up for at
	// least four probe intervals.
	policy := "{probe: {path: " + ogProbePath + ", interval: 50ms, timeout: 50ms, fall: 5, rise: 2}, breaker: {open_for: 100ms}}"
	yaml := ogConfig("s", policy, "{url: "+a.URL+"}", "{url: "+b.URL+"}")
	n := ogStart(t, yaml)
	ogWait(t, 5*time.Second, "a selected", func() bool {
		st := ogStates(t, n)
		return st[a.URL].Selected && st[a.URL].ProbesOK >= 2 && st[b.URL].ProbesOK >= 2
	})
	b.Kill()
	ogWaitState(t, n, false, b)
	before := ogStates(t, n)

	parsed := func(yaml string) *edge.Config {
		t.Helper()
		cfg, err := edge.ParseConfig([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		cfg.HTTP.Listen = n.Config().HTTP.Listen
		cfg.Admin.Listen = n.Config().Admin.Listen
		return cfg
	}
	bad := parsed(yaml)
	bad.Sites[0].OriginPolicy.Selection = "fastest"
	if err := n.Reload(bad); err == nil || !strings.Contains(err.Error(), "sites[0].origin_policy.selection") {
		t.Errorf("reload with a bad selection: %v", err)
	}
	if g := ogStatus(t, n).ConfigGeneration; g != 1 {
		t.Errorf("generation %d after a refused reload", g)
	}

	if err := n.Reload(parsed(yaml)); err != nil {
		t.Fatal(err)
	}
	s := ogStatus(t, n)
	if s.ConfigGeneration != 2 {
		t.Errorf("generation %d after reload, want 2", s.ConfigGeneration)
	}
	after := map[string]origin.State{}
	for _, o := range s.Origins {
		after[o.Origin] = o
	}
	if len(after) != 2 {
		t.Fatalf("status lists %d origins after reload", len(s.Origins))
	}
	if after[b.URL].Up {
		t.Error("reload reset the dead origin to up")
	}
	if after[b.URL].ProbesFail < before[b.URL].ProbesFail || after[a.URL].ProbesOK < before[a.URL].ProbesOK {
		t.Errorf("probe counters reset: a ok %d -> %d, b failed %d -> %d",
			before[a.URL].ProbesOK, after[a.URL].ProbesOK, before[b.URL].ProbesFail, after[b.URL].ProbesFail)
	}
	if after[a.URL].RTTEWMAms == 0 {
		t.Error("reload forgot a's latency estimate")
	}
	if !after[a.URL].Up || !after[a.URL].Selected {
		t.Errorf("a after reload: up=%v selected=%v", after[a.URL].Up, after[a.URL].Selected)
	}
	c := ogClient(t)
	if r := ogMustGet(t, c, n.URL+"/rl/1"); r.status != 200 || r.header.Get("X-Origin") != "a" {
		t.Errorf("after reload: %d from %q", r.status, r.header.Get("X-Origin"))
	}
	// The new generation's probes run: b comes back.
	b.Revive()
	ogWaitState(t, n, true, b)
}

// 8. A backup origin gets no traffic while the primary is up, takes over
// without client errors when the primary dies, and hands back when it
// returns.
func TestOriginBackupTakesOver(t *testing.T) {
	const openFor = 100 * time.Millisecond
	p, k := ogNewOrigin(t, "primary"), ogNewOrigin(t, "backup")
	n := ogStart(t, ogConfig("s",
		fmt.Sprintf("{probe: {path: %s, interval: 50ms, timeout: 50ms, fall: 2, rise: 2}, breaker: {open_for: %s}}", ogProbePath, openFor),
		"{url: "+p.URL+"}", "{url: "+k.URL+", backup: true}"))
	ogWait(t, 5*time.Second, "both probed", func() bool {
		st := ogStates(t, n)
		return st[p.URL].ProbesOK >= 2 && st[k.URL].ProbesOK >= 2
	})
	st := ogStates(t, n)
	if !st[p.URL].Selected || st[k.URL].Selected || !st[k.URL].Backup || !st[k.URL].Up {
		t.Fatalf("primary selected=%v, backup selected=%v backup=%v up=%v", st[p.URL].Selected, st[k.URL].Selected, st[k.URL].Backup, st[k.URL].Up)
	}
	c := ogClient(t)
	burst := func(phase string, from, count int, want string) {
		t.Helper()
		for i := from; i < from+count; i++ {
			path := fmt.Sprintf("/bk/%d", i)
			r := ogMustGet(t, c, n.URL+path)
			if r.status != 200 || r.body != "ok "+path {
				t.Errorf("%s: %s: %d %q", phase, path, r.status, r.body)
				continue
			}
			if want != "" && r.header.Get("X-Origin") != want {
				t.Errorf("%s: %s answered by %q, want %q", phase, path, r.header.Get("X-Origin"), want)
			}
		}
	}
	burst("primary up", 0, 50, "primary")
	if got := k.hits.Load(); got != 0 {
		t.Errorf("backup received %d requests while the primary was up", got)
	}

	p.Kill()
	burst("primary killed", 50, 50, "backup") // every miss: the primary is dead
	ogWaitState(t, n, false, p)
	if st := ogStates(t, n); !st[k.URL].Selected {
		t.Error("backup not selected with the primary down")
	}
	burst("primary down", 100, 20, "backup")

	p.Revive()
	ogWaitState(t, n, true, p)
	time.Sleep(openFor) // a breaker the dead primary opened lets a trial through
	backupHits := k.hits.Load()
	burst("primary back", 120, 50, "primary")
	if got := k.hits.Load() - backupHits; got != 0 {
		t.Errorf("backup received %d requests after the primary came back", got)
	}
	if st := ogStates(t, n); !st[p.URL].Selected || st[k.URL].Selected {
		t.Errorf("after revival: primary selected=%v, backup selected=%v", st[p.URL].Selected, st[k.URL].Selected)
	}
}

// Consistent-hash selection: each cache key has one owner among the
// healthy origins, stable across requests; when an origin goes down only
// its keys move.
func TestOriginConsistentHash(t *testing.T) {
	pool := []*ogOrigin{ogNewOrigin(t, "a"), ogNewOrigin(t, "b"), ogNewOrigin(t, "c")}
	n := ogStart(t, ogConfig("s",
		"{selection: consistent-hash, probe: {path: "+ogProbePath+", interval: 50ms, timeout: 50ms, fall: 2}}",
		"{url: "+pool[0].URL+"}", "{url: "+pool[1].URL+"}", "{url: "+pool[2].URL+"}"))
	ogWaitState(t, n, true, pool...)
	c := ogClient(t)
	const keys = 60
	owners := func() []string {
		t.Helper()
		out := make([]string, keys)
		for i := range out {
			path := fmt.Sprintf("/nostore/ch/%d", i) // never stored: every GET selects
			r := ogMustGet(t, c, n.URL+path)
			if r.status != 200 || r.body != "ok "+path {
				t.Fatalf("%s: %d %q", path, r.status, r.body)
			}
			out[i] = r.header.Get("X-Origin")
		}
		return out
	}
	first := owners()
	share := map[string]int{}
	for _, o := range first {
		share[o]++
	}
	if len(share) != 3 {
		t.Errorf("%d keys spread over %v, want all three origins", keys, share)
	}
	for i, o := range owners() {
		if o != first[i] {
			t.Errorf("key %d moved from %s to %s with every origin up", i, first[i], o)
		}
	}
	for _, s := range ogStatus(t, n).Origins {
		if s.Selected {
			t.Errorf("%s selected under consistent-hash", s.Origin)
		}
	}
	pool[1].Kill()
	ogWaitState(t, n, false, pool[1])
	for i, o := range owners() {
		switch {
		case first[i] == "b" && o == "b":
			t.Errorf("key %d still answered by the dead origin", i)
		case first[i] != "b" && o != first[i]:
			t.Errorf("key %d moved from %s to %s though its origin is up", i, first[i], o)
		}
	}
}

// HTTPS origins: verified against the site's CA file, with a client
// certificate, over HTTP/2 when offered; a certificate the site does not
// trust or a missing client certificate keeps the origin down and its
// site answers 502 promptly, while the other sites are unaffected.
func TestOriginTLS(t *testing.T) {
	good := ogServe(origintest.NewTLS(t, origintest.TLSOptions{HTTP2: true, RequireClientCert: true}), "good")
	other := ogServe(origintest.NewTLS(t, origintest.TLSOptions{}), "other") // another CA
	probe := "    origin_policy: {probe: {path: " + ogProbePath + ", interval: 100ms, timeout: 100ms, fall: 2}}\n"
	tlsWith := func(o *ogOrigin, ca string, cert bool) string {
		s := fmt.Sprintf("    origins:\n      - url: %s\n        tls: {ca_file: %s", o.URL, ca)
		if cert {
			s += fmt.Sprintf(", cert_file: %s, key_file: %s", good.ClientCertFile, good.ClientKeyFile)
		}
		return s + "}\n"
	}
	yaml := "node:\n  id: edge-test\ncache:\n  max_memory: 64MiB\nsites:\n" +
		"  - name: secure\n    hosts: [\"*\"]\n" + probe + tlsWith(good, good.CAFile, true) +
		"  - name: untrusted\n    hosts: [untrusted.example]\n" + probe + tlsWith(other, good.CAFile, false) +
		"  - name: nocert\n    hosts: [nocert.example]\n" + probe + tlsWith(good, good.CAFile, false)
	n := ogStart(t, yaml)
	c := ogClient(t)
	ogWait(t, 5*time.Second, "probes of every site", func() bool {
		for _, s := range ogStatus(t, n).Origins {
			if s.ProbesOK+s.ProbesFail < 2 {
				return false
			}
		}
		return true
	})
	for _, s := range ogStatus(t, n).Origins {
		if want := s.Site == "secure"; s.Up != want {
			t.Errorf("site %s, origin %s: up=%v, want %v (last error %q)", s.Site, s.Origin, s.Up, want, s.LastError)
		}
	}
	r := ogMustGet(t, c, n.URL+"/tls/a")
	if r.status != 200 || r.body != "ok /tls/a" || r.header.Get("X-Origin") != "good" {
		t.Errorf("https origin: %d %q from %q", r.status, r.body, r.header.Get("X-Origin"))
	}
	if got := good.Protos()["HTTP/2.0"]; got == 0 {
		t.Errorf("no request reached the h2 origin over HTTP/2: %v", good.Protos())
	}
	for _, site := range []string{"untrusted", "nocert"} {
		req, _ := http.NewRequest("GET", n.URL+"/tls/b", nil)
		req.Host = site + ".example"
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", site, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 502 || !strings.Contains(string(b), "site "+site) || time.Since(start) > time.Second {
			t.Errorf("%s: %d %q after %s, want a prompt 502 naming the site", site, resp.StatusCode, b, time.Since(start))
		}
	}
	if got := other.hits.Load(); got != 0 {
		t.Errorf("the untrusted origin served %d requests", got)
	}
}

// 9. Config errors of origins and origin_policy name their field path.
// (Selection typo, backup-only site and duplicate URL are in
// config_test.go; these are the others.)
func TestOriginPolicyConfigErrors(t *testing.T) {
	site := func(policy string, origins ...string) string {
		return ogConfig("s", policy, origins...)
	}
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"probe timeout above interval", site("{probe: {interval: 1s, timeout: 2s}}", "{url: http://x}"),
			[]string{"sites[0].origin_policy.probe.timeout"}},
		{"probe interval too short", site("{probe: {interval: 5ms}}", "{url: http://x}"),
			[]string{"sites[0].origin_policy.probe.interval"}},
		{"probe path and alpha", site("{probe: {path: probe, alpha: 2, fall: 101}}", "{url: http://x}"),
			[]string{"sites[0].origin_policy.probe.path", "sites[0].origin_policy.probe.alpha", "sites[0].origin_policy.probe.fall"}},
		{"hysteresis", site("{switch_ratio: 1.5, switch_min: -1ms}", "{url: http://x}"),
			[]string{"sites[0].origin_policy.switch_ratio", "sites[0].origin_policy.switch_min"}},
		{"breaker and retry", site("{breaker: {failures: -2, open_for: 1ms, trials: 2000}, retry: {budget: 1.5, min_per_second: -1}}", "{url: http://x}"),
			[]string{"sites[0].origin_policy.breaker.failures", "sites[0].origin_policy.breaker.open_for",
				"sites[0].origin_policy.breaker.trials", "sites[0].origin_policy.retry.budget", "sites[0].origin_policy.retry.min_per_second"}},
		{"unknown policy key", site("{probe: {intervall: 1s}}", "{url: http://x}"),
			[]string{`sites[0].origin_policy.probe.intervall`, `did you mean "interval"`}},
		{"second origin", site("{}", "{url: http://a}", "{url: http://b, weight: 1001, max_conns: 4, max_idle_conns: 8}"),
			[]string{"sites[0].origins[1].weight", "sites[0].origins[1].max_idle_conns"}},
		{"client cert without key", site("{}", "{url: https://x, tls: {cert_file: /nonexistent.pem}}"),
			[]string{"sites[0].origins[0].tls: cert_file and key_file go together"}},
		{"second site", "node:\n  id: e\nsites:\n  - name: a\n    hosts: [a.example]\n    origins: [{url: http://a}]\n" +
			"  - name: b\n    hosts: [b.example]\n    origins: [{url: http://b}]\n    origin_policy: {selection: fastest}\n",
			[]string{`sites[1].origin_policy.selection: "fastest"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := edge.ParseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
		})
	}
	// Valid: the same origin in two sites, a single expected status,
	// consistent-hash with weights and a backup.
	ok := "node:\n  id: e\nsites:\n" +
		"  - name: a\n    hosts: [a.example]\n    origins: [{url: http://shared}]\n" +
		"  - name: b\n    hosts: [b.example]\n    origin_policy: {selection: consistent-hash, probe: {expect_status: \"204\"}}\n" +
		"    origins: [{url: http://shared, weight: 3}, {url: http://other}, {url: http://spare, backup: true}]\n"
	if _, err := edge.ParseConfig([]byte(ok)); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
