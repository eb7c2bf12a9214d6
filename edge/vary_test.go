package edge_test

// Secondary cache keys (RFC 9111 4.1): responses that vary on request
// fields are stored per variant; Vary: Accept-Encoding is handled by the
// node's own encodings instead.

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

func varyOrigin(o *origintest.Server, path string) {
	o.Handle(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "X-Variant")
		io.WriteString(w, "variant="+r.Header.Get("X-Variant"))
	})
}

func TestVarySecondaryKeys(t *testing.T) {
	o := origintest.New(t)
	varyOrigin(o, "/v")
	n := edgetest.Start(t, rvConfig(o.URL))

	r := n.Get(t, "/v", "X-Variant: a")
	if string(r.Body) != "variant=a" || !strings.Contains(r.CacheStatus(), "fwd=uri-miss") {
		t.Fatalf("a: %q %q", r.Body, r.CacheStatus())
	}
	if !rvHasVary(r.Header, "X-Variant") {
		t.Errorf("Vary %q", r.Header.Values("Vary"))
	}
	rvSettle(t, n)
	r = n.Get(t, "/v", "X-Variant: b")
	if string(r.Body) != "variant=b" {
		t.Fatalf("b: got %q", r.Body)
	}
	if cs := r.CacheStatus(); !strings.Contains(cs, "fwd=vary-miss") || !strings.Contains(cs, "stored") {
		t.Errorf("b: Cache-Status %q, want fwd=vary-miss; stored", cs)
	}
	rvSettle(t, n)
	r = n.Get(t, "/v") // no X-Variant: a variant of its own
	if string(r.Body) != "variant=" || !strings.Contains(r.CacheStatus(), "fwd=vary-miss") {
		t.Errorf("none: %q %q", r.Body, r.CacheStatus())
	}
	rvSettle(t, n)
	if got := o.Hits("/v"); got != 3 {
		t.Fatalf("origin saw %d requests, want 3", got)
	}
	for range 2 {
		for _, v := range []string{"a", "b", ""} {
			var fields []string
			if v != "" {
				fields = append(fields, "X-Variant: "+v)
			}
			r := n.Get(t, "/v", fields...)
			if string(r.Body) != "variant="+v {
				t.Errorf("variant %q: got %q", v, r.Body)
			}
			if !strings.HasPrefix(r.CacheStatus(), "edge-test; hit") {
				t.Errorf("variant %q: Cache-Status %q, want a hit", v, r.CacheStatus())
			}
			if !rvHasVary(r.Header, "X-Variant") {
				t.Errorf("variant %q: Vary %q", v, r.Header.Values("Vary"))
			}
		}
	}
	// Whitespace around list commas does not make another variant
	// (RFC 9111 4.1 normalisation).
	n.Get(t, "/v", "X-Variant: p,q")
	rvSettle(t, n)
	r = n.Get(t, "/v", "X-Variant: p, q")
	if !strings.HasPrefix(r.CacheStatus(), "edge-test; hit") || string(r.Body) != "variant=p,q" {
		t.Errorf("normalised variant: %q %q", r.CacheStatus(), r.Body)
	}
	if got := o.Hits("/v"); got != 4 {
		t.Errorf("origin saw %d requests, want 4 (one per variant)", got)
	}
}

// A request for another variant that arrives right after the first fill
// finished (before the store shows the entry) must not be answered with
// the first variant.
func TestVaryBackToBack(t *testing.T) {
	o := origintest.New(t)
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "X-Variant")
		io.WriteString(w, "variant="+r.Header.Get("X-Variant"))
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	// The window is short: try many URLs.
	for i := range 100 {
		path := "/bb" + strconv.Itoa(i)
		if r := n.Get(t, path, "X-Variant: a"); string(r.Body) != "variant=a" {
			t.Fatalf("%s a: %q", path, r.Body)
		}
		if r := n.Get(t, path, "X-Variant: b"); string(r.Body) != "variant=b" {
			t.Fatalf("%s: a request with X-Variant: b got %q (Cache-Status %q)", path, r.Body, r.CacheStatus())
		}
	}
}

// Concurrent requests for two variants while the first fill is in
// flight: each gets its own.
func TestVaryConcurrentVariants(t *testing.T) {
	o := origintest.New(t)
	release := make(chan struct{})
	o.Handle("/cv", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Variant") == "a" {
			<-release
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "X-Variant")
		io.WriteString(w, "variant="+r.Header.Get("X-Variant"))
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	var wg sync.WaitGroup
	res := map[string]*edgetest.Response{}
	var mu sync.Mutex
	get := func(v string) {
		defer wg.Done()
		r := n.Get(t, "/cv", "X-Variant: "+v)
		mu.Lock()
		res[v] = r
		mu.Unlock()
	}
	wg.Add(1)
	go get("a")
	// Wait until the leader's request is at the origin, then queue b.
	rvPoll(t, func() bool { return o.Hits("/cv") >= 1 })
	wg.Add(1)
	go get("b")
	rvPoll(t, func() bool { return n.Metric(t, "edge_cache_collapsed_total") >= 1 })
	close(release)
	wg.Wait()
	for _, v := range []string{"a", "b"} {
		if string(res[v].Body) != "variant="+v {
			t.Errorf("variant %s got %q", v, res[v].Body)
		}
	}
}

