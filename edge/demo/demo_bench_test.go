package demo

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkWriteText(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(1 << 20)
	for b.Loop() {
		if err := writeText(io.Discard, "edgecdn demo text, 1048576 bytes", 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteLarge(b *testing.B) {
	e := largeEntity(1)
	b.ReportAllocs()
	b.SetBytes(1 << 20)
	for b.Loop() {
		if err := e.body(io.Discard, 0, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteGzip(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(1 << 20)
	for b.Loop() {
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(io.Discard)
		if err := writeText(zw, "edgecdn demo text, 1048576 bytes", 1<<20); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
		gzipWriters.Put(zw)
	}
}

// BenchmarkHandlerText4k is the handler's own cost for a small text object
// (no network).
func BenchmarkHandlerText4k(b *testing.B) {
	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	req := httptest.NewRequest(http.MethodGet, "/demo/text/4k", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
