package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is a settable clock for WithClock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixedNow is the test clock's time unless a test moves it.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// env is a demo origin behind httptest.NewServer with a client that neither
// decompresses nor follows redirects.
type env struct {
	s     *Server
	ts    *httptest.Server
	c     *http.Client
	clock *testClock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := &testClock{t: fixedNow}
	s, err := New(Config{Listen: "127.0.0.1:0"}, WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	tr := &http.Transport{DisableCompression: true}
	e := &env{s: s, ts: ts, clock: clock, c: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ts.Close()
		if n := s.panics.Load(); n != 0 {
			t.Errorf("%d handler panics", n)
		}
	})
	return e
}

// do sends a request with the given headers (name, value pairs) and returns
// the response with its body read.
func (e *env) do(t *testing.T, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return e.doBody(t, method, path, nil, hdr...)
}

func (e *env) doBody(t *testing.T, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := e.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

// checkGoroutines waits for the goroutine count to fall back to before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartStop(t *testing.T) {
	before := runtime.NumGoroutine()

	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" || s.Ready() {
		t.Fatalf("before Start: Addr %q, Ready %v; want empty, false", s.Addr(), s.Ready())
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if addr == "" || strings.HasSuffix(addr, ":0") || !s.Ready() {
		t.Fatalf("after Start: Addr %q, Ready %v", addr, s.Ready())
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start = %v; want already started", err)
	}

	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	resp, err := c.Get("http://" + addr + "/demo/text/4k")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(b) != 4096 || resp.Header.Get("Server") != serverName {
		t.Fatalf("GET: %d, %d bytes, Server %q", resp.StatusCode, len(b), resp.Header.Get("Server"))
	}
	tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if s.Ready() {
		t.Error("Ready after Stop")
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded")
	}
	if _, err := c.Get("http://" + addr + "/"); err == nil {
		t.Error("server still answers after Stop")
	}
	tr.CloseIdleConnections()
	checkGoroutines(t, before)
}

func TestStopBeforeStart(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
}

func TestStartCanceled(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Start(ctx); err == nil {
		_ = s.Stop(context.Background())
		t.Fatal("Start with a canceled context succeeded")
	}
}

// TestStopForcesSlowRequests checks that Stop gives up on a request still
// waiting in /demo/slow when its context ends, and leaves no goroutines.
func TestStopForcesSlowRequests(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	errc := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + s.Addr() + "/demo/slow/60000")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, "the slow request to arrive", func() bool { return s.active.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v; want a deadline error", err)
	}
	if err := <-errc; err == nil {
		t.Error("the slow request succeeded; want it cut off")
	}
	waitFor(t, "the slow handler to return", func() bool { return s.active.Load() == 0 })
	tr.CloseIdleConnections()
	checkGoroutines(t, before)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFetchCounting(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		name   string
		method string
		path   string
		hdr    []string
		status int
		want   string // X-Demo-Fetch
	}{
		{name: "first GET", method: "GET", path: "/demo/text/10", status: 200, want: "1"},
		{name: "second GET", method: "GET", path: "/demo/text/10", status: 200, want: "2"},
		{name: "HEAD counts", method: "HEAD", path: "/demo/text/10", status: 200, want: "3"},
		{name: "304 counts", method: "GET", path: "/demo/text/10", hdr: []string{"If-None-Match", "*"}, status: 304, want: "4"},
		{name: "query ignored", method: "GET", path: "/demo/text/10?x=1", status: 200, want: "5"},
		{name: "405 counts", method: "POST", path: "/demo/text/10", status: 405, want: "6"},
		{name: "other path separate", method: "GET", path: "/demo/text/11", status: 200, want: "1"},
		{name: "404 counts", method: "GET", path: "/nope", status: 404, want: "1"},
		{name: "404 again", method: "GET", path: "/nope", status: 404, want: "2"},
		{name: "400 counts", method: "GET", path: "/demo/text/x", status: 400, want: "1"},
		{name: "stats not counted", method: "GET", path: "/demo/stats", status: 200, want: ""},
	}
	for _, st := range steps {
		resp, _ := e.do(t, st.method, st.path, st.hdr...)
		if resp.StatusCode != st.status {
			t.Errorf("%s: status %d; want %d", st.name, resp.StatusCode, st.status)
		}
		if got := resp.Header.Get("X-Demo-Fetch"); got != st.want {
			t.Errorf("%s: X-Demo-Fetch %q; want %q", st.name, got, st.want)
		}
	}
	want := map[string]int64{"/demo/text/10": 6, "/demo/text/11": 1, "/nope": 2, "/demo/text/x": 1}
	if got := e.s.Stats(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Stats() = %v; want %v", got, want)
	}
}

