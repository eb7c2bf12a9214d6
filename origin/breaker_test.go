package origin

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/origin/origintest"
)

// transitions records a breaker's state changes.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(from, to int32, _ bool) {
	tr.mu.Lock()
	tr.got = append(tr.got, breakerNames[from]+">"+breakerNames[to])
	tr.mu.Unlock()
}

func (tr *transitions) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return fmt.Sprint(tr.got)
}

func newBreaker(cfg BreakerConfig) (*breaker, *transitions) {
	b, tr := &breaker{}, &transitions{}
	b.init(&cfg, tr.record)
	return b, tr
}

// The breaker's life: failures in a row open it, open_for keeps it open,
// then trials go through half-open; a trial's success closes it and a
// trial's failure opens it for another open_for.
func TestBreakerStates(t *testing.T) {
	b, tr := newBreaker(BreakerConfig{Failures: 3, OpenFor: 10 * time.Second, Trials: 2})
	t0 := time.Unix(1_700_000_000, 0)
	allow := func(at time.Duration, wantOK, wantTrial bool) {
		t.Helper()
		if ok, trial := b.allow(t0.Add(at)); ok != wantOK || trial != wantTrial {
			t.Fatalf("allow at +%v = %v, %v; want %v, %v (%s)", at, ok, trial, wantOK, wantTrial, tr)
		}
	}
	state := func(want string) {
		t.Helper()
		if got := breakerNames[b.state.Load()]; got != want {
			t.Fatalf("state %s, want %s (%s)", got, want, tr)
		}
	}

	allow(0, true, false)
	// Failures must come in a row: a success resets the count.
	b.failure(false, t0)
	b.failure(false, t0)
	b.success(false)
	b.failure(false, t0)
	b.failure(false, t0)
	state("closed")
	b.failure(false, t0)
	state("open")
	allow(0, false, false)
	allow(9*time.Second, false, false)

	// Half-open: two trials at once, no third.
	allow(10*time.Second, true, true)
	state("half-open")
	allow(10*time.Second, true, true)
	allow(10*time.Second, false, false)
	b.release(true) // a trial the caller gave up: frees its slot
	allow(10*time.Second, true, true)
	// Non-trial results while half-open (requests sent before it opened)
	// do not decide.
	b.failure(false, t0.Add(10*time.Second))
	b.success(false)
	state("half-open")
	b.success(true)
	state("closed")
	allow(10*time.Second, true, false)
	b.success(true) // the last trial, after the breaker closed
	state("closed")

	// Open again; a failed trial reopens for open_for from its failure.
	for range 3 {
		b.failure(false, t0.Add(20*time.Second))
	}
	state("open")
	allow(29*time.Second, false, false)
	allow(30*time.Second, true, true)
	b.failure(true, t0.Add(31*time.Second))
	state("open")
	allow(40*time.Second, false, false)
	allow(41*time.Second, true, true)
	b.success(true)
	state("closed")

	want := "[closed>open open>half-open half-open>closed closed>open open>half-open half-open>open open>half-open half-open>closed]"
	if got := tr.String(); got != want {
		t.Errorf("transitions\n got %s\nwant %s", got, want)
	}
	b.mu.Lock()
	n := b.trials
	b.mu.Unlock()
	if n != 0 {
		t.Errorf("%d trial slots still taken", n)
	}
}

// failures -1 disables the breaker; failures 1 opens on the first failure.
func TestBreakerConfigExtremes(t *testing.T) {
	b, tr := newBreaker(BreakerConfig{Failures: -1, OpenFor: time.Second, Trials: 1})
	for range 100 {
		b.failure(false, time.Now())
	}
	if ok, trial := b.allow(time.Now()); !ok || trial || tr.String() != "[]" {
		t.Errorf("disabled breaker: allow %v/%v, transitions %s", ok, trial, tr)
	}
	b, tr = newBreaker(BreakerConfig{Failures: 1, OpenFor: time.Second, Trials: 1})
	b.failure(false, time.Now())
	if ok, _ := b.allow(time.Now()); ok || tr.String() != "[closed>open]" {
		t.Errorf("failures 1: allow %v, transitions %s", ok, tr)
	}
}

// Concurrent half-open: however many goroutines ask at once, no more than
// Trials requests are let through.
func TestBreakerTrialsConcurrent(t *testing.T) {
	for round := range 2000 {
		b, _ := newBreaker(BreakerConfig{Failures: 1, OpenFor: time.Second, Trials: 3})
		now := time.Unix(1_700_000_000, 0)
		b.failure(false, now)
		var granted atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if ok, trial := b.allow(now.Add(time.Second)); ok && trial {
					granted.Add(1)
				}
			})
		}
		wg.Wait()
		if got := granted.Load(); got != 3 {
			t.Fatalf("round %d: %d trials let through, want 3", round, got)
		}
	}
}

