// Package origintest provides a real HTTP origin on loopback whose answers
// and failures a test controls, and which counts what reaches it: requests
// per path, accepted TCP connections and the peak of concurrent requests.
package origintest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Server is a programmable origin.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	routes   map[string]http.HandlerFunc
	fallback http.HandlerFunc
	hits     map[string]int
	last     map[string]*http.Request

	conns    atomic.Int64
	inflight atomic.Int64
	peak     atomic.Int64
	down     atomic.Bool
}

// New starts an origin on 127.0.0.1 and closes it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{routes: map[string]http.HandlerFunc{}, hits: map[string]int{}, last: map[string]*http.Request{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
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
// be served again (false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
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

// Conns returns how many TCP connections the origin accepted.
func (s *Server) Conns() int64 { return s.conns.Load() }

// PeakInflight returns the highest number of concurrent requests seen.
func (s *Server) PeakInflight() int64 { return s.peak.Load() }

// ResetPeak zeroes the concurrency peak.
func (s *Server) ResetPeak() { s.peak.Store(0) }
