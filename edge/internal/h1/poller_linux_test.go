package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRuntimeReadOrder runs the connection tests with reads through the Go
// poller, the http.read_order: runtime path.
func TestRuntimeReadOrder(t *testing.T) {
	runtimeOrder = true
	defer func() { runtimeOrder = false }()
	for name, f := range map[string]func(*testing.T){
		"KeepAliveAndPipelining": TestKeepAliveAndPipelining,
		"ChunkedRequestBody":     TestChunkedRequestBody,
		"ExpectContinue":         TestExpectContinue,
		"UnreadBodyDrained":      TestUnreadBodyDrainedOrClosed,
		"HeaderTimeout":          TestHeaderTimeout,
		"IdleTimeoutCloses":      TestIdleTimeoutCloses,
		"RealClient":             TestRealClient,
	} {
		t.Run(name, f)
	}
}

// pollerSlots counts the connections registered with s's pollers.
func pollerSlots(s *Server) (n int) {
	s.mu.Lock()
	ps := s.pollers
	s.mu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		for _, c := range p.slots {
			if c != nil {
				n++
			}
		}
		p.mu.Unlock()
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPollerServesAndReleases checks that connections really go through
// the own poller by default, that kept-alive connections are served by it
// request after request, and that closing them frees their slots.
func TestPollerServesAndReleases(t *testing.T) {
	s := &Server{Handler: echo}
	addr := startServer(t, s)
	var rcs []*rawClient
	for i := 0; i < 5; i++ {
		rc := dial(t, addr)
		for j := 0; j < 3; j++ {
			rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			time.Sleep(2 * time.Millisecond) // so the next request waits in the poller
		}
		rcs = append(rcs, rc)
	}
	if n := pollerSlots(s); n != 5 {
		t.Fatalf("%d connections registered with the poller, want 5", n)
	}
	for _, rc := range rcs {
		rc.c.Close()
	}
	waitFor(t, "slots to be released", func() bool { return pollerSlots(s) == 0 })
}

// A kept-alive connection spends one read per request, not two: a read
// that emptied the socket is followed by sleeping, not by a read that
// finds nothing (EAGAIN).
func TestPollerOneReadPerRequest(t *testing.T) {
	// The handler runs on the connection's goroutine, the only writer of
	// its read count.
	var counted atomic.Int64
	s := &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		counted.Store(int64(r.c.rawReads))
		echo(w, r)
	})}
	addr := startServer(t, s)
	rc := dial(t, addr)
	const n = 100
	for i := 0; i < n; i++ {
		rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		time.Sleep(time.Millisecond) // the next request finds the connection asleep
	}
	reads := counted.Load()
	// Reading until EAGAIN would take 2n; allow a few early wake-ups.
	if reads > n+n/4 {
		t.Errorf("%d socket reads for %d requests, want about one each", reads, n)
	}
	t.Logf("%d socket reads for %d requests", reads, n)
}

// A FIN that arrives with the last data raises no edge of its own: a
// connection that read the data (and so would sleep before its next read)
// must still see the end of input. Repeated, as the FIN and the data reach
// the poller together only some of the time.
func TestPollerFINWithData(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo})
	for i := 0; i < 40; i++ {
		rc := dial(t, addr)
		_ = rc.c.SetDeadline(time.Now().Add(3 * time.Second))
		rc.send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
		rc.c.(*net.TCPConn).CloseWrite()
		if resp, _ := rc.read("POST"); resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		rc.c.Close()
	}
}

