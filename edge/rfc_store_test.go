package edge_test

// One test (or subtest) per caching rule of RFC 9111, RFC 5861 and
// RFC 9213, each against a real node and a real loopback origin. Time is
// a fake clock that starts on a whole second, and origins send Date from
// that clock, so ages and TTLs are exact.

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// rfcEnv is one node with its origin and clock.
type rfcEnv struct {
	t    *testing.T
	o    *origintest.Server
	n    *edgetest.Node
	clk  *edgetest.Clock
	sent atomic.Int64 // requests sent to the node
	// conditional counts conditional requests reaching serve handlers.
	conditional atomic.Int32
	// raw is the client of rawGet (no transparent decompression).
	raw *http.Client
}

// rfcStart starts an origin and a node for it with the extra site lines.
func rfcStart(t *testing.T, siteExtra ...string) *rfcEnv {
	t.Helper()
	return rfcStartCache(t, nil, siteExtra...)
}

// rfcStartCache is rfcStart with extra lines for the cache section
// (indented two spaces, e.g. "  heuristic_max: 30m"). The cache is small:
// these tests store a few bytes, and a node per subtest should be cheap.
func rfcStartCache(t *testing.T, cacheLines []string, siteExtra ...string) *rfcEnv {
	t.Helper()
	o := origintest.New(t)
	clk := edgetest.NewClock(time.Now().Truncate(time.Second))
	yaml := edgetest.SiteConfig(o.URL, siteExtra...) + "cache:\n  max_memory: 8MiB\n"
	for _, l := range cacheLines {
		yaml += l + "\n"
	}
	n := edgetest.Start(t, yaml, edge.WithClock(clk.Now))
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	t.Cleanup(raw.CloseIdleConnections) // before the node stops
	return &rfcEnv{t: t, o: o, n: n, clk: clk, raw: raw}
}

// get sends a request and waits until the node has finished with it
// (stored what it stores), so the next request sees the outcome.
func (e *rfcEnv) get(path string, fields ...string) *edgetest.Response {
	e.t.Helper()
	e.sent.Add(1)
	r := e.n.Get(e.t, path, fields...)
	e.settle()
	return r
}

// settle waits until every request sent has been recorded as answered
// (which happens after its fill has finished and stored its entry), then
// until the store shows every entry put.
func (e *rfcEnv) settle() {
	e.t.Helper()
	want := float64(e.sent.Load())
	deadline := time.Now().Add(10 * time.Second)
	for e.n.Metric(e.t, "edge_cache_lookups_total", "site", "s") < want {
		if time.Now().After(deadline) {
			e.t.Fatalf("node did not finish %v requests", want)
		}
		time.Sleep(time.Millisecond)
	}
	e.n.Store().Wait()
}

// rawGet is a GET for use off the test goroutine: it reports errors
// instead of failing the test.
func (e *rfcEnv) rawGet(path string) (*edgetest.Response, error) {
	e.sent.Add(1)
	resp, err := e.raw.Get(e.n.URL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &edgetest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// date formats the clock's time as an HTTP date, shifted by d.
func (e *rfcEnv) date(d time.Duration) string {
	return e.clk.Now().Add(d).UTC().Format(http.TimeFormat)
}

// serve answers with body and the header fields kv (name, value pairs);
// Date is the clock's time unless kv sets it. It ignores conditional
// requests (always 200), which HTTP allows an origin, and counts them.
func (e *rfcEnv) serve(body string, kv ...string) http.HandlerFunc {
	return e.serveFunc(body, false, func() []string { return kv })
}

// serveValidating is serve, except that a request whose If-None-Match
// equals the ETag gets 304 with the same fields.
func (e *rfcEnv) serveValidating(body string, kv ...string) http.HandlerFunc {
	return e.serveFunc(body, true, func() []string { return kv })
}

// serveFunc is serve with fields computed per request.
func (e *rfcEnv) serveFunc(body string, validate bool, fields func() []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			e.conditional.Add(1)
		}
		h := w.Header()
		h.Set("Date", e.date(0))
		kv := fields()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "Date" {
				h.Set("Date", kv[i+1])
				continue
			}
			h.Add(kv[i], kv[i+1])
		}
		if et := h.Get("Etag"); validate && et != "" && r.Header.Get("If-None-Match") == et {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/octet-stream")
		io.WriteString(w, body)
	}
}

