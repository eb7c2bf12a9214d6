package cache

import (
	"context"
	"net/http"
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
	e := f.NewEntry()
	e.Key, e.Host, e.Status, e.Lifetime, e.ResponseTime = key, "www.example.com", 200, time.Hour, time.Now()
	e.Bodies[Identity] = make([]byte, 1024)
	s.Put(e, time.Hour)
	f.Finish(e, true, nil)
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
