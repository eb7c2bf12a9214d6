package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.MaxMemory == 0 {
		cfg.MaxMemory = 64 << 20 // small admission sketches keep tests fast
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

// fillEntry runs a fill for key to completion and stores the result, the
// way edge does, returning the entry.
func fillEntry(t testing.TB, s *Store, key string, body string, tags ...string) *Entry {
	t.Helper()
	f, leader := s.Begin(key, true)
	if !leader {
		t.Fatalf("fill for %s not led", key)
	}
	return finishFill(t, s, f, key, body, tags...)
}

func finishFill(t testing.TB, s *Store, f *Fill, key, body string, tags ...string) *Entry {
	t.Helper()
	f.SetHead(&FillHead{Status: 200, Header: http.Header{}, ContentLength: int64(len(body)), Shareable: true})
	if err := f.Write(context.Background(), []byte(body)); err != nil {
		t.Fatal(err)
	}
	d := f.NewDraft()
	d.Key, d.Tags, d.Status = key, tags, 200
	d.Bodies[Identity] = append([]byte(nil), f.Body()...)
	d.Size = int64(len(body))
	d.ResponseTime = time.Now()
	d.Lifetime = time.Hour
	e, stored := s.Put(d, time.Hour)
	f.Finish(e, stored && !e.Purged(), nil)
	return e
}

// get waits for ristretto to apply pending Sets, then looks key up.
func get(s *Store, key string) (*Entry, bool) {
	s.Wait()
	return s.Get(key)
}

func TestPutGet(t *testing.T) {
	s := newStore(t, Config{})
	fillEntry(t, s, "http://a.example/x", "hello")
	e, ok := get(s, "http://a.example/x")
	if !ok || string(e.Body(Identity)) != "hello" {
		t.Fatalf("got %v %v", e, ok)
	}
	if s.StoredObjects() != 1 || s.StoredBytes() <= 5 {
		t.Errorf("objects %d bytes %d", s.StoredObjects(), s.StoredBytes())
	}
}

func TestPurgeSelectors(t *testing.T) {
	keys := map[string][]string{
		"http://a.example/img/1.png": {"img", "a"},
		"http://a.example/img/2.png": {"img"},
		"http://a.example/css/x.css": {"css"},
		"http://b.example/img/1.png": {"img"},
		"http://b.example/index":     nil,
	}
	tests := []struct {
		name string
		req  PurgeRequest
		gone []string
	}{
		{"url", PurgeRequest{Keys: []string{"http://a.example/img/1.png"}}, []string{"http://a.example/img/1.png"}},
		{"prefix", PurgeRequest{Prefixes: []string{"http://a.example/img/"}}, []string{"http://a.example/img/1.png", "http://a.example/img/2.png"}},
		{"prefix spanning hosts", PurgeRequest{Prefixes: []string{"http://"}}, []string{"http://a.example/img/1.png", "http://a.example/img/2.png", "http://a.example/css/x.css", "http://b.example/img/1.png", "http://b.example/index"}},
		{"tag", PurgeRequest{Tags: []string{"img"}}, []string{"http://a.example/img/1.png", "http://a.example/img/2.png", "http://b.example/img/1.png"}},
		{"host", PurgeRequest{Hosts: []string{"b.example"}}, []string{"http://b.example/img/1.png", "http://b.example/index"}},
		{"all", PurgeRequest{All: true}, []string{"http://a.example/img/1.png", "http://a.example/img/2.png", "http://a.example/css/x.css", "http://b.example/img/1.png", "http://b.example/index"}},
		{"nothing matches", PurgeRequest{Tags: []string{"nope"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Config{})
			for k, tags := range keys {
				fillEntry(t, s, k, "body of "+k, tags...)
			}
			s.Wait() // every Set applied, so that presence below is the purge's doing
			res := s.Purge(tt.req)
			if res.Matched != len(tt.gone) {
				t.Errorf("matched %d, want %d", res.Matched, len(tt.gone))
			}
			gone := map[string]bool{}
			for _, k := range tt.gone {
				gone[k] = true
			}
			// No waiting: the purge is in effect when Purge returns.
			for k := range keys {
				_, ok := s.Get(k)
				if ok == gone[k] {
					t.Errorf("%s: present=%v after purge, want %v", k, ok, !gone[k])
				}
			}
		})
	}
}

func TestSoftPurgeMarksStale(t *testing.T) {
	s := newStore(t, Config{})
	fillEntry(t, s, "http://a.example/x", "v1", "t")
	e, _ := get(s, "http://a.example/x")
	if e.TTL(time.Now()) <= 0 {
		t.Fatal("fresh entry reported stale")
	}
	res := s.Purge(PurgeRequest{Tags: []string{"t"}, Soft: true})
	if res.Matched != 1 {
		t.Fatalf("matched %d", res.Matched)
	}
	e, ok := s.Get("http://a.example/x")
	if !ok {
		t.Fatal("soft purge removed the entry")
	}
	if !e.SoftPurged() || e.TTL(time.Now()) >= 0 {
		t.Fatal("soft-purged entry still fresh")
	}
	none := ParseDirectives("")
	if d := e.Decide(&none, time.Now()); d.Use != UseRevalidate {
		t.Errorf("soft-purged entry: use %v, want revalidate", d.Use)
	}
	// A later hard purge removes it.
	s.Purge(PurgeRequest{Keys: []string{"http://a.example/x"}})
	if _, ok := s.Get("http://a.example/x"); ok {
		t.Error("hard purge after soft purge left the entry")
	}
}

// TestPurgeBeatsFillInFlight is the race ristretto's asynchronous Set
// invites: a fill starts, a purge lands, the fill completes and stores.
// The stored response predates the purge and must never be served.
func TestPurgeBeatsFillInFlight(t *testing.T) {
	for _, soft := range []bool{false, true} {
		t.Run("soft="+strconv.FormatBool(soft), func(t *testing.T) {
			s := newStore(t, Config{})
			const key = "http://a.example/race"
			f, leader := s.Begin(key, true)
			if !leader {
				t.Fatal("not leader")
			}
			s.Purge(PurgeRequest{Prefixes: []string{"http://a.example/"}, Soft: soft})
			if s.Markers() == 0 {
				t.Fatal("no purge marker kept for the fill in flight")
			}
			// A request arriving after the purge must not join the old fill.
			f2, leader2 := s.Begin(key, true)
			if !leader2 || f2 == f {
				t.Fatal("request after the purge joined a fill that began before it")
			}
			e := finishFill(t, s, f, key, "stale content")
			got, ok := get(s, key)
			switch {
			case !soft && ok && got == e:
				t.Fatal("entry filled before a hard purge is served after it")
			case soft && (!ok || got != e || !got.SoftPurged()):
				t.Fatalf("soft purge: entry present=%v soft=%v", ok, ok && got.SoftPurged())
			}
			finishFill(t, s, f2, key, "new content")
			got, ok = get(s, key)
			if !ok || string(got.Body(Identity)) != "new content" || got.SoftPurged() {
				t.Fatalf("fill after the purge: present=%v", ok)
			}
			// Markers go once no fill predates them.
			deadline := time.Now().Add(5 * time.Second)
			for s.Markers() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := s.Markers(); n != 0 {
				t.Errorf("%d purge markers left", n)
			}
		})
	}
}

func TestPurgeUnrelatedKeepsCollapsing(t *testing.T) {
	s := newStore(t, Config{})
	f, _ := s.Begin("http://a.example/x", true)
	s.Purge(PurgeRequest{Keys: []string{"http://a.example/other"}})
	if g, leader := s.Begin("http://a.example/x", true); leader || g != f {
		t.Fatal("a purge of another URL stopped collapsing")
	}
	finishFill(t, s, f, "http://a.example/x", "x")
}

func TestLookupVary(t *testing.T) {
	s := newStore(t, Config{})
	const primary = "http://a.example/v"
	names := []string{"x-variant"}
	for _, v := range []string{"one", "two"} {
		h := http.Header{"X-Variant": {v}}
		full := primary + "\x00" + SecondaryKey(names, h)
		f, _ := s.Begin(full, true)
		e := f.NewDraft()
		e.Key, e.VaryKey, e.VaryNames, e.Status = primary, SecondaryKey(names, h), names, 200
		e.Bodies[Identity] = []byte(v)
		e.Lifetime, e.ResponseTime = time.Hour, time.Now()
		st, _ := s.Put(e, time.Hour)
		marker := f.NewDraft()
		marker.Key, marker.VaryNames = primary, names
		s.Put(marker, time.Hour)
		f.Finish(st, true, nil)
	}
	s.Wait()
	for _, v := range []string{"one", "two"} {
		e, _, res := s.Lookup(primary, http.Header{"X-Variant": {v}})
		if res != Found || string(e.Body(Identity)) != v {
			t.Errorf("variant %s: result %v", v, res)
		}
	}
	if _, full, res := s.Lookup(primary, http.Header{"X-Variant": {"three"}}); res != VaryMiss || full == primary {
		t.Errorf("unknown variant: result %v, key %q", res, full)
	}
	if r := s.Purge(PurgeRequest{Keys: []string{primary}}); r.Matched != 2 {
		t.Errorf("URL purge matched %d variants, want 2", r.Matched)
	}
	if _, _, res := s.Lookup(primary, http.Header{"X-Variant": {"one"}}); res != URIMiss {
		t.Errorf("after purge: %v", res)
	}
}

func TestHitForPass(t *testing.T) {
	s := newStore(t, Config{})
	s.MarkPass("http://a.example/p")
	s.Wait()
	if _, _, res := s.Lookup("http://a.example/p", http.Header{}); res != Pass {
		t.Fatalf("result %v, want Pass", res)
	}
	zero := time.Duration(0)
	s2 := newStore(t, Config{HitForPass: &zero})
	s2.MarkPass("http://a.example/p")
	s2.Wait()
	if _, _, res := s2.Lookup("http://a.example/p", http.Header{}); res != URIMiss {
		t.Fatalf("hit_for_pass 0s: result %v", res)
	}
}

func TestFillStreamsToReaders(t *testing.T) {
	s := newStore(t, Config{})
	f, _ := s.Begin("http://a.example/s", true)
	r1, _ := f.NewReader()
	f2, leader := s.Begin("http://a.example/s", true)
	if leader || f2 != f {
		t.Fatal("second request did not join")
	}
	r2, _ := f2.NewReader()
	ctx := context.Background()
	f.SetHead(&FillHead{Status: 200, ContentLength: -1, Shareable: true})
	var wg sync.WaitGroup
	got := make([][]byte, 2)
	for i, r := range []*FillReader{r1, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			if _, err := r.Head(ctx); err != nil {
				t.Error(err)
				return
			}
			var b bytes.Buffer
			for {
				chunk, err := r.Next(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Error(err)
					return
				}
				b.Write(chunk)
			}
			got[i] = b.Bytes()
		}()
	}
	var want bytes.Buffer
	for i := range 100 {
		p := []byte(strconv.Itoa(i) + ",")
		want.Write(p)
		f.Write(ctx, p)
	}
	f.Finish(nil, false, nil)
	wg.Wait()
	for i, b := range got {
		if !bytes.Equal(b, want.Bytes()) {
			t.Errorf("reader %d got %q", i, b)
		}
	}
	if f.Waiters() != 1 {
		t.Errorf("waiters %d", f.Waiters())
	}
}

