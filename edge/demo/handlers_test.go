package demo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const lastModified = "Wed, 01 Jan 2025 00:00:00 GMT"

func TestTextSizes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		arg  string
		size int
	}{
		{name: "zero", arg: "0", size: 0},
		{name: "one", arg: "1", size: 1},
		{name: "header only", arg: "30", size: 30},
		{name: "4096", arg: "4096", size: 4096},
		{name: "4k", arg: "4k", size: 4096},
		{name: "4K", arg: "4K", size: 4096},
		{name: "leading zeros", arg: "0100", size: 100},
		{name: "100000", arg: "100000", size: 100000},
		{name: "1m", arg: "1m", size: 1 << 20},
	}
	etags := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", "/demo/text/"+tt.arg)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if len(body) != tt.size || resp.Header.Get("Content-Length") != strconv.Itoa(tt.size) {
				t.Fatalf("got %d bytes, Content-Length %q; want %d", len(body), resp.Header.Get("Content-Length"), tt.size)
			}
			wantHeaders(t, resp.Header, map[string]string{
				"Content-Type":  "text/plain; charset=utf-8",
				"Cache-Control": "public, max-age=3600",
				"Last-Modified": lastModified,
				"Server":        serverName,
				"Date":          fixedNow.Format(http.TimeFormat),
			})
			if tt.size > 0 && body[len(body)-1] != '\n' {
				t.Errorf("last byte %q; want a newline", body[len(body)-1])
			}
			first := "edgecdn demo text, " + strconv.Itoa(tt.size) + " bytes\n"
			if tt.size >= len(first) && !bytes.HasPrefix(body, []byte(first)) {
				t.Errorf("body starts %q; want %q", body[:min(len(body), 60)], first)
			}
			if tt.size >= 200 && !bytes.Contains(body, []byte("\n     2  ")) {
				t.Errorf("no numbered line 2 in %q", body[:200])
			}

			resp2, body2 := e.do(t, "GET", "/demo/text/"+tt.arg)
			if !bytes.Equal(body, body2) {
				t.Error("second fetch returned different bytes")
			}
			tag := resp.Header.Get("ETag")
			if tag == "" || strings.HasPrefix(tag, "W/") || resp2.Header.Get("ETag") != tag {
				t.Errorf("ETag %q then %q; want one stable strong ETag", tag, resp2.Header.Get("ETag"))
			}
			if prev, ok := etags[tag]; ok && prev != strconv.Itoa(tt.size) {
				t.Errorf("sizes %s and %d share ETag %s", prev, tt.size, tag)
			}
			etags[tag] = strconv.Itoa(tt.size)
		})
	}
}

func TestTextIsReadableAndCompressesRealistically(t *testing.T) {
	var b bytes.Buffer
	if err := writeText(&b, "edgecdn demo text, 131072 bytes", 128<<10); err != nil {
		t.Fatal(err)
	}
	for i, c := range b.Bytes() {
		if c != '\n' && (c < 0x20 || c > 0x7e) {
			t.Fatalf("byte %d is %#x; want printable ASCII", i, c)
		}
	}
	for _, level := range []int{gzip.BestSpeed, gzip.DefaultCompression} {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, level)
		zw.Write(b.Bytes())
		zw.Close()
		if ratio := float64(b.Len()) / float64(z.Len()); ratio < 2.5 || ratio > 6 {
			t.Errorf("gzip level %d ratio %.2f; want a realistic 2.5..6", level, ratio)
		}
	}
}

