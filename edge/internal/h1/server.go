package h1

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Handler answers requests. It must write a response through w before it
// returns (if it writes nothing, the client gets a 500).
type Handler interface {
	ServeH1(w *Response, r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w *Response, r *Request)

// ServeH1 calls f(w, r).
func (f HandlerFunc) ServeH1(w *Response, r *Request) { f(w, r) }

// Defaults for zero Server fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 75 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultMaxURIBytes       = 8 << 10
	DefaultMaxHeaderFields   = 100
	DefaultMaxBodyDrain      = 256 << 10
)

// Server serves HTTP/1.x on the listeners given to Serve. Set its fields
// before the first Serve; they must not change afterwards.
type Server struct {
	// Handler answers every well-formed request. Required.
	Handler Handler
	// ReadHeaderTimeout bounds the time from the first byte of a request to
	// the end of its header. Zero means DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection (and for the first one). Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// WriteTimeout bounds every single write to the client: a client that
	// does not take data for this long is disconnected. Zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus header fields (431).
	// Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxURIBytes bounds the request-target (414). Zero means
	// DefaultMaxURIBytes.
	MaxURIBytes int
	// MaxHeaderFields bounds the number of header fields (431). Zero means
	// DefaultMaxHeaderFields.
	MaxHeaderFields int
	// MaxConns caps concurrent connections; at the cap the server stops
	// accepting until one closes (they wait in the listen backlog). Zero
	// means no cap.
	MaxConns int
	// MaxBodyDrain is how much of a request body the handler did not read
	// the server will read and discard to keep the connection; beyond it
	// the connection is closed. Zero means DefaultMaxBodyDrain.
	MaxBodyDrain int64

	// RuntimeReadOrder makes connections wait for requests in the Go
	// runtime's network poller instead of the server's own, which wakes
	// them in the order their data arrived (see "Read order" in the
	// package documentation). Off by default; the own poller exists on
	// Linux only.
	RuntimeReadOrder bool
	// OnPollerError, if set, is called if the server's own poller cannot
	// be started or stops with an error; the connections concerned then
	// read through the Go poller.
	OnPollerError func(err error)
	// BeforeWait, if set, runs when a connection (own poller only) is about
	// to wait for input: the node has it hand ready origin responses to
	// their fills (origin.ReadPoller.Kick). It must not block.
	BeforeWait func()

	// OnReject, if set, is called with a Reason… constant for every request
	// refused before the handler (and for header timeouts).
	OnReject func(reason string)
	// OnConnOpen and OnConnClose, if set, are called as connections come
	// and go (for gauges and counters).
	OnConnOpen, OnConnClose func()
	// OnPanic, if set, is called with the value of a recovered handler panic.
	OnPanic func(v any)
	// ErrorFields are extra header lines ("Name: value\r\n" each) added to
	// the responses the server writes itself (rejections, 500s).
	ErrorFields []byte

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	sem       chan struct{}
	inited    sync.Once
	lim       limits
	shutdown  atomic.Bool
	connsDone chan struct{} // closed when conns becomes empty during shutdown
	pollers   []*poller     // arrival-order reads; empty if off or not started
	pollerTry bool          // pollers were started (or failed) once
	nextPoll  int           // round robin over pollers
}

// pollersFor is how many pollers a server runs: one dispatch goroutine
// per four Ps, so that wake-ups on a many-core machine are not all made
// by one goroutine, while batches stay large enough to be worth a wait.
func pollersFor(procs int) int { return min(max(1, (procs+3)/4), 16) }

// limits is the resolved, read-only view of the limits a conn needs.
type limits struct {
	readHeader, idle, write time.Duration
	maxHeader, maxURI       int
	maxFields               int
	maxDrain                int64
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("h1: server closed")

func (s *Server) init() {
	s.inited.Do(func() {
		s.lim = limits{
			readHeader: orDur(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
			idle:       orDur(s.IdleTimeout, DefaultIdleTimeout),
			write:      orDur(s.WriteTimeout, DefaultWriteTimeout),
			maxHeader:  orInt(s.MaxHeaderBytes, DefaultMaxHeaderBytes),
			maxURI:     orInt(s.MaxURIBytes, DefaultMaxURIBytes),
			maxFields:  orInt(s.MaxHeaderFields, DefaultMaxHeaderFields),
			maxDrain:   s.MaxBodyDrain,
		}
		if s.lim.maxDrain == 0 {
			s.lim.maxDrain = DefaultMaxBodyDrain
		}
		if s.MaxConns > 0 {
			s.sem = make(chan struct{}, s.MaxConns)
		}
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
	})
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// Serve accepts connections on ln until ln fails or Shutdown is called, and
// serves each on its own goroutine. It returns ErrServerClosed after
// Shutdown. Serve closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	var perr error
	if !s.RuntimeReadOrder && !s.pollerTry {
		s.pollerTry = true
		for range pollersFor(runtime.GOMAXPROCS(0)) {
			p, err := newPoller(s.OnPollerError)
			if err != nil {
				perr = err
				break
			}
			s.pollers = append(s.pollers, p)
		}
	}
	s.mu.Unlock()
	if perr != nil && perr != errNoPoller && s.OnPollerError != nil {
		s.OnPollerError(perr)
	}
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		if s.sem != nil {
			s.sem <- struct{}{}
		}
		nc, err := ln.Accept()
		if err != nil {
			if s.sem != nil {
				<-s.sem
			}
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				// Out of file descriptors and the like: back off and retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc)
		if !s.track(c) {
			nc.Close()
			if s.sem != nil {
				<-s.sem
			}
			return ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	if len(s.pollers) > 0 {
		c.poller = s.pollers[s.nextPoll%len(s.pollers)]
		s.nextPoll++
	}
	if s.OnConnOpen != nil {
		s.OnConnOpen()
	}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.connsDone != nil {
		close(s.connsDone)
		s.connsDone = nil
	}
	s.mu.Unlock()
	if s.sem != nil {
		<-s.sem
	}
	if s.OnConnClose != nil {
		s.OnConnClose()
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in
// progress finish (their connections close after the response), and returns
// when every connection is gone or ctx ends — then it closes what is left
// and returns ctx's error. Calling it again is harmless.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.shutdown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	var done chan struct{}
	if len(s.conns) > 0 {
		if s.connsDone == nil {
			s.connsDone = make(chan struct{})
		}
		done = s.connsDone
	}
	s.mu.Unlock()
	defer s.stopPollers()
	if done == nil {
		return nil
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				c.nc.Close()
				c.poke()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// closeIdle closes connections that are waiting for a request.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.Load() == stateIdle {
			c.nc.Close()
			c.poke()
		}
	}
}

// stopPollers stops the server's pollers once Shutdown is done with the
// connections (any left are closed and poked; they fall back on their way
// out).
func (s *Server) stopPollers() {
	s.mu.Lock()
	ps := s.pollers
	s.pollers = nil
	s.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
}