// expectConditional checks how many conditional requests the origin saw
// and that the last one for path asked with If-None-Match etag.
func (e *rfcEnv) expectConditional(path string, want int, etag string) {
	e.t.Helper()
	if got := int(e.conditional.Load()); got != want {
		e.t.Errorf("origin saw %d conditional requests, want %d", got, want)
	}
	if want > 0 {
		if inm := e.o.Last(path).Header.Get("If-None-Match"); inm != etag {
			e.t.Errorf("last request If-None-Match %q, want %q", inm, etag)
		}
	}
}

// rfcExpect checks a response's status, body and exact Cache-Status.
func rfcExpect(t *testing.T, what string, r *edgetest.Response, status int, body, cacheStatus string) {
	t.Helper()
	if r.Status != status || string(r.Body) != body || r.CacheStatus() != cacheStatus {
		t.Errorf("%s: got %d %q Cache-Status %q\n want %d %q Cache-Status %q", what, r.Status, r.Body, r.CacheStatus(), status, body, cacheStatus)
	}
}

// rfcExpectAge checks the Age field.
func rfcExpectAge(t *testing.T, what string, r *edgetest.Response, age int) {
	t.Helper()
	if got := r.Header.Get("Age"); got != strconv.Itoa(age) {
		t.Errorf("%s: Age %q, want %d", what, got, age)
	}
}

// expectHits checks how many requests reached the origin for path.
func (e *rfcEnv) expectHits(what, path string, want int) {
	e.t.Helper()
	if got := e.o.Hits(path); got != want {
		e.t.Errorf("%s: origin saw %d requests for %s, want %d", what, got, path, want)
	}
}

// expectNotStored checks that two requests both reach the origin and that
// neither answer says "stored".
func (e *rfcEnv) expectNotStored(path string, fields ...string) {
	e.t.Helper()
	r1 := e.get(path, fields...)
	r2 := e.get(path, fields...)
	for i, r := range []*edgetest.Response{r1, r2} {
		if r.Status != 200 || strings.Contains(r.CacheStatus(), "stored") || strings.Contains(r.CacheStatus(), "hit") {
			e.t.Errorf("request %d: %d Cache-Status %q, want 200 forwarded and not stored", i+1, r.Status, r.CacheStatus())
		}
	}
	e.expectHits("two requests", path, 2)
}

// Expected Cache-Status values (ttl appended).
const (
	rfcMiss    = "edge-test; fwd=uri-miss; fwd-status=200; stored; ttl="
	rfcHit     = "edge-test; hit; ttl="
	rfcRefetch = "edge-test; fwd=stale; fwd-status=200; stored; ttl="
	rfcReval   = "edge-test; fwd=stale; fwd-status=304; stored; ttl="
	rfcForced  = "edge-test; fwd=request; fwd-status=200; stored; ttl="
)

func TestRFCFreshnessPrecedence(t *testing.T) {
	t.Parallel()
	t.Run("s-maxage over max-age", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "max-age=100, s-maxage=10"))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"10")
		e.clk.Advance(9 * time.Second)
		r := e.get("/p")
		rfcExpect(t, "hit at 9s", r, 200, "v1", rfcHit+"1")
		rfcExpectAge(t, "hit at 9s", r, 9)
		e.expectHits("fresh", "/p", 1)
		e.clk.Advance(2 * time.Second) // age 11: past s-maxage, within max-age
		rfcExpect(t, "stale at 11s", e.get("/p"), 200, "v1", rfcRefetch+"10")
		e.expectHits("stale", "/p", 2)
	})
	t.Run("s-maxage longer than max-age", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "max-age=10, s-maxage=100"))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"100")
		e.clk.Advance(50 * time.Second)
		rfcExpect(t, "hit at 50s", e.get("/p"), 200, "v1", rfcHit+"50")
		e.expectHits("fresh", "/p", 1)
	})
	t.Run("max-age over Expires", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serveFunc("v1", false, func() []string {
			return []string{"Cache-Control", "max-age=100", "Expires", e.date(10 * time.Second)}
		}))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"100")
		e.clk.Advance(50 * time.Second) // past Expires, within max-age
		rfcExpect(t, "hit at 50s", e.get("/p"), 200, "v1", rfcHit+"50")
		e.expectHits("fresh", "/p", 1)
		e.clk.Advance(51 * time.Second)
		rfcExpect(t, "stale at 101s", e.get("/p"), 200, "v1", rfcRefetch+"100")
		e.expectHits("after max-age", "/p", 2)
	})
	t.Run("Expires minus Date", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serveFunc("v1", false, func() []string {
			return []string{"Expires", e.date(30 * time.Second)}
		}))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"30")
		e.clk.Advance(29 * time.Second)
		rfcExpect(t, "hit at 29s", e.get("/p"), 200, "v1", rfcHit+"1")
		e.expectHits("fresh", "/p", 1)
		e.clk.Advance(2 * time.Second)
		rfcExpect(t, "stale at 31s", e.get("/p"), 200, "v1", rfcRefetch+"30")
		e.expectHits("stale", "/p", 2)
	})
	t.Run("Expires relative to the origin's Date", func(t *testing.T) {
		t.Parallel()
		// The origin's clock is an hour ahead: Expires - Date is 60s, not
		// Expires - now (3660s).
		e := rfcStart(t)
		e.o.Handle("/p", e.serveFunc("v1", false, func() []string {
			return []string{"Date", e.date(time.Hour), "Expires", e.date(time.Hour + time.Minute)}
		}))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"60")
		e.clk.Advance(59 * time.Second)
		rfcExpect(t, "hit at 59s", e.get("/p"), 200, "v1", rfcHit+"1")
		e.clk.Advance(2 * time.Second)
		e.get("/p")
		e.expectHits("stale at 61s", "/p", 2)
	})
	t.Run("invalid Expires is already expired", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Expires", "0"))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"0")
		rfcExpect(t, "next", e.get("/p"), 200, "v1", rfcRefetch+"0")
		e.expectHits("stale at once", "/p", 2)
	})
}