// TestStreamingMemory checks that generated bodies are streamed: writing
// megabytes allocates only a fixed buffer (gzip is smaller because the race
// detector makes compress/flate very slow).
func TestStreamingMemory(t *testing.T) {
	// Its own compressor, not the pool's: a GC may empty the pool, and the
	// compressor's fixed tables are not what this test is about.
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	tests := []struct {
		name  string
		write func() error
	}{
		{name: "text", write: func() error { return writeText(io.Discard, "x", 8<<20) }},
		{name: "large", write: func() error { return largeEntity(8).body(io.Discard, 0, 8<<20) }},
		{name: "gzip", write: func() error {
			zw.Reset(io.Discard)
			if err := writeText(zw, "x", 2<<20); err != nil {
				return err
			}
			return zw.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); err != nil { // warm up pools and lazy state
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if err := tt.write(); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 512<<10 {
				t.Errorf("streaming the body allocated %d bytes; want < 512 KiB", n)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		path string
		want string // in the body
	}{
		{name: "text negative", path: "/demo/text/-1", want: "size must be a number"},
		{name: "text word", path: "/demo/text/abc", want: "size must be a number"},
		{name: "text empty", path: "/demo/text/", want: "size must be a number"},
		{name: "text double suffix", path: "/demo/text/4kk", want: "size must be a number"},
		{name: "text g suffix", path: "/demo/text/1g", want: "size must be a number"},
		{name: "text hex", path: "/demo/text/0x10", want: "size must be a number"},
		{name: "text plus", path: "/demo/text/+5", want: "size must be a number"},
		{name: "text one too big", path: "/demo/text/268435457", want: "at most 268435456"},
		{name: "text 257m", path: "/demo/text/257m", want: "at most"},
		{name: "text 262145k", path: "/demo/text/262145k", want: "at most"},
		{name: "text overflow", path: "/demo/text/99999999999999999999", want: "size must be a number"},
		{name: "text 18 digits", path: "/demo/text/999999999999999999m", want: "at most"},
		{name: "gzip too big", path: "/demo/gzip/300m", want: "at most"},
		{name: "slow too long", path: "/demo/slow/60001", want: "0..60000"},
		{name: "slow negative", path: "/demo/slow/-1", want: "0..60000"},
		{name: "slow fraction", path: "/demo/slow/1.5", want: "0..60000"},
		{name: "slow empty", path: "/demo/slow/", want: "0..60000"},
		{name: "slow bad size", path: "/demo/slow/60000?size=big", want: "size must be"},
		{name: "slow empty size", path: "/demo/slow/0?size=", want: "size must be"},
		{name: "slow huge size", path: "/demo/slow/0?size=1000m", want: "at most"},
		{name: "large zero", path: "/demo/large/0", want: "1..4096"},
		{name: "large too big", path: "/demo/large/4097", want: "1..4096"},
		{name: "large suffix", path: "/demo/large/1m", want: "1..4096"},
		{name: "status 1xx", path: "/demo/status/100", want: "1xx"},
		{name: "status 199", path: "/demo/status/199", want: "1xx"},
		{name: "status 600", path: "/demo/status/600", want: "200..599"},
		{name: "status 99", path: "/demo/status/99", want: "200..599"},
		{name: "status word", path: "/demo/status/ok", want: "200..599"},
		{name: "tag no name", path: "/demo/tag/news", want: "<tag> must be"},
		{name: "tag empty name", path: "/demo/tag/news/", want: "<tag> must be"},
		{name: "tag with space", path: "/demo/tag/bad%20tag/x", want: "<tag> must be"},
		{name: "tag too long", path: "/demo/tag/" + strings.Repeat("t", 65) + "/x", want: "<tag> must be"},
		{name: "tag name too long", path: "/demo/tag/t/" + strings.Repeat("n", 201), want: "<tag> must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tt.path)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d; want 400", resp.StatusCode)
			}
			if !strings.Contains(string(body), tt.want) || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("body %q (%s); want text containing %q", body, resp.Header.Get("Content-Type"), tt.want)
			}
			if resp.Header.Get("Cache-Control") != "" {
				t.Errorf("a 400 carries Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestLargestSizesHead(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path string
		size string
	}{
		{path: "/demo/text/256m", size: "268435456"},
		{path: "/demo/text/262144k", size: "268435456"},
		{path: "/demo/large/4096", size: "4294967296"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := e.do(t, "HEAD", tt.path)
			if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != tt.size {
				t.Errorf("HEAD: %d, %d bytes, Content-Length %q; want 200, no body, %s", resp.StatusCode, len(body), resp.Header.Get("Content-Length"), tt.size)
			}
		})
	}
}

func TestConditional(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.do(t, "GET", "/demo/text/4k")
	tag := resp.Header.Get("ETag")
	weak := "W/" + tag
	tests := []struct {
		name   string
		path   string
		hdr    []string
		status int
	}{
		{name: "INM exact", hdr: []string{"If-None-Match", tag}, status: 304},
		{name: "INM weak matches (weak comparison)", hdr: []string{"If-None-Match", weak}, status: 304},
		{name: "INM list", hdr: []string{"If-None-Match", `"nope", "a,b", ` + tag}, status: 304},
		{name: "INM list no spaces", hdr: []string{"If-None-Match", `"nope",` + weak}, status: 304},
		{name: "INM two header lines", hdr: []string{"If-None-Match", `"nope"`, "If-None-Match", tag}, status: 304},
		{name: "INM star", hdr: []string{"If-None-Match", "*"}, status: 304},
		{name: "INM other", hdr: []string{"If-None-Match", `"nope"`}, status: 200},
		{name: "INM malformed", hdr: []string{"If-None-Match", "nope"}, status: 200},
		{name: "INM other size", path: "/demo/text/4097", hdr: []string{"If-None-Match", tag}, status: 200},
		{name: "INM mismatch overrides IMS", hdr: []string{"If-None-Match", `"nope"`, "If-Modified-Since", lastModified}, status: 200},
		{name: "IMS equal", hdr: []string{"If-Modified-Since", lastModified}, status: 304},
		{name: "IMS later", hdr: []string{"If-Modified-Since", "Sun, 01 Jun 2025 00:00:00 GMT"}, status: 304},
		{name: "IMS earlier", hdr: []string{"If-Modified-Since", "Tue, 31 Dec 2024 23:59:59 GMT"}, status: 200},
		{name: "IMS in the future is ignored", hdr: []string{"If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}, status: 200},
		{name: "IMS malformed", hdr: []string{"If-Modified-Since", "yesterday"}, status: 200},
		{name: "If-Match same", hdr: []string{"If-Match", tag}, status: 200},
		{name: "If-Match star", hdr: []string{"If-Match", "*"}, status: 200},
		{name: "If-Match weak fails (strong comparison)", hdr: []string{"If-Match", weak}, status: 412},
		{name: "If-Match other", hdr: []string{"If-Match", `"nope"`}, status: 412},
		{name: "IUS earlier", hdr: []string{"If-Unmodified-Since", "Tue, 31 Dec 2024 23:59:59 GMT"}, status: 412},
		{name: "IUS equal", hdr: []string{"If-Unmodified-Since", lastModified}, status: 200},
		{name: "slow INM", path: "/demo/slow/0", hdr: []string{"If-None-Match", "*"}, status: 304},
		{name: "slow IMS", path: "/demo/slow/0", hdr: []string{"If-Modified-Since", lastModified}, status: 304},
		{name: "json INM", path: "/demo/json", hdr: []string{"If-None-Match", jsonDoc().etag}, status: 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/demo/text/4k"
			}
			resp, body := e.do(t, "GET", path, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.status)
			}
			h := resp.Header
			switch tt.status {
			case 304:
				if len(body) != 0 || h.Get("Content-Type") != "" || h.Get("Content-Length") != "" {
					t.Errorf("304 with body %q, Content-Type %q, Content-Length %q", body, h.Get("Content-Type"), h.Get("Content-Length"))
				}
				for _, k := range []string{"ETag", "Cache-Control", "Last-Modified", "Date", "Server", "X-Demo-Fetch"} {
					if h.Get(k) == "" {
						t.Errorf("304 without %s", k)
					}
				}
			case 412:
				if h.Get("Cache-Control") != "" {
					t.Errorf("412 with Cache-Control %q", h.Get("Cache-Control"))
				}
			case 200:
				if len(body) == 0 {
					t.Error("200 without a body")
				}
			}
		})
	}
}

func TestHead(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path string
		hdr  []string
	}{
		{path: "/"},
		{path: "/demo/text/4k"},
		{path: "/demo/slow/0?size=100"},
		{path: "/demo/gzip/4k"},
		{path: "/demo/gzip/4k", hdr: []string{"Accept-Encoding", "gzip"}},
		{path: "/demo/json"},
		{path: "/demo/image.png"},
		{path: "/demo/image.svg"},
		{path: "/demo/large/1"},
		{path: "/demo/nostore"},
		{path: "/demo/private"},
		{path: "/demo/nocache"},
		{path: "/demo/expires"},
		{path: "/demo/heuristic"},
		{path: "/demo/nofreshness"},
		{path: "/demo/stale"},
		{path: "/demo/tag/news/a"},
		{path: "/demo/vary", hdr: []string{"X-Demo-Variant", "b"}},
		{path: "/demo/status/404"},
		{path: "/demo/status/301"},
		{path: "/demo/headers"},
		{path: "/demo/fail"},
		{path: "/demo/stats"},
		{path: "/nothing-here"},
	}
	keys := []string{"Content-Type", "Content-Length", "Content-Encoding", "Cache-Control", "ETag", "Last-Modified",
		"Expires", "Vary", "Accept-Ranges", "Location", "Surrogate-Key", "Cache-Tag", "Server", "Date"}
	for _, tt := range tests {
		t.Run(tt.path+strings.Join(tt.hdr, ":"), func(t *testing.T) {
			get, getBody := e.do(t, "GET", tt.path, tt.hdr...)
			head, headBody := e.do(t, "HEAD", tt.path, tt.hdr...)
			if head.StatusCode != get.StatusCode || len(headBody) != 0 {
				t.Fatalf("HEAD: %d with %d bytes; GET: %d", head.StatusCode, len(headBody), get.StatusCode)
			}
			for _, k := range keys {
				g, h := get.Header.Get(k), head.Header.Get(k)
				if k == "Content-Length" && get.Header.Get("Content-Encoding") == "gzip" {
					continue // streamed compression: only a GET knows the length
				}
				if k == "Content-Length" && tt.path == "/demo/headers" {
					continue // the echo names the method, so its length differs
				}
				if k == "Content-Length" && g == "" && get.ContentLength >= 0 {
					g = strconv.Itoa(len(getBody))
				}
				if g != h {
					t.Errorf("%s: GET %q, HEAD %q", k, g, h)
				}
			}
		})
	}
}

