package origin

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection; the server end
// is closed when the test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// A wrapped conn parked for input is woken by Kick alone (no dispatcher),
// and Kick counts it.
func TestReadPollerKickWakesReader(t *testing.T) {
	rp := NewReadPoller(nil)
	rp.noDispatch = true
	if err := rp.Start(); err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	nc, srv := tcpPair(t)
	c := rp.wrap(nc)
	if _, ok := c.(*pollConn); !ok {
		t.Fatalf("wrap returned %T", c)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if rp.waiting.Load() != 1 {
		t.Fatalf("waiting = %d after a write, want 1", rp.waiting.Load())
	}
	// A reader that had not parked yet when the data came needs no Kick:
	// try again until one did.
	for attempt := 0; attempt < 5; attempt++ {
		got := make(chan string, 1)
		go func() {
			b := make([]byte, 16)
			n, err := c.Read(b)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(b[:n])
		}()
		time.Sleep(20 * time.Millisecond) // let the reader park
		kicked := rp.Kicked()
		srv.Write([]byte("pong"))
		deadline := time.Now().Add(5 * time.Second)
		var s string
	wait:
		for {
			rp.Kick()
			select {
			case s = <-got:
				break wait
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("reader not woken by Kick")
			}
			time.Sleep(KickInterval)
		}
		if s != "pong" {
			t.Fatalf("read %q", s)
		}
		if rp.waiting.Load() != 0 {
			t.Fatalf("waiting = %d after the answer, want 0", rp.waiting.Load())
		}
		if rp.Kicked() > kicked {
			return
		}
		c.Write([]byte("ping"))
	}
	t.Fatal("Kick never woke the reader")
}

// Closing a conn wakes its parked reader with an error; closing the
// poller sends parked readers to the Go poller, where they still get
// their data.
func TestReadPollerClose(t *testing.T) {
	var pollErr atomic.Value
	rp := NewReadPoller(func(err error) { pollErr.Store(err) })
	defer func() {
		// Close is the expected end: nothing for onErr (the node logs
		// whatever it hears as a failure).
		if err := pollErr.Load(); err != nil {
			t.Errorf("Close reported an error: %v", err)
		}
	}()
	if err := rp.Start(); err != nil {
		t.Fatal(err)
	}
	dial := func() (net.Conn, net.Conn) {
		nc, srv := tcpPair(t)
		return rp.wrap(nc), srv
	}
	read := func(c net.Conn) chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 8))
			ch <- err
		}()
		return ch
	}
	c1, _ := dial()
	r1 := read(c1)
	time.Sleep(20 * time.Millisecond)
	c1.Close()
	select {
	case err := <-r1:
		if err == nil {
			t.Fatal("read on a closed conn returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the parked reader")
	}

	c2, s2 := dial()
	defer c2.Close()
	r2 := read(c2)
	time.Sleep(20 * time.Millisecond)
	rp.Close()
	s2.Write([]byte("x"))
	select {
	case err := <-r2:
		if err != nil {
			t.Fatalf("read after the poller closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader stuck after the poller closed")
	}
	if c := rp.wrap(s2); c != s2 {
		t.Fatal("a closed poller still wraps conns")
	}
}

// Fills through a pool on the poller: many concurrent requests and a
// large body arrive intact while serving goroutines Kick, the poller's
// goroutine ends with Close, and the pool keeps working after it.
func TestReadPollerPool(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(body)
			return
		}
		io.WriteString(w, r.URL.Path)
	}))
	defer ts.Close()
	before := runtime.NumGoroutine()
	rp := NewReadPoller(nil)
	if err := rp.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := NewPool("s", PolicyConfig{}, []Config{{URL: ts.URL}}, WithReadPoller(rp))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	get := func(path string) ([]byte, error) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", ts.URL+path, nil)
		resp, err := p.origins[0].tr.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	stop := make(chan struct{})
	var kick sync.WaitGroup
	kick.Add(1)
	go func() {
		defer kick.Done()
		for {
			select {
			case <-stop:
				return
			default:
				rp.Kick()
				runtime.Gosched()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				path := "/o/" + strconv.Itoa(g) + "/" + strconv.Itoa(i)
				b, err := get(path)
				if err == nil && string(b) != path {
					err = io.ErrUnexpectedEOF
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if b, err := get("/big"); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("1 MiB body: %d bytes, %v", len(b), err)
	}
	rp.mu.Lock()
	wrapped := len(rp.conns)
	rp.mu.Unlock()
	if wrapped == 0 {
		t.Fatal("no origin connection reads through the poller")
	}
	close(stop)
	kick.Wait()
	rp.Close()
	if b, err := get("/after"); err != nil || string(b) != "/after" {
		t.Fatalf("after Close: %q, %v", b, err)
	}
	p.origins[0].tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}