func TestRFCAge(t *testing.T) {
	t.Parallel()
	t.Run("Age on every hit", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "max-age=100"))
		e.get("/p")
		age := 0
		for _, step := range []int{0, 7, 3, 80} {
			e.clk.Advance(time.Duration(step) * time.Second)
			age += step
			r := e.get("/p")
			rfcExpect(t, fmt.Sprintf("hit at %ds", age), r, 200, "v1", rfcHit+strconv.Itoa(100-age))
			rfcExpectAge(t, fmt.Sprintf("hit at %ds", age), r, age)
		}
		// After a refetch the age starts again from the new response.
		e.clk.Advance(20 * time.Second)
		e.get("/p")
		e.clk.Advance(4 * time.Second)
		r := e.get("/p")
		rfcExpect(t, "hit after refetch", r, 200, "v1", rfcHit+"96")
		rfcExpectAge(t, "hit after refetch", r, 4)
		e.expectHits("one refetch", "/p", 2)
	})
	t.Run("upstream Age honoured", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "max-age=300", "Age", "100"))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"200")
		r := e.get("/p")
		rfcExpect(t, "hit", r, 200, "v1", rfcHit+"200")
		rfcExpectAge(t, "hit", r, 100)
		e.clk.Advance(150 * time.Second)
		r = e.get("/p")
		rfcExpect(t, "hit at 150s", r, 200, "v1", rfcHit+"50")
		rfcExpectAge(t, "hit at 150s", r, 250)
		e.expectHits("fresh", "/p", 1)
		e.clk.Advance(51 * time.Second) // age 301
		e.get("/p")
		e.expectHits("stale", "/p", 2)
	})
}

func TestRFCHeuristicFreshness(t *testing.T) {
	t.Parallel()
	lastModified := func(e *rfcEnv, cc string, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", e.date(0))
			w.Header().Set("Last-Modified", e.date(-10*time.Hour))
			if cc != "" {
				w.Header().Set("Cache-Control", cc)
			}
			w.WriteHeader(status)
			io.WriteString(w, "v1")
		}
	}
	t.Run("Last-Modified 200 stored", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", lastModified(e, "", 200))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"3600")
		e.clk.Advance(3599 * time.Second)
		rfcExpect(t, "hit", e.get("/p"), 200, "v1", rfcHit+"1")
		e.expectHits("fresh", "/p", 1)
		e.clk.Advance(2 * time.Second)
		e.get("/p")
		e.expectHits("stale", "/p", 2)
	})
	t.Run("heuristic_max caps", func(t *testing.T) {
		t.Parallel()
		e := rfcStartCache(t, []string{"  heuristic_max: 30m"})
		e.o.Handle("/p", lastModified(e, "", 200))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"1800")
	})
	t.Run("heuristic_max 0 disables", func(t *testing.T) {
		t.Parallel()
		e := rfcStartCache(t, []string{"  heuristic_max: 0s"})
		e.o.Handle("/p", lastModified(e, "", 200))
		e.expectNotStored("/p")
	})
	t.Run("Last-Modified 201 not stored", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", lastModified(e, "", 201))
		r1 := e.get("/p")
		r2 := e.get("/p")
		for _, r := range []*edgetest.Response{r1, r2} {
			rfcExpect(t, "201", r, 201, "v1", "edge-test; fwd=uri-miss; fwd-status=201")
		}
		e.expectHits("201", "/p", 2)
	})
	t.Run("Last-Modified public 201 stored", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", lastModified(e, "public", 201))
		rfcExpect(t, "miss", e.get("/p"), 201, "v1", "edge-test; fwd=uri-miss; fwd-status=201; stored; ttl=3600")
		rfcExpect(t, "hit", e.get("/p"), 201, "v1", rfcHit+"3600")
		e.expectHits("public 201", "/p", 1)
	})
}