func TestSlow(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	resp, body := e.do(t, "GET", "/demo/slow/200?size=1k")
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Errorf("answered after %v; want at least 200ms", elapsed)
	}
	if resp.StatusCode != 200 || len(body) != 1024 || !bytes.HasPrefix(body, []byte("edgecdn demo slow response, 200 ms delay, 1024 bytes\n")) {
		t.Errorf("status %d, %d bytes, starting %q", resp.StatusCode, len(body), body[:min(60, len(body))])
	}
	wantHeaders(t, resp.Header, map[string]string{"Cache-Control": "public, max-age=3600", "Last-Modified": lastModified})

	_, def := e.do(t, "GET", "/demo/slow/0")
	if len(def) != defaultSlowSz {
		t.Errorf("default size %d; want %d", len(def), defaultSlowSz)
	}
	tags := map[string]string{}
	for _, p := range []string{"/demo/slow/0", "/demo/slow/1", "/demo/slow/0?size=4097", "/demo/text/4096", "/demo/gzip/4096"} {
		resp, _ := e.do(t, "GET", p)
		tag := resp.Header.Get("ETag")
		if other, ok := tags[tag]; ok {
			t.Errorf("%s and %s share ETag %s", p, other, tag)
		}
		tags[tag] = p
	}
}

func TestSlowCancellation(t *testing.T) {
	t.Run("handler returns when the request context ends", func(t *testing.T) {
		s, err := New(Config{Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequestWithContext(ctx, "GET", "/demo/slow/60000", nil)
		done := make(chan struct{})
		var aborted any
		go func() {
			defer close(done)
			defer func() { aborted = recover() }()
			s.Handler().ServeHTTP(httptest.NewRecorder(), req)
		}()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler kept waiting after its context ended")
		}
		if aborted != http.ErrAbortHandler {
			t.Errorf("handler ended with %v; want it to abort the response (http.ErrAbortHandler)", aborted)
		}
	})
	t.Run("client going away ends the handler", func(t *testing.T) {
		e := newEnv(t)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/demo/slow/60000", nil)
		errc := make(chan error, 1)
		go func() {
			resp, err := e.c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		waitFor(t, "the request to arrive", func() bool { return e.s.active.Load() == 1 })
		cancel()
		if err := <-errc; err == nil {
			t.Error("request succeeded")
		}
		waitFor(t, "the handler to return", func() bool { return e.s.active.Load() == 0 })
		if n := e.s.Stats()["/demo/slow/60000"]; n != 1 {
			t.Errorf("counted %d times before the delay; want 1", n)
		}
	})
}

func TestGzip(t *testing.T) {
	e := newEnv(t)
	resp, plain := e.do(t, "GET", "/demo/gzip/64k", "Accept-Encoding", "identity")
	plainTag := resp.Header.Get("ETag")
	if len(plain) != 64<<10 || !bytes.HasPrefix(plain, []byte("edgecdn demo text compressed by the origin, 65536 bytes before compression\n")) {
		t.Fatalf("identity body: %d bytes starting %q", len(plain), plain[:min(80, len(plain))])
	}
	tests := []struct {
		name string
		ae   []string // Accept-Encoding lines; nil = none
		gzip bool
	}{
		{name: "no header"},
		{name: "gzip", ae: []string{"gzip"}, gzip: true},
		{name: "browser list", ae: []string{"gzip, deflate, br, zstd"}, gzip: true},
		{name: "upper case", ae: []string{"GZIP"}, gzip: true},
		{name: "x-gzip", ae: []string{"x-gzip"}, gzip: true},
		{name: "star", ae: []string{"*"}, gzip: true},
		{name: "q=0.5", ae: []string{"br, gzip;q=0.5"}, gzip: true},
		{name: "q with spaces", ae: []string{"gzip ; q=0.8"}, gzip: true},
		{name: "second header line", ae: []string{"br", "gzip"}, gzip: true},
		{name: "q=0", ae: []string{"gzip;q=0"}},
		{name: "q=0.000", ae: []string{"gzip;Q=0.000"}},
		{name: "q=0 beats star", ae: []string{"gzip;q=0, *"}},
		{name: "star q=0", ae: []string{"*;q=0"}},
		{name: "identity", ae: []string{"identity"}},
		{name: "br only", ae: []string{"br"}},
		{name: "bad q", ae: []string{"gzip;q=high"}},
		{name: "q above 1", ae: []string{"gzip;q=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			for _, v := range tt.ae {
				hdr = append(hdr, "Accept-Encoding", v)
			}
			resp, body := e.do(t, "GET", "/demo/gzip/64k", hdr...)
			h := resp.Header
			if resp.StatusCode != 200 || h.Get("Vary") != "Accept-Encoding" || h.Get("Cache-Control") != "public, max-age=3600" {
				t.Fatalf("status %d, Vary %q, Cache-Control %q", resp.StatusCode, h.Get("Vary"), h.Get("Cache-Control"))
			}
			if !tt.gzip {
				if h.Get("Content-Encoding") != "" || !bytes.Equal(body, plain) || h.Get("ETag") != plainTag {
					t.Errorf("want identity: Content-Encoding %q, %d bytes, ETag %q", h.Get("Content-Encoding"), len(body), h.Get("ETag"))
				}
				return
			}
			if h.Get("Content-Encoding") != "gzip" || h.Get("ETag") != strings.TrimSuffix(plainTag, `"`)+`-gzip"` {
				t.Fatalf("want gzip: Content-Encoding %q, ETag %q (identity %q)", h.Get("Content-Encoding"), h.Get("ETag"), plainTag)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("decompressed %d bytes (err %v); want the identity body", len(got), err)
			}
			if ratio := float64(len(plain)) / float64(len(body)); ratio < 2 {
				t.Errorf("compression ratio %.2f; want a real gain", ratio)
			}
		})
	}
	t.Run("deterministic and revalidates", func(t *testing.T) {
		r1, b1 := e.do(t, "GET", "/demo/gzip/64k", "Accept-Encoding", "gzip")
		_, b2 := e.do(t, "GET", "/demo/gzip/64k", "Accept-Encoding", "gzip")
		if !bytes.Equal(b1, b2) {
			t.Error("two compressed answers differ")
		}
		r3, _ := e.do(t, "GET", "/demo/gzip/64k", "Accept-Encoding", "gzip", "If-None-Match", r1.Header.Get("ETag"))
		if r3.StatusCode != 304 || r3.Header.Get("Content-Encoding") != "" || r3.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("revalidation: %d, Content-Encoding %q, Vary %q; want 304, none, Accept-Encoding", r3.StatusCode, r3.Header.Get("Content-Encoding"), r3.Header.Get("Vary"))
		}
		r4, _ := e.do(t, "GET", "/demo/gzip/64k", "Accept-Encoding", "identity", "If-None-Match", r1.Header.Get("ETag"))
		if r4.StatusCode != 200 {
			t.Errorf("the gzip ETag revalidated the identity variant: %d", r4.StatusCode)
		}
	})
	t.Run("empty body", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/demo/gzip/0", "Accept-Encoding", "gzip")
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%d: %v", resp.StatusCode, err)
		}
		if got, err := io.ReadAll(zr); err != nil || len(got) != 0 {
			t.Errorf("decompressed %q, %v; want empty", got, err)
		}
	})
}

