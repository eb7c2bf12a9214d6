package origintest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// client returns an HTTP client of its own for s, trusting s's CA and, with
// cert, presenting its client certificate.
func client(t *testing.T, s *Server, cert bool) *http.Client {
	t.Helper()
	tr := &http.Transport{ForceAttemptHTTP2: true}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatal("no certificate in CAFile")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		if cert {
			c, err := tls.LoadX509KeyPair(s.ClientCertFile, s.ClientKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			tr.TLSClientConfig.Certificates = []tls.Certificate{c}
		}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(c *http.Client, rawURL string) (*http.Response, string, error) {
	resp, err := c.Get(rawURL)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func mustGet(t *testing.T, c *http.Client, rawURL string) (*http.Response, string) {
	t.Helper()
	resp, body, err := get(c, rawURL)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	return resp, body
}

func hostPort(t *testing.T, s *Server) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }

// waitFor polls cond for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRoutesAndCounters(t *testing.T) {
	s := New(t)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %q", s.URL)
	}
	s.Handle("/a", hello)
	s.HandleFallback(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "fb", http.StatusTeapot) })
	c := client(t, s, false)

	if resp, body := mustGet(t, c, s.URL+"/a?x=1"); resp.StatusCode != 200 || body != "hello" {
		t.Errorf("/a: %d %q", resp.StatusCode, body)
	}
	if resp, _ := mustGet(t, c, s.URL+"/other"); resp.StatusCode != http.StatusTeapot {
		t.Errorf("/other: %d, want the fallback's 418", resp.StatusCode)
	}
	if got := s.Hits("/a"); got != 1 {
		t.Errorf("Hits(/a) = %d", got)
	}
	if r := s.Last("/a"); r == nil || r.URL.RawQuery != "x=1" {
		t.Errorf("Last(/a) = %v", r)
	}
	if s.Last("/none") != nil {
		t.Error("Last(/none) != nil")
	}
	if got := s.Conns(); got != 1 {
		t.Errorf("Conns = %d, want 1 (keep-alive)", got)
	}
	if got := s.PeakInflight(); got != 1 {
		t.Errorf("PeakInflight = %d", got)
	}
	s.ResetPeak()
	if got := s.PeakInflight(); got != 0 {
		t.Errorf("PeakInflight after reset = %d", got)
	}
	if got := s.Protos(); len(got) != 1 || got["HTTP/1.1"] != 2 {
		t.Errorf("Protos = %v", got)
	}

	s.SetDown(true)
	if _, _, err := get(c, s.URL+"/a"); err == nil {
		t.Error("GET on a down origin succeeded")
	}
	s.SetDown(false)
	mustGet(t, c, s.URL+"/a")
	if !s.Alive() {
		t.Error("Alive = false")
	}
}

func TestDelay(t *testing.T) {
	const d = 150 * time.Millisecond
	s := New(t)
	s.Handle("/a", hello)
	s.SetDelay(d)
	c := client(t, s, false)
	for _, path := range []string{"/a", "/health", "/unrouted"} {
		start := time.Now()
		mustGet(t, c, s.URL+path)
		if el := time.Since(start); el < d || el > d+2*time.Second {
			t.Errorf("%s took %v with a %v delay", path, el, d)
		}
	}
	s.SetDelay(0)
	start := time.Now()
	mustGet(t, c, s.URL+"/a")
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v without delay", el)
	}
}

// A client that gives up ends the wait: the handler does not sit out the
// whole delay.
func TestDelayClientGone(t *testing.T) {
	s := New(t)
	s.Handle("/a", hello)
	s.SetDelay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/a", nil)
	if _, err := client(t, s, false).Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	waitFor(t, "the handler to return", func() bool { return s.inflight.Load() == 0 })
	if got := s.Hits("/a"); got != 1 {
		t.Errorf("Hits = %d", got)
	}
}

func TestKill(t *testing.T) {
	s := New(t)
	s.Handle("/slow", hello)
	s.SetDelay(10 * time.Second)
	c := client(t, s, false)

	errc := make(chan error, 1)
	go func() {
		_, _, err := get(c, s.URL+"/slow")
		errc <- err
	}()
	waitFor(t, "the request to arrive", func() bool { return s.Hits("/slow") == 1 })

	start := time.Now()
	s.Kill()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("in-flight request succeeded across Kill")
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("in-flight request failed %v after Kill", el)
		}
	case <-time.After(time.Second):
		t.Fatal("in-flight request still running 1s after Kill")
	}
	waitFor(t, "the handler to return", func() bool { return s.inflight.Load() == 0 })

	if s.Alive() {
		t.Error("Alive after Kill")
	}
	if _, err := net.Dial("tcp", hostPort(t, s)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Kill: %v, want connection refused", err)
	}
	s.Kill() // idempotent
}

