package edge_test

// End-to-end checks of the node against RFC 9110 and RFC 9111: validation
// of stored responses with the origin, conditional requests answered from
// the cache, HEAD, Range and invalidation by unsafe methods. Helpers used
// by compress_test.go, vary_test.go and hostile_test.go live here too
// (prefixed rv to stay clear of other files' helpers).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// ---- helpers shared by the edge_test files of this suite ----

// rvSettle waits until every fill has finished and ristretto shows the
// stored entries, so that the next request is a plain lookup (not a join
// of a just-finished fill). Bounded: fails the test after 10s.
func rvSettle(t testing.TB, n *edgetest.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n.Store().Wait()
		if n.Store().InFlight() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fills still registered after 10s: %d", n.Store().InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rvBinary returns n bytes that do not compress (and are easy to slice).
func rvBinary(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// rvDecode decodes a body by its Content-Encoding ("" is identity).
func rvDecode(t testing.TB, encoding string, b []byte) []byte {
	t.Helper()
	switch encoding {
	case "", "identity":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		return out
	case "br":
		out, err := io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("br body: %v", err)
		}
		return out
	case "zstd":
		d, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(b, nil)
		if err != nil {
			t.Fatalf("zstd body: %v", err)
		}
		return out
	}
	t.Fatalf("unexpected Content-Encoding %q", encoding)
	return nil
}

// rvGzip compresses b.
func rvGzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// rvHTTPDate formats t for Date, Last-Modified and If-Modified-Since.
func rvHTTPDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// rvTTL extracts the ttl parameter of a Cache-Status member.
func rvTTL(t testing.TB, cs string) int {
	t.Helper()
	for _, p := range strings.Split(cs, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "ttl="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("Cache-Status %q: bad ttl", cs)
			}
			return n
		}
	}
	t.Fatalf("Cache-Status %q has no ttl", cs)
	return 0
}

// rvHasVary reports whether a Vary value lists name.
func rvHasVary(h http.Header, name string) bool {
	for _, v := range h.Values("Vary") {
		for _, n := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(n), name) {
				return true
			}
		}
	}
	return false
}

// rvVaryCount counts how often name is listed in Vary.
func rvVaryCount(h http.Header, name string) int {
	c := 0
	for _, v := range h.Values("Vary") {
		for _, n := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(n), name) {
				c++
			}
		}
	}
	return c
}

// rvAddr is the node's HTTP host:port.
func rvAddr(n *edgetest.Node) string { return strings.TrimPrefix(n.URL, "http://") }

// rvRaw sends raw bytes on a new TCP connection and reads one response
// for method (its body read in full). rest is whatever the server sent
// after that response until it closed the connection or 2s passed.
func rvRaw(t testing.TB, n *edgetest.Node, method, raw string) (resp *http.Response, body, rest []byte) {
	t.Helper()
	c, err := net.Dial("tcp", rvAddr(n))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := io.WriteString(c, raw); werr <- err }()
	br := bufio.NewReader(c)
	resp, err = http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response to %q: %v", rvShort(raw), err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of response to %q: %v", rvShort(raw), err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	rest, _ = io.ReadAll(br)
	<-werr // the write may fail once the server closes; that is fine
	return resp, body, rest
}