func TestStatsEndpointAndReset(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.do(t, "GET", "/demo/json")
	}
	e.do(t, "HEAD", "/")

	resp, body := e.do(t, "GET", "/demo/stats")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /demo/stats: %d %v", resp.StatusCode, resp.Header)
	}
	var got struct {
		Paths map[string]int64 `json:"paths"`
		Total int64            `json:"total"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("stats JSON: %v\n%s", err, body)
	}
	if got.Total != 4 || got.Paths["/demo/json"] != 3 || got.Paths["/"] != 1 || len(got.Paths) != 2 {
		t.Errorf("stats = %+v; want /demo/json 3, / 1, total 4", got)
	}

	resp, _ = e.do(t, "GET", "/demo/stats/reset")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /demo/stats/reset: %d, Allow %q; want 405, POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = e.do(t, "POST", "/demo/stats/reset")
	if resp.StatusCode != 200 {
		t.Fatalf("POST /demo/stats/reset: %d", resp.StatusCode)
	}
	if st := e.s.Stats(); len(st) != 0 {
		t.Errorf("Stats() after reset = %v; want empty", st)
	}
	_, body = e.do(t, "GET", "/demo/stats")
	if !strings.Contains(string(body), `"total": 0`) {
		t.Errorf("stats after reset: %s", body)
	}
	if resp, _ := e.do(t, "GET", "/demo/json"); resp.Header.Get("X-Demo-Fetch") != "1" {
		t.Errorf("X-Demo-Fetch after reset = %q; want 1", resp.Header.Get("X-Demo-Fetch"))
	}
	e.s.ResetStats()
	if st := e.s.Stats(); len(st) != 0 {
		t.Errorf("Stats() after ResetStats = %v; want empty", st)
	}
}

func TestCountersCap(t *testing.T) {
	e := newEnv(t)
	s := e.s
	for i := range maxPaths {
		s.count(fmt.Sprintf("/p/%d", i))
	}
	tests := []struct {
		name string
		path string
		key  string // where it must be counted
	}{
		{name: "known path keeps its counter", path: "/p/0", key: "/p/0"},
		{name: "new path beyond the cap", path: "/new", key: otherPath},
		{name: "another new path", path: "/new2", key: otherPath},
		{name: "long path", path: "/" + strings.Repeat("x", maxPathKey), key: otherPath},
		{name: "invalid UTF-8", path: "/\xff", key: otherPath},
		{name: "empty path", path: "", key: otherPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Stats()[tt.key]
			if n := s.count(tt.path); n != before+1 {
				t.Errorf("count(%q) = %d; want %d (counted under %q)", tt.path, n, before+1, tt.key)
			}
		})
	}
	if n := len(s.Stats()); n != maxPaths+1 {
		t.Errorf("%d counters; want %d paths plus %q", n, maxPaths, otherPath)
	}
	// Over HTTP, a new path beyond the cap reports the "other" count.
	resp, _ := e.do(t, "GET", "/beyond-the-cap")
	if resp.StatusCode != 404 || resp.Header.Get("X-Demo-Fetch") != fmt.Sprint(s.Stats()[otherPath]) {
		t.Errorf("beyond the cap: %d, X-Demo-Fetch %q; want 404 and the %q count", resp.StatusCode, resp.Header.Get("X-Demo-Fetch"), otherPath)
	}
	// Short paths are not capped when there is room.
	s2, _ := New(Config{Listen: "127.0.0.1:0"})
	if s2.count("/other") != 1 || s2.Stats()["/other"] != 1 {
		t.Error(`the path "/other" must not share the "other" counter`)
	}
}