func TestLargeRange(t *testing.T) {
	e := newEnv(t)
	const size = 1 << 20
	resp, full := e.do(t, "GET", "/demo/large/1")
	tag := resp.Header.Get("ETag")
	if len(full) != size {
		t.Fatalf("got %d bytes; want %d", len(full), size)
	}
	wantHeaders(t, resp.Header, map[string]string{
		"Content-Type":   "application/octet-stream",
		"Content-Length": strconv.Itoa(size),
		"Cache-Control":  "public, max-age=3600",
		"Accept-Ranges":  "bytes",
		"Last-Modified":  lastModified,
	})
	if _, again := e.do(t, "GET", "/demo/large/1"); !bytes.Equal(full, again) {
		t.Error("two fetches differ")
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(full)
	zw.Close()
	if z.Len() < size {
		t.Errorf("gzip shrank the large file to %d bytes; want incompressible", z.Len())
	}
	if r2, _ := e.do(t, "HEAD", "/demo/large/2"); r2.Header.Get("ETag") == tag {
		t.Error("/demo/large/1 and /demo/large/2 share an ETag")
	}

	tests := []struct {
		name       string
		method     string
		hdr        []string
		status     int
		start, end int // inclusive, for 206
	}{
		{name: "first 100 bytes", hdr: []string{"Range", "bytes=0-99"}, status: 206, start: 0, end: 99},
		{name: "unaligned", hdr: []string{"Range", "bytes=3-20"}, status: 206, start: 3, end: 20},
		{name: "one byte", hdr: []string{"Range", "bytes=13-13"}, status: 206, start: 13, end: 13},
		{name: "open end", hdr: []string{"Range", "bytes=1048000-"}, status: 206, start: 1048000, end: size - 1},
		{name: "suffix", hdr: []string{"Range", "bytes=-10"}, status: 206, start: size - 10, end: size - 1},
		{name: "suffix longer than the file", hdr: []string{"Range", "bytes=-2000000"}, status: 206, start: 0, end: size - 1},
		{name: "end clipped", hdr: []string{"Range", "bytes=1048570-2000000"}, status: 206, start: 1048570, end: size - 1},
		{name: "unit case and spaces", hdr: []string{"Range", "Bytes= 5 - 9"}, status: 206, start: 5, end: 9},
		{name: "start beyond the end", hdr: []string{"Range", "bytes=1048576-"}, status: 416},
		{name: "suffix zero", hdr: []string{"Range", "bytes=-0"}, status: 416},
		{name: "multiple ranges ignored", hdr: []string{"Range", "bytes=0-1,5-6"}, status: 200},
		{name: "malformed ignored", hdr: []string{"Range", "bytes=x-y"}, status: 200},
		{name: "reversed ignored", hdr: []string{"Range", "bytes=10-5"}, status: 200},
		{name: "other unit ignored", hdr: []string{"Range", "items=0-1"}, status: 200},
		{name: "If-Range matching ETag", hdr: []string{"Range", "bytes=0-9", "If-Range", tag}, status: 206, start: 0, end: 9},
		{name: "If-Range other ETag", hdr: []string{"Range", "bytes=0-9", "If-Range", `"old"`}, status: 200},
		{name: "If-Range weak ETag", hdr: []string{"Range", "bytes=0-9", "If-Range", "W/" + tag}, status: 200},
		{name: "If-Range date", hdr: []string{"Range", "bytes=0-9", "If-Range", lastModified}, status: 206, start: 0, end: 9},
		{name: "If-Range other date", hdr: []string{"Range", "bytes=0-9", "If-Range", "Thu, 02 Jan 2025 00:00:00 GMT"}, status: 200},
		{name: "INM before Range", hdr: []string{"Range", "bytes=0-9", "If-None-Match", tag}, status: 304},
		{name: "HEAD ignores Range", method: "HEAD", hdr: []string{"Range", "bytes=0-9"}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			resp, body := e.do(t, method, "/demo/large/1", tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.status)
			}
			h := resp.Header
			switch tt.status {
			case 206:
				want := "bytes " + strconv.Itoa(tt.start) + "-" + strconv.Itoa(tt.end) + "/" + strconv.Itoa(size)
				if h.Get("Content-Range") != want || h.Get("Content-Length") != strconv.Itoa(tt.end-tt.start+1) {
					t.Errorf("Content-Range %q, Content-Length %q; want %q, %d", h.Get("Content-Range"), h.Get("Content-Length"), want, tt.end-tt.start+1)
				}
				if !bytes.Equal(body, full[tt.start:tt.end+1]) {
					t.Error("range bytes differ from the same bytes of the whole file")
				}
			case 416:
				if h.Get("Content-Range") != "bytes */"+strconv.Itoa(size) || h.Get("Cache-Control") != "" {
					t.Errorf("416: Content-Range %q, Cache-Control %q", h.Get("Content-Range"), h.Get("Cache-Control"))
				}
			case 200:
				if h.Get("Content-Range") != "" || h.Get("Content-Length") != strconv.Itoa(size) || (method == "GET" && len(body) != size) {
					t.Errorf("200: Content-Range %q, Content-Length %q, %d bytes", h.Get("Content-Range"), h.Get("Content-Length"), len(body))
				}
			}
		})
	}
	t.Run("tail of the largest file", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/demo/large/4096", "Range", "bytes=-16")
		if resp.StatusCode != 206 || len(body) != 16 || resp.Header.Get("Content-Range") != "bytes 4294967280-4294967295/4294967296" {
			t.Errorf("%d, %d bytes, Content-Range %q", resp.StatusCode, len(body), resp.Header.Get("Content-Range"))
		}
	})
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path, allow string
	}{
		{"POST", "/demo/text/10", "GET, HEAD"},
		{"PUT", "/demo/json", "GET, HEAD"},
		{"DELETE", "/", "GET, HEAD"},
		{"OPTIONS", "/demo/large/1", "GET, HEAD"},
		{"PATCH", "/demo/slow/0", "GET, HEAD"},
		{"POST", "/demo/gzip/1", "GET, HEAD"},
		{"POST", "/demo/status/200", "GET, HEAD"},
		{"POST", "/demo/tag/a/b", "GET, HEAD"},
		{"POST", "/demo/stale", "GET, HEAD"},
		{"POST", "/demo/nostore", "GET, HEAD"},
		{"POST", "/demo/stats", "GET, HEAD"},
		{"GET", "/demo/stats/reset", "POST"},
		{"PUT", "/demo/fail", "GET, HEAD, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tt.allow {
				t.Errorf("%d, Allow %q; want 405, %q (%s)", resp.StatusCode, resp.Header.Get("Allow"), tt.allow, body)
			}
		})
	}
}

