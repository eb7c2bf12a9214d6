package h1

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	stateIdle   = iota // waiting for the first byte of a request
	stateActive        // reading a request, in the handler, or writing
	stateClosed        // closed by Shutdown while idle
)

const initialBufSize = 4 << 10

// bufPool recycles read buffers of the initial size between connections.
var bufPool = sync.Pool{New: func() any { b := make([]byte, initialBufSize); return &b }}

// conn is one client connection. Only its own goroutine touches it, except
// state (Shutdown) and nc.Close.
type conn struct {
	s     *Server
	nc    net.Conn
	lim   *limits
	state atomic.Int32

	remote netip.AddrPort

	// Read side: buf[r:w] holds received bytes not yet consumed. While a
	// handler runs, buf[hdrStart:hdrEnd] holds its request header, which
	// the Request's strings point into; body reads never modify it.
	buf              []byte
	pooled           *[]byte
	r, w             int
	hdrStart, hdrEnd int
	scan             int // findHeaderEnd resume point within buf[r:w]

	// Deadlines last set, to skip redundant updates (see setReadDeadline).
	rdl, wdl time.Time

	// Arrival-order reads (readwait.go): set while registered with the
	// server's poller. wake is always made, so a Shutdown can poke any
	// connection.
	poller   *poller
	raw      syscall.RawConn
	wake     chan struct{}
	readFn   func(fd uintptr) bool
	rp       []byte
	rn       int
	rerr     error
	pollSlot uint32
	timer    *time.Timer
	timerAt  time.Time   // what timer is armed for; zero: not armed
	fired    atomic.Bool // the timer went off since the last park
	drained  bool        // the last raw read emptied the socket: park before reading
	hup      atomic.Bool // the poller saw the peer's FIN or an error: always read
	rawReads int         // raw reads done (tests; only the connection's goroutine touches it)
	wr       rawWriter
	qd       qdConn // queue-delay diagnostic (-tags h1qdelay; empty otherwise)

	req    Request
	fields []Field
	resp   Response
	body   body
	broken bool // a read or write failed: close after this request
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, lim: &s.lim}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.remote = ta.AddrPort()
		c.remote = netip.AddrPortFrom(c.remote.Addr().Unmap(), c.remote.Port())
	}
	c.wake = make(chan struct{}, 1)
	c.pooled = bufPool.Get().(*[]byte)
	c.buf = *c.pooled
	c.fields = make([]Field, 0, 16)
	c.resp.c = c
	c.resp.wbuf = make([]byte, 0, 8<<10)
	c.resp.hbuf = make([]byte, 0, 2<<10)
	c.body.c = c
	return c
}

func (c *conn) close() {
	c.leavePoller()
	if !c.broken {
		c.lingerClose()
	}
	c.nc.Close()
	if c.pooled != nil {
		bufPool.Put(c.pooled)
		c.pooled = nil
	}
	c.buf = nil
	c.s.untrack(c)
}

// serve runs the request loop until the connection ends.
func (c *conn) serve() {
	defer c.close()
	raw, ok := pollable(c.nc)
	if ok {
		c.wr.init(raw)
		c.qdInit(raw)
	}
	c.joinPoller(raw)
	for {
		perr, err := c.readRequest()
		if err != nil {
			return
		}
		if perr != nil {
			if c.s.OnReject != nil {
				c.s.OnReject(perr.reason)
			}
			c.resp.reset(&c.req)
			c.req.Close = true
			c.resp.writeError(perr.status, perr.msg)
			c.resp.flush()
			return
		}
		if c.s.shutdown.Load() {
			c.req.Close = true
		}
		c.resp.reset(&c.req)
		c.body.reset(&c.req)
		c.req.Body = &c.body
		c.callHandler()
		c.resp.finish()
		if c.broken || c.req.Close || c.resp.closeAfter {
			c.resp.flush()
			return
		}
		if !c.body.drain() {
			c.resp.flush()
			return
		}
		c.hdrStart, c.hdrEnd = 0, 0
		// Answer pipelined requests before flushing, within reason.
		if c.r == c.w || len(c.resp.wbuf) >= 32<<10 {
			if c.resp.flush() != nil {
				return
			}
		}
		c.qdDone()
	}
}

func (c *conn) callHandler() {
	defer func() {
		if v := recover(); v != nil {
			if c.s.OnPanic != nil {
				c.s.OnPanic(v)
			}
			if !c.resp.wroteHead {
				c.resp.writeError(500, "internal error")
			}
			// The response may be cut short: do not reuse the connection.
			c.resp.closeAfter = true
		}
	}()
	c.s.Handler.ServeH1(&c.resp, &c.req)
}

