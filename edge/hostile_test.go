package edge_test

// Hostile and broken input over real TCP: requests the node must refuse
// before they reach an origin, and origins that fail.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

const rejectedMetric = "edge_http_rejected_requests_total"

// hostileOrigin counts every request and answers 200 "ok".
func hostileOrigin(t *testing.T) *origintest.Server {
	o := origintest.New(t)
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	})
	return o
}

// originRequests is how many requests the origin saw (every path).
func originRequests(o *origintest.Server, paths ...string) int {
	sum := 0
	for _, p := range paths {
		sum += o.Hits(p)
	}
	return sum
}

func TestUnknownHost421(t *testing.T) {
	o := hostileOrigin(t)
	cfg := fmt.Sprintf("cache:\n  max_memory: 64MiB\nnode:\n  id: edge-test\nsites:\n  - name: s\n    hosts: [\"example.com\"]\n    origins:\n      - url: %s\n", o.URL)
	n := edgetest.Start(t, cfg)
	tests := []struct {
		name, host string
		want       int
	}{
		{"other host", "other.test", 421},
		{"subdomain", "www.example.com", 421},
		{"suffix trick", "evilexample.com", 421},
		{"ip", "127.0.0.1", 421},
		{"configured", "example.com", 200},
		{"configured with port", "example.com:8080", 200},
		{"configured upper case", "EXAMPLE.COM", 200},
		{"configured trailing dot", "example.com.", 200},
	}
	rejected := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, _ := rvRaw(t, n, "GET", "GET /p HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != tc.want {
				t.Fatalf("Host %q: %d %q, want %d", tc.host, resp.StatusCode, body, tc.want)
			}
			if tc.want == 421 {
				rejected++
				if !strings.Contains(resp.Header.Get("Cache-Status"), "detail=unknown-host") {
					t.Errorf("Cache-Status %q", resp.Header.Get("Cache-Status"))
				}
			}
		})
	}
	// Absolute-form target: the authority in it decides, not Host.
	resp, _, _ := rvRaw(t, n, "GET", "GET http://other.test/p HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 421 {
		t.Errorf("absolute-form for an unknown host: %d, want 421", resp.StatusCode)
	}
	rejected++
	// Only the configured host reached the origin: example.com and
	// example.com:8080 are two objects (case and trailing dot normalised).
	if got := o.Hits("/p"); got != 2 {
		t.Errorf("origin saw %d requests, want 2", got)
	}
	if got := n.Metric(t, rejectedMetric, "reason", "unknown_host"); got != float64(rejected) {
		t.Errorf("rejected{unknown_host} = %v, want %d", got, rejected)
	}
}

func TestMalformedTarget400(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	targets := []string{"/a%zz", "/a%2", "/%", "/a%g0/b", "/a?x=%zz", "/a#frag"}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			resp, body, _ := rvRaw(t, n, "GET", "GET "+target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != 400 {
				t.Errorf("%s: %d %q, want 400", target, resp.StatusCode, body)
			}
		})
	}
	if got := originRequests(o, "/a", "/", "/a%zz", "/a%2", "/%"); got != 0 {
		t.Errorf("origin saw %d requests", got)
	}
	if got := n.Metric(t, rejectedMetric, "reason", "bad_target"); got != float64(len(targets)) {
		t.Errorf("rejected{bad_target} = %v, want %d", got, len(targets))
	}
	// A well-formed percent-encoding passes.
	resp, _, _ := rvRaw(t, n, "GET", "GET /a%20b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Errorf("/a%%20b: %d", resp.StatusCode)
	}
}

func TestOversizedHeader431(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	big := strings.Repeat("x", 40<<10) // over the default 32 KiB
	for _, tc := range []struct{ name, req string }{
		{"one big field", "GET /big HTTP/1.1\r\nHost: h\r\nX-Big: " + big + "\r\n\r\n"},
		{"many fields", "GET /big HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-F: "+strings.Repeat("y", 100)+"\r\n", 400) + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, rest := rvRaw(t, n, "GET", tc.req)
			if resp.StatusCode != 431 {
				t.Fatalf("%d, want 431", resp.StatusCode)
			}
			if len(rest) != 0 {
				t.Errorf("%d bytes after the 431: the connection should close", len(rest))
			}
		})
	}
	if got := o.Hits("/big"); got != 0 {
		t.Errorf("origin saw %d requests", got)
	}
	if got := n.Metric(t, rejectedMetric, "reason", "header_too_large"); got != 2 {
		t.Errorf("rejected{header_too_large} = %v, want 2", got)
	}
}

