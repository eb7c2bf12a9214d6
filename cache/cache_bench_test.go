package cache

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"
)

func BenchmarkAppendKey(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		var err error
		buf, err = AppendKey(buf[:0], "http", "www.Example.com:80", "/static/img/logo%2epng", "v=123&w=64", true)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDirectives(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		d := ParseDirectives("public, max-age=3600, s-maxage=600, stale-while-revalidate=30")
		if d.MaxAge != 3600 {
			b.Fatal(d)
		}
	}
}

func BenchmarkLookupHit(b *testing.B) {
	s, err := New(Config{MaxMemory: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Stop(context.Background())
	const key = "http://www.example.com/static/img/logo.png"
	f, _ := s.Begin(key, true)
	e := f.NewDraft()
	e.Key, e.Status, e.Lifetime, e.ResponseTime = key, 200, time.Hour, time.Now()
	e.Bodies[Identity] = make([]byte, 1024)
	st, _ := s.Put(e, time.Hour)
	f.Finish(st, true, nil)
	s.Wait()
	h := http.Header{}
	req := ParseDirectives("")
	b.ReportAllocs()
	for b.Loop() {
		got, _, res := s.Lookup(key, h)
		if res != Found || got.Decide(&req, time.Now()).Use != UseFresh {
			b.Fatal(res)
		}
	}
}

// fillStore stores n small objects under http://bench.example/d<i%10>/o<i>,
// each tagged "all" and "t<i%10>", and returns the store.
func fillStore(b *testing.B, s *Store, n int) {
	b.Helper()
	for i := range n {
		key := fmt.Sprintf("http://bench.example/d%d/o%d", i%10, i)
		f, _ := s.Begin(key, true)
		e := f.NewDraft()
		e.Key, e.Status, e.Lifetime, e.ResponseTime = key, 200, time.Hour, time.Now()
		e.Tags = []string{"all", fmt.Sprintf("t%d", i%10)}
		e.Bodies[Identity] = make([]byte, 64)
		st, _ := s.Put(e, time.Hour)
		f.Finish(st, true, nil)
	}
	s.Wait()
}

// benchmarkPurge purges the objects of one tag, or one prefix, out of a
// store of 1M objects: 100k objects each (the 100k-object purge).
func benchmarkPurge(b *testing.B, req PurgeRequest) {
	s, err := New(Config{MaxMemory: 8 << 30})
	if err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Stop(context.Background())
	const total = 1_000_000
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		fillStore(b, s, total)
		runtime.GC() // the fill's garbage is not the purge's cost
		b.StartTimer()
		if res := s.Purge(req); res.Matched != total/10 {
			b.Fatalf("matched %d, want %d", res.Matched, total/10)
		}
		b.StopTimer()
		s.Wait() // the background sweep, before the next fill
		b.StartTimer()
	}
}

func BenchmarkPurgeTag100k(b *testing.B) { benchmarkPurge(b, PurgeRequest{Tags: []string{"t3"}}) }

func BenchmarkPurgePrefix100k(b *testing.B) {
	benchmarkPurge(b, PurgeRequest{Prefixes: []string{"http://bench.example/d3/"}})
}

// BenchmarkGCMark100k is one forced garbage collection with 100k stored
// objects shaped like the HTTP benchmark's 4 KiB text objects (a header
// block, validators, a 2.3 KiB gzip body): the collector's marking cost of
// the cache, which is what stretches GC cycles on a busy node. Run with
// -cpu 1 for the one-core figure quoted in README.md.
func BenchmarkGCMark100k(b *testing.B) {
	s := newStore(b, Config{MaxMemory: 8 << 30})
	header := "Content-Type: text/plain\r\nCache-Control: public, max-age=3600\r\n" +
		"Last-Modified: Sat, 21 Nov 2026 10:00:00 GMT\r\nServer: bench-origin\r\n"
	for i := range 100_000 {
		key := fmt.Sprintf("http://bench.example/obj/4096/k%d", i)
		f, _ := s.Begin(key, true)
		e := f.NewDraft()
		e.Key, e.Status, e.Lifetime, e.ResponseTime = key, 200, time.Hour, time.Now()
		e.Header, e.ETag, e.Vary = header, fmt.Sprintf(`"%x"`, i), "Accept-Encoding"
		e.Native, e.Size = Gzip, 4096
		e.Bodies[Gzip] = make([]byte, 2300)
		st, _ := s.Put(e, time.Hour)
		f.Finish(st, true, nil)
	}
	s.Wait()
	if n := s.StoredObjects(); n < 99_000 {
		b.Fatalf("stored %d objects", n)
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(s)
}