func rvShort(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// rvConfig is edgetest.SiteConfig with a small cache (64 MiB): a node
// with the default 1 GiB cache takes far longer to start under -race.
func rvConfig(origin string, siteExtra ...string) string {
	return rvConfigWith("cache:\n  max_memory: 64MiB\n", origin, siteExtra...)
}

// rvConfigWith is rvConfig with top-level sections of the caller's
// (which must include a cache section).
func rvConfigWith(sections, origin string, siteExtra ...string) string {
	return sections + edgetest.SiteConfig(origin, siteExtra...)
}

// rvStart starts a node on the given site lines with the fake clock.
func rvStart(t testing.TB, o *origintest.Server, clk *edgetest.Clock, extra ...string) *edgetest.Node {
	t.Helper()
	return edgetest.Start(t, rvConfig(o.URL, extra...), edge.WithClock(clk.Now))
}

// ---- revalidation with the origin (RFC 9111 4.3) ----

func TestRevalidationWithETagAndLastModified(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	body := rvBinary(3000)
	lastMod := rvHTTPDate(clk.Now().Add(-24 * time.Hour))
	o.Handle("/r", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			w.Header().Set("ETag", `"r1"`)
			w.Header().Set("Cache-Control", "max-age=300")
			w.Header().Set("X-Revalidated", "yes")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"r1"`)
		w.Header().Set("Last-Modified", lastMod)
		w.Header().Set("Cache-Control", "max-age=10")
		w.Write(body)
	})
	n := rvStart(t, o, clk)

	r1 := n.Get(t, "/r")
	if r1.Status != 200 || !bytes.Equal(r1.Body, body) {
		t.Fatalf("miss: %d, %d bytes", r1.Status, len(r1.Body))
	}
	if cs := r1.CacheStatus(); !strings.Contains(cs, "fwd=uri-miss") || !strings.Contains(cs, "stored") {
		t.Errorf("miss Cache-Status %q", cs)
	}
	rvSettle(t, n)

	clk.Advance(20 * time.Second) // past max-age=10
	r2 := n.Get(t, "/r")
	if r2.Status != 200 || !bytes.Equal(r2.Body, body) {
		t.Fatalf("revalidated: %d, %d bytes (want the stored body)", r2.Status, len(r2.Body))
	}
	if got := o.Hits("/r"); got != 2 {
		t.Fatalf("origin saw %d requests, want 2", got)
	}
	last := o.Last("/r")
	if got := last.Header.Get("If-None-Match"); got != `"r1"` {
		t.Errorf("revalidation If-None-Match = %q, want %q", got, `"r1"`)
	}
	if got := last.Header.Get("If-Modified-Since"); got != lastMod {
		t.Errorf("revalidation If-Modified-Since = %q, want %q", got, lastMod)
	}
	cs := r2.CacheStatus()
	if want := "edge-test; fwd=stale; fwd-status=304; stored; ttl="; !strings.HasPrefix(cs, want) {
		t.Errorf("revalidated Cache-Status %q, want prefix %q", cs, want)
	}
	// The 304's max-age=300 replaced max-age=10.
	if ttl := rvTTL(t, cs); ttl < 290 || ttl > 300 {
		t.Errorf("ttl after 304 = %d, want about 300 (the 304's max-age)", ttl)
	}
	if got := r2.Header.Get("X-Revalidated"); got != "yes" {
		t.Errorf("field added by the 304 missing on the answer: X-Revalidated=%q", got)
	}
	rvSettle(t, n)

	// 100s later the old lifetime (10s) is long gone, the new one (300s)
	// is not: a hit carrying the updated fields, same body.
	clk.Advance(100 * time.Second)
	r3 := n.Get(t, "/r")
	if r3.Status != 200 || !bytes.Equal(r3.Body, body) {
		t.Fatalf("hit after 304: %d, %d bytes", r3.Status, len(r3.Body))
	}
	if cs := r3.CacheStatus(); !strings.HasPrefix(cs, "edge-test; hit; ttl=") {
		t.Errorf("hit after 304: Cache-Status %q", cs)
	}
	if got := r3.Header.Get("Cache-Control"); got != "max-age=300" {
		t.Errorf("Cache-Control after 304 = %q, want max-age=300", got)
	}
	if got := r3.Header.Get("X-Revalidated"); got != "yes" {
		t.Errorf("X-Revalidated after 304 = %q, want yes", got)
	}
	if got := r3.Header.Get("Last-Modified"); got != lastMod {
		t.Errorf("Last-Modified after 304 = %q, want %q", got, lastMod)
	}
	if got := o.Hits("/r"); got != 2 {
		t.Errorf("origin saw %d requests, want 2", got)
	}
}

func TestRevalidationLastModifiedOnly(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	body := rvBinary(1000)
	lastMod := rvHTTPDate(clk.Now().Add(-time.Hour))
	o.Handle("/lm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		w.Header().Set("Cache-Control", "max-age=10")
		if ims := r.Header.Get("If-Modified-Since"); ims == lastMod {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Last-Modified", lastMod)
		w.Write(body)
	})
	n := rvStart(t, o, clk)
	n.Get(t, "/lm")
	rvSettle(t, n)
	clk.Advance(30 * time.Second)
	r := n.Get(t, "/lm")
	if r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Fatalf("revalidated: %d, %d bytes", r.Status, len(r.Body))
	}
	last := o.Last("/lm")
	if got := last.Header.Get("If-Modified-Since"); got != lastMod {
		t.Errorf("If-Modified-Since = %q, want %q", got, lastMod)
	}
	if _, ok := last.Header["If-None-Match"]; ok {
		t.Errorf("If-None-Match %q sent for an entry without ETag", last.Header.Get("If-None-Match"))
	}
	if cs := r.CacheStatus(); !strings.Contains(cs, "fwd=stale; fwd-status=304") {
		t.Errorf("Cache-Status %q", cs)
	}
}

func TestRevalidationNoCacheResponse(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	body := rvBinary(800)
	o.Handle("/nc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		w.Header().Set("Cache-Control", "no-cache, max-age=600")
		w.Header().Set("ETag", `"nc"`)
		if r.Header.Get("If-None-Match") == `"nc"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	n := rvStart(t, o, clk)
	n.Get(t, "/nc")
	rvSettle(t, n)
	// Fresh, but no-cache: every use is validated first.
	for i := range 2 {
		r := n.Get(t, "/nc")
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("use %d: %d, %d bytes", i, r.Status, len(r.Body))
		}
		if cs := r.CacheStatus(); !strings.Contains(cs, "fwd=stale; fwd-status=304; stored") {
			t.Errorf("use %d: Cache-Status %q", i, cs)
		}
		if got := o.Last("/nc").Header.Get("If-None-Match"); got != `"nc"` {
			t.Errorf("use %d: If-None-Match %q", i, got)
		}
		rvSettle(t, n)
	}
	if got := o.Hits("/nc"); got != 3 {
		t.Errorf("origin saw %d requests, want 3 (fill + 2 validations)", got)
	}
}

func TestRevalidationForcedByRequestNoCache(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	body := rvBinary(800)
	o.Handle("/f", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"f"`)
		if r.Header.Get("If-None-Match") == `"f"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	n := rvStart(t, o, clk)
	n.Get(t, "/f")
	rvSettle(t, n)
	r := n.Get(t, "/f", "Cache-Control: no-cache")
	if r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Fatalf("%d, %d bytes", r.Status, len(r.Body))
	}
	if cs := r.CacheStatus(); !strings.Contains(cs, "fwd=request; fwd-status=304") {
		t.Errorf("Cache-Status %q, want fwd=request; fwd-status=304", cs)
	}
	if got := o.Last("/f").Header.Get("If-None-Match"); got != `"f"` {
		t.Errorf("If-None-Match %q", got)
	}
}

// A 304 whose validator does not match the stored one does not validate
// it (RFC 9111 4.3.4): the node must fetch the whole response.
func TestRevalidationMismatched304RefetchesInFull(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	v1, v2 := rvBinary(700), bytes.Repeat([]byte("v2"), 400)
	var mu sync.Mutex
	var conditional, unconditional int
	o.Handle("/m", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		w.Header().Set("Cache-Control", "max-age=10")
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") != "" {
			conditional++
			w.Header().Set("ETag", `"other"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		unconditional++
		w.Header().Set("Content-Type", "application/octet-stream")
		if unconditional == 1 {
			w.Header().Set("ETag", `"m1"`)
			w.Write(v1)
			return
		}
		w.Header().Set("ETag", `"m2"`)
		w.Write(v2)
	})
	n := rvStart(t, o, clk)
	if r := n.Get(t, "/m"); !bytes.Equal(r.Body, v1) {
		t.Fatal("first body")
	}
	rvSettle(t, n)
	clk.Advance(time.Minute)
	r := n.Get(t, "/m")
	if r.Status != 200 || !bytes.Equal(r.Body, v2) {
		t.Fatalf("after a mismatched 304: %d, %d bytes, want the new body", r.Status, len(r.Body))
	}
	if got := r.Header.Get("Etag"); got != `"m2"` {
		t.Errorf("ETag %q, want \"m2\"", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if conditional != 1 || unconditional != 2 {
		t.Errorf("origin: %d conditional, %d unconditional requests; want 1 and 2", conditional, unconditional)
	}
}

func TestRevalidationNewContent(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	v1, v2 := rvBinary(700), bytes.Repeat([]byte("new!"), 300)
	var mu sync.Mutex
	calls := 0
	o.Handle("/n", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("Content-Type", "application/octet-stream")
		if c == 1 {
			w.Header().Set("ETag", `"n1"`)
			w.Write(v1)
			return
		}
		w.Header().Set("ETag", `"n2"`)
		w.Write(v2)
	})
	n := rvStart(t, o, clk)
	n.Get(t, "/n")
	rvSettle(t, n)
	clk.Advance(time.Minute)
	r := n.Get(t, "/n")
	if r.Status != 200 || !bytes.Equal(r.Body, v2) {
		t.Fatalf("%d, %d bytes: want the new body", r.Status, len(r.Body))
	}
	if cs := r.CacheStatus(); !strings.Contains(cs, "fwd=stale; fwd-status=200; stored") {
		t.Errorf("Cache-Status %q", cs)
	}
	rvSettle(t, n)
	r = n.Get(t, "/n")
	if !bytes.Equal(r.Body, v2) || !strings.Contains(r.CacheStatus(), "hit") {
		t.Errorf("after replacement: %q, %d bytes", r.CacheStatus(), len(r.Body))
	}
	if got := o.Hits("/n"); got != 2 {
		t.Errorf("origin saw %d requests, want 2", got)
	}
}

// Concurrent requests for a stale entry share one conditional request.
func TestRevalidationCollapsed(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	body := rvBinary(5000)
	release := make(chan struct{})
	var conditional atomic.Int64
	o.Handle("/cr", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"cr"`)
		if r.Header.Get("If-None-Match") == `"cr"` {
			conditional.Add(1)
			<-release
			w.Header().Set("Date", rvHTTPDate(clk.Now()))
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	n := rvStart(t, o, clk)
	n.Get(t, "/cr")
	rvSettle(t, n)
	clk.Advance(time.Minute)
	const clients = 8
	var wg sync.WaitGroup
	res := make([]*edgetest.Response, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = n.Get(t, "/cr")
		}()
	}
	rvPoll(t, func() bool {
		return conditional.Load() >= 1 && n.Metric(t, "edge_cache_collapsed_total") >= clients-1
	})
	close(release)
	wg.Wait()
	collapsed := 0
	for i, r := range res {
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("client %d: %d, %d bytes", i, r.Status, len(r.Body))
		}
		cs := r.CacheStatus()
		if !strings.Contains(cs, "fwd=stale; fwd-status=304") {
			t.Errorf("client %d: Cache-Status %q", i, cs)
		}
		if strings.Contains(cs, "collapsed") {
			collapsed++
		}
	}
	if collapsed != clients-1 {
		t.Errorf("%d answers say collapsed, want %d", collapsed, clients-1)
	}
	if got := o.Hits("/cr"); got != 2 {
		t.Errorf("origin saw %d requests, want 2 (fill + one validation)", got)
	}
}

// ---- conditional requests answered from the cache (RFC 9110 13) ----

func TestConditionalRequestsFromCache(t *testing.T) {
	clk := edgetest.NewClock(time.Now())
	o := origintest.New(t)
	body := rvBinary(2000)
	lm := clk.Now().Add(-48 * time.Hour).Truncate(time.Second)
	o.Handle("/c", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", rvHTTPDate(clk.Now()))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("ETag", `"c1"`)
		w.Header().Set("Last-Modified", rvHTTPDate(lm))
		w.Write(body)
	})
	n := rvStart(t, o, clk)
	if r := n.Get(t, "/c"); r.Status != 200 {
		t.Fatalf("fill: %d", r.Status)
	}
	rvSettle(t, n)

	tests := []struct {
		name   string
		fields []string
		want   int
	}{
		{"INM match", []string{`If-None-Match: "c1"`}, 304},
		{"INM weak match", []string{`If-None-Match: W/"c1"`}, 304},
		{"INM list", []string{`If-None-Match: "a", W/"b", "c1"`}, 304},
		{"INM list no space", []string{`If-None-Match: "a","c1"`}, 304},
		{"INM star", []string{`If-None-Match: *`}, 304},
		{"INM no match", []string{`If-None-Match: "c2"`}, 200},
		{"INM no match list", []string{`If-None-Match: "c", "c11", W/"c"`}, 200},
		{"IMS equal", []string{"If-Modified-Since: " + rvHTTPDate(lm)}, 304},
		{"IMS later", []string{"If-Modified-Since: " + rvHTTPDate(lm.Add(time.Hour))}, 304},
		{"IMS earlier", []string{"If-Modified-Since: " + rvHTTPDate(lm.Add(-time.Second))}, 200},
		{"IMS malformed", []string{"If-Modified-Since: yesterday"}, 200},
		{"INM no match wins over IMS", []string{`If-None-Match: "zz"`, "If-Modified-Since: " + rvHTTPDate(lm.Add(time.Hour))}, 200},
		{"INM match wins over IMS", []string{`If-None-Match: "c1"`, "If-Modified-Since: " + rvHTTPDate(lm.Add(-time.Hour))}, 304},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := n.Get(t, "/c", tc.fields...)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d", r.Status, tc.want)
			}
			if cs := r.CacheStatus(); !strings.HasPrefix(cs, "edge-test; hit") {
				t.Errorf("Cache-Status %q, want a hit", cs)
			}
			switch tc.want {
			case 304:
				if len(r.Body) != 0 {
					t.Errorf("304 with %d body bytes", len(r.Body))
				}
				if got := r.Header.Get("Etag"); got != `"c1"` {
					t.Errorf("304 ETag %q", got)
				}
				if got := r.Header.Get("Cache-Control"); got != "max-age=3600" {
					t.Errorf("304 Cache-Control %q", got)
				}
				if r.Header.Get("Date") == "" {
					t.Error("304 without Date")
				}
			case 200:
				if !bytes.Equal(r.Body, body) {
					t.Errorf("200 with %d bytes, want the whole body", len(r.Body))
				}
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		if r := n.Do(t, "HEAD", "/c", `If-None-Match: "c1"`); r.Status != 304 {
			t.Errorf("conditional HEAD: %d, want 304", r.Status)
		}
		if r := n.Do(t, "HEAD", "/c", `If-None-Match: "zz"`); r.Status != 200 || r.Header.Get("Content-Length") != "2000" {
			t.Errorf("HEAD: %d, Content-Length %q", r.Status, r.Header.Get("Content-Length"))
		}
	})
	if got := o.Hits("/c"); got != 1 {
		t.Errorf("conditional requests reached the origin: %d requests, want 1", got)
	}
}