// Through Do: an origin answering 503 opens its breaker after `failures`
// answers; for open_for (fake clock) requests go to the next origin; then
// a trial goes through: failed, it reopens the breaker, good, it closes
// it. Transitions are counted.
func TestBreakerThroughDo(t *testing.T) {
	flaky, spare := origintest.New(t), startOrigin(t, 0)
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	flaky.HandleFallback(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	clk := newFakeClock()
	reg, m := newMetrics(t)
	pol := noProbes() // flaky first, as listed
	pol.Breaker = BreakerConfig{Failures: 3, OpenFor: 10 * time.Second, Trials: 1}
	p := newTestPool(t, pol, cfgsOf(flaky, spare), WithClock(clk.Now), WithMetrics(m))
	get := func() (int, error) { return doGet(p, "/x", "") }
	breaker := func() string { return stateOf(p, flaky.URL).Breaker }
	transitions := func(to string) float64 {
		return metricValue(t, reg, "edge_origin_breaker_transitions_total", "origin", flaky.URL, "to", to)
	}
	expect := func(code, flakyHits, spareHits int) {
		t.Helper()
		if got, err := get(); got != code || err != nil {
			t.Fatalf("got %d %v, want %d", got, err, code)
		}
		if f, s := flaky.Hits("/x"), spare.Hits("/x"); f != flakyHits || s != spareHits {
			t.Fatalf("hits flaky %d spare %d, want %d %d (breaker %s)", f, s, flakyHits, spareHits, breaker())
		}
	}

	for i := range 3 {
		// 5xx answers are returned (and not retried), but count.
		expect(503, i+1, 0)
	}
	if breaker() != "open" || transitions("open") != 1 {
		t.Fatalf("after 3 failures: breaker %s, %v transitions to open", breaker(), transitions("open"))
	}
	if got := metricValue(t, reg, "edge_origin_breaker_state", "origin", flaky.URL); got != 2 {
		t.Errorf("edge_origin_breaker_state = %v, want 2", got)
	}
	expect(200, 3, 1)
	clk.Add(9 * time.Second)
	expect(200, 3, 2)

	clk.Add(time.Second) // a trial, which fails
	expect(503, 4, 2)
	if breaker() != "open" || transitions("half-open") != 1 || transitions("open") != 2 {
		t.Fatalf("after a failed trial: breaker %s, to half-open %v, to open %v", breaker(), transitions("half-open"), transitions("open"))
	}
	expect(200, 4, 3)
	clk.Add(9 * time.Second)
	expect(200, 4, 4)

	clk.Add(time.Second) // a trial, which succeeds
	status.Store(http.StatusOK)
	expect(200, 5, 4)
	if breaker() != "closed" || transitions("closed") != 1 || transitions("half-open") != 2 {
		t.Fatalf("after a good trial: breaker %s, to closed %v", breaker(), transitions("closed"))
	}
	expect(200, 6, 4)
	if got := metricValue(t, reg, "edge_origin_unavailable_total"); got != 0 {
		t.Errorf("edge_origin_unavailable_total = %v, want 0", got)
	}
}

// When every origin is shut out by its breaker, a request does not wait
// for open_for: it is sent as an early trial, so a recovered origin is
// used again at once; concurrent requests fail fast while the trial is out.
func TestBreakerAllOpenEarlyTrial(t *testing.T) {
	o := origintest.New(t)
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	hold := make(chan struct{})
	var holding atomic.Bool
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		if holding.Load() {
			<-hold
		}
		w.WriteHeader(int(status.Load()))
	})
	clk := newFakeClock()
	reg, m := newMetrics(t)
	pol := noProbes()
	pol.Breaker = BreakerConfig{Failures: 2, OpenFor: time.Hour, Trials: 1}
	p := newTestPool(t, pol, []Config{{URL: o.URL}}, WithClock(clk.Now), WithMetrics(m))
	doGet(p, "/x", "")
	doGet(p, "/x", "")
	if s := stateOf(p, o.URL).Breaker; s != "open" {
		t.Fatalf("breaker %s", s)
	}

	// A trial held at the origin: the others fail fast.
	holding.Store(true)
	status.Store(http.StatusOK)
	done := make(chan int)
	go func() {
		code, _ := doGet(p, "/x", "")
		done <- code
	}()
	waitUntil(t, 5*time.Second, "the trial at the origin", func() bool { return o.Hits("/x") == 3 })
	for range 5 {
		start := time.Now()
		if _, err := doGet(p, "/x", ""); !IsUnavailable(err) {
			t.Fatalf("while the trial is out: err %v, want UnavailableError", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("failing fast took %v", el)
		}
	}
	close(hold)
	if code := <-done; code != 200 {
		t.Fatalf("trial: %d", code)
	}
	if s := stateOf(p, o.URL).Breaker; s != "closed" {
		t.Fatalf("breaker %s after a good early trial (open_for is an hour)", s)
	}
	mustGet(t, p, "/x", 2)
	if got := metricValue(t, reg, "edge_origin_unavailable_total"); got != 5 {
		t.Errorf("edge_origin_unavailable_total = %v, want 5", got)
	}
}