func TestFailSwitch(t *testing.T) {
	e := newEnv(t)
	if _, body := e.do(t, "GET", "/demo/fail"); !strings.Contains(string(body), "switch: off") {
		t.Fatalf("initial state: %s", body)
	}
	steps := []struct {
		name, method, path string
		status             int
		noStore            bool
	}{
		{name: "text works", method: "GET", path: "/demo/text/10", status: 200},
		{name: "switch on", method: "POST", path: "/demo/fail?on=1", status: 200, noStore: true},
		{name: "switch on again is harmless", method: "POST", path: "/demo/fail?on=true", status: 200, noStore: true},
		{name: "text fails", method: "GET", path: "/demo/text/10", status: 503, noStore: true},
		{name: "text HEAD fails", method: "HEAD", path: "/demo/text/10", status: 503, noStore: true},
		{name: "text with bad size fails too", method: "GET", path: "/demo/text/x", status: 503, noStore: true},
		{name: "stale fails", method: "GET", path: "/demo/stale", status: 503, noStore: true},
		{name: "json unaffected", method: "GET", path: "/demo/json", status: 200},
		{name: "slow unaffected", method: "GET", path: "/demo/slow/0", status: 200},
		{name: "missing on", method: "POST", path: "/demo/fail", status: 400},
		{name: "bad on", method: "POST", path: "/demo/fail?on=maybe", status: 400},
		{name: "switch off", method: "POST", path: "/demo/fail?on=0", status: 200, noStore: true},
		{name: "text works again", method: "GET", path: "/demo/text/10", status: 200},
		{name: "stale works again", method: "GET", path: "/demo/stale", status: 200},
	}
	for _, st := range steps {
		resp, body := e.do(t, st.method, st.path)
		if resp.StatusCode != st.status {
			t.Fatalf("%s: status %d; want %d (%s)", st.name, resp.StatusCode, st.status, body)
		}
		if st.noStore && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q; want no-store", st.name, resp.Header.Get("Cache-Control"))
		}
		if st.name == "switch on" {
			if _, body := e.do(t, "GET", "/demo/fail"); !strings.Contains(string(body), "switch: on") {
				t.Errorf("GET /demo/fail after switching on: %s", body)
			}
		}
	}
}