// readRequest reads and parses the next request header. A nil, nil return
// means c.req is ready; a parse error is answered by the caller; an I/O
// error (including the client closing between requests) ends the
// connection silently.
func (c *conn) readRequest() (*parseError, error) {
	var first time.Time // when the first byte of this request was seen
	skipped := 0
	for {
		// Skip blank lines before a request (RFC 9112 2.2), a few at most.
		for c.r < c.w && (c.buf[c.r] == '\r' || c.buf[c.r] == '\n') && skipped < 8 {
			c.r++
			skipped++
		}
		if c.r < c.w {
			if first.IsZero() {
				first = time.Now()
			}
			end, next := findHeaderEnd(c.buf[c.r:c.w], c.scan)
			c.scan = next
			if end >= 0 {
				if end > c.lim.maxHeader {
					return errTooBig, nil
				}
				c.hdrStart, c.hdrEnd = c.r, c.r+end
				c.scan = 0
				c.req = Request{RemoteAddr: c.remote, c: c}
				if pe := parseRequest(c.buf[c.hdrStart:c.hdrEnd], &c.req, c.fields, c.lim); pe != nil {
					return pe, nil
				}
				c.fields = c.req.Header[:0]
				c.r = c.hdrEnd
				return nil, nil
			}
			if c.w-c.r > c.lim.maxHeader {
				return errTooBig, nil
			}
		}
		// Need more bytes.
		if c.r == c.w {
			c.r, c.w, c.scan = 0, 0, 0
		}
		if c.w == len(c.buf) {
			if c.r > 0 {
				n := copy(c.buf, c.buf[c.r:c.w])
				c.r, c.w = 0, n
			} else {
				c.grow(min(2*len(c.buf), c.lim.maxHeader+1024))
			}
		}
		idle := first.IsZero()
		var deadline time.Time
		if idle {
			if !c.state.CompareAndSwap(stateActive, stateIdle) && c.state.Load() == stateClosed {
				return nil, net.ErrClosed
			}
			deadline = time.Now().Add(c.lim.idle)
		} else {
			deadline = first.Add(c.lim.readHeader)
		}
		n, err := c.readWait(c.buf[c.w:], deadline)
		if idle && !c.state.CompareAndSwap(stateIdle, stateActive) {
			return nil, net.ErrClosed // closed by Shutdown while idle
		}
		c.w += n
		if err != nil {
			if n > 0 {
				continue
			}
			if !first.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
				// A partial request that never completed: say so, then close.
				return errTimeout, nil
			}
			return nil, err
		}
	}
}

// lingerClose half-closes the connection and reads what the client still
// sends for a short while before the full close: closing a socket with
// unread input makes the kernel send a reset, which can destroy the
// response (say a 431 or 413) before the client has read it.
func (c *conn) lingerClose() {
	tc, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || tc.CloseWrite() != nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var scratch [4096]byte
	for total := 0; total < 256<<10; {
		n, err := c.nc.Read(scratch[:])
		total += n
		if err != nil {
			return
		}
	}
}

// grow replaces buf with a larger one holding the unconsumed bytes at 0.
func (c *conn) grow(size int) {
	if size <= len(c.buf) {
		size = 2 * len(c.buf)
	}
	nb := make([]byte, size)
	n := copy(nb, c.buf[c.r:c.w])
	c.buf, c.r, c.w = nb, 0, n
	// The pooled buffer is no longer the one in use; it goes back to the
	// pool only if it is not referenced by a request in flight (it is not:
	// grow runs between requests or moves body bytes only).
}

// setReadDeadline sets the read deadline unless the one already set is at
// most a second earlier than d: resetting the timer on every request of a
// busy connection costs more than it buys.
func (c *conn) setReadDeadline(d time.Time) {
	if !c.rdl.IsZero() && !c.rdl.After(d) && d.Sub(c.rdl) < time.Second {
		return
	}
	c.rdl = d
	_ = c.nc.SetReadDeadline(d)
}

func (c *conn) setWriteDeadline() {
	d := time.Now().Add(c.lim.write)
	if !c.wdl.IsZero() && d.Sub(c.wdl) < time.Second {
		return
	}
	c.wdl = d
	_ = c.nc.SetWriteDeadline(d)
}

// write sends p to the client.
func (c *conn) write(p []byte) error { return c.writev(p, nil) }

// writev sends head and body with one system call where the platform has
// writev: a raw one on Linux (rawwrite_linux.go), net.Conn's otherwise.
func (c *conn) writev(head, body []byte) error {
	if c.broken {
		return errBroken
	}
	c.setWriteDeadline()
	ok, err := c.wr.writev(head, body)
	switch {
	case ok:
	case len(body) == 0:
		_, err = c.nc.Write(head)
	default:
		c.resp.iov[0], c.resp.iov[1] = head, body
		c.resp.bufs = c.resp.iov[:]
		_, err = c.resp.bufs.WriteTo(c.nc)
		c.resp.iov[0], c.resp.iov[1], c.resp.bufs = nil, nil, nil
	}
	if err != nil {
		c.broken = true
	}
	return err
}

var errBroken = errors.New("h1: connection broken")

// fill reads more body bytes into buf after w, never touching the request
// header at buf[hdrStart:hdrEnd].
func (c *conn) fill() error {
	if c.broken {
		return errBroken
	}
	if c.w == len(c.buf) {
		// Reclaim consumed body bytes between the header and r first.
		if c.r > c.hdrEnd {
			n := copy(c.buf[c.hdrEnd:], c.buf[c.r:c.w])
			c.r, c.w = c.hdrEnd, c.hdrEnd+n
		}
		if c.w == len(c.buf) {
			// Move the pending bytes to a new buffer; the old one keeps
			// the header the request's strings point into.
			nb := make([]byte, max(2*(c.w-c.r), initialBufSize))
			n := copy(nb, c.buf[c.r:c.w])
			c.buf, c.r, c.w = nb, 0, n
			c.hdrStart, c.hdrEnd = 0, 0
			c.pooled = nil // the old buffer may still be referenced
		}
	}
	n, err := c.readWait(c.buf[c.w:], time.Now().Add(c.lim.idle))
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	if err != io.EOF {
		c.broken = true
	}
	return err
}