// EndBody ends the readers' bodies before Finish; without it a reader
// waits for Finish and gets its error.
func TestFillEndBodyBeforeFinish(t *testing.T) {
	s := newStore(t, Config{})
	ctx := context.Background()
	readAll := func(r *FillReader) ([]byte, error) {
		var b []byte
		for {
			chunk, err := r.Next(ctx)
			if err != nil {
				return b, err
			}
			b = append(b, chunk...)
		}
	}

	f, _ := s.Begin("http://a.example/end", true)
	r, _ := f.NewReader()
	f.SetHead(&FillHead{Status: 200, ContentLength: -1, Shareable: true})
	f.Write(ctx, []byte("body"))
	f.EndBody()
	if b, err := readAll(r); err != io.EOF || string(b) != "body" {
		t.Fatalf("after EndBody, before Finish: %q, %v; want body and EOF", b, err)
	}
	if f.Done() {
		t.Fatal("done before Finish")
	}
	// What Finish reports later is about storing, not about the body.
	f.Finish(nil, false, errors.New("store failed"))
	r2, ok := f.NewReader()
	if ok {
		if b, err := readAll(r2); err != io.EOF || string(b) != "body" {
			t.Fatalf("reader after Finish: %q, %v", b, err)
		}
	}

	g, _ := s.Begin("http://a.example/cut", true)
	rg, _ := g.NewReader()
	g.SetHead(&FillHead{Status: 200, ContentLength: 10, Shareable: true})
	g.Write(ctx, []byte("bo"))
	errCut := errors.New("origin went away")
	done := make(chan error, 1)
	go func() { _, err := readAll(rg); done <- err }()
	g.Finish(nil, false, errCut)
	if err := <-done; err != errCut {
		t.Fatalf("a body cut short: %v, want %v", err, errCut)
	}
}