func TestEndpointHeaders(t *testing.T) {
	e := newEnv(t)
	date := fixedNow.Format(http.TimeFormat)
	tests := []struct {
		name   string
		path   string
		hdr    []string
		status int
		want   map[string]string // "" = must be absent
		body   string            // substring
	}{
		{name: "index", path: "/", status: 200, body: "/demo/text/",
			want: map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "public, max-age=60", "Last-Modified": lastModified}},
		{name: "index under /demo/", path: "/demo/", status: 200, body: "<h1>edgecdn demo origin</h1>",
			want: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "json", path: "/demo/json", status: 200, body: `"products"`,
			want: map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=60"}},
		{name: "svg", path: "/demo/image.svg", status: 200, body: "<svg",
			want: map[string]string{"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"}},
		{name: "nostore", path: "/demo/nostore", status: 200, body: "no-store",
			want: map[string]string{"Cache-Control": "no-store", "ETag": "", "Last-Modified": "", "Expires": ""}},
		{name: "private", path: "/demo/private", status: 200, body: "shared cache",
			want: map[string]string{"Cache-Control": "private, max-age=60", "ETag": ""}},
		{name: "nocache", path: "/demo/nocache", status: 200, body: "revalidate",
			want: map[string]string{"Cache-Control": "no-cache", "Last-Modified": ""}},
		{name: "expires", path: "/demo/expires", status: 200, body: "Expires",
			want: map[string]string{"Cache-Control": "", "Expires": fixedNow.Add(120 * time.Second).Format(http.TimeFormat), "Date": date}},
		{name: "heuristic", path: "/demo/heuristic", status: 200, body: "heuristic",
			want: map[string]string{"Cache-Control": "", "Expires": "", "ETag": "", "Last-Modified": fixedNow.Add(-24 * time.Hour).Format(http.TimeFormat)}},
		{name: "nofreshness", path: "/demo/nofreshness", status: 200, body: "no way to revalidate",
			want: map[string]string{"Cache-Control": "", "Expires": "", "ETag": "", "Last-Modified": ""}},
		{name: "stale", path: "/demo/stale", status: 200, body: fixedNow.Format(time.RFC3339),
			want: map[string]string{"Cache-Control": "public, max-age=5, stale-while-revalidate=30, stale-if-error=300", "Last-Modified": date}},
		{name: "tag", path: "/demo/tag/news/article-1", status: 200, body: `"article-1"`,
			want: map[string]string{"Surrogate-Key": "news demo-all", "Cache-Tag": "news", "Cache-Control": "public, max-age=3600"}},
		{name: "vary default", path: "/demo/vary", status: 200, body: `X-Demo-Variant: "none"`,
			want: map[string]string{"Vary": "X-Demo-Variant", "Cache-Control": "public, max-age=3600"}},
		{name: "vary variant", path: "/demo/vary", hdr: []string{"X-Demo-Variant", "blue"}, status: 200, body: `X-Demo-Variant: "blue"`,
			want: map[string]string{"Vary": "X-Demo-Variant"}},
		{name: "status 200", path: "/demo/status/200", status: 200, body: "demo status 200 OK",
			want: map[string]string{"Cache-Control": "public, max-age=30", "Content-Type": "text/plain; charset=utf-8"}},
		{name: "status 204", path: "/demo/status/204", status: 204,
			want: map[string]string{"Cache-Control": "public, max-age=30", "Content-Length": ""}},
		{name: "status 301", path: "/demo/status/301", status: 301, body: "301 Moved Permanently",
			want: map[string]string{"Location": "/demo/", "Cache-Control": "public, max-age=30"}},
		{name: "status 401", path: "/demo/status/401", status: 401,
			want: map[string]string{"WWW-Authenticate": `Basic realm="edgecdn-demo"`}},
		{name: "status 404", path: "/demo/status/404", status: 404, body: "404 Not Found",
			want: map[string]string{"Cache-Control": "public, max-age=30"}},
		{name: "status 418", path: "/demo/status/418", status: 418, body: "teapot"},
		{name: "status 299", path: "/demo/status/299", status: 299, body: "no standard reason phrase"},
		{name: "status 503", path: "/demo/status/503", status: 503,
			want: map[string]string{"Retry-After": "30", "Cache-Control": "public, max-age=30"}},
		{name: "status 599", path: "/demo/status/599", status: 599},
		{name: "not found", path: "/demo/nothing", status: 404, body: `"/demo/nothing"`,
			want: map[string]string{"Cache-Control": "", "Content-Type": "text/plain; charset=utf-8"}},
		{name: "text without size", path: "/demo/text", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tt.path, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d (%s)", resp.StatusCode, tt.status, body)
			}
			wantHeaders(t, resp.Header, map[string]string{"Server": serverName, "Date": date})
			if resp.Header.Get("X-Demo-Fetch") == "" {
				t.Error("no X-Demo-Fetch")
			}
			wantHeaders(t, resp.Header, tt.want)
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("body %q lacks %q", body, tt.body)
			}
		})
	}
}

