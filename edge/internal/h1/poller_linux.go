package h1

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller hands read readiness to connection goroutines in the order the
// kernel saw it (see "Read order" in doc.go).
//
// Every client socket is added to one epoll instance, edge-triggered, with
// its slot number and generation as the event's data. The epoll descriptor
// itself sits in the Go poller, so the dispatch goroutine sleeps there like
// any other reader; when it wakes it takes the ready events with a
// non-blocking epoll_wait, oldest first, and readies the connection
// goroutines in that order through their wake channels. A connection reads
// its socket directly (never waiting in the Go poller for input) and parks on
// its wake channel when the socket has nothing more.
type poller struct {
	f  *os.File        // the epoll descriptor, registered in the Go poller
	rc syscall.RawConn // f's, for epoll_wait and epoll_ctl under its fd lock

	mu    sync.Mutex
	slots []*conn
	gens  []uint32
	free  []uint32

	events  []unix.EpollEvent
	n       int
	werr    error
	waitFn  func(fd uintptr) bool
	dead    atomic.Bool       // the dispatcher has stopped: connections fall back
	closing atomic.Bool       // close was called: the dispatcher's end is expected
	trace   func(slot uint32) // tests: sees each wake-up, in order, under mu
	done    chan struct{}
}

// newPoller starts a poller; onErr, if not nil, hears of an error that
// stops its dispatcher.
func newPoller(onErr func(error)) (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	f := os.NewFile(uintptr(fd), "h1-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &poller{f: f, rc: rc, events: make([]unix.EpollEvent, 256), done: make(chan struct{})}
	p.waitFn = func(fd uintptr) bool {
		for {
			n, e := rawEpollWait(fd, p.events)
			if e == unix.EINTR {
				continue
			}
			p.n, p.werr = n, nil
			if e != 0 {
				p.n, p.werr = 0, e
			}
			// Nothing ready: sleep in the Go poller until the epoll
			// descriptor turns readable.
			return p.n != 0 || p.werr != nil
		}
	}
	go p.run(onErr)
	return p, nil
}

// run dispatches ready events until the poller is closed. When it stops,
// it marks the poller dead and wakes every registered connection, which
// then reads through the Go poller for the rest of its life.
func (p *poller) run(onErr func(error)) {
	defer func() {
		p.mu.Lock()
		p.dead.Store(true)
		for _, c := range p.slots {
			if c != nil {
				c.poke()
			}
		}
		p.mu.Unlock()
		close(p.done)
	}()
	for {
		if err := p.rc.Read(p.waitFn); err != nil {
			// Closed by close, or the descriptor could not be
			// waited on (not in the Go poller): the latter is news.
			if !p.closing.Load() && onErr != nil {
				onErr(err)
			}
			return
		}
		if p.werr != nil {
			// epoll_wait on a valid descriptor with a valid buffer
			// does not fail; if it does, stop rather than spin (the
			// connections fall back to the Go poller).
			if onErr != nil {
				onErr(os.NewSyscallError("epoll_wait", p.werr))
			}
			return
		}
		var now int64
		if qdOn {
			now = qdNow()
		}
		p.mu.Lock()
		for _, ev := range p.events[:p.n] {
			i, gen := uint32(ev.Fd), uint32(ev.Pad)
			if int(i) < len(p.slots) && p.gens[i] == gen {
				if c := p.slots[i]; c != nil {
					if p.trace != nil {
						p.trace(i)
					}
					if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
						// A FIN or error may follow data a read took
						// without raising a new edge: the next read must
						// not be skipped (see readWait).
						c.hup.Store(true)
					}
					if qdOn {
						c.qd.setDisp(now)
					}
					c.poke()
				}
			}
		}
		p.mu.Unlock()
	}
}

// add registers c's socket; afterwards c reads through the poller.
func (p *poller) add(c *conn, raw syscall.RawConn) error {
	p.mu.Lock()
	if p.dead.Load() {
		p.mu.Unlock()
		return net.ErrClosed
	}
	var i uint32
	if k := len(p.free); k > 0 {
		i = p.free[k-1]
		p.free = p.free[:k-1]
	} else {
		i = uint32(len(p.slots))
		p.slots = append(p.slots, nil)
		p.gens = append(p.gens, 0)
	}
	p.slots[i] = c
	gen := p.gens[i]
	p.mu.Unlock()

	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(i),
		Pad:    int32(gen),
	}
	var cerr error
	err := raw.Control(func(sfd uintptr) {
		if err := p.rc.Control(func(efd uintptr) {
			cerr = unix.EpollCtl(int(efd), unix.EPOLL_CTL_ADD, int(sfd), &ev)
		}); err != nil {
			cerr = err
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.release(i)
		return err
	}
	c.pollSlot = i
	return nil
}

// remove unregisters c before its socket closes. Events already taken for
// it are ignored: its slot's generation moves on.
func (p *poller) remove(c *conn, raw syscall.RawConn) {
	_ = raw.Control(func(sfd uintptr) {
		_ = p.rc.Control(func(efd uintptr) {
			_ = unix.EpollCtl(int(efd), unix.EPOLL_CTL_DEL, int(sfd), nil)
		})
	})
	p.release(c.pollSlot)
}

func (p *poller) release(i uint32) {
	p.mu.Lock()
	p.slots[i] = nil
	p.gens[i]++
	p.free = append(p.free, i)
	p.mu.Unlock()
}

// close stops the dispatcher. Connections still registered wake up through
// their own close path (Shutdown closes and pokes them).
func (p *poller) close() {
	p.closing.Store(true)
	p.f.Close()
	<-p.done
}

// pollable returns nc's RawConn if the poller can serve it: a TCP socket.
func pollable(nc net.Conn) (syscall.RawConn, bool) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil, false
	}
	return raw, true
}

// readRaw reads from the socket without waiting: it returns
// syscall.EAGAIN when there is nothing to read.
func (c *conn) readRaw(p []byte) (int, error) {
	c.rawReads++
	c.rp = p
	err := c.raw.Read(c.readFn)
	c.rp = nil
	if err != nil {
		return 0, err
	}
	return c.rn, c.rerr
}

func (c *conn) initRaw() {
	c.readFn = func(fd uintptr) bool {
		for {
			var n int
			var e unix.Errno
			if qdOn {
				n, e = c.qdRecv(fd, c.rp)
			} else {
				n, e = rawRead(fd, c.rp)
			}
			if e == unix.EINTR {
				continue
			}
			c.rn, c.rerr = n, nil
			if e != 0 {
				c.rn, c.rerr = 0, e
			}
			return true
		}
	}
}

const errAgain = unix.EAGAIN

// rawRead and rawEpollWait are read(2) and a zero-timeout epoll_wait(2) as
// raw system calls: neither can block (the sockets are non-blocking), and
// going through the runtime's syscall entry would wake sysmon after every
// idle spell, which then runs every 20 µs for a while on the node's core
// (doc.go, "System calls").
func rawRead(fd uintptr, p []byte) (int, unix.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

func rawEpollWait(fd uintptr, events []unix.EpollEvent) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	return int(n), e
}