// A conditional request on a compressed entry: the derived (gzip)
// encoding has a weak ETag, If-None-Match still matches (weak comparison).
func TestConditionalOnDerivedEncoding(t *testing.T) {
	o := origintest.New(t)
	body := text(5000)
	o.Handle("/t", serveText(body, "max-age=600")) // ETag "v1"
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/t", "Accept-Encoding: gzip")
	rvSettle(t, n)
	for _, inm := range []string{`W/"v1"`, `"v1"`} {
		r := n.Get(t, "/t", "Accept-Encoding: gzip", "If-None-Match: "+inm)
		if r.Status != 304 {
			t.Errorf("If-None-Match %s on gzip: %d, want 304", inm, r.Status)
		}
		if got := r.Header.Get("Etag"); got != `W/"v1"` {
			t.Errorf("If-None-Match %s: 304 ETag %q, want W/\"v1\"", inm, got)
		}
		if !rvHasVary(r.Header, "Accept-Encoding") {
			t.Errorf("304 without Vary: Accept-Encoding: %q", r.Header.Values("Vary"))
		}
	}
	if got := o.Hits("/t"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// ---- HEAD (RFC 9110 9.3.2) ----

func TestHeadMissFillsWithGet(t *testing.T) {
	o := origintest.New(t)
	body := rvBinary(3000)
	o.Handle("/h", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	})
	n := edgetest.Start(t, rvConfig(o.URL))

	r := n.Do(t, "HEAD", "/h")
	if r.Status != 200 {
		t.Fatalf("HEAD miss: %d", r.Status)
	}
	if len(r.Body) != 0 {
		t.Errorf("HEAD answer with %d body bytes", len(r.Body))
	}
	if got := r.Header.Get("Content-Length"); got != "3000" {
		t.Errorf("HEAD Content-Length %q, want 3000", got)
	}
	if got := o.Last("/h").Method; got != http.MethodGet {
		t.Errorf("origin saw %s for a HEAD miss, want GET (the fill stores the body)", got)
	}
	rvSettle(t, n)

	g := n.Get(t, "/h")
	if g.Status != 200 || !bytes.Equal(g.Body, body) {
		t.Fatalf("GET after HEAD: %d, %d bytes", g.Status, len(g.Body))
	}
	if cs := g.CacheStatus(); !strings.HasPrefix(cs, "edge-test; hit") {
		t.Errorf("GET after HEAD: Cache-Status %q, want a hit", cs)
	}

	h2 := n.Do(t, "HEAD", "/h")
	if h2.Status != 200 || len(h2.Body) != 0 || h2.Header.Get("Content-Length") != "3000" {
		t.Errorf("HEAD hit: %d, %d bytes, Content-Length %q", h2.Status, len(h2.Body), h2.Header.Get("Content-Length"))
	}
	if cs := h2.CacheStatus(); !strings.HasPrefix(cs, "edge-test; hit") {
		t.Errorf("HEAD hit: Cache-Status %q", cs)
	}
	if got := o.Hits("/h"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}

	// On the wire: a HEAD answer followed by a GET answer on one
	// connection. Had the HEAD answer carried a body, the second response
	// would not parse.
	c, err := net.Dial("tcp", rvAddr(n))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	host := rvAddr(n)
	fmt.Fprintf(c, "HEAD /h HTTP/1.1\r\nHost: %s\r\n\r\nGET /h HTTP/1.1\r\nHost: %s\r\n\r\n", host, host)
	br := bufio.NewReader(c)
	hr, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	gr, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("response after HEAD does not parse (HEAD sent a body?): %v", err)
	}
	gb, _ := io.ReadAll(gr.Body)
	if hr.StatusCode != 200 || gr.StatusCode != 200 || !bytes.Equal(gb, body) {
		t.Errorf("pipelined HEAD+GET: %d, %d with %d bytes", hr.StatusCode, gr.StatusCode, len(gb))
	}
	if got := o.Hits("/h"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// HEAD of a compressible object for a gzip client announces the length of
// the gzip body a GET would get.
func TestHeadCompressedLength(t *testing.T) {
	o := origintest.New(t)
	body := text(6000)
	o.Handle("/hc", rvServe(body, "text/plain; charset=utf-8", "max-age=600"))
	o.Handle("/hm", rvServe(body, "text/plain; charset=utf-8", "max-age=600"))
	n := edgetest.Start(t, rvConfig(o.URL))

	t.Run("hit", func(t *testing.T) {
		n.Get(t, "/hc")
		rvSettle(t, n)
		h := n.Do(t, "HEAD", "/hc", "Accept-Encoding: gzip")
		g := n.Get(t, "/hc", "Accept-Encoding: gzip")
		if h.Status != 200 || len(h.Body) != 0 {
			t.Fatalf("HEAD: %d, %d bytes", h.Status, len(h.Body))
		}
		if g.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("GET: Content-Encoding %q", g.Header.Get("Content-Encoding"))
		}
		if got, want := h.Header.Get("Content-Length"), strconv.Itoa(len(g.Body)); got != want {
			t.Errorf("HEAD Content-Length %s, GET body %s bytes", got, want)
		}
		if h.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("HEAD Content-Encoding %q, want gzip (as GET)", h.Header.Get("Content-Encoding"))
		}
		if !bytes.Equal(rvDecode(t, "gzip", g.Body), body) {
			t.Error("GET body differs")
		}
		if got := o.Hits("/hc"); got != 1 {
			t.Errorf("origin saw %d requests, want 1", got)
		}
	})
	t.Run("miss", func(t *testing.T) {
		h := n.Do(t, "HEAD", "/hm", "Accept-Encoding: gzip")
		if h.Status != 200 || len(h.Body) != 0 {
			t.Fatalf("HEAD: %d, %d bytes", h.Status, len(h.Body))
		}
		if got := o.Last("/hm").Method; got != "GET" {
			t.Errorf("origin saw %s, want GET", got)
		}
		rvSettle(t, n)
		g := n.Get(t, "/hm", "Accept-Encoding: gzip")
		if !strings.HasPrefix(g.CacheStatus(), "edge-test; hit") {
			t.Errorf("GET after HEAD: Cache-Status %q", g.CacheStatus())
		}
		if got, want := h.Header.Get("Content-Length"), strconv.Itoa(len(g.Body)); got != want {
			t.Errorf("HEAD Content-Length %s, GET body %s bytes", got, want)
		}
		if got, want := h.Header.Get("Content-Encoding"), g.Header.Get("Content-Encoding"); got != want {
			t.Errorf("HEAD Content-Encoding %q, GET %q", got, want)
		}
		if got := o.Hits("/hm"); got != 1 {
			t.Errorf("origin saw %d requests, want 1", got)
		}
	})
}