func TestRevive(t *testing.T) {
	s := New(t)
	s.Handle("/a", hello)
	url0 := s.URL
	c := client(t, s, false)
	mustGet(t, c, s.URL+"/a") // leaves an idle keep-alive conn
	for i := range 3 {
		s.Kill()
		if _, _, err := get(c, s.URL+"/a"); err == nil {
			t.Fatalf("round %d: GET on a killed origin succeeded", i)
		}
		s.Revive()
		s.Revive() // no-op on a live origin
		if !s.Alive() || s.URL != url0 {
			t.Fatalf("round %d: Alive=%v URL=%q, want %q", i, s.Alive(), s.URL, url0)
		}
		if resp, body := mustGet(t, c, s.URL+"/a"); resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("round %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if got := s.Hits("/a"); got != 4 {
		t.Errorf("Hits = %d, want 4 across revivals", got)
	}
	if got := s.Conns(); got != 4 {
		t.Errorf("Conns = %d, want 4: one per life", got)
	}
}

// Kill also closes connections a handler hijacked, and idle ones.
func TestKillClosesHijackedConns(t *testing.T) {
	s := New(t)
	hijacked := make(chan struct{})
	s.Handle("/hj", func(w http.ResponseWriter, r *http.Request) {
		c, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		bw.Flush()
		close(hijacked)
		_ = c // left open on purpose
	})
	conn, err := net.Dial("tcp", hostPort(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /hj HTTP/1.1\r\nHost: x\r\n\r\n")
	<-hijacked
	s.Kill()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read after Kill: %v (got %q)", err, b)
	}
	if !strings.HasSuffix(string(b), "abc") {
		t.Errorf("read %q", b)
	}
}

// Close does not wait out a delay.
func TestCloseAbortsDelay(t *testing.T) {
	s := New(t)
	s.SetDelay(10 * time.Second)
	c := client(t, s, false)
	errc := make(chan error, 1)
	go func() {
		_, _, err := get(c, s.URL+"/x")
		errc <- err
	}()
	waitFor(t, "the request to arrive", func() bool { return s.Hits("/x") == 1 })
	start := time.Now()
	s.Close()
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %v", el)
	}
	if err := <-errc; err == nil {
		t.Error("request succeeded")
	}
	s.Close()
	s.Kill()
}

func TestTLS(t *testing.T) {
	for _, tc := range []struct {
		name  string
		http2 bool
		major int
		proto string
	}{
		{"http1", false, 1, "HTTP/1.1"},
		{"http2", true, 2, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewTLS(t, TLSOptions{HTTP2: tc.http2})
			if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
				t.Fatalf("URL %q", s.URL)
			}
			if s.CAFile == "" || s.ClientCertFile != "" || s.ClientKeyFile != "" {
				t.Fatalf("files: %q %q %q", s.CAFile, s.ClientCertFile, s.ClientKeyFile)
			}
			s.Handle("/a", hello)
			c := client(t, s, false)
			resp, body := mustGet(t, c, s.URL+"/a")
			if resp.ProtoMajor != tc.major || body != "hello" {
				t.Errorf("ProtoMajor %d body %q, want %d", resp.ProtoMajor, body, tc.major)
			}
			if got := s.Protos(); len(got) != 1 || got[tc.proto] != 1 {
				t.Errorf("Protos = %v", got)
			}
			if got := s.Conns(); got != 1 {
				t.Errorf("Conns = %d", got)
			}

			// The certificate also names ServerName.
			tr := c.Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.ServerName = ServerName
			defer tr.CloseIdleConnections()
			if _, _, err := get(&http.Client{Transport: tr}, s.URL+"/a"); err != nil {
				t.Errorf("with ServerName %s: %v", ServerName, err)
			}
			// A client without the CA refuses the origin.
			if _, _, err := get(&http.Client{Transport: &http.Transport{}}, s.URL+"/a"); err == nil {
				t.Error("a client without the CA trusted the origin")
			}
		})
	}
}

