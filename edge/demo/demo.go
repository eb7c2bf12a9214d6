package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

const (
	// serverName is the Server header of every response.
	serverName = "edgecdn-demo-origin"

	// maxPaths bounds the distinct paths counted by Stats; the rest are
	// counted under otherPath.
	maxPaths = 10000
	// maxPathKey is the longest path that gets its own counter.
	maxPathKey = 256
	// otherPath is the counter for paths beyond maxPaths or maxPathKey.
	otherPath = "other"

	// HTTP server limits. WriteTimeout is renewed while a body streams
	// (see extendWrite), so it bounds a stalled client, not a large file.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Server is the demo origin. Create it with New, serve it with Start (or
// mount Handler anywhere, for example in httptest.NewServer) and stop it with
// Stop. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	routes http.Handler

	failing atomic.Bool  // the /demo/fail switch
	panics  atomic.Int64 // handler panics recovered (a bug if non-zero)
	active  atomic.Int64 // requests being handled (for tests)

	statsMu sync.Mutex
	stats   map[string]int64 // guarded by statsMu

	mu      sync.Mutex // guards the fields below (lifecycle)
	srv     *http.Server
	ln      net.Listener
	done    chan struct{} // closed when the serve goroutine returns
	cancel  context.CancelFunc
	stopped bool
}

// Option configures a Server beyond its Config.
type Option func(*Server)

// WithLogger sets the logger. The default discards everything. The server
// adds component=demo-origin and logs only lifecycle events and errors, never
// per request.
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithClock sets the clock used for Date, Expires and the time-dependent
// bodies and Last-Modified values (tests). The default is time.Now. Delays
// and network timeouts always use the real clock.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// New validates cfg and returns a Server that is not serving yet. It opens
// no sockets and starts no goroutines.
func New(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		log:   slog.New(slog.DiscardHandler),
		now:   time.Now,
		stats: make(map[string]int64),
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "demo-origin")
	s.routes = &router{s: s}
	return s, nil
}

// Handler returns the demo origin's HTTP handler. It may be used without
// Start, for example with httptest.NewServer; all handlers of one Server share
// its counters and failure switch.
func (s *Server) Handler() http.Handler { return s.routes }

// Start listens on Config.Listen, serves in a goroutine and returns once the
// listener is open, so requests to Addr succeed as soon as it returns. ctx
// bounds only the start itself. A Server can be started once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("demo: start: server was stopped")
	}
	if s.srv != nil {
		return errors.New("demo: start: already started")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("demo: start: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("demo: start: %w", err)
	}
	// The run context outlives Start's ctx; Stop cancels it when a graceful
	// drain runs out of time, which ends the handlers' waits (/demo/slow).
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv := &http.Server{
		Handler:           s.routes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	s.srv, s.ln, s.done, s.cancel = srv, ln, done, cancel
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("demo origin stopped serving", "addr", ln.Addr().String(), "err", err)
		}
	}()
	s.log.Info("demo origin listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the address the server listens on after Start (with the
// actual port when Config.Listen asked for port 0), or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Ready reports whether the server is serving: started and not stopped.
func (s *Server) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil && !s.stopped
}

// Stop shuts the server down gracefully: it stops accepting, lets requests
// in flight finish until ctx is done, then closes the remaining connections
// and returns the context's error. Calling Stop twice, or before Start, is
// harmless.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped || s.srv == nil {
		s.stopped = true
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	srv, done, cancel, addr := s.srv, s.done, s.cancel, s.ln.Addr().String()
	s.mu.Unlock()

	start := time.Now()
	err := srv.Shutdown(ctx)
	if err != nil {
		// Out of time: close the connections first, then end the handlers'
		// waits, so that no handler can still answer on an open connection.
		_ = srv.Close()
	}
	cancel()
	<-done
	if err != nil {
		err = fmt.Errorf("demo: stop: %w", err)
		s.log.Warn("demo origin stopped before requests finished", "addr", addr, "err", err)
		return err
	}
	s.log.Info("demo origin stopped", "addr", addr, "duration_s", time.Since(start).Seconds())
	return nil
}

// Stats returns a copy of the request counters: requests per path (query
// ignored; paths beyond the bound are under "other"), as /demo/stats shows.
func (s *Server) Stats() map[string]int64 {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	m := make(map[string]int64, len(s.stats))
	for k, v := range s.stats {
		m[k] = v
	}
	return m
}

// ResetStats zeroes the request counters (and so X-Demo-Fetch).
func (s *Server) ResetStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	clear(s.stats)
}

// count records one request for path and returns the count it now has.
func (s *Server) count(path string) int64 {
	key := path
	if key == "" || len(key) > maxPathKey || !utf8.ValidString(key) {
		key = otherPath
	}
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if _, ok := s.stats[key]; !ok && key != otherPath {
		// The map holds at most maxPaths paths, plus "other".
		paths := len(s.stats)
		if _, ok := s.stats[otherPath]; ok {
			paths--
		}
		if paths >= maxPaths {
			key = otherPath
		}
	}
	s.stats[key]++
	return s.stats[key]
}

// router is the Server's http.Handler: common headers, counting, panic
// recovery, then dispatch by path.
type router struct{ s *Server }

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := rt.s
	s.active.Add(1)
	defer s.active.Add(-1)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.panics.Add(1)
			s.log.Error("demo origin handler panicked", "err", fmt.Sprint(v))
			http.Error(w, "internal error in the demo origin", http.StatusInternalServerError)
		}
	}()

	now := s.now().UTC().Truncate(time.Second)
	h := w.Header()
	h.Set("Server", serverName)
	h.Set("Date", now.Format(http.TimeFormat))

	path := r.URL.Path
	if path == "/demo/stats" || path == "/demo/stats/reset" {
		s.serveStats(w, r, path)
		return
	}
	h.Set("X-Demo-Fetch", strconv.FormatInt(s.count(path), 10))
	s.route(w, r, path, now)
}

// Interface guards.
var _ http.Handler = (*router)(nil)