// rvServe answers with body, a Content-Length (so that the node knows the
// size up front), the given type and Cache-Control and ETag "e1".
func rvServe(body []byte, ctype, cacheControl string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

// ---- Range from a stored response (RFC 9110 14) ----

func rangeOrigin(t *testing.T, o *origintest.Server, path string, body []byte, lm time.Time) {
	o.Handle(path, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" || r.Header.Get("If-Range") != "" {
			t.Errorf("origin saw Range %q If-Range %q on a fill", r.Header.Get("Range"), r.Header.Get("If-Range"))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"g1"`)
		w.Header().Set("Last-Modified", rvHTTPDate(lm))
		w.Write(body)
	})
}

type rvPart struct {
	start, end int // inclusive
}

func TestRangeFromCache(t *testing.T) {
	o := origintest.New(t)
	body := rvBinary(10000)
	lm := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	rangeOrigin(t, o, "/g", body, lm)
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/g")
	rvSettle(t, n)

	tests := []struct {
		name  string
		rng   string
		want  int
		parts []rvPart // 206: the ranges sent
	}{
		// RFC 9110 14.1.2 examples, 10000-byte representation.
		{"first 500", "bytes=0-499", 206, []rvPart{{0, 499}}},
		{"second 500", "bytes=500-999", 206, []rvPart{{500, 999}}},
		{"final 500 suffix", "bytes=-500", 206, []rvPart{{9500, 9999}}},
		{"final 500 open", "bytes=9500-", 206, []rvPart{{9500, 9999}}},
		{"first and last byte", "bytes=0-0,-1", 206, []rvPart{{0, 0}, {9999, 9999}}},
		{"second 500 split", "bytes=500-600,601-999", 206, []rvPart{{500, 999}}},
		{"second 500 overlapping", "bytes=500-700,601-999", 206, []rvPart{{500, 999}}},
		// More.
		{"last pos past end", "bytes=9000-20000", 206, []rvPart{{9000, 9999}}},
		{"suffix longer than body", "bytes=-20000", 206, []rvPart{{0, 9999}}},
		{"whole open", "bytes=0-", 206, []rvPart{{0, 9999}}},
		{"three parts", "bytes=0-9, 100-109 ,9990-", 206, []rvPart{{0, 9}, {100, 109}, {9990, 9999}}},
		{"unordered parts", "bytes=9990-,0-9", 206, []rvPart{{0, 9}, {9990, 9999}}},
		{"unit case", "Bytes=10-19", 206, []rvPart{{10, 19}}},
		{"one unsatisfiable one not", "bytes=20000-,5-9", 206, []rvPart{{5, 9}}},
		{"unsatisfiable", "bytes=10000-", 416, nil},
		{"unsatisfiable suffix 0", "bytes=-0", 416, nil},
		{"unsatisfiable several", "bytes=10000-10005,20000-", 416, nil},
		{"malformed reversed", "bytes=5-2", 200, nil},
		{"malformed junk", "bytes=abc", 200, nil},
		{"malformed no dash", "bytes=5", 200, nil},
		{"malformed empty", "bytes=", 200, nil},
		{"other unit", "items=0-5", 200, nil},
		{"no unit", "0-5", 200, nil},
		{"negative first", "bytes=-5-9", 200, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := n.Get(t, "/g", "Range: "+tc.rng)
			if r.Status != tc.want {
				t.Fatalf("Range %q: status %d, want %d", tc.rng, r.Status, tc.want)
			}
			if cs := r.CacheStatus(); !strings.HasPrefix(cs, "edge-test; hit") {
				t.Errorf("Cache-Status %q", cs)
			}
			switch tc.want {
			case 200:
				if !bytes.Equal(r.Body, body) {
					t.Errorf("200 with %d bytes, want all %d", len(r.Body), len(body))
				}
				if r.Header.Get("Content-Range") != "" {
					t.Errorf("200 with Content-Range %q", r.Header.Get("Content-Range"))
				}
			case 416:
				if got := r.Header.Get("Content-Range"); got != "bytes */10000" {
					t.Errorf("416 Content-Range %q, want bytes */10000", got)
				}
			case 206:
				rvCheck206(t, r, body, "application/octet-stream", tc.parts)
				if got := r.Header.Get("Etag"); got != `"g1"` {
					t.Errorf("206 ETag %q, want \"g1\"", got)
				}
				if r.Header.Get("Cache-Control") != "max-age=600" {
					t.Errorf("206 Cache-Control %q", r.Header.Get("Cache-Control"))
				}
			}
		})
	}
	if got := o.Hits("/g"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// rvCheck206 checks a 206 against the expected ranges of body: a single
// part with Content-Range, or multipart/byteranges with a part per range.
func rvCheck206(t *testing.T, r *edgetest.Response, body []byte, ctype string, parts []rvPart) {
	t.Helper()
	size := len(body)
	if len(parts) == 1 {
		p := parts[0]
		if got, want := r.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", p.start, p.end, size); got != want {
			t.Errorf("Content-Range %q, want %q", got, want)
		}
		if !bytes.Equal(r.Body, body[p.start:p.end+1]) {
			t.Errorf("206 body: %d bytes, want bytes %d-%d", len(r.Body), p.start, p.end)
		}
		if got := r.Header.Get("Content-Length"); got != strconv.Itoa(p.end-p.start+1) {
			t.Errorf("Content-Length %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != ctype {
			t.Errorf("Content-Type %q, want %q", got, ctype)
		}
		return
	}
	if r.Header.Get("Content-Range") != "" {
		t.Errorf("multipart 206 with a top-level Content-Range %q", r.Header.Get("Content-Range"))
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: want multipart/byteranges with a boundary", r.Header.Get("Content-Type"))
	}
	if got := r.Header.Get("Content-Length"); got != strconv.Itoa(len(r.Body)) {
		t.Errorf("Content-Length %q, body %d bytes", got, len(r.Body))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			if i != len(parts) {
				t.Errorf("%d parts, want %d", i, len(parts))
			}
			return
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if i >= len(parts) {
			t.Fatalf("more than %d parts", len(parts))
		}
		p := parts[i]
		if got, want := part.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", p.start, p.end, size); got != want {
			t.Errorf("part %d Content-Range %q, want %q", i, got, want)
		}
		if got := part.Header.Get("Content-Type"); got != ctype {
			t.Errorf("part %d Content-Type %q, want %q", i, got, ctype)
		}
		pb, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pb, body[p.start:p.end+1]) {
			t.Errorf("part %d: %d bytes, want bytes %d-%d", i, len(pb), p.start, p.end)
		}
	}
}

func TestRangeTooManyRangesIgnored(t *testing.T) {
	o := origintest.New(t)
	body := rvBinary(10000)
	rangeOrigin(t, o, "/many", body, time.Now().Add(-time.Hour))
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/many")
	rvSettle(t, n)
	var specs []string
	for i := range 200 {
		specs = append(specs, fmt.Sprintf("%d-%d", i*40, i*40+1))
	}
	r := n.Get(t, "/many", "Range: bytes="+strings.Join(specs, ","))
	// A server may ignore Range (RFC 9110 14.2); what it must not do is
	// amplify: 200 with the body once, or 206 with at most the body's size.
	switch r.Status {
	case 200:
		if !bytes.Equal(r.Body, body) {
			t.Errorf("200 with %d bytes", len(r.Body))
		}
	case 206:
		if len(r.Body) > 2*len(body) {
			t.Errorf("206 of %d bytes for a %d-byte body", len(r.Body), len(body))
		}
	default:
		t.Errorf("status %d", r.Status)
	}
	// Many overlapping ranges of the whole body must not multiply it.
	r = n.Get(t, "/many", "Range: bytes="+strings.Repeat("0-,", 15)+"0-")
	if r.Status != 206 && r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	if len(r.Body) > len(body)+512 {
		t.Errorf("16 overlapping whole-body ranges gave %d bytes for a %d-byte body", len(r.Body), len(body))
	}
}

func TestIfRange(t *testing.T) {
	o := origintest.New(t)
	body := rvBinary(10000)
	lm := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	rangeOrigin(t, o, "/ir", body, lm)
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/ir")
	rvSettle(t, n)
	tests := []struct {
		name, ifRange string
		want          int
	}{
		{"strong etag match", `"g1"`, 206},
		{"etag mismatch", `"g2"`, 200},
		{"weak etag never matches", `W/"g1"`, 200},
		{"date equal to Last-Modified", rvHTTPDate(lm), 206},
		{"other date", rvHTTPDate(lm.Add(time.Hour)), 200},
		{"junk", "whatever", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := n.Get(t, "/ir", "Range: bytes=100-199", "If-Range: "+tc.ifRange)
			if r.Status != tc.want {
				t.Fatalf("If-Range %s: %d, want %d", tc.ifRange, r.Status, tc.want)
			}
			if tc.want == 206 {
				rvCheck206(t, r, body, "application/octet-stream", []rvPart{{100, 199}})
			} else if !bytes.Equal(r.Body, body) {
				t.Errorf("200 with %d bytes", len(r.Body))
			}
		})
	}
	if got := o.Hits("/ir"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// An object stored only compressed (a compressible body: gzip, no
// identity) answers ranges of the identity representation.
func TestRangeOnCompressedOnlyEntry(t *testing.T) {
	o := origintest.New(t)
	body := text(10000)
	o.Handle("/tr", serveText(body, "max-age=600"))
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/tr")
	rvSettle(t, n)
	if r := n.Get(t, "/tr", "Accept-Encoding: gzip"); r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip (the entry should store gzip)", r.Header.Get("Content-Encoding"))
	}
	for _, ae := range []string{"", "gzip", "br, zstd, gzip"} {
		t.Run("ae="+ae, func(t *testing.T) {
			var fields []string
			if ae != "" {
				fields = append(fields, "Accept-Encoding: "+ae)
			}
			r := n.Get(t, "/tr", append(fields, "Range: bytes=1000-1999")...)
			if r.Status != 206 {
				t.Fatalf("status %d", r.Status)
			}
			if ce := r.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("206 of the identity bytes with Content-Encoding %q", ce)
			}
			rvCheck206(t, r, body, "text/plain; charset=utf-8", []rvPart{{1000, 1999}})
			r = n.Get(t, "/tr", append(fields, "Range: bytes=0-9,-10")...)
			if r.Status != 206 {
				t.Fatalf("multi: status %d", r.Status)
			}
			rvCheck206(t, r, body, "text/plain; charset=utf-8", []rvPart{{0, 9}, {9990, 9999}})
			r = n.Get(t, "/tr", append(fields, "Range: bytes=10000-")...)
			if r.Status != 416 || r.Header.Get("Content-Range") != "bytes */10000" {
				t.Errorf("unsatisfiable: %d, Content-Range %q (the size must be the identity size)", r.Status, r.Header.Get("Content-Range"))
			}
		})
	}
	if got := o.Hits("/tr"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// RFC 9110 15.3.7: a 206 carries Date, Cache-Control, ETag, Expires,
// Content-Location and Vary when a 200 to the same request would.
func TestRangeResponseCarriesValidatorAndVary(t *testing.T) {
	o := origintest.New(t)
	body := text(10000)
	o.Handle("/tv", serveText(body, "max-age=600"))
	gz := rvGzip(body)
	o.Handle("/gzv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"gz1"`)
		w.Write(gz)
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	for _, path := range []string{"/tv", "/gzv"} {
		t.Run(path, func(t *testing.T) {
			n.Get(t, path)
			rvSettle(t, n)
			full := n.Get(t, path)
			part := n.Get(t, path, "Range: bytes=0-99")
			if full.Status != 200 || part.Status != 206 {
				t.Fatalf("statuses %d, %d", full.Status, part.Status)
			}
			rvCheck206(t, part, body, "text/plain"+map[string]string{"/tv": "; charset=utf-8", "/gzv": ""}[path], []rvPart{{0, 99}})
			for _, f := range []string{"Date", "Cache-Control", "Etag", "Vary"} {
				if full.Header.Get(f) != "" && part.Header.Get(f) == "" {
					t.Errorf("200 carries %s %q, the 206 for the same request none", f, full.Header.Get(f))
				}
			}
		})
	}
}

// ---- invalidation by unsafe methods (RFC 9111 4.4) ----

func TestInvalidationAfterUnsafeMethods(t *testing.T) {
	o := origintest.New(t)
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			io.Copy(io.Discard, r.Body)
			switch r.URL.Path {
			case "/fail400":
				http.Error(w, "no", http.StatusBadRequest)
				return
			case "/fail500":
				http.Error(w, "no", http.StatusInternalServerError)
				return
			}
			if loc := r.URL.Query().Get("loc"); loc != "" {
				w.Header().Set("Location", loc)
			}
			if cl := r.URL.Query().Get("cloc"); cl != "" {
				w.Header().Set("Content-Location", cl)
			}
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "done")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "object "+r.Host+r.URL.Path)
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	self := n.URL // http://127.0.0.1:port

	hit := func(t *testing.T, path string, fields ...string) bool {
		t.Helper()
		r := n.Get(t, path, fields...)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d", path, r.Status)
		}
		return strings.HasPrefix(r.CacheStatus(), "edge-test; hit")
	}
	fill := func(t *testing.T, paths ...string) {
		t.Helper()
		for _, p := range paths {
			n.Get(t, p)
		}
		rvSettle(t, n)
		for _, p := range paths {
			if !hit(t, p) {
				t.Fatalf("GET %s is not a hit after the fill", p)
			}
		}
	}

	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		t.Run(method, func(t *testing.T) {
			p := "/" + strings.ToLower(method)
			// The origin sets Location and Content-Location from the query.
			target := p + "/target?loc=" + p + "/loc&cloc=" + self + p + "/cloc"
			fill(t, target, p+"/loc", p+"/cloc", p+"/keep")
			r := n.DoBody(t, method, target, strings.NewReader("payload"))
			if r.Status != 201 {
				t.Fatalf("%s: %d", method, r.Status)
			}
			if got, want := r.CacheStatus(), "edge-test; fwd=method; fwd-status=201"; got != want {
				t.Errorf("Cache-Status %q, want %q", got, want)
			}
			if string(r.Body) != "done" {
				t.Errorf("body %q", r.Body)
			}
			if hit(t, target) {
				t.Error("target URI still a hit after a successful unsafe request")
			}
			if hit(t, p+"/loc") {
				t.Error("Location (same host, relative) still a hit")
			}
			if hit(t, p+"/cloc") {
				t.Error("Content-Location (same host, absolute) still a hit")
			}
			if !hit(t, p+"/keep") {
				t.Error("an unrelated URL was invalidated")
			}
		})
	}

	t.Run("equivalent URI forms", func(t *testing.T) {
		// The POST's target and Location are normalised like cache keys.
		fill(t, "/norm/~a?loc=/norm/x/../b%2Ec", "/norm/b.c")
		r := n.DoBody(t, "POST", "/norm/%7Ea?loc=/norm/x/../b%2Ec", strings.NewReader("p"))
		if r.Status != 201 {
			t.Fatalf("POST: %d", r.Status)
		}
		if hit(t, "/norm/~a?loc=/norm/x/../b%2Ec") {
			t.Error("target in another equivalent form still a hit")
		}
		if hit(t, "/norm/b.c") {
			t.Error("Location with dot segments and an encoded dot not invalidated")
		}
	})

	t.Run("other host not invalidated", func(t *testing.T) {
		// The same path under another Host is another object.
		n.Get(t, "/x", "Host: other.example")
		n.Get(t, "/x")
		rvSettle(t, n)
		if !hit(t, "/x", "Host: other.example") || !hit(t, "/x") {
			t.Fatal("not stored")
		}
		r := n.DoBody(t, "POST", "/post-other?loc=http://other.example/x", strings.NewReader("p"))
		if r.Status != 201 {
			t.Fatalf("POST: %d", r.Status)
		}
		if !hit(t, "/x", "Host: other.example") {
			t.Error("Location on another host invalidated that host's object")
		}
		r = n.DoBody(t, "POST", "/post-other?cloc=http://other.example/x", strings.NewReader("p"))
		if r.Status != 201 {
			t.Fatalf("POST: %d", r.Status)
		}
		if !hit(t, "/x", "Host: other.example") {
			t.Error("Content-Location on another host invalidated that host's object")
		}
		if !hit(t, "/x") {
			t.Error("an other-host Location invalidated this host's object of the same path")
		}
	})

	for _, path := range []string{"/fail400", "/fail500"} {
		t.Run("failed "+path, func(t *testing.T) {
			fill(t, path, path+"-loc")
			r := n.DoBody(t, "POST", path+"?loc="+path+"-loc", strings.NewReader("p"))
			if r.Status < 400 {
				t.Fatalf("POST: %d, want the origin's error", r.Status)
			}
			if !strings.Contains(r.CacheStatus(), "fwd=method; fwd-status="+strconv.Itoa(r.Status)) {
				t.Errorf("Cache-Status %q", r.CacheStatus())
			}
			if !hit(t, path) {
				t.Error("a failed POST invalidated its target")
			}
			if !hit(t, path+"-loc") {
				t.Error("a failed POST invalidated its Location")
			}
		})
	}

	t.Run("safe methods do not invalidate", func(t *testing.T) {
		fill(t, "/safe")
		r := n.Do(t, "OPTIONS", "/safe")
		if !strings.Contains(r.CacheStatus(), "fwd=method") {
			t.Errorf("OPTIONS Cache-Status %q", r.CacheStatus())
		}
		if !hit(t, "/safe") {
			t.Error("OPTIONS invalidated the object")
		}
	})
}