func TestTLSClientCert(t *testing.T) {
	s := NewTLS(t, TLSOptions{HTTP2: true, RequireClientCert: true})
	s.Handle("/a", hello)
	for _, f := range []string{s.CAFile, s.ClientCertFile, s.ClientKeyFile} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := get(client(t, s, false), s.URL+"/a"); err == nil {
		t.Error("a client without a certificate was served")
	}
	if got := s.Hits("/a"); got != 0 {
		t.Errorf("Hits = %d after a refused handshake", got)
	}
	if resp, body := mustGet(t, client(t, s, true), s.URL+"/a"); resp.StatusCode != 200 || body != "hello" || resp.ProtoMajor != 2 {
		t.Errorf("with the client certificate: %d %q HTTP/%d", resp.StatusCode, body, resp.ProtoMajor)
	}
}

func TestTLSKillRevive(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "http2"}[h2], func(t *testing.T) {
			s := NewTLS(t, TLSOptions{HTTP2: h2, RequireClientCert: true})
			s.Handle("/a", hello)
			c := client(t, s, true)
			mustGet(t, c, s.URL+"/a")

			s.SetDelay(10 * time.Second)
			errc := make(chan error, 1)
			go func() {
				_, _, err := get(c, s.URL+"/slow")
				errc <- err
			}()
			waitFor(t, "the request to arrive", func() bool { return s.Hits("/slow") == 1 })
			start := time.Now()
			s.Kill()
			select {
			case err := <-errc:
				if err == nil {
					t.Error("in-flight request succeeded across Kill")
				}
				if el := time.Since(start); el > time.Second {
					t.Errorf("in-flight request failed %v after Kill", el)
				}
			case <-time.After(time.Second):
				t.Fatal("in-flight request still running 1s after Kill")
			}
			if _, err := net.Dial("tcp", hostPort(t, s)); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial after Kill: %v, want connection refused", err)
			}

			s.SetDelay(0)
			s.Revive()
			if resp, body := mustGet(t, c, s.URL+"/a"); body != "hello" || (resp.ProtoMajor == 2) != h2 {
				t.Errorf("after Revive: %q HTTP/%d", body, resp.ProtoMajor)
			}
			if got := s.Conns(); got != 2 {
				t.Errorf("Conns = %d, want 2", got)
			}
		})
	}
}

func TestDownHTTP2(t *testing.T) {
	s := NewTLS(t, TLSOptions{HTTP2: true})
	s.Handle("/a", hello)
	c := client(t, s, false)
	s.SetDown(true)
	if _, _, err := get(c, s.URL+"/a"); err == nil {
		t.Error("GET on a down HTTP/2 origin succeeded")
	}
	s.SetDown(false)
	mustGet(t, c, s.URL+"/a")
}

// Concurrent use of the controls while serving, for the race detector.
func TestConcurrentControls(t *testing.T) {
	s := NewTLS(t, TLSOptions{HTTP2: true})
	s.Handle("/a", hello)
	c := client(t, s, false)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				get(c, s.URL+"/a") // errors expected while killed
			}
		})
	}
	for i := range 20 {
		s.SetDelay(time.Duration(i%3) * time.Millisecond)
		s.Kill()
		_ = s.Alive()
		s.Revive()
		_ = s.Protos()
		_ = s.Conns()
	}
	close(stop)
	wg.Wait()
	s.SetDelay(0)
	mustGet(t, c, s.URL+"/a")
}

// Every goroutine a server starts is gone once it is closed, also when it
// was left killed.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("lives", func(t *testing.T) {
		for _, mk := range []func(t *testing.T) *Server{
			func(t *testing.T) *Server { return New(t) },
			func(t *testing.T) *Server { return NewTLS(t, TLSOptions{HTTP2: true, RequireClientCert: true}) },
		} {
			s := mk(t)
			s.Handle("/a", hello)
			c := client(t, s, true)
			mustGet(t, c, s.URL+"/a")
			s.Kill()
			s.Revive()
			// An HTTP/2 client may try its dead pooled conn once: see Kill.
			if _, _, err := get(c, s.URL+"/a"); err != nil {
				mustGet(t, c, s.URL+"/a")
			}
			s.SetDelay(time.Hour)
			go get(c, s.URL+"/slow")
			waitFor(t, "the request to arrive", func() bool { return s.Hits("/slow") == 1 })
			s.Kill() // and left dead for Cleanup
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
