package demo

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// discardRecorder is a ResponseWriter that keeps headers and status and
// counts the body, failing like a departed client after limit bytes so that
// fuzzing /demo/large/4096 or /demo/text/256m stays quick.
type discardRecorder struct {
	h       http.Header
	status  int
	written int64
	limit   int64
}

var errClientGone = errors.New("client went away")

func (d *discardRecorder) Header() http.Header { return d.h }

func (d *discardRecorder) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}

func (d *discardRecorder) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	if d.written+int64(len(p)) > d.limit {
		return 0, errClientGone
	}
	d.written += int64(len(p))
	return len(p), nil
}

var fuzzMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", ""}

// FuzzPath feeds arbitrary paths, queries, methods and header values to the
// handler: it must never panic, always send Server and Date, and answer 5xx
// only for /demo/status/5xx or while the failure switch is on.
func FuzzPath(f *testing.F) {
	seeds := []string{"/", "/demo/", "/demo/text/4k", "/demo/text/0", "/demo/text/256m", "/demo/text/4kk",
		"/demo/slow/5", "/demo/slow/60000", "/demo/gzip/1m", "/demo/large/1", "/demo/large/4096",
		"/demo/tag/a/b", "/demo/tag//", "/demo/status/503", "/demo/status/1", "/demo/vary", "/demo/headers",
		"/demo/fail", "/demo/stats", "/demo/stats/reset", "/demo/image.png", "//demo//text//1", "/demo/text/../json",
		"/\x00", "/\xff\xfe", "/demo/text/99999999999999999999999", "/demo/status/", "/demo/large/-1", ""}
	for i, p := range seeds {
		f.Add(uint8(i), p, "", "bytes=0-10")
	}
	f.Add(uint8(2), "/demo/fail", "on=1", "")
	f.Add(uint8(0), "/demo/text/1k", "", `W/"x", *`)
	f.Add(uint8(0), "/demo/slow/0", "size=1m", "gzip;q=0")

	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, method uint8, path, query, value string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := &http.Request{
			Method:     fuzzMethods[int(method)%len(fuzzMethods)],
			URL:        &url.URL{Path: path, RawQuery: query},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{},
			Host:       "demo.test",
			RemoteAddr: "127.0.0.1:1234",
			Body:       http.NoBody,
		}
		r = r.WithContext(ctx)
		for _, k := range []string{"Range", "If-None-Match", "If-Modified-Since", "If-Range", "Accept-Encoding", "X-Demo-Variant"} {
			r.Header.Set(k, value)
		}
		w := &discardRecorder{h: http.Header{}, limit: 1 << 20}
		func() {
			defer func() {
				// A handler may abort a response whose client went away
				// (here: the 20 ms context ended during /demo/slow).
				if v := recover(); v != nil && (v != http.ErrAbortHandler || ctx.Err() == nil) {
					t.Fatalf("%s %q: panic %v", r.Method, path, v)
				}
			}()
			h.ServeHTTP(w, r)
		}()

		if s.panics.Load() != 0 {
			t.Fatalf("handler panicked on %q", path)
		}
		status := w.status
		if status == 0 {
			status = http.StatusOK
		}
		if status >= 500 && !strings.HasPrefix(path, "/demo/status/") && !s.failing.Load() {
			t.Fatalf("%s %q?%q: status %d", r.Method, path, query, status)
		}
		if w.h.Get("Server") != serverName || w.h.Get("Date") == "" {
			t.Fatalf("%q: missing Server or Date: %v", path, w.h)
		}
		for k, vs := range w.h {
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("%q: header %s has a control character: %q", path, k, v)
				}
			}
		}
	})
}
