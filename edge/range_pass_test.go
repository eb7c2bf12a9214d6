package edge_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// An object over cache.max_object_size streams through whole the first
// time and makes its URL hit-for-pass; a Range request then goes to the
// origin with its Range (and If-Range), so a client asking for a slice of
// a large file does not make the node fetch all of it. The answers to
// ranged requests are never stored, whatever their freshness.
func TestRangeForwardedForOversizedObject(t *testing.T) {
	o := origintest.New(t)
	body := text(200 << 10)
	var (
		mu     sync.Mutex
		ranges []string // Range / If-Range / Accept-Encoding the origin saw, per request
	)
	o.Handle("/big", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range")+"|"+r.Header.Get("If-Range")+"|"+r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"big1"`)
		http.ServeContent(w, r, "", time.Unix(1_700_000_000, 0), bytes.NewReader(body))
	})
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ranges...)
	}
	n := edgetest.Start(t, rvConfigWith("cache:\n  max_memory: 64MiB\n  max_object_size: 64KiB\n", o.URL))

	// First request: a miss, streamed whole (the node cannot know the
	// size in advance), not stored.
	r := n.Get(t, "/big", "Range: bytes=0-9")
	if r.Status != 200 || !bytes.Equal(r.Body, body) || !strings.Contains(r.CacheStatus(), "fwd=uri-miss") {
		t.Fatalf("first: %d, %d bytes, Cache-Status %q", r.Status, len(r.Body), r.CacheStatus())
	}
	rvSettle(t, n)

	// Now the URL is hit-for-pass: the Range goes to the origin.
	r = n.Get(t, "/big", "Range: bytes=100-199")
	if r.Status != 206 || !bytes.Equal(r.Body, body[100:200]) || r.Header.Get("Content-Range") != "bytes 100-199/204800" {
		t.Errorf("ranged: %d, %d bytes, Content-Range %q", r.Status, len(r.Body), r.Header.Get("Content-Range"))
	}
	if cs := r.CacheStatus(); !strings.Contains(cs, "detail=hit-for-pass") {
		t.Errorf("ranged: Cache-Status %q, want hit-for-pass", cs)
	}
	// If-Range with the current validator: a slice; with another: the
	// whole object (the origin decides).
	r = n.Get(t, "/big", "Range: bytes=0-4", `If-Range: "big1"`)
	if r.Status != 206 || !bytes.Equal(r.Body, body[:5]) {
		t.Errorf("If-Range matching: %d, %d bytes", r.Status, len(r.Body))
	}
	r = n.Get(t, "/big", "Range: bytes=0-4", `If-Range: "old"`)
	if r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Errorf("If-Range not matching: %d, %d bytes", r.Status, len(r.Body))
	}
	// An unsatisfiable range: the origin's 416, not stored.
	r = n.Get(t, "/big", "Range: bytes=999999-")
	if r.Status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable: %d", r.Status)
	}
	rvSettle(t, n)
	// A whole GET still gets the whole object.
	r = n.Get(t, "/big")
	if r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Errorf("whole after ranges: %d, %d bytes", r.Status, len(r.Body))
	}
	got := seen()
	want := []string{
		"||gzip",                    // the first miss: no Range forwarded
		"bytes=100-199||identity",   // pass: the Range, identity bytes
		`bytes=0-4|"big1"|identity`, // with If-Range
		`bytes=0-4|"old"|identity`,  //
		"bytes=999999-||identity",   // unsatisfiable
		"||gzip",                    // a whole GET on a pass URL
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the origin saw (Range|If-Range|Accept-Encoding):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := n.Metric(t, "edge_cache_hit_for_pass_marks_total"); v < 2 {
		t.Errorf("edge_cache_hit_for_pass_marks_total = %v, want the too-large answers to mark the URL", v)
	}
}

// A storable object is not affected: a Range on it is answered from the
// cache (the node slices the stored object), and the origin never sees a
// Range.
func TestRangeOnStorableObjectNotForwarded(t *testing.T) {
	o := origintest.New(t)
	body := text(10 << 10)
	var sawRange bool
	var mu sync.Mutex
	o.Handle("/small", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawRange = sawRange || r.Header.Get("Range") != ""
		mu.Unlock()
		rvServe(body, "application/octet-stream", "max-age=600")(w, r)
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	// The miss streams the whole object (RFC 9110 allows a 200); the
	// hit is sliced from the cache.
	if r := n.Get(t, "/small", "Range: bytes=10-19"); r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Errorf("miss: %d, %d bytes", r.Status, len(r.Body))
	}
	rvSettle(t, n)
	if r := n.Get(t, "/small", "Range: bytes=10-19"); r.Status != 206 || !bytes.Equal(r.Body, body[10:20]) {
		t.Errorf("hit: %d, %d bytes", r.Status, len(r.Body))
	}
	mu.Lock()
	defer mu.Unlock()
	if sawRange || o.Hits("/small") != 1 {
		t.Errorf("origin: Range seen %v, %d requests; want no Range, 1 request", sawRange, o.Hits("/small"))
	}
}
