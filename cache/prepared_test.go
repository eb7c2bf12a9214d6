package cache

import (
	"sync"
	"testing"
)

func TestPrepared(t *testing.T) {
	var e Entry
	if e.Prepared(1, Gzip) != nil {
		t.Fatal("data before any was set")
	}
	e.SetPrepared(1, Gzip, []byte("gzip-head"))
	e.SetPrepared(1, Identity, []byte("identity-head"))
	e.SetPrepared(1, Zstd, []byte{}) // empty data is still data
	for enc, want := range map[Encoding]string{Gzip: "gzip-head", Identity: "identity-head", Zstd: ""} {
		got := e.Prepared(1, enc)
		if got == nil || string(got) != want {
			t.Errorf("%s: got %q, want %q", enc, got, want)
		}
	}
	if e.Prepared(1, Brotli) != nil {
		t.Error("brotli data that was never set")
	}
	// Replacing one encoding keeps the others.
	e.SetPrepared(1, Gzip, []byte("gzip-2"))
	if got := string(e.Prepared(1, Gzip)); got != "gzip-2" {
		t.Errorf("gzip after replace: %q", got)
	}
	if got := string(e.Prepared(1, Identity)); got != "identity-head" {
		t.Errorf("identity after gzip replaced: %q", got)
	}
	// The caller's buffer is copied, and appending to what Prepared
	// returns cannot overwrite the next encoding's data.
	b := []byte("br-head")
	e.SetPrepared(1, Brotli, b)
	b[0] = 'X'
	g := e.Prepared(1, Gzip)
	_ = append(g, "overflow"...)
	if got := string(e.Prepared(1, Brotli)); got != "br-head" {
		t.Errorf("brotli: %q", got)
	}
	if got := string(e.Prepared(1, Identity)); got != "identity-head" {
		t.Errorf("identity after append to gzip: %q", got)
	}
	// Another generation replaces everything.
	e.SetPrepared(2, Identity, []byte("gen2"))
	if e.Prepared(1, Gzip) != nil || e.Prepared(2, Gzip) != nil {
		t.Error("old generation's data survived")
	}
	if got := string(e.Prepared(2, Identity)); got != "gen2" {
		t.Errorf("gen 2 identity: %q", got)
	}
}

// Concurrent setters of different encodings all land; readers see
// complete data (run with -race).
func TestPreparedConcurrent(t *testing.T) {
	var e Entry
	var wg sync.WaitGroup
	for enc := range NumEncodings {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				e.SetPrepared(7, enc, []byte(enc.String()))
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				if got := e.Prepared(7, enc); got != nil && string(got) != enc.String() {
					t.Errorf("%s: read %q", enc, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	for enc := range NumEncodings {
		if got := string(e.Prepared(7, enc)); got != enc.String() {
			t.Errorf("%s: %q after all setters", enc, got)
		}
	}
}