func TestRFCNoFreshnessInformation(t *testing.T) {
	t.Parallel()
	t.Run("not stored", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "ETag", `"a"`))
		rfcExpect(t, "first", e.get("/p"), 200, "v1", "edge-test; fwd=uri-miss; fwd-status=200")
		// Not a hit-for-pass either: the next request is a plain miss.
		rfcExpect(t, "second", e.get("/p"), 200, "v1", "edge-test; fwd=uri-miss; fwd-status=200")
		e.expectHits("two requests", "/p", 2)
	})
	t.Run("public alone not stored", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "public"))
		e.expectNotStored("/p")
	})
	t.Run("default_ttl stores", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t, "    default_ttl: 1m")
		e.o.Handle("/p", e.serve("v1"))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"60")
		e.clk.Advance(59 * time.Second)
		rfcExpect(t, "hit", e.get("/p"), 200, "v1", rfcHit+"1")
		e.expectHits("fresh", "/p", 1)
		e.clk.Advance(2 * time.Second)
		rfcExpect(t, "stale", e.get("/p"), 200, "v1", rfcRefetch+"60")
		e.expectHits("stale", "/p", 2)
	})
	t.Run("default_ttl does not override max-age", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t, "    default_ttl: 1h")
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "max-age=5"))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"5")
	})
}

func TestRFCNotStored(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		kv   []string
	}{
		{"no-store", []string{"Cache-Control", "no-store, max-age=60"}},
		{"private", []string{"Cache-Control", "private, max-age=60"}},
		{"Set-Cookie", []string{"Cache-Control", "public, max-age=60", "Set-Cookie", "id=1"}},
		{"Vary star", []string{"Cache-Control", "public, max-age=60", "Vary", "*"}},
		{"Vary list with star", []string{"Cache-Control", "public, max-age=60", "Vary", "X-Device, *"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := rfcStart(t)
			e.o.Handle("/p", e.serve("v1", tt.kv...))
			rfcExpect(t, "first", e.get("/p"), 200, "v1", "edge-test; fwd=uri-miss; fwd-status=200")
			// Later requests are forwarded at once (hit-for-pass), never
			// answered from the cache.
			for i := 2; i <= 3; i++ {
				r := e.get("/p")
				rfcExpect(t, fmt.Sprintf("request %d", i), r, 200, "v1", "edge-test; fwd=bypass; fwd-status=200; detail=hit-for-pass")
				if tt.name == "Set-Cookie" && r.Header.Get("Set-Cookie") != "id=1" {
					t.Errorf("request %d: Set-Cookie %q not passed to the client", i, r.Header.Get("Set-Cookie"))
				}
				e.clk.Advance(time.Second)
			}
			e.expectHits("three requests", "/p", 3)
		})
	}
	t.Run("request no-store", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "public, max-age=60"))
		rfcExpect(t, "no-store request", e.get("/p", "Cache-Control: no-store"), 200, "v1", "edge-test; fwd=uri-miss; fwd-status=200")
		// Not stored, and not a reason to pass the URL either.
		rfcExpect(t, "next", e.get("/p"), 200, "v1", rfcMiss+"60")
		rfcExpect(t, "then", e.get("/p"), 200, "v1", rfcHit+"60")
		e.expectHits("two requests", "/p", 2)
	})
}