// rvPoll waits (bounded, 10s) until cond holds.
func rvPoll(t testing.TB, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not reached within 10s")
}

// Vary: Accept-Encoding from the origin: the node asks for gzip only, and
// one fetch serves every client from its own encodings.
func TestVaryAcceptEncodingFromOrigin(t *testing.T) {
	body := text(20000)
	for _, originGzip := range []bool{false, true} {
		t.Run("origin gzip "+strconv.FormatBool(originGzip), func(t *testing.T) {
			o := origintest.New(t)
			gz := rvGzip(body)
			o.Handle("/ae", func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("Accept-Encoding"); got != "gzip" {
					t.Errorf("origin saw Accept-Encoding %q, want gzip", got)
				}
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Vary", "Accept-Encoding")
				if originGzip {
					w.Header().Set("Content-Encoding", "gzip")
					w.Header().Set("Content-Length", strconv.Itoa(len(gz)))
					w.Write(gz)
					return
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write(body)
			})
			n := edgetest.Start(t, rvConfig(o.URL))
			clients := []struct {
				ae      string
				allowed []string
			}{
				{"br", []string{"br", ""}},
				{"gzip", []string{"gzip"}},
				{"", []string{""}},
				{"zstd, br, gzip", []string{"zstd", "br", "gzip"}},
			}
			for round := range 2 {
				for _, c := range clients {
					var fields []string
					if c.ae != "" {
						fields = append(fields, "Accept-Encoding: "+c.ae)
					}
					r := n.Get(t, "/ae", fields...)
					rvCheckEncoded(t, r, body, c.allowed...)
					if got := rvVaryCount(r.Header, "Accept-Encoding"); got != 1 {
						t.Errorf("round %d, AE %q: Vary %q, want Accept-Encoding once", round, c.ae, r.Header.Values("Vary"))
					}
					rvSettle(t, n)
				}
			}
			if got := o.Hits("/ae"); got != 1 {
				t.Errorf("origin saw %d requests, want 1", got)
			}
		})
	}
}

// Vary on a field plus the node's encodings: both listed, each variant
// encoded on its own.
func TestVaryFieldWithCompression(t *testing.T) {
	o := origintest.New(t)
	bodies := map[string][]byte{"en": text(9000), "fr": bytes.ToUpper(text(9000))}
	o.Handle("/vc", func(w http.ResponseWriter, r *http.Request) {
		b := bodies[r.Header.Get("Accept-Language")]
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	for _, lang := range []string{"en", "fr"} {
		n.Get(t, "/vc", "Accept-Language: "+lang)
		rvSettle(t, n)
	}
	for _, lang := range []string{"en", "fr"} {
		for _, ae := range []string{"gzip", ""} {
			fields := []string{"Accept-Language: " + lang}
			if ae != "" {
				fields = append(fields, "Accept-Encoding: "+ae)
			}
			r := n.Get(t, "/vc", fields...)
			rvCheckEncoded(t, r, bodies[lang], ae)
			if !rvHasVary(r.Header, "Accept-Language") || rvVaryCount(r.Header, "Accept-Encoding") != 1 {
				t.Errorf("%s/%q: Vary %q", lang, ae, r.Header.Values("Vary"))
			}
			if !strings.HasPrefix(r.CacheStatus(), "edge-test; hit") {
				t.Errorf("%s/%q: Cache-Status %q", lang, ae, r.CacheStatus())
			}
		}
	}
	if got := o.Hits("/vc"); got != 2 {
		t.Errorf("origin saw %d requests, want 2", got)
	}
}

// Vary: * is never served from the cache.
func TestVaryStarNotStored(t *testing.T) {
	o := origintest.New(t)
	o.Handle("/star", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "*")
		io.WriteString(w, "x")
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	for range 3 {
		r := n.Get(t, "/star")
		if r.Status != 200 || string(r.Body) != "x" || strings.HasPrefix(r.CacheStatus(), "edge-test; hit") || strings.Contains(r.CacheStatus(), "stored") {
			t.Errorf("%d %q %q", r.Status, r.Body, r.CacheStatus())
		}
		rvSettle(t, n)
	}
	if got := o.Hits("/star"); got != 3 {
		t.Errorf("origin saw %d requests, want 3", got)
	}
}