func TestValidatorsChangeWithContent(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		first func() (*http.Response, []byte)
		next  func() (*http.Response, []byte)
		same  bool
	}{
		{
			name:  "stale changes when time passes",
			first: func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/stale") },
			next: func() (*http.Response, []byte) {
				e.clock.set(fixedNow.Add(10 * time.Second))
				defer e.clock.set(fixedNow)
				return e.do(t, "GET", "/demo/stale")
			},
		},
		{
			name:  "vary differs per variant",
			first: func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/vary", "X-Demo-Variant", "a") },
			next:  func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/vary", "X-Demo-Variant", "b") },
		},
		{
			name:  "tag differs per name",
			first: func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/tag/t/a") },
			next:  func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/tag/t/b") },
		},
		{
			name:  "nocache is stable",
			first: func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/nocache") },
			next:  func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/nocache") },
			same:  true,
		},
		{
			name:  "json is stable",
			first: func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/json") },
			next:  func() (*http.Response, []byte) { return e.do(t, "GET", "/demo/json") },
			same:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r1, b1 := tt.first()
			r2, b2 := tt.next()
			t1, t2 := r1.Header.Get("ETag"), r2.Header.Get("ETag")
			if t1 == "" || t2 == "" {
				t.Fatalf("ETags %q, %q", t1, t2)
			}
			if same := t1 == t2 && bytes.Equal(b1, b2); same != tt.same {
				t.Errorf("ETags %q, %q, bodies equal %v; want same=%v", t1, t2, bytes.Equal(b1, b2), tt.same)
			}
		})
	}
	t.Run("nocache revalidates", func(t *testing.T) {
		resp, _ := e.do(t, "GET", "/demo/nocache")
		resp, body := e.do(t, "GET", "/demo/nocache", "If-None-Match", resp.Header.Get("ETag"))
		if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%d, %d bytes, Cache-Control %q; want 304, none, no-cache", resp.StatusCode, len(body), resp.Header.Get("Cache-Control"))
		}
	})
	t.Run("heuristic honours If-Modified-Since", func(t *testing.T) {
		resp, _ := e.do(t, "GET", "/demo/heuristic")
		resp, _ = e.do(t, "GET", "/demo/heuristic", "If-Modified-Since", resp.Header.Get("Last-Modified"))
		if resp.StatusCode != 304 {
			t.Errorf("status %d; want 304", resp.StatusCode)
		}
	})
}