func TestRFCResponseNoCache(t *testing.T) {
	t.Parallel()
	t.Run("every use validated", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "no-cache, max-age=600", "ETag", `"a"`))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"600")
		for i := range 3 {
			e.clk.Advance(time.Second) // still fresh: no-cache alone forces validation
			rfcExpect(t, fmt.Sprintf("use %d", i+1), e.get("/p"), 200, "v1", rfcRefetch+"600")
		}
		e.expectHits("every use validated", "/p", 4)
		e.expectConditional("/p", 3, `"a"`)
		// Even a client that accepts stale responses gets a validated one.
		e.get("/p", "Cache-Control: max-stale")
		e.expectHits("max-stale", "/p", 5)
	})
	t.Run("304 keeps the body", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serveValidating("v1", "Cache-Control", "no-cache, max-age=600", "ETag", `"a"`))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"600")
		for i := range 3 {
			e.clk.Advance(time.Second)
			r := e.get("/p")
			rfcExpect(t, fmt.Sprintf("use %d", i+1), r, 200, "v1", rfcReval+"600")
			rfcExpectAge(t, fmt.Sprintf("use %d", i+1), r, 0)
		}
		e.expectHits("every use validated", "/p", 4)
		e.expectConditional("/p", 3, `"a"`)
	})
}

func TestRFCRevalidation304(t *testing.T) {
	t.Parallel()
	e := rfcStart(t)
	e.o.Handle("/p", e.serveValidating("v1", "Cache-Control", "max-age=10", "ETag", `"a"`))
	rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"10")
	e.clk.Advance(20 * time.Second)
	r := e.get("/p")
	rfcExpect(t, "revalidated", r, 200, "v1", rfcReval+"10")
	rfcExpectAge(t, "revalidated", r, 0)
	e.expectConditional("/p", 1, `"a"`)
	e.clk.Advance(5 * time.Second)
	rfcExpect(t, "hit after 304", e.get("/p"), 200, "v1", rfcHit+"5")
	e.expectHits("one revalidation", "/p", 2)
}

func TestRFCNeverStale(t *testing.T) {
	t.Parallel()
	for _, cc := range []string{
		"max-age=10, must-revalidate",
		"max-age=10, proxy-revalidate",
		"s-maxage=10",
		"max-age=10, must-revalidate, stale-if-error=3600, stale-while-revalidate=3600",
	} {
		t.Run(cc, func(t *testing.T) {
			t.Parallel()
			e := rfcStart(t) // the site's stale_if_error (1h) is in force
			e.o.Handle("/p", e.serve("v1", "Cache-Control", cc, "ETag", `"a"`))
			rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"10")
			e.clk.Advance(30 * time.Second)

			// Not served stale while the origin answers.
			r := e.get("/p")
			rfcExpect(t, "stale", r, 200, "v1", rfcRefetch+"10")
			e.expectHits("stale", "/p", 2)
			e.clk.Advance(30 * time.Second)

			// Origin answers 503: that answer, not the stale copy.
			e.o.Handle("/p", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "busy")
			})
			r = e.get("/p")
			if r.Status != 503 || string(r.Body) != "busy" {
				t.Errorf("origin 503: got %d %q Cache-Status %q, want the origin's 503", r.Status, r.Body, r.CacheStatus())
			}
			// A client's max-stale or stale-if-error does not help either.
			r = e.get("/p", "Cache-Control: max-stale, stale-if-error=3600")
			if r.Status != 503 || string(r.Body) != "busy" {
				t.Errorf("origin 503, max-stale: got %d %q, want the origin's 503", r.Status, r.Body)
			}

			// Origin unreachable: an error, never the stale copy.
			e.o.SetDown(true)
			r = e.get("/p")
			if r.Status < 500 || string(r.Body) == "v1" || strings.Contains(r.CacheStatus(), "stale-if-error") {
				t.Fatalf("origin down: %d %q Cache-Status %q, want an error", r.Status, r.Body, r.CacheStatus())
			}
			t.Run("origin down answers 504", func(t *testing.T) {
				r := e.get("/p")
				if r.Status != http.StatusGatewayTimeout {
					t.Errorf("origin down: %d Cache-Status %q, want 504", r.Status, r.CacheStatus())
				}
			})
		})
	}
}

func TestRFCAuthorization(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cc     string
		stored bool
	}{
		{"max-age=60", false},
		{"max-age=60, proxy-revalidate", false},
		{"public, max-age=60", true},
		{"s-maxage=60", true},
		{"must-revalidate, max-age=60", true},
	} {
		t.Run(tt.cc, func(t *testing.T) {
			t.Parallel()
			e := rfcStart(t)
			e.o.Handle("/p", e.serve("v1", "Cache-Control", tt.cc))
			r1 := e.get("/p", "Authorization: Bearer secret")
			if got := e.o.Last("/p").Header.Get("Authorization"); got != "Bearer secret" {
				t.Errorf("origin got Authorization %q", got)
			}
			r2 := e.get("/p")
			if tt.stored {
				rfcExpect(t, "with Authorization", r1, 200, "v1", rfcMiss+"60")
				rfcExpect(t, "without", r2, 200, "v1", rfcHit+"60")
				e.expectHits("stored", "/p", 1)
				return
			}
			rfcExpect(t, "with Authorization", r1, 200, "v1", "edge-test; fwd=uri-miss; fwd-status=200")
			rfcExpect(t, "without", r2, 200, "v1", rfcMiss+"60")
			e.expectHits("not stored", "/p", 2)
		})
	}
}

