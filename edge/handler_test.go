package edge_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// text returns n bytes of compressible text.
func text(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d: the quick brown fox jumps over the lazy dog %d\n", i, i*7919%1000)
	}
	return b.Bytes()[:n]
}

func serveText(body []byte, cacheControl string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		w.Header().Set("ETag", `"v1"`)
		w.Write(body)
	}
}

func TestMissThenHit(t *testing.T) {
	o := origintest.New(t)
	body := text(4096)
	o.Handle("/a", serveText(body, "public, max-age=60"))
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL))

	r1 := n.Get(t, "/a")
	if r1.Status != 200 || !bytes.Equal(r1.Body, body) {
		t.Fatalf("miss: %d, %d bytes", r1.Status, len(r1.Body))
	}
	if cs := r1.CacheStatus(); !strings.Contains(cs, "fwd=uri-miss") || !strings.Contains(cs, "stored") {
		t.Errorf("miss Cache-Status %q", cs)
	}
	r2 := n.Get(t, "/a")
	if r2.Status != 200 || !bytes.Equal(r2.Body, body) {
		t.Fatalf("hit: %d, %d bytes", r2.Status, len(r2.Body))
	}
	if cs := r2.CacheStatus(); !strings.HasPrefix(cs, "edge-test; hit; ttl=") {
		t.Errorf("hit Cache-Status %q", cs)
	}
	if r2.Header.Get("Age") == "" {
		t.Error("hit without Age")
	}
	if got := o.Hits("/a"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
	// gzip client: the stored gzip encoding, weak ETag, same content.
	r3 := n.Get(t, "/a", "Accept-Encoding: gzip")
	if r3.Header.Get("Content-Encoding") != "gzip" || r3.Header.Get("Etag") != `W/"v1"` {
		t.Fatalf("gzip hit: encoding %q etag %q", r3.Header.Get("Content-Encoding"), r3.Header.Get("Etag"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r3.Body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, body) {
		t.Fatal("gzip body differs after decoding")
	}
	if got := o.Hits("/a"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// A miss is answered, and its connection goes on to its next request, as
// soon as the body is sent: not once the fill has compressed and stored it.
// The fill is held before it stores; the next request on the same
// kept-alive connection must be answered meanwhile, for a body of known
// length and for a chunked one.
func TestMissDoesNotWaitForStore(t *testing.T) {
	body := text(4096)
	type holdT struct {
		path    string
		release chan struct{}
	}
	var hold atomic.Pointer[holdT]
	held := make(chan string, 1)
	edge.SetTestHookBeforeStore(func(key string) {
		if h := hold.Load(); h != nil && strings.Contains(key, h.path) {
			held <- key
			<-h.release
		}
	})
	t.Cleanup(func() { edge.SetTestHookBeforeStore(nil) })
	o := origintest.New(t)
	known := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		serveText(body, "public, max-age=60")(w, r)
	}
	o.Handle("/known", known)
	o.Handle("/chunked", serveText(body, "public, max-age=60")) // 4 KiB: more than net/http buffers before chunking
	o.Handle("/next", known)
	n := edgetest.Start(t, rvConfig(o.URL))

	for _, path := range []string{"/known", "/chunked"} {
		t.Run(path[1:], func(t *testing.T) {
			h := &holdT{path: path, release: make(chan struct{})}
			var once sync.Once
			unblock := func() { once.Do(func() { hold.Store(nil); close(h.release) }) }
			hold.Store(h)
			defer unblock() // before the node stops: its fill must end

			c, err := net.Dial("tcp", rvAddr(n))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i, p := range []string{path, "/next?" + path[1:]} {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: "+rvAddr(n)+"\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
				if err != nil {
					t.Fatalf("%s on one connection, the fill of %s held before storing: %v", p, path, err)
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("%s, the fill of %s held before storing: %d bytes, %v", p, path, len(got), err)
				}
				if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=uri-miss") {
					t.Errorf("%s: Cache-Status %q, want a miss", p, cs)
				}
				if i == 0 {
					select {
					case key := <-held:
						if !strings.Contains(key, path) {
							t.Fatalf("held the fill of %q, want %s", key, path)
						}
					case <-time.After(10 * time.Second):
						t.Fatal("the fill never reached its store step")
					}
				}
			}
			unblock()
			// Stored: a hit, and one origin fetch.
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := n.Get(t, path)
				if strings.Contains(r.CacheStatus(), "; hit") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no hit after the fill was released: Cache-Status %q", r.CacheStatus())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := o.Hits(path); got != 1 {
				t.Errorf("origin saw %d requests, want 1", got)
			}
		})
	}
}

func TestCollapsedMiss(t *testing.T) {
	o := origintest.New(t)
	body := text(4096)
	release := make(chan struct{})
	o.Handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-release
		serveText(body, "public, max-age=60")(w, r)
	})
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL))
	const clients = 50
	var wg sync.WaitGroup
	results := make([]*edgetest.Response, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = n.Get(t, "/slow")
		}()
	}
	// Wait until every client is queued on the fill, then let the origin answer.
	deadline := time.Now().Add(10 * time.Second)
	for n.Metric(t, "edge_cache_collapsed_total") < clients-1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	collapsed := 0
	for i, r := range results {
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("client %d: %d, %d bytes", i, r.Status, len(r.Body))
		}
		if strings.Contains(r.CacheStatus(), "collapsed") {
			collapsed++
		}
	}
	if got := o.Hits("/slow"); got != 1 {
		t.Errorf("origin saw %d requests for %d concurrent clients, want 1", got, clients)
	}
	if collapsed != clients-1 {
		t.Errorf("%d responses say collapsed, want %d", collapsed, clients-1)
	}
}

// Stop waits for a fill that has answered its client but not yet stored
// the body: the store must not close under it (it did, and the race
// detector saw ristretto's Set meet its Close).
func TestStopWaitsForFills(t *testing.T) {
	body := bytes.Repeat([]byte("the node stops while this is stored\n"), 100)
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	edge.SetTestHookBeforeStore(func(key string) {
		if strings.Contains(key, "/stopping") {
			held <- struct{}{}
			<-release
		}
	})
	t.Cleanup(func() { edge.SetTestHookBeforeStore(nil) })
	o := origintest.New(t)
	o.Handle("/stopping", serveText(body, "public, max-age=60"))
	n := edgetest.Start(t, rvConfig(o.URL))

	if r := n.Get(t, "/stopping"); r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Fatalf("miss: %d, %d bytes", r.Status, len(r.Body))
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the fill never reached its store step")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a fill was still storing", err)
	case <-time.After(100 * time.Millisecond):
	}
	unblock()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not return after the fill finished")
	}
}
