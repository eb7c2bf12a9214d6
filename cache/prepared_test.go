package cache

import (
	"sync"
	"testing"
)

func TestPrepared(t *testing.T) {
	s := newStore(t, Config{})
	e := fillEntry(t, s, "http://h/prepared", "body")
	if s.Prepared(e, 1, Gzip) != nil {
		t.Fatal("data before any was set")
	}
	s.SetPrepared(e, 1, Gzip, []byte("gzip-head"))
	s.SetPrepared(e, 1, Identity, []byte("identity-head"))
	s.SetPrepared(e, 1, Zstd, []byte{}) // empty data is still data
	for enc, want := range map[Encoding]string{Gzip: "gzip-head", Identity: "identity-head", Zstd: ""} {
		got := s.Prepared(e, 1, enc)
		if got == nil || string(got) != want {
			t.Errorf("%s: got %q, want %q", enc, got, want)
		}
	}
	if s.Prepared(e, 1, Brotli) != nil {
		t.Error("brotli data that was never set")
	}
	// Replacing one encoding keeps the others.
	s.SetPrepared(e, 1, Gzip, []byte("gzip-2"))
	if got := string(s.Prepared(e, 1, Gzip)); got != "gzip-2" {
		t.Errorf("gzip after replace: %q", got)
	}
	if got := string(s.Prepared(e, 1, Identity)); got != "identity-head" {
		t.Errorf("identity after gzip replaced: %q", got)
	}
	// The caller's buffer is copied, and appending to what Prepared
	// returns cannot overwrite the next encoding's data.
	b := []byte("br-head")
	s.SetPrepared(e, 1, Brotli, b)
	b[0] = 'X'
	g := s.Prepared(e, 1, Gzip)
	_ = append(g, "overflow"...)
	if got := string(s.Prepared(e, 1, Brotli)); got != "br-head" {
		t.Errorf("brotli: %q", got)
	}
	if got := string(s.Prepared(e, 1, Identity)); got != "identity-head" {
		t.Errorf("identity after append to gzip: %q", got)
	}
	// Another generation replaces everything.
	s.SetPrepared(e, 2, Identity, []byte("gen2"))
	if s.Prepared(e, 1, Gzip) != nil || s.Prepared(e, 2, Gzip) != nil {
		t.Error("old generation's data survived")
	}
	if got := string(s.Prepared(e, 2, Identity)); got != "gen2" {
		t.Errorf("gen 2 identity: %q", got)
	}
}

// Concurrent setters of different encodings all land; readers see
// complete data (run with -race).
func TestPreparedConcurrent(t *testing.T) {
	s := newStore(t, Config{})
	e := fillEntry(t, s, "http://h/prepared", "body")
	var wg sync.WaitGroup
	for enc := range NumEncodings {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				s.SetPrepared(e, 7, enc, []byte(enc.String()))
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				if got := s.Prepared(e, 7, enc); got != nil && string(got) != enc.String() {
					t.Errorf("%s: read %q", enc, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	for enc := range NumEncodings {
		if got := string(s.Prepared(e, 7, enc)); got != enc.String() {
			t.Errorf("%s: %q after all setters", enc, got)
		}
	}
}

// Prepared data is kept only for stored entries, and every superseded
// block's bytes go back to the arena.
func TestPreparedRecords(t *testing.T) {
	s := newStore(t, Config{})
	e := fillEntry(t, s, "http://h/p", "body")
	base := s.ar.liveBytes.Load()
	for i := range 100 {
		s.SetPrepared(e, uint64(i), Gzip, []byte("head"))
	}
	one := s.ar.liveBytes.Load() - base
	if one <= 0 || one > 256 {
		t.Fatalf("arena holds %d bytes of prepared data after 100 replacements, want one block", one)
	}
	alone := (&Draft{Key: "http://h/alone", Status: 200}).Entry()
	if got := s.SetPrepared(alone, 1, Gzip, []byte("x")); string(got) != "x" {
		t.Fatalf("standalone entry: got %q", got)
	}
	if s.Prepared(alone, 1, Gzip) != nil {
		t.Fatal("a standalone entry kept prepared data")
	}
	// Retiring the entry releases its block too.
	s.Purge(PurgeRequest{Keys: []string{"http://h/p"}})
	s.Wait()
	if got := s.ar.liveBytes.Load(); got >= base {
		t.Fatalf("arena live bytes %d after purge, want below %d", got, base)
	}
}