func TestRFCRequestDirectives(t *testing.T) {
	t.Parallel()
	// start stores /p (max-age=100, ETag "a").
	start := func(t *testing.T) *rfcEnv {
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "max-age=100", "ETag", `"a"`))
		rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"100")
		return e
	}
	t.Run("max-age=0", func(t *testing.T) {
		t.Parallel()
		e := start(t)
		e.clk.Advance(time.Second)
		rfcExpect(t, "max-age=0", e.get("/p", "Cache-Control: max-age=0"), 200, "v1", rfcForced+"100")
		e.expectHits("forced", "/p", 2)
		e.expectConditional("/p", 1, `"a"`)
		// The refreshed entry serves the next plain request.
		rfcExpect(t, "after", e.get("/p"), 200, "v1", rfcHit+"100")
		e.expectHits("after", "/p", 2)
	})
	t.Run("max-age older than entry", func(t *testing.T) {
		t.Parallel()
		e := start(t)
		e.clk.Advance(20 * time.Second)
		rfcExpect(t, "max-age=30", e.get("/p", "Cache-Control: max-age=30"), 200, "v1", rfcHit+"80")
		rfcExpect(t, "max-age=19", e.get("/p", "Cache-Control: max-age=19"), 200, "v1", rfcForced+"100")
		e.expectHits("one forced", "/p", 2)
	})
	t.Run("max-stale without value", func(t *testing.T) {
		t.Parallel()
		e := start(t)
		e.clk.Advance(1000 * time.Second)
		r := e.get("/p", "Cache-Control: max-stale")
		rfcExpect(t, "max-stale", r, 200, "v1", rfcHit+"-900")
		rfcExpectAge(t, "max-stale", r, 1000)
		e.expectHits("served stale", "/p", 1)
		rfcExpect(t, "without max-stale", e.get("/p"), 200, "v1", rfcRefetch+"100")
		e.expectHits("without max-stale", "/p", 2)
	})
	t.Run("max-stale with value", func(t *testing.T) {
		t.Parallel()
		e := start(t)
		e.clk.Advance(120 * time.Second) // 20s stale
		rfcExpect(t, "max-stale=30", e.get("/p", "Cache-Control: max-stale=30"), 200, "v1", rfcHit+"-20")
		rfcExpect(t, "max-stale=20", e.get("/p", "Cache-Control: max-stale=20"), 200, "v1", rfcHit+"-20")
		e.expectHits("within max-stale", "/p", 1)
		rfcExpect(t, "max-stale=10", e.get("/p", "Cache-Control: max-stale=10"), 200, "v1", rfcRefetch+"100")
		e.expectHits("beyond max-stale", "/p", 2)
		e.expectConditional("/p", 1, `"a"`)
	})
	t.Run("min-fresh", func(t *testing.T) {
		t.Parallel()
		e := start(t)
		e.clk.Advance(50 * time.Second)
		rfcExpect(t, "min-fresh=40", e.get("/p", "Cache-Control: min-fresh=40"), 200, "v1", rfcHit+"50")
		e.expectHits("met", "/p", 1)
		rfcExpect(t, "min-fresh=60", e.get("/p", "Cache-Control: min-fresh=60"), 200, "v1", rfcForced+"100")
		e.expectHits("unmet", "/p", 2)
		e.expectConditional("/p", 1, `"a"`)
	})
	t.Run("no-cache", func(t *testing.T) {
		t.Parallel()
		e := start(t)
		rfcExpect(t, "no-cache", e.get("/p", "Cache-Control: no-cache"), 200, "v1", rfcForced+"100")
		e.expectHits("forced", "/p", 2)
		e.expectConditional("/p", 1, `"a"`)
	})
	t.Run("only-if-cached", func(t *testing.T) {
		t.Parallel()
		e := rfcStart(t)
		e.o.Handle("/p", e.serve("v1", "Cache-Control", "max-age=100"))
		r := e.get("/p", "Cache-Control: only-if-cached")
		if r.Status != http.StatusGatewayTimeout || r.CacheStatus() != "edge-test; detail=only-if-cached" {
			t.Errorf("nothing stored: %d Cache-Status %q, want 504 detail=only-if-cached", r.Status, r.CacheStatus())
		}
		e.expectHits("nothing stored", "/p", 0)
		e.get("/p")
		e.clk.Advance(10 * time.Second)
		r = e.get("/p", "Cache-Control: only-if-cached")
		rfcExpect(t, "stored", r, 200, "v1", rfcHit+"90")
		rfcExpectAge(t, "stored", r, 10)
		e.clk.Advance(100 * time.Second)
		r = e.get("/p", "Cache-Control: only-if-cached")
		if r.Status != http.StatusGatewayTimeout {
			t.Errorf("stored but stale: %d %q, want 504", r.Status, r.Body)
		}
		rfcExpect(t, "stale with max-stale", e.get("/p", "Cache-Control: only-if-cached, max-stale"), 200, "v1", rfcHit+"-10")
		e.expectHits("only-if-cached never forwards", "/p", 1)
	})
}