// Invalidation purges every variant of a varying URL.
func TestInvalidationPurgesAllVariants(t *testing.T) {
	o := origintest.New(t)
	o.Handle("/vv", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(204)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "X-Variant")
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "variant "+r.Header.Get("X-Variant"))
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	for _, v := range []string{"a", "b"} {
		n.Get(t, "/vv", "X-Variant: "+v)
		rvSettle(t, n)
	}
	for _, v := range []string{"a", "b"} {
		if r := n.Get(t, "/vv", "X-Variant: "+v); !strings.Contains(r.CacheStatus(), "hit") {
			t.Fatalf("variant %s not stored: %q", v, r.CacheStatus())
		}
	}
	if r := n.DoBody(t, "POST", "/vv", strings.NewReader("x")); r.Status != 204 {
		t.Fatalf("POST: %d", r.Status)
	}
	for _, v := range []string{"a", "b"} {
		r := n.Get(t, "/vv", "X-Variant: "+v)
		if strings.Contains(r.CacheStatus(), "hit") || string(r.Body) != "variant "+v {
			t.Errorf("variant %s after POST: %q %q", v, r.CacheStatus(), r.Body)
		}
	}
}

func TestUnsafeRequestBodiesReachOrigin(t *testing.T) {
	o := origintest.New(t)
	type seen struct {
		method  string
		body    []byte
		length  int64
		chunked bool
		ctype   string
	}
	got := make(chan seen, 4)
	o.Handle("/up", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("origin reading body: %v", err)
		}
		got <- seen{r.Method, b, r.ContentLength, len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked", r.Header.Get("Content-Type")}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b) // echo
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	payload := rvBinary(100_000)
	tests := []struct {
		name    string
		method  string
		body    func() io.Reader
		chunked bool
	}{
		{"POST content-length", "POST", func() io.Reader { return bytes.NewReader(payload) }, false},
		// A reader of unknown length: the client sends it chunked.
		{"POST chunked", "POST", func() io.Reader {
			return io.MultiReader(bytes.NewReader(payload[:5000]), bytes.NewReader(payload[5000:]))
		}, true},
		{"PUT content-length", "PUT", func() io.Reader { return bytes.NewReader(payload) }, false},
		{"PATCH chunked", "PATCH", func() io.Reader { return io.MultiReader(bytes.NewReader(payload)) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := n.DoBody(t, tc.method, "/up", tc.body(), "Content-Type: application/x-test")
			if r.Status != 200 {
				t.Fatalf("status %d", r.Status)
			}
			if !bytes.Equal(r.Body, payload) {
				t.Errorf("echoed body: %d bytes, want %d identical", len(r.Body), len(payload))
			}
			if cs := r.CacheStatus(); cs != "edge-test; fwd=method; fwd-status=200" {
				t.Errorf("Cache-Status %q", cs)
			}
			s := <-got
			if s.method != tc.method || !bytes.Equal(s.body, payload) {
				t.Errorf("origin saw %s with %d bytes (identical: %v)", s.method, len(s.body), bytes.Equal(s.body, payload))
			}
			if s.ctype != "application/x-test" {
				t.Errorf("origin saw Content-Type %q", s.ctype)
			}
			if tc.chunked && !s.chunked {
				t.Errorf("chunked request forwarded with Content-Length %d", s.length)
			}
			if !tc.chunked && s.length != int64(len(payload)) {
				t.Errorf("origin saw Content-Length %d, want %d", s.length, len(payload))
			}
		})
	}
	if got := o.Hits("/up"); got != len(tests) {
		t.Errorf("origin saw %d requests, want %d", got, len(tests))
	}
}