func TestDocuments(t *testing.T) {
	e := newEnv(t)
	t.Run("png", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/demo/image.png")
		wantHeaders(t, resp.Header, map[string]string{"Content-Type": "image/png", "Cache-Control": "public, max-age=86400", "Content-Length": strconv.Itoa(len(body))})
		if len(body) < 200<<10 || len(body) > 400<<10 {
			t.Errorf("PNG is %d bytes; want 200..400 KiB", len(body))
		}
		img, err := png.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 480 {
			t.Errorf("PNG is %v; want 640x480", b)
		}
	})
	t.Run("json", func(t *testing.T) {
		_, body := e.do(t, "GET", "/demo/json")
		var doc struct {
			Count    int               `json:"count"`
			Products []json.RawMessage `json:"products"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Count != len(doc.Products) || doc.Count == 0 || len(body) < 2<<10 || len(body) > 16<<10 {
			t.Errorf("count %d, %d products, %d bytes; want a few KiB", doc.Count, len(doc.Products), len(body))
		}
	})
	t.Run("index lists every endpoint", func(t *testing.T) {
		_, body := e.do(t, "GET", "/")
		for _, p := range []string{"/demo/text/", "/demo/slow/", "/demo/gzip/", "/demo/json", "/demo/image.png", "/demo/image.svg",
			"/demo/large/", "/demo/nostore", "/demo/private", "/demo/nocache", "/demo/expires", "/demo/heuristic",
			"/demo/nofreshness", "/demo/stale", "/demo/tag/", "/demo/vary", "/demo/status/", "/demo/headers", "/demo/fail",
			"/demo/stats", "/demo/stats/reset"} {
			if !bytes.Contains(body, []byte(p)) {
				t.Errorf("the index does not mention %s", p)
			}
		}
	})
}

func TestHeadersEcho(t *testing.T) {
	e := newEnv(t)
	type echoDoc struct {
		Method    string              `json:"method"`
		Path      string              `json:"path"`
		Query     string              `json:"query"`
		Host      string              `json:"host"`
		Headers   map[string][]string `json:"headers"`
		BodyBytes int64               `json:"body_bytes"`
	}
	tests := []struct {
		name   string
		method string
		query  string
		body   string
	}{
		{name: "GET", method: "GET", query: "a=1&b=2"},
		{name: "POST with body", method: "POST", body: strings.Repeat("x", 1000)},
		{name: "PUT with body", method: "PUT", body: "hello"},
		{name: "DELETE", method: "DELETE"},
		{name: "PATCH", method: "PATCH", body: "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/demo/headers"
			if tt.query != "" {
				path += "?" + tt.query
			}
			var rd io.Reader
			if tt.body != "" {
				rd = strings.NewReader(tt.body)
			}
			resp, body := e.doBody(t, tt.method, path, rd, "X-Test", "one", "X-Test", "two")
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %v", resp.StatusCode, resp.Header)
			}
			var doc echoDoc
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			if doc.Method != tt.method || doc.Path != "/demo/headers" || doc.Query != tt.query || doc.BodyBytes != int64(len(tt.body)) {
				t.Errorf("echo = %+v", doc)
			}
			if got := doc.Headers["X-Test"]; len(got) != 2 || got[0] != "one" || got[1] != "two" {
				t.Errorf("X-Test echoed as %q", got)
			}
			if !strings.HasPrefix(doc.Host, "127.0.0.1:") {
				t.Errorf("host %q", doc.Host)
			}
		})
	}
	t.Run("headers sorted", func(t *testing.T) {
		_, body := e.do(t, "GET", "/demo/headers", "Zz-Last", "1", "Aa-First", "1")
		if a, z := bytes.Index(body, []byte("Aa-First")), bytes.Index(body, []byte("Zz-Last")); a < 0 || z < a {
			t.Errorf("headers not sorted:\n%s", body)
		}
	})
}

func TestClockDefaultsToNow(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0"}, WithClock(nil), WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/demo/stale", nil))
	d, err := http.ParseTime(rec.Header().Get("Date"))
	if err != nil || time.Since(d).Abs() > time.Minute {
		t.Errorf("Date %q (%v); want about now", rec.Header().Get("Date"), err)
	}
}

// wantHeaders checks each header; a "" value means the header must be absent.
func wantHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if _, present := h[http.CanonicalHeaderKey(k)]; v == "" && present {
			t.Errorf("%s: %q; want none", k, h.Get(k))
		} else if got := h.Get(k); v != "" && got != v {
			t.Errorf("%s: %q; want %q", k, got, v)
		}
	}
}