func TestWindowedFillBackpressureAndAbort(t *testing.T) {
	s := newStore(t, Config{})
	f := s.NewPrivateFill("http://a.example/big")
	r, _ := f.NewReader()
	f.SetHead(&FillHead{Status: 200, ContentLength: -1})
	f.Windowed()
	ctx := context.Background()
	chunk := make([]byte, 1<<20)
	// The producer may run windowBytes ahead of the reader, then blocks.
	wrote := make(chan int, 64)
	go func() {
		for i := 0; ; i++ {
			if err := f.Write(ctx, chunk); err != nil {
				wrote <- -1
				return
			}
			wrote <- i
		}
	}()
	ahead := 0
	timeout := time.After(5 * time.Second)
loop:
	for {
		select {
		case i := <-wrote:
			if i < 0 {
				t.Fatal("write failed with a reader attached")
			}
			ahead = i + 1
		case <-time.After(200 * time.Millisecond):
			break loop
		case <-timeout:
			t.Fatal("producer never blocked")
		}
	}
	if ahead > windowBytes/len(chunk)+1 {
		t.Fatalf("producer ran %d MiB ahead of its reader", ahead)
	}
	// A late reader cannot join once bytes were dropped.
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.NewReader(); ok {
		t.Error("a reader joined a windowed fill after its start was dropped")
	}
	// The last reader leaving stops the producer.
	r.Close()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case i := <-wrote:
			if i < 0 {
				return // ErrNoReaders: the fetch is abandoned
			}
		case <-deadline:
			t.Fatal("producer still writing with no reader left")
		}
	}
}

func TestFillHeadErrorAndReuse(t *testing.T) {
	s := newStore(t, Config{})
	f, _ := s.Begin("http://a.example/e", true)
	r, _ := f.NewReader()
	boom := errors.New("origin down")
	f.Finish(nil, false, boom)
	if _, err := r.Head(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("head error %v", err)
	}
	// A failed fill is not joined.
	if _, leader := s.Begin("http://a.example/e", true); !leader {
		t.Fatal("joined a failed fill")
	}
}

func TestStoreStopLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		s, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		fillEntry(t, s, "http://a.example/x", "x")
		s.Stop(context.Background())
		s.Stop(context.Background()) // twice is harmless
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestConfigValidate(t *testing.T) {
	neg := -time.Second
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults ok", Config{}, ""},
		{"tiny memory", Config{MaxMemory: 1000}, "max_memory"},
		{"object larger than half", Config{MaxMemory: 8 << 20, MaxObjectSize: 5 << 20}, "max_object_size"},
		{"short ttl", Config{MaxTTL: time.Millisecond}, "max_ttl"},
		{"negative heuristic", Config{HeuristicMax: &neg}, "heuristic_max"},
		{"negative hit for pass", Config{HitForPass: &neg}, "hit_for_pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.SetDefaults()
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}
