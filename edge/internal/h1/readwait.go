package h1

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// errNoPoller is newPoller's answer where there is no own poller.
var errNoPoller = errors.New("h1: arrival-order reads need Linux")

// readWait reads request bytes into p, waiting until deadline for them.
// A connection registered with the server's poller reads its socket
// directly and sleeps on its wake channel; others read through net.Conn.
//
// A read that returned less than it asked for emptied the socket of data,
// so the next readWait sleeps first instead of spending a system call on
// EAGAIN: data that arrives after that read raises a new edge, and the
// poller pokes the connection (an early wake-up, say for data already
// read, just costs the read this saves). A FIN or error that came with the
// data raises no new edge; the poller flags it (hup) and then every read
// is made.
func (c *conn) readWait(p []byte, deadline time.Time) (int, error) {
	sleep := c.drained && !c.hup.Load()
	c.drained = false
	for c.raw != nil {
		if sleep {
			if err := c.park(deadline); err != nil {
				return 0, err
			}
			if c.poller.dead.Load() {
				c.leavePoller()
				break
			}
		}
		n, err := c.readRaw(p)
		if err == nil {
			if n == 0 && len(p) > 0 {
				return 0, io.EOF
			}
			c.drained = n < len(p)
			return n, nil
		}
		if err != errAgain {
			return 0, err
		}
		sleep = true // nothing to read, whatever the flags say
	}
	c.setReadDeadline(deadline)
	return c.nc.Read(p)
}

// park sleeps until the poller reports the socket readable (or a close
// pokes it) or deadline passes. It is a plain channel receive: the
// deadline is kept by a timer that pokes the connection and sets fired.
// The timer is re-armed only when the deadline moves earlier; a later
// deadline is caught up with when the timer fires early, which costs one
// extra wake-up per idle period instead of a timer update per request.
func (c *conn) park(deadline time.Time) error {
	if c.timerAt.IsZero() || deadline.Before(c.timerAt) {
		d := time.Until(deadline)
		if c.timer == nil {
			c.timer = time.AfterFunc(d, c.timerFired)
		} else {
			c.timer.Reset(d)
		}
		c.timerAt = deadline
	}
	if c.s.BeforeWait != nil {
		c.s.BeforeWait()
	}
	<-c.wake
	if !c.fired.Load() {
		return nil
	}
	c.fired.Store(false)
	d := time.Until(deadline)
	if d <= 0 {
		c.timerAt = time.Time{}
		return os.ErrDeadlineExceeded
	}
	// Early (the deadline moved later): re-arm. The wake-up may also
	// have carried readiness, so the caller looks at the socket again.
	c.timer.Reset(d)
	c.timerAt = deadline
	return nil
}

func (c *conn) timerFired() {
	c.fired.Store(true)
	c.poke()
}

// poke wakes the connection if it is parked (or makes its next park return
// at once). Safe from any goroutine; a no-op for connections without a
// poller.
func (c *conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// joinPoller registers the connection, whose socket is raw (nil: not
// pollable), with the poller track gave it, if any.
func (c *conn) joinPoller(raw syscall.RawConn) {
	p := c.poller
	c.poller = nil
	if p == nil || raw == nil || p.add(c, raw) != nil {
		return
	}
	c.initRaw()
	c.poller, c.raw = p, raw
}

// leavePoller unregisters the connection; it reads through net.Conn from
// then on.
func (c *conn) leavePoller() {
	if c.raw == nil {
		return
	}
	c.poller.remove(c, c.raw)
	c.raw = nil
	if c.timer != nil {
		c.timer.Stop()
		c.timerAt = time.Time{}
	}
}
