package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startServer runs s on a loopback port and stops it when the test ends.
// runtimeOrder makes startServer's servers read through the Go poller
// (TestRuntimeReadOrder runs the suite that way too).
var runtimeOrder bool

func startServer(t *testing.T, s *Server) string {
	t.Helper()
	s.RuntimeReadOrder = s.RuntimeReadOrder || runtimeOrder
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// echo answers with a description of the request.
var echo = HandlerFunc(func(w *Response, r *Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHead(400, http.Header{"Content-Type": {"text/plain"}}, -1)
		fmt.Fprintf(w, "body error: %v", err)
		return
	}
	msg := fmt.Sprintf("%s %s host=%s body=%q", r.Method, r.Target, r.Host, body)
	w.WriteHead(200, http.Header{"Content-Type": {"text/plain"}, "X-Path": {r.Path}}, int64(len(msg)))
	io.WriteString(w, msg)
})

type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// closed reports whether the server closed the connection.
func (rc *rawClient) closed() bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := rc.br.ReadByte()
	return err == io.EOF
}

func TestKeepAliveAndPipelining(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo})
	rc := dial(t, addr)
	rc.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nPOST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /4 HTTP/1.1\r\nHost: h\r\n\r\n")
	for i, want := range []string{`GET /1 host=h body=""`, `GET /2 host=h body=""`, `POST /3 host=h body="abc"`, `GET /4 host=h body=""`} {
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("response %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
		if resp.Header.Get("Date") == "" {
			t.Errorf("response %d has no Date", i)
		}
	}
	rc.send("GET /5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	resp, _ := rc.read("GET")
	if !resp.Close {
		t.Error("Connection: close not echoed")
	}
	if !rc.closed() {
		t.Error("connection not closed after Connection: close")
	}
}

func TestHTTP10(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo})
	rc := dial(t, addr)
	rc.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body := rc.read("GET")
	if body != `GET /a host= body=""` || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("got %q, Connection %q", body, resp.Header.Get("Connection"))
	}
	rc.send("GET /b HTTP/1.0\r\n\r\n")
	rc.read("GET")
	if !rc.closed() {
		t.Error("HTTP/1.0 without keep-alive not closed")
	}
}

func TestChunkedRequestBody(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo})
	rc := dial(t, addr)
	rc.send("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n")
	_, body := rc.read("POST")
	if body != `POST /c host=h body="abc0123456789"` {
		t.Fatalf("got %q", body)
	}
	_, body = rc.read("GET")
	if body != `GET /next host=h body=""` {
		t.Fatalf("pipelined after chunked: %q", body)
	}
}

func TestLargeChunkedBodyGrowsBuffer(t *testing.T) {
	var got atomic.Int64
	addr := startServer(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		host := r.Host
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		// The request's strings must survive body reads that move buffers.
		msg := host + " " + r.Header.Get("X-Check")
		w.WriteHead(200, nil, int64(len(msg)))
		io.WriteString(w, msg)
	})})
	rc := dial(t, addr)
	var sb strings.Builder
	sb.WriteString("POST / HTTP/1.1\r\nHost: big.example\r\nX-Check: still-here\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("z", 3000)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	sb.WriteString("0\r\n\r\n")
	rc.send(sb.String())
	_, body := rc.read("POST")
	if body != "big.example still-here" || got.Load() != 300000 {
		t.Fatalf("body %q, read %d", body, got.Load())
	}
}

func TestMalformedChunked(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo})
	for name, in := range map[string]string{
		"bad size":         "zz\r\n",
		"missing crlf":     "3\r\nabcX\r\n0\r\n\r\n",
		"size too long":    strings.Repeat("f", 20) + "\r\n",
		"eof in chunk":     "10\r\nabc",
		"huge size line":   strings.Repeat("1", 5000),
		"negative looking": "-1\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			rc := dial(t, addr)
			rc.send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + in)
			if name == "eof in chunk" {
				rc.c.(*net.TCPConn).CloseWrite()
			}
			resp, _ := rc.read("POST")
			if resp.StatusCode != 400 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
}

func TestExpectContinue(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo})
	rc := dial(t, addr)
	rc.send("PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	line, err := rc.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q %v", line, err)
	}
	if l, _ := rc.br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("no blank line after 100: %q", l)
	}
	rc.send("data")
	_, body := rc.read("PUT")
	if body != `PUT /u host=h body="data"` {
		t.Fatalf("got %q", body)
	}
}

func TestExpectContinueNotReadCloses(t *testing.T) {
	addr := startServer(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		w.WriteRaw(413, []byte("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n"), nil)
	})})
	rc := dial(t, addr)
	rc.send("PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 100000000\r\n\r\n")
	resp, _ := rc.read("PUT")
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !rc.closed() {
		t.Error("connection kept although the body was never requested")
	}
}

func TestUnreadBodyDrainedOrClosed(t *testing.T) {
	ignore := HandlerFunc(func(w *Response, r *Request) {
		w.WriteRaw(200, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"), []byte("ok"))
	})
	addr := startServer(t, &Server{Handler: ignore, MaxBodyDrain: 1000})
	rc := dial(t, addr)
	rc.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	rc.read("POST")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("request after drained body: %d %q", resp.StatusCode, body)
	}
	rc.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000))
	rc.read("POST")
	if !rc.closed() {
		t.Error("connection kept after a body larger than MaxBodyDrain")
	}
}