// TestPollerDispatchOrder checks the point of the poller: connections that
// turn readable while the dispatcher is busy are woken in the order their
// data arrived (the Go poller wakes such a batch newest first).
func TestPollerDispatchOrder(t *testing.T) {
	p, err := newPoller(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 32
	clients := make([]net.Conn, n)
	slotOf := map[uint32]int{}
	for i := range clients {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		c := &conn{nc: sc, wake: make(chan struct{}, 1), poller: p}
		raw, ok := pollable(sc)
		if !ok {
			t.Fatal("loopback TCP connection not pollable")
		}
		c.joinPoller(raw)
		if c.raw == nil {
			t.Fatal("connection not registered")
		}
		defer c.leavePoller()
		clients[i], slotOf[c.pollSlot] = cc, i
	}
	var mu sync.Mutex
	var order []int
	p.mu.Lock()
	p.trace = func(slot uint32) {
		mu.Lock()
		order = append(order, slotOf[slot])
		mu.Unlock()
	}
	// The dispatcher cannot hand out anything while we hold its lock:
	// every connection turns readable, in a scrambled order, first.
	perm := []int{}
	for i := 0; i < n; i++ {
		perm = append(perm, (i*7+3)%n)
	}
	for _, i := range perm {
		if _, err := clients[i].Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Unlock()
	waitFor(t, "all wake-ups", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == n })
	mu.Lock()
	defer mu.Unlock()
	for k := range perm {
		if order[k] != perm[k] {
			t.Fatalf("woken in order %v, data arrived in order %v", order, perm)
		}
	}
}

// TestPollerDeathFallsBack stops a server's pollers under its idle
// connections: they must go on serving through the Go poller.
func TestPollerDeathFallsBack(t *testing.T) {
	s := &Server{Handler: echo}
	addr := startServer(t, s)
	rc := dial(t, addr)
	rc.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
	rc.read("GET")
	waitFor(t, "registration", func() bool { return pollerSlots(s) == 1 })
	s.mu.Lock()
	ps := s.pollers
	s.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
	waitFor(t, "fallback", func() bool { return pollerSlots(s) == 0 })
	rc.send("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /2") {
		t.Fatalf("after fallback: %d %q", resp.StatusCode, body)
	}
	// New connections do not register with a dead poller either.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/3")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("new connection: %d", resp.StatusCode)
	}
}

// TestPollerShutdownIdle checks that Shutdown closes connections parked in
// the poller at once, and stops the dispatchers.
func TestPollerShutdownIdle(t *testing.T) {
	before := runtime.NumGoroutine()
	s := &Server{Handler: echo}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	var conns []net.Conn
	for i := 0; i < 8; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "registration", func() bool { return pollerSlots(s) == 8 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with only idle connections", d)
	}
	<-served
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("idle connection still open after Shutdown")
		}
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestParkDeadlines exercises the lazily re-armed timer: a connection busy
// for longer than its idle timeout (but never idle that long) stays open,
// a header split over two packets within the header timeout is served, and
// one left unfinished is answered 408 at the header timeout, not the idle
// one.
func TestParkDeadlines(t *testing.T) {
	s := &Server{Handler: echo, IdleTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 150 * time.Millisecond}
	addr := startServer(t, s)
	rc := dial(t, addr)
	for i := 0; i < 6; i++ { // 6 × 100 ms > idle timeout
		rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rc.send("GET /split HTTP/1.1\r\n")
	time.Sleep(50 * time.Millisecond)
	rc.send("Host: h\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /split") {
		t.Fatalf("split header: %d %q", resp.StatusCode, body)
	}
	rc2 := dial(t, addr)
	rc2.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	rc2.read("GET")
	start := time.Now()
	if !rc2.closed() {
		t.Fatal("idle connection not closed")
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("idle connection closed after %v, before its 300ms timeout", d)
	}

	// The header timeout, earlier than the idle deadline the timer is
	// armed for, must re-arm it.
	s2 := &Server{Handler: echo, IdleTimeout: 30 * time.Second, ReadHeaderTimeout: 150 * time.Millisecond}
	rc3 := dial(t, startServer(t, s2))
	rc3.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	rc3.read("GET")
	start = time.Now()
	rc3.send("GET /never HTTP/1.1\r\n")
	rc3.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, _ := rc3.read("GET")
	if resp.StatusCode != 408 {
		t.Fatalf("unfinished header: status %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("408 after %v, before the 150ms header timeout", d)
	}
}
