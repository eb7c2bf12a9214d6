package origintest

import (
	"bytes"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a programmable origin.
//
// Its exported fields are set by [New] or [NewTLS] and must not be changed.
// Its methods are safe to call from several goroutines, also while it serves.
type Server struct {
	// URL is the base URL of the origin, "http://127.0.0.1:port" or
	// "https://127.0.0.1:port". It stays the same across Kill and Revive.
	URL string

	// CAFile is the PEM file of the CA that signed the server certificate
	// (for the DNS name "origin.test" and the IP 127.0.0.1) and, if
	// requested, the client certificate. Empty for a plain HTTP origin.
	CAFile string
	// ClientCertFile and ClientKeyFile are the PEM client certificate and
	// key the origin accepts; set only with TLSOptions.RequireClientCert.
	ClientCertFile, ClientKeyFile string

	t     testing.TB
	addr  string       // host:port, fixed by New so Revive can reuse it
	tls   *tlsSetup    // nil for plain HTTP
	delay atomic.Int64 // time.Duration

	mu       sync.Mutex // guards the routing and counting maps
	routes   map[string]http.HandlerFunc
	fallback http.HandlerFunc
	hits     map[string]int
	last     map[string]*http.Request
	protos   map[string]int

	conns    atomic.Int64
	inflight atomic.Int64
	peak     atomic.Int64
	down     atomic.Bool

	// Lifecycle, guarded by lmu: see life.go.
	lmu      sync.Mutex
	gen      *generation // nil while killed or closed
	closed   bool
	closing  chan struct{} // closed by Close: ends every delay
	handlers sync.WaitGroup
}

// New starts an origin on 127.0.0.1 and closes it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	return newServer(t, nil)
}

func newServer(t testing.TB, ts *tlsSetup) *Server {
	t.Helper()
	s := &Server{
		t:       t,
		tls:     ts,
		routes:  map[string]http.HandlerFunc{},
		hits:    map[string]int{},
		last:    map[string]*http.Request{},
		protos:  map[string]int{},
		closing: make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("origintest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	scheme := "http"
	if ts != nil {
		scheme = "https"
	}
	s.URL = (&url.URL{Scheme: scheme, Host: s.addr}).String()
	s.lmu.Lock()
	s.gen = s.start(ln)
	s.lmu.Unlock()
	t.Cleanup(s.Close)
	return s
}

// Handle sets the handler for an exact path (query ignored).
func (s *Server) Handle(path string, fn http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[path] = fn
}

// HandleFallback sets the handler for paths without their own.
func (s *Server) HandleFallback(fn http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = fn
}

// SetDown makes every request fail with a closed connection (true) or
// be served again (false). The origin keeps accepting connections; see
// [Server.Kill] for one that refuses them. Over HTTP/2 the request's stream
// is reset instead, since the connection cannot be taken over.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetDelay makes every request, on any path, wait d before it is handled
// (counted in Hits at once, answered after d). If the client goes away, or
// the origin is killed or closed, during the wait, the request is aborted
// unanswered. Zero or negative d turns the delay off. It may be changed at
// any time; a request uses the delay in force when it arrived.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(max(d, 0))) }

func (s *Server) serve(g *generation, w http.ResponseWriter, r *http.Request) {
	s.lmu.Lock()
	if s.closed || g.dead {
		s.lmu.Unlock()
		panic(http.ErrAbortHandler) // a request racing Kill or Close
	}
	s.handlers.Add(1) // under lmu and before closed: see Close
	s.lmu.Unlock()
	defer s.handlers.Done()

	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.last[r.URL.Path] = r.Clone(r.Context())
	s.protos[r.Proto]++
	s.mu.Unlock()

	if d := time.Duration(s.delay.Load()); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-r.Context().Done(): // client gone
			panic(http.ErrAbortHandler)
		case <-g.done: // Kill
			panic(http.ErrAbortHandler)
		case <-s.closing: // Close
			panic(http.ErrAbortHandler)
		}
	}

	s.mu.Lock()
	fn := s.routes[r.URL.Path]
	if fn == nil {
		fn = s.fallback
	}
	s.mu.Unlock()
	if s.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		if r.ProtoMajor == 2 {
			panic(http.ErrAbortHandler) // RST_STREAM
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if fn == nil {
		http.NotFound(w, r)
		return
	}
	fn(w, r)
}

// Hits returns how many requests reached path.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Last returns a copy of the last request for path (nil if none).
func (s *Server) Last(path string) *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[path]
}

// Protos returns how many requests arrived per protocol version, keyed by
// http.Request.Proto ("HTTP/1.1", "HTTP/2.0"). The map is a copy.
func (s *Server) Protos() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.protos))
	for k, v := range s.protos {
		m[k] = v
	}
	return m
}

// Conns returns how many TCP connections the origin accepted, over its
// whole life (across Kill and Revive, and before any TLS handshake).
func (s *Server) Conns() int64 { return s.conns.Load() }

// PeakInflight returns the highest number of concurrent requests seen.
// A request is in flight from its arrival, so time spent in SetDelay counts.
func (s *Server) PeakInflight() int64 { return s.peak.Load() }

// ResetPeak zeroes the concurrency peak.
func (s *Server) ResetPeak() { s.peak.Store(0) }

// errorLog is the http.Server error log: stderr, as httptest's default,
// minus the handshake failures that Kill and refused client certificates
// cause on purpose.
var errorLog = log.New(logFilter{}, "", log.LstdFlags)

type logFilter struct{}

func (logFilter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		return len(p), nil
	}
	return os.Stderr.Write(p)
}