func TestRequestSmuggling(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
	tests := []struct {
		name   string
		req    string
		want   int
		reason string
	}{
		{"CL.TE", "POST /front HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400, "bad_transfer_encoding"},
		{"TE.CL", "POST /front HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled, 400, "bad_transfer_encoding"},
		{"two Content-Lengths", "POST /front HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n" + smuggled, 400, "bad_content_length"},
		{"Content-Length list", "POST /front HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 40\r\n\r\n" + smuggled, 400, "bad_content_length"},
		{"signed Content-Length", "POST /front HTTP/1.1\r\nHost: h\r\nContent-Length: +40\r\n\r\n" + smuggled, 400, "bad_content_length"},
		{"space before colon", "POST /front HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 40\r\n\r\n" + smuggled, 400, "bad_header"},
		{"obs-fold TE", "POST /front HTTP/1.1\r\nHost: h\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400, "bad_header"},
		{"TE in HTTP/1.0", "POST /front HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400, "bad_transfer_encoding"},
		{"unknown TE", "POST /front HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, 501, "bad_transfer_encoding"},
		{"TE list", "POST /front HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled, 501, "bad_transfer_encoding"},
		{"two Hosts", "GET /front HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n" + smuggled, 400, "bad_host"},
		{"bare CR in value", "GET /front HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n" + smuggled, 400, "bad_header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := n.Metric(t, rejectedMetric, "reason", tc.reason)
			method := "POST"
			if strings.HasPrefix(tc.req, "GET") {
				method = "GET"
			}
			resp, _, rest := rvRaw(t, n, method, tc.req)
			if resp.StatusCode != tc.want {
				t.Errorf("%d, want %d", resp.StatusCode, tc.want)
			}
			if bytes.Contains(rest, []byte("HTTP/1.1")) {
				t.Errorf("a second response followed the rejection: %q", rest)
			}
			if got := n.Metric(t, rejectedMetric, "reason", tc.reason) - before; got != 1 {
				t.Errorf("rejected{%s} grew by %v, want 1", tc.reason, got)
			}
		})
	}
	if got := originRequests(o, "/front", "/smuggled"); got != 0 {
		t.Errorf("origin saw %d requests", got)
	}
}

func TestViaLoop508(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	tests := []struct {
		via  string
		want int
	}{
		{"1.1 edge-test", 508},
		{"1.0 proxy-a, 1.1 edge-test", 508},
		{"HTTP/1.1 edge-test (cdn)", 508},
		{"1.1 edge-test-2", 200},
		{"1.1 proxy-a", 200},
	}
	loops := 0
	for _, tc := range tests {
		t.Run(tc.via, func(t *testing.T) {
			resp, _, _ := rvRaw(t, n, "GET", "GET /via HTTP/1.1\r\nHost: h\r\nVia: "+tc.via+"\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != tc.want {
				t.Errorf("Via %q: %d, want %d", tc.via, resp.StatusCode, tc.want)
			}
			if tc.want == 508 {
				loops++
			}
		})
	}
	// The forwarded request names this node in Via.
	if last := o.Last("/via"); last == nil || last.Header.Get("Via") != "1.1 edge-test-2, 1.1 edge-test" {
		t.Errorf("origin request Via %q, want the client's hop then this node's", o.Last("/via").Header.Get("Via"))
	}
	if got := n.Metric(t, rejectedMetric, "reason", "loop"); got != float64(loops) {
		t.Errorf("rejected{loop} = %v, want %d", got, loops)
	}
	// A POST with a looping Via does not reach the origin either.
	resp, _, _ := rvRaw(t, n, "POST", "POST /via-post HTTP/1.1\r\nHost: h\r\nVia: 1.1 edge-test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
	if resp.StatusCode != 508 {
		t.Errorf("POST with a loop: %d", resp.StatusCode)
	}
	if got := o.Hits("/via-post"); got != 0 {
		t.Errorf("origin saw %d looping POSTs", got)
	}
}

func TestRequestBodyTooLarge413(t *testing.T) {
	o := origintest.New(t)
	var complete atomic.Int64
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err == nil && len(b) >= 2048 {
			complete.Add(1)
		}
		io.WriteString(w, "got "+strconv.Itoa(len(b)))
	})
	n := edgetest.Start(t, "http:\n  max_request_body: 1KiB\n"+rvConfig(o.URL))
	body := strings.Repeat("b", 2048)
	chunked := fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 1000, body[:1000], 1048, body[1000:])

	t.Run("content-length", func(t *testing.T) {
		resp, _, _ := rvRaw(t, n, "POST", "POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n"+body)
		if resp.StatusCode != 413 {
			t.Errorf("%d, want 413", resp.StatusCode)
		}
		if got := o.Hits("/cl"); got != 0 {
			t.Errorf("origin saw %d requests", got)
		}
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		// No body sent: the node must answer at once, without 100 Continue.
		resp, _, _ := rvRaw(t, n, "PUT", "PUT /exp HTTP/1.1\r\nHost: h\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n")
		if resp.StatusCode != 413 {
			t.Errorf("%d, want 413 (before any 100 Continue)", resp.StatusCode)
		}
		if got := o.Hits("/exp"); got != 0 {
			t.Errorf("origin saw %d requests", got)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		resp, _, _ := rvRaw(t, n, "POST", "POST /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+chunked)
		if resp.StatusCode != 413 {
			t.Errorf("%d, want 413", resp.StatusCode)
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		resp, b, _ := rvRaw(t, n, "POST", "POST /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n"+body[:1024])
		if resp.StatusCode != 200 || string(b) != "got 1024" {
			t.Errorf("%d %q, want 200 \"got 1024\"", resp.StatusCode, b)
		}
	})
	t.Run("chunked at the limit", func(t *testing.T) {
		req := fmt.Sprintf("POST /ok2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", 1024, body[:1024])
		resp, b, _ := rvRaw(t, n, "POST", req)
		if resp.StatusCode != 200 || string(b) != "got 1024" {
			t.Errorf("%d %q, want 200 \"got 1024\"", resp.StatusCode, b)
		}
	})
	if got := complete.Load(); got != 0 {
		t.Errorf("the origin received %d complete over-limit bodies", got)
	}
	if got := n.Metric(t, rejectedMetric, "reason", "body_too_large"); got != 3 {
		t.Errorf("rejected{body_too_large} = %v, want 3", got)
	}
}

func TestOriginDown502(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	o.SetDown(true)
	for _, method := range []string{"GET", "HEAD", "POST"} {
		r := n.Do(t, method, "/down-"+method)
		if r.Status != 502 {
			t.Errorf("%s with the origin closing connections: %d, want 502", method, r.Status)
		}
		if cs := r.CacheStatus(); !strings.Contains(cs, "detail=origin-error") {
			t.Errorf("%s: Cache-Status %q", method, cs)
		}
	}
	o.SetDown(false)
	if r := n.Get(t, "/down-GET"); r.Status != 200 {
		t.Errorf("origin back: %d", r.Status)
	}

	// An origin that refuses connections.
	o2 := origintest.New(t)
	n2 := edgetest.Start(t, rvConfig(o2.URL))
	o2.Close()
	if r := n2.Get(t, "/gone"); r.Status != 502 {
		t.Errorf("origin refusing connections: %d, want 502", r.Status)
	}
}

func TestOriginHeaderTimeout504(t *testing.T) {
	o := origintest.New(t)
	release := make(chan struct{})
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the origin closes
	n := edgetest.Start(t, rvConfig(o.URL, "        response_header_timeout: 200ms"))
	for _, method := range []string{"GET", "POST"} {
		r := n.Do(t, method, "/hang-"+method)
		if r.Status != 504 {
			t.Errorf("%s to a hanging origin: %d %q, want 504", method, r.Status, r.Body)
		}
		if cs := r.CacheStatus(); !strings.Contains(cs, "detail=origin-error") {
			t.Errorf("%s: Cache-Status %q", method, cs)
		}
	}
}

// A response over cache.max_object_size streams through whole and is not
// stored, with and without a Content-Length, and makes its URL
// hit-for-pass.
func TestObjectOverMaxSizeNotStored(t *testing.T) {
	o := origintest.New(t)
	body := text(200 << 10)
	o.Handle("/big-cl", rvServe(body, "text/plain", "max-age=600"))
	o.Handle("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		for i := 0; i < len(body); i += 16 << 10 {
			w.Write(body[i:min(i+16<<10, len(body))])
			w.(http.Flusher).Flush()
		}
	})
	n := edgetest.Start(t, rvConfigWith("cache:\n  max_memory: 64MiB\n  max_object_size: 64KiB\n", o.URL))
	for _, path := range []string{"/big-cl", "/big-chunked"} {
		t.Run(path, func(t *testing.T) {
			for i, ae := range []string{"", "gzip"} {
				var fields []string
				if ae != "" {
					fields = append(fields, "Accept-Encoding: "+ae)
				}
				r := n.Get(t, path, fields...)
				rvCheckEncoded(t, r, body, "")
				cs := r.CacheStatus()
				// The first answer was too large to store: the URL is
				// then hit-for-pass (so that a Range can go to the origin).
				want := map[int]string{0: "fwd=uri-miss", 1: "fwd=bypass"}[i]
				if strings.HasPrefix(cs, "edge-test; hit") || !strings.Contains(cs, want) {
					t.Errorf("request %d: Cache-Status %q, want %s", i, cs, want)
				}
				// With a Content-Length the node knows before the head
				// goes out that it will not store the response. (Chunked,
				// it cannot: the head precedes the body.)
				if path == "/big-cl" && strings.Contains(cs, "stored") {
					t.Errorf("request %d: Cache-Status %q says stored", i, cs)
				}
				rvSettle(t, n)
			}
			if got := o.Hits(path); got != 2 {
				t.Errorf("origin saw %d requests, want 2 (not stored)", got)
			}
		})
	}
	if got := n.Metric(t, "edge_cache_uncacheable_total", "reason", "too-large"); got < 4 {
		t.Errorf("uncacheable{too-large} = %v, want 4", got)
	}
	// Just under the limit is stored.
	small := text(60 << 10)
	o.Handle("/fits", rvServe(small, "text/plain", "max-age=600"))
	n.Get(t, "/fits")
	rvSettle(t, n)
	if r := n.Get(t, "/fits"); !strings.HasPrefix(r.CacheStatus(), "edge-test; hit") || !bytes.Equal(r.Body, small) {
		t.Errorf("object under the limit: %q", r.CacheStatus())
	}
}

// An unframeable request (bad Content-Length) ends the connection: bytes
// after it are never taken as a request.
func TestNothingAnsweredAfterUnframeableRequest(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	resp, _, rest := rvRaw(t, n, "GET", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\nGET /after-bad HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Fatalf("%d, want 400", resp.StatusCode)
	}
	if bytes.Contains(rest, []byte("HTTP/1.1")) {
		t.Errorf("answered a request after an unframeable one: %q", rest)
	}
	if got := o.Hits("/after-bad") + o.Hits("/"); got != 0 {
		t.Errorf("origin saw %d requests", got)
	}
}

func TestURITooLong414(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	long := "/" + strings.Repeat("a", 9<<10) // over the default 8 KiB
	resp, _, _ := rvRaw(t, n, "GET", "GET "+long+" HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 414 {
		t.Errorf("%d, want 414", resp.StatusCode)
	}
	if got := o.Hits(long); got != 0 {
		t.Errorf("origin saw %d requests", got)
	}
	if got := n.Metric(t, rejectedMetric, "reason", "uri_too_long"); got != 1 {
		t.Errorf("rejected{uri_too_long} = %v, want 1", got)
	}
}

// An origin that promises more body than it sends: the node neither
// stores the response nor passes it on as complete.
func TestTruncatedOriginBody(t *testing.T) {
	o := origintest.New(t)
	for _, ctype := range []string{"application/octet-stream", "text/plain"} {
		o.Handle("/trunc-"+strings.ReplaceAll(ctype, "/", "-"), func(w http.ResponseWriter, r *http.Request) {
			c, bw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: max-age=600\r\nContent-Length: 10000\r\n\r\n", ctype)
			bw.Write(text(5000))
			bw.Flush()
		})
	}
	n := edgetest.Start(t, rvConfig(o.URL))
	for _, path := range []string{"/trunc-application-octet-stream", "/trunc-text-plain"} {
		for _, ae := range []string{"", "Accept-Encoding: gzip\r\n"} {
			t.Run(path+" "+strings.TrimSpace(ae), func(t *testing.T) {
				c, err := net.Dial("tcp", rvAddr(n))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(15 * time.Second))
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: h\r\n%s\r\n", path, ae)
				resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
				if err != nil {
					return // cut before the head: fine
				}
				b, err := io.ReadAll(resp.Body)
				if resp.StatusCode == 200 && err == nil {
					t.Errorf("a truncated origin body (%d of 10000 bytes) was passed on as a complete 200 of %d bytes", 5000, len(b))
				}
				if resp.StatusCode != 200 && resp.StatusCode != 502 {
					t.Errorf("status %d, want a cut 200 or 502", resp.StatusCode)
				}
			})
			rvSettle(t, n)
		}
		if got := o.Hits(path); got != 2 {
			t.Errorf("%s: origin saw %d requests, want 2 (nothing stored)", path, got)
		}
	}
}

// Expect: 100-continue on a forwarded POST: the client gets 100 Continue,
// sends its body, and the origin receives it whole.
func TestExpectContinueForwarded(t *testing.T) {
	o := origintest.New(t)
	got := make(chan []byte, 1)
	o.Handle("/exp", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
		io.WriteString(w, "got "+strconv.Itoa(len(b)))
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	c, err := net.Dial("tcp", rvAddr(n))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	body := rvBinary(3000)
	fmt.Fprintf(c, "POST /exp HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("first line %q (%v), want HTTP/1.1 100 Continue", line, err)
	}
	if l, _ := br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("100 Continue followed by %q", l)
	}
	c.Write(body)
	resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(rb) != "got 3000" {
		t.Errorf("%d %q", resp.StatusCode, rb)
	}
	if b := <-got; !bytes.Equal(b, body) {
		t.Errorf("origin got %d bytes, not the body", len(b))
	}
}

// A GET whose body is another request: the body is framed by its
// Content-Length and discarded, never parsed as a request.
func TestGetBodyIsNotARequest(t *testing.T) {
	o := hostileOrigin(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	inner := "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
	req := fmt.Sprintf("GET /outer HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%sGET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", len(inner), inner)
	resp, body, rest := rvRaw(t, n, "GET", req)
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// Exactly one more response: the one for /next.
	if c := bytes.Count(rest, []byte("HTTP/1.1 ")); c != 1 {
		t.Errorf("%d responses after the first, want 1 (for /next): %q", c, rest)
	}
	if got := o.Hits("/smuggled"); got != 0 {
		t.Errorf("origin saw %d requests for the path hidden in a GET body", got)
	}
	if got := o.Hits("/next"); got != 1 {
		t.Errorf("origin saw %d requests for /next, want 1", got)
	}
}

// A malformed chunked request body is the client's fault: 400, not a 5xx
// blaming the origin, and the origin never gets a complete request.
func TestMalformedChunkedBody400(t *testing.T) {
	o := origintest.New(t)
	var complete atomic.Int64
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err == nil && r.URL.Path != edgetest.ProbePath {
			complete.Add(1)
		}
		io.WriteString(w, "ok")
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	for _, tc := range []struct{ name, body string }{
		{"bad size", "zz\r\nhello\r\n0\r\n\r\n"},
		{"missing CRLF after data", "5\r\nhelloXX0\r\n\r\n"},
		{"size overflow", "ffffffffffffffffff\r\nx\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, _ := rvRaw(t, n, "POST", "POST /chunk HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+tc.body)
			if resp.StatusCode != 400 {
				t.Errorf("%d %q, want 400", resp.StatusCode, body)
			}
		})
	}
	if got := complete.Load(); got != 0 {
		t.Errorf("the origin received %d complete requests from malformed chunked bodies", got)
	}
}