// A half-open breaker lets `trials` concurrent requests through; the
// others go to the next origin.
func TestBreakerHalfOpenTrialsThroughDo(t *testing.T) {
	flaky, spare := origintest.New(t), startOrigin(t, 0)
	var fail atomic.Bool
	fail.Store(true)
	release := make(chan struct{})
	flaky.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		<-release // hold the trials until all requests are sent
		io.WriteString(w, "ok")
	})
	clk := newFakeClock()
	pol := noProbes()
	pol.Breaker = BreakerConfig{Failures: 2, OpenFor: time.Second, Trials: 2}
	p := newTestPool(t, pol, cfgsOf(flaky, spare), WithClock(clk.Now))
	doGet(p, "/x", "")
	doGet(p, "/x", "")
	if s := stateOf(p, flaky.URL).Breaker; s != "open" {
		t.Fatalf("breaker %s", s)
	}
	clk.Add(time.Second)
	fail.Store(false)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if code, err := doGet(p, "/x", ""); code != 200 || err != nil {
				t.Errorf("trial: %d %v", code, err)
			}
		})
	}
	waitUntil(t, 5*time.Second, "two trials at the origin", func() bool { return flaky.Hits("/x") == 4 })
	mustGet(t, p, "/x", 5) // the trial slots are taken: these go to the spare
	if got := spare.Hits("/x"); got != 5 {
		t.Errorf("spare got %d of 5 requests while the trials were out", got)
	}
	close(release)
	wg.Wait()
	if s := stateOf(p, flaky.URL).Breaker; s != "closed" {
		t.Errorf("breaker %s after good trials", s)
	}
	mustGet(t, p, "/x", 1)
	if got := flaky.Hits("/x"); got != 5 {
		t.Errorf("flaky origin hits = %d, want 5 once closed", got)
	}
}

// A response body read to the end but closed later than body_idle_timeout
// is not the origin's fault, nor is a consumer that reads slowly.
func TestIdleBodyBlamesOnlyTheOrigin(t *testing.T) {
	o := startOrigin(t, 0)
	pol := noProbes()
	pol.Breaker.Failures = 1
	p := newTestPool(t, pol, []Config{{URL: o.URL, BodyIdleTimeout: 20 * time.Millisecond}})
	req, _ := http.NewRequest(http.MethodGet, "http://"+testSite+"/x", nil)
	resp, err := p.Do(t.Context(), req, "")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("body %q, %v", b, err)
	}
	time.Sleep(100 * time.Millisecond) // the caller is busy with the body
	resp.Body.Close()
	if s := stateOf(p, o.URL).Breaker; s != "closed" {
		t.Errorf("breaker %s: a late Close after EOF counted against the origin", s)
	}
}

// An origin that stalls mid-body fails the read with ErrBodyIdle, and
// that counts as a failure of the origin.
func TestIdleBodyTimeout(t *testing.T) {
	o := origintest.New(t)
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stall until the client gives up
	})
	pol := noProbes()
	pol.Breaker.Failures = 1
	p := newTestPool(t, pol, []Config{{URL: o.URL, BodyIdleTimeout: 50 * time.Millisecond}})
	req, _ := http.NewRequest(http.MethodGet, "http://"+testSite+"/x", nil)
	resp, err := p.Do(t.Context(), req, "")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	if !IsTimeout(err) || string(b) != "abc" {
		t.Fatalf("read %q, %v; want abc and ErrBodyIdle", b, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stall detected after %v", el)
	}
	if s := stateOf(p, o.URL).Breaker; s != "open" {
		t.Errorf("breaker %s after a stalled body", s)
	}
}
