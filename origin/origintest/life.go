package origintest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// A generation is one listening life of the origin, from New or Revive to
// Kill or Close. Each has its own listener and http.Server, because an
// http.Server cannot serve again once closed.
type generation struct {
	ln     net.Listener
	srv    *http.Server
	done   chan struct{} // closed by Kill: ends the delays of its requests
	served chan struct{} // closed when srv.Serve has returned

	// Guarded by Server.lmu.
	dead  bool
	conns map[net.Conn]struct{} // raw TCP conns not yet closed by the server
}

// reviveWait bounds how long Revive tries to bind the address again.
const reviveWait = 2 * time.Second

// Alive reports whether the origin is listening (true after New and Revive,
// false after Kill and Close).
func (s *Server) Alive() bool {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return s.gen != nil
}

// Kill makes the origin die like a crashed process. It stops listening, so
// new dials get "connection refused", and closes every open connection at
// once: idle ones, ones in a TLS handshake, ones with requests in flight
// (their clients see EOF or a reset) and ones a handler hijacked. Requests
// waiting in SetDelay are aborted. Kill does not wait for handlers that
// ignore their request's context; Close does. Killing a dead origin does
// nothing.
//
// As after a real crash, a client holding a pooled connection learns of the
// close only when it reads from it: a request it sends before that fails.
// Go's HTTP/1 transport retries such an idempotent request on a new
// connection; its HTTP/2 transport returns the error (often "unexpected
// EOF"), so a test that sends over HTTP/2 right after Kill and Revive should
// allow one failure.
func (s *Server) Kill() {
	s.lmu.Lock()
	g := s.gen
	s.gen = nil
	var conns []net.Conn
	if g != nil {
		g.dead = true // from here on Accept closes what it gets
		for c := range g.conns {
			conns = append(conns, c)
		}
		g.conns = nil
	}
	s.lmu.Unlock()
	if g == nil {
		return
	}
	g.ln.Close()
	for _, c := range conns {
		c.Close() // the raw conn: no TLS close_notify, as in a crash
	}
	// Only now wake the delayed handlers: had they aborted first, HTTP/2
	// clients would get RST_STREAM, which no crashed process sends.
	close(g.done)
	g.srv.Close()
	<-g.served
}

// Revive makes a killed origin listen again on the same address, serving
// the same routes and certificates and adding to the same counters. Reviving
// a live origin does nothing. If the port cannot be bound again within 2 s
// (another process took it), Revive panics; so does Revive after Close.
func (s *Server) Revive() {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed {
		panic("origintest: Revive after Close")
	}
	if s.gen != nil {
		return
	}
	deadline := time.Now().Add(reviveWait)
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.gen = s.start(ln)
			return
		}
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("origintest: revive %s: %v", s.addr, err))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close shuts the origin down when the test ends (it is registered with
// t.Cleanup, and calling it again does nothing). Like httptest.Server.Close
// it stops listening, closes idle connections and waits for requests in
// flight to finish, except that requests waiting in SetDelay are aborted
// rather than waited for. Then it closes every remaining connection.
func (s *Server) Close() {
	s.lmu.Lock()
	if s.closed {
		s.lmu.Unlock()
		return
	}
	// After this no handler starts (serve checks closed under lmu before
	// handlers.Add), so the Wait below cannot race an Add from zero.
	s.closed = true
	close(s.closing)
	g := s.gen
	s.lmu.Unlock()
	if g != nil {
		g.ln.Close()
		g.srv.SetKeepAlivesEnabled(false) // also closes idle HTTP/1 conns
	}
	waited := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		s.t.Logf("origintest: %s: Close is waiting for handlers to return", s.URL)
		<-waited
	}
	s.Kill()
}

// start serves on ln as a new generation. The caller holds lmu.
func (s *Server) start(ln net.Listener) *generation {
	g := &generation{
		done:   make(chan struct{}),
		served: make(chan struct{}),
		conns:  map[net.Conn]struct{}{},
	}
	g.ln = &trackListener{Listener: ln, s: s, g: g}
	g.srv = &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(g, w, r) }),
		ErrorLog: errorLog,
		ConnState: func(c net.Conn, st http.ConnState) {
			if st != http.StateClosed {
				return // hijacked conns stay tracked, so Kill closes them too
			}
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			s.lmu.Lock()
			delete(g.conns, c)
			s.lmu.Unlock()
		},
	}
	if s.tls != nil {
		g.srv.TLSConfig = s.tls.config.Clone() // ServeTLS may add to it
		g.srv.Protocols = s.tls.protocols
	}
	go func() {
		defer close(g.served)
		// Both return an error once killed (ErrServerClosed or
		// net.ErrClosed), and only then.
		if s.tls != nil {
			g.srv.ServeTLS(g.ln, "", "")
		} else {
			g.srv.Serve(g.ln)
		}
	}()
	return g
}

// trackListener counts and remembers the connections it accepts, so that
// Kill can close them all, also those the http.Server no longer tracks.
type trackListener struct {
	net.Listener
	s *Server
	g *generation
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.lmu.Lock()
	dead := l.g.dead
	if !dead {
		l.g.conns[c] = struct{}{}
	}
	l.s.lmu.Unlock()
	if dead {
		c.Close()
		return nil, net.ErrClosed
	}
	l.s.conns.Add(1)
	return c, nil
}

// Interface guards.
var _ net.Listener = (*trackListener)(nil)