func TestRFCCDNCacheControl(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, cc, cdn string
		stored        bool
		fresh         bool // still fresh after 50s
	}{
		{"CDN-Cache-Control longer", "max-age=10", "max-age=100", true, true},
		{"CDN-Cache-Control shorter", "max-age=100", "max-age=10", true, false},
		{"CDN-Cache-Control no-store", "public, max-age=100", "no-store", false, false},
		{"CDN-Cache-Control allows what Cache-Control forbids", "no-store, private", "max-age=100", true, true},
		{"invalid CDN-Cache-Control ignored (trailing comma)", "max-age=100", "max-age=10,", true, true},
		{"invalid CDN-Cache-Control ignored (upper case key)", "max-age=10", "Max-Age=100", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := rfcStart(t)
			e.o.Handle("/p", e.serve("v1", "Cache-Control", tt.cc, "CDN-Cache-Control", tt.cdn))
			r := e.get("/p")
			if strings.Contains(r.CacheStatus(), "; stored") != tt.stored {
				t.Errorf("miss: Cache-Status %q, stored want %v", r.CacheStatus(), tt.stored)
			}
			e.clk.Advance(50 * time.Second)
			r = e.get("/p")
			if tt.fresh {
				rfcExpect(t, "at 50s", r, 200, "v1", rfcHit+"50")
				e.expectHits("fresh", "/p", 1)
			} else {
				e.expectHits("not fresh", "/p", 2)
			}
		})
	}
}

func TestRFCHitForPass(t *testing.T) {
	t.Parallel()
	e := rfcStart(t)
	var slow atomic.Bool
	release := make(chan struct{})
	e.o.Handle("/p", func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
		w.Header().Set("Cache-Control", "private, max-age=60")
		io.WriteString(w, "mine")
	})
	rfcExpect(t, "first", e.get("/p"), 200, "mine", "edge-test; fwd=uri-miss; fwd-status=200")

	const clients = 6
	slow.Store(true)
	e.o.ResetPeak()
	var wg sync.WaitGroup
	results := make([]*edgetest.Response, clients)
	errs := make([]error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.rawGet("/p")
		}()
	}
	// With hit-for-pass every request goes to the origin at once; were
	// they queued behind one fetch, the peak would stay at 1 until the
	// release.
	deadline := time.Now().Add(5 * time.Second)
	for e.o.PeakInflight() < clients && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	peak := e.o.PeakInflight()
	close(release)
	wg.Wait()
	if peak < clients {
		t.Errorf("origin peak concurrency %d with %d concurrent clients, want %d (an uncacheable answer serialised later requests)", peak, clients, clients)
	}
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		rfcExpect(t, fmt.Sprintf("client %d", i), results[i], 200, "mine", "edge-test; fwd=bypass; fwd-status=200; detail=hit-for-pass")
	}
	e.expectHits("all forwarded", "/p", 1+clients)
}

func TestRFCStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	e := rfcStart(t)
	var version atomic.Int32
	version.Store(1)
	var gate atomic.Pointer[chan struct{}]
	e.o.Handle("/p", func(w http.ResponseWriter, r *http.Request) {
		if g := gate.Load(); g != nil {
			select {
			case <-*g:
			case <-time.After(20 * time.Second):
			}
		}
		v := version.Load()
		w.Header().Set("Date", e.date(0))
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, v))
		fmt.Fprintf(w, "v%d", v)
	})
	rfcExpect(t, "miss", e.get("/p"), 200, "v1", rfcMiss+"10")
	e.clk.Advance(20 * time.Second) // 10s stale, inside the 60s window
	version.Store(2)
	release := make(chan struct{})
	gate.Store(&release)

	const clients = 8
	var wg sync.WaitGroup
	results := make([]*edgetest.Response, clients)
	errs := make([]error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.rawGet("/p")
		}()
	}
	// Every client gets the stale copy while the refresh is held at the
	// origin.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(release)
		<-done
		t.Fatal("clients waited for the origin instead of getting the stale copy")
	}
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		rfcExpect(t, fmt.Sprintf("client %d", i), results[i], 200, "v1", rfcHit+"-10")
		rfcExpectAge(t, fmt.Sprintf("client %d", i), results[i], 20)
	}
	// Exactly one background refresh reaches the origin, conditional on
	// the stored validator.
	deadline := time.Now().Add(5 * time.Second)
	for e.o.Hits("/p") < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if inm := e.o.Last("/p").Header.Get("If-None-Match"); inm != `"v1"` {
		t.Errorf("background refresh If-None-Match %q, want %q", inm, `"v1"`)
	}
	gate.Store(nil)
	close(release)
	deadline = time.Now().Add(5 * time.Second)
	for e.n.Store().InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	e.settle()
	e.expectHits("one background refresh", "/p", 2)
	// The refreshed copy is served, fresh.
	rfcExpect(t, "after refresh", e.get("/p"), 200, "v2", rfcHit+"10")
	e.expectHits("after refresh", "/p", 2)
	// Past the window, the stale copy is not served: the request waits
	// for the origin.
	e.clk.Advance(71 * time.Second)
	version.Store(3)
	rfcExpect(t, "past the window", e.get("/p"), 200, "v3", rfcRefetch+"10")
	e.expectHits("past the window", "/p", 3)
}

func TestRFCStaleIfError(t *testing.T) {
	t.Parallel()
	fail503 := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "busy")
	}
	for _, tt := range []struct {
		name  string
		site  []string
		cc    string
		stale time.Duration // how long past expiry
		ok    bool          // stale may be served
	}{
		{"response window", nil, "max-age=10, stale-if-error=60", 20 * time.Second, true},
		{"past response window", nil, "max-age=10, stale-if-error=60", 61 * time.Second, false},
		{"response window beats site default", nil, "max-age=10, stale-if-error=15", 20 * time.Second, false},
		{"response window beats site disabled", []string{"    stale_if_error: 0s"}, "max-age=10, stale-if-error=60", 20 * time.Second, true},
		{"site default", nil, "max-age=10", 20 * time.Second, true},
		{"site default expires", []string{"    stale_if_error: 15s"}, "max-age=10", 20 * time.Second, false},
		{"site disabled", []string{"    stale_if_error: 0s"}, "max-age=10", 20 * time.Second, false},
		{"no-cache forbids", nil, "no-cache, max-age=10, stale-if-error=60", 20 * time.Second, false},
	} {
		for _, mode := range []string{"503", "down"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				e := rfcStart(t, tt.site...)
				e.o.Handle("/p", e.serve("v1", "Cache-Control", tt.cc, "ETag", `"a"`))
				e.get("/p")
				e.clk.Advance(10*time.Second + tt.stale)
				if mode == "503" {
					e.o.Handle("/p", fail503)
				} else {
					e.o.SetDown(true)
				}
				r := e.get("/p")
				if tt.ok {
					want := "edge-test; fwd=stale; fwd-status=503; ttl=-20; detail=stale-if-error"
					if mode == "down" {
						want = "edge-test; fwd=stale; ttl=-20; detail=stale-if-error"
					}
					rfcExpect(t, "stale on error", r, 200, "v1", want)
					rfcExpectAge(t, "stale on error", r, 30)
					if e.o.Hits("/p") < 2 {
						t.Errorf("stale served without asking the origin")
					}
					return
				}
				if string(r.Body) == "v1" || strings.Contains(r.CacheStatus(), "stale-if-error") {
					t.Fatalf("served stale outside its window: %d %q Cache-Status %q", r.Status, r.Body, r.CacheStatus())
				}
				if mode == "503" && (r.Status != 503 || string(r.Body) != "busy") {
					t.Errorf("origin 503: got %d %q, want the origin's 503", r.Status, r.Body)
				}
				if mode == "down" && r.Status != 502 && r.Status != 504 {
					t.Errorf("origin down: got %d, want 502 or 504", r.Status)
				}
			})
		}
	}
}