func TestRejectionsCloseWithStatus(t *testing.T) {
	var mu sync.Mutex
	reasons := map[string]int{}
	s := &Server{Handler: echo, MaxHeaderBytes: 1024, OnReject: func(r string) {
		mu.Lock()
		reasons[r]++
		mu.Unlock()
	}}
	addr := startServer(t, s)
	for _, tc := range []struct {
		name, in string
		status   int
		reason   string
	}{
		{"header too large", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 2000) + "\r\n\r\n", 431, ReasonHeaderTooBig},
		{"header too large without end", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 5000), 431, ReasonHeaderTooBig},
		{"smuggling attempt", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ReasonTE},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, ReasonHost},
		{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, ReasonRequestLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dial(t, addr)
			rc.send(tc.in)
			resp, _ := rc.read("GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !resp.Close || !rc.closed() {
				t.Error("connection not closed after a rejected request")
			}
			mu.Lock()
			defer mu.Unlock()
			if reasons[tc.reason] == 0 {
				t.Errorf("reason %s not reported (%v)", tc.reason, reasons)
			}
		})
	}
}

func TestHeaderTimeout(t *testing.T) {
	var rejected atomic.Int32
	s := &Server{Handler: echo, ReadHeaderTimeout: 200 * time.Millisecond, OnReject: func(r string) {
		if r == ReasonHeaderTimeout {
			rejected.Add(1)
		}
	}}
	addr := startServer(t, s)
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHo") // and never finish
	resp, _ := rc.read("GET")
	if resp.StatusCode != 408 || rejected.Load() != 1 {
		t.Fatalf("status %d, rejections %d", resp.StatusCode, rejected.Load())
	}
}

func TestIdleTimeoutCloses(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo, IdleTimeout: 200 * time.Millisecond})
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	rc.read("GET")
	if !rc.closed() {
		t.Fatal("idle connection not closed")
	}
}

func TestStreamingChunkedResponse(t *testing.T) {
	addr := startServer(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		w.WriteHead(200, http.Header{"X-Stream": {"1"}}, -1)
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.Flush()
		}
		big := strings.Repeat("B", 20000) // larger than the write buffer
		io.WriteString(w, big)
	})})
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := rc.read("GET")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding %v", resp.TransferEncoding)
	}
	if want := "part0;part1;part2;part3;part4;" + strings.Repeat("B", 20000); body != want {
		t.Fatalf("body of %d bytes, want %d", len(body), len(want))
	}
	resp, body = rc.read("HEAD")
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	// The connection must still be usable: HEAD sent no body bytes.
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ = rc.read("GET"); resp.StatusCode != 200 {
		t.Fatal("connection broken after HEAD")
	}
}

func TestWriteRawLargeBodyAndHead(t *testing.T) {
	body := []byte(strings.Repeat("0123456789abcdef", 1<<14)) // 256 KiB
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	addr := startServer(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		w.WriteRaw(200, append(w.Scratch(), head...), body)
	})})
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, m := range []string{"GET", "HEAD", "GET"} {
		resp, got := rc.read(m)
		if resp.ContentLength != int64(len(body)) {
			t.Fatalf("%s: Content-Length %d", m, resp.ContentLength)
		}
		if (m == "GET" && got != string(body)) || (m == "HEAD" && got != "") {
			t.Fatalf("%s: body of %d bytes", m, len(got))
		}
	}
}

func TestShortBodyClosesConnection(t *testing.T) {
	addr := startServer(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		w.WriteHead(200, nil, 10)
		io.WriteString(w, "short")
	})})
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("client read a complete body from a short response")
	}
}

func TestPanicRecovered(t *testing.T) {
	var panics atomic.Int32
	addr := startServer(t, &Server{
		Handler: HandlerFunc(func(w *Response, r *Request) { panic("boom") }),
		OnPanic: func(any) { panics.Add(1) },
	})
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, _ := rc.read("GET")
	if resp.StatusCode != 500 || panics.Load() != 1 {
		t.Fatalf("status %d, panics %d", resp.StatusCode, panics.Load())
	}
}

func TestMaxConns(t *testing.T) {
	release := make(chan struct{})
	var inHandler atomic.Int32
	s := &Server{MaxConns: 2, Handler: HandlerFunc(func(w *Response, r *Request) {
		inHandler.Add(1)
		<-release
		w.WriteRaw(200, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"), nil)
	})}
	addr := startServer(t, s)
	var clients []*rawClient
	for i := 0; i < 3; i++ {
		rc := dial(t, addr)
		rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		clients = append(clients, rc)
	}
	deadline := time.Now().Add(5 * time.Second)
	for inHandler.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := inHandler.Load(); n != 2 {
		t.Fatalf("%d requests in handlers with MaxConns 2", n)
	}
	clients[0].c.Close() // does not free a slot: its request is still running
	close(release)
	for _, rc := range clients[1:] {
		if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
			t.Fatal("status", resp.StatusCode)
		}
	}
}

func TestShutdownGraceful(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	s := &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		if r.Path == "/slow" {
			close(started)
			<-release
		}
		w.WriteRaw(200, []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"), []byte("ok"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idle.read("GET")
	busy := dial(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	if !idle.closed() {
		t.Error("idle connection not closed by Shutdown")
	}
	close(release)
	resp, body := busy.read("GET")
	if resp.StatusCode != 200 || body != "ok" || !resp.Close {
		t.Errorf("in-flight request: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != ErrServerClosed {
		t.Errorf("Serve returned %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := &Server{Handler: echo}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	for i := 0; i < 10; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		http.ReadResponse(bufio.NewReader(c), nil)
		defer c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
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

func TestRealClient(t *testing.T) {
	addr := startServer(t, &Server{Handler: echo})
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; i < 20; i++ {
		resp, err := client.Post("http://"+addr+"/p?i="+strconv.Itoa(i), "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf(`POST /p?i=%d host=%s body="hello"`, i, addr); string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
}
