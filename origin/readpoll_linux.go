package origin

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ReadPoller lets the goroutines that serve clients pick up origin
// responses between two requests, instead of at the end of a scheduler
// round.
//
// Why: Go's scheduler polls the network only when its run queue is empty.
// On a loaded node every serving goroutine runs once per round, so an
// origin response that arrives early in a round waits for the round to
// end (about a millisecond at 60 busy connections) before the fill that
// asked for it runs again; a miss paid that twice (for its request and for
// the origin's answer). Here plain-HTTP origin sockets sit in their own
// epoll instance, edge-triggered. A dispatch goroutine sleeps in the Go
// poller on it (so nothing is missed when the node is idle), and Kick,
// called by a client connection about to wait for its next request, takes
// the ready origin sockets with a non-blocking epoll_wait and wakes their
// readers at once: the runtime runs the goroutine readied last next, so
// the fill streams its response before more cached hits start.
//
// Kick costs one atomic load when no origin response is awaited, and at
// most one epoll_wait per KickInterval otherwise. Readers read their
// sockets with raw non-blocking read(2) and wait on a channel; a conn
// whose poller stopped reads through the Go poller again.
type ReadPoller struct {
	f    *os.File
	rc   syscall.RawConn
	efd  int
	done chan struct{}

	mu    sync.Mutex
	conns map[uint64]*pollConn
	next  uint64

	running atomic.Bool
	dead    atomic.Bool  // the dispatcher stopped: conns fall back to net.Conn reads
	waiting atomic.Int64 // conns with a request written and no answer read yet
	last    atomic.Int64 // monotonic ns of the last Kick poll
	kmu     sync.Mutex
	kev     []unix.EpollEvent
	ev      []unix.EpollEvent
	n       int
	werr    unix.Errno
	onErr   func(error)
	kicked  atomic.Int64 // wake-ups done by Kick (tests, metrics)
	base    time.Time

	noDispatch bool // tests: only Kick wakes readers
}

// KickInterval is the least time between two polls by Kick.
const KickInterval = 50 * time.Microsecond

// NewReadPoller returns a poller that does nothing until Start. onErr, if
// not nil, hears of an error that stops its dispatcher (the conns then
// read through the Go poller).
func NewReadPoller(onErr func(error)) *ReadPoller {
	return &ReadPoller{done: make(chan struct{}), conns: map[uint64]*pollConn{},
		ev: make([]unix.EpollEvent, 128), kev: make([]unix.EpollEvent, 64), onErr: onErr, base: time.Now()}
}

// Start creates the epoll instance and runs the dispatcher; conns dialled
// before Start, or after a failed one, wait in the Go poller.
func (p *ReadPoller) Start() error {
	if p == nil || p.running.Load() {
		return nil
	}
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("setnonblock", err)
	}
	f := os.NewFile(uintptr(fd), "origin-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	p.f, p.rc, p.efd = f, rc, fd
	p.running.Store(true)
	if !p.noDispatch {
		go p.run()
	} else {
		close(p.done)
	}
	return nil
}

// Close stops the dispatcher and wakes every waiting reader, which then
// reads through the Go poller. Conns keep working.
func (p *ReadPoller) Close() {
	if p == nil {
		return
	}
	p.dead.Store(true)
	if !p.running.Load() {
		return
	}
	// Under kmu: a Kick in progress must not epoll_wait on a descriptor
	// number that closing frees for reuse.
	p.kmu.Lock()
	p.f.Close()
	p.kmu.Unlock()
	<-p.done
	p.pokeAll()
}

// pokeAll wakes every registered reader (to see that the poller is gone).
func (p *ReadPoller) pokeAll() {
	p.mu.Lock()
	for _, c := range p.conns {
		c.poke()
	}
	p.mu.Unlock()
}

// Kick wakes the readers of origin sockets that turned readable. Call it
// where a goroutine is about to wait (it yields nothing itself).
func (p *ReadPoller) Kick() {
	if p == nil || p.waiting.Load() == 0 || p.dead.Load() {
		return
	}
	now := int64(time.Since(p.base))
	l := p.last.Load()
	if now-l < int64(KickInterval) || !p.last.CompareAndSwap(l, now) || !p.kmu.TryLock() {
		return
	}
	if p.dead.Load() {
		p.kmu.Unlock()
		return
	}
	if n, e := epollPoll(uintptr(p.efd), p.kev); e == 0 && n > 0 {
		p.kicked.Add(int64(n))
		p.wake(p.kev[:n])
	}
	p.kmu.Unlock()
}

// Kicked reports how many reader wake-ups Kick has done.
func (p *ReadPoller) Kicked() int64 {
	if p == nil {
		return 0
	}
	return p.kicked.Load()
}

func (p *ReadPoller) run() {
	defer close(p.done)
	waitFn := func(fd uintptr) bool {
		p.n, p.werr = epollPoll(fd, p.ev)
		return p.n != 0 || p.werr != 0
	}
	stop := func(err error) {
		p.dead.Store(true)
		p.pokeAll()
		if err != nil && p.onErr != nil {
			p.onErr(err)
		}
	}
	for {
		if err := p.rc.Read(waitFn); err != nil {
			// Close marks the poller dead before it closes the
			// descriptor; the Read then fails with the poll package's
			// "use of closed file", which is not os.ErrClosed. Either
			// way that end is expected, not news for onErr.
			if p.dead.Load() || errors.Is(err, os.ErrClosed) {
				err = nil
			}
			stop(err)
			return
		}
		if p.werr != 0 {
			stop(os.NewSyscallError("epoll_wait", p.werr))
			return
		}
		p.wake(p.ev[:p.n])
	}
}

// epollPoll takes the ready events of epoll instance fd into evs without
// waiting (a raw epoll_pwait with timeout 0, retried on EINTR); n is 0
// when e is set.
func epollPoll(fd uintptr, evs []unix.EpollEvent) (n int, e unix.Errno) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), 0
	}
}

func (p *ReadPoller) wake(evs []unix.EpollEvent) {
	p.mu.Lock()
	for _, e := range evs {
		if c := p.conns[uint64(uint32(e.Fd))|uint64(uint32(e.Pad))<<32]; c != nil {
			c.poke()
		}
	}
	p.mu.Unlock()
}

// wrap returns c reading through the poller, or c itself when the poller
// is not running or c is not a TCP socket.
func (p *ReadPoller) wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if p == nil || !ok || !p.running.Load() || p.dead.Load() {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	pc := &pollConn{TCPConn: tc, raw: raw, p: p, wakec: make(chan struct{}, 1), closed: make(chan struct{})}
	pc.readFn = pc.readRaw
	p.mu.Lock()
	p.next++
	pc.id = p.next
	p.conns[pc.id] = pc
	p.mu.Unlock()
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(uint32(pc.id)), Pad: int32(uint32(pc.id >> 32))}
		cerr = unix.EpollCtl(p.efd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil {
		cerr = err
	}
	if cerr != nil {
		p.forget(pc)
		return c
	}
	return pc
}

func (p *ReadPoller) forget(c *pollConn) {
	p.mu.Lock()
	delete(p.conns, c.id)
	p.mu.Unlock()
}

// pollConn is an origin TCP connection whose reads wait on the poller.
type pollConn struct {
	*net.TCPConn
	raw    syscall.RawConn
	p      *ReadPoller
	id     uint64
	wakec  chan struct{}
	closed chan struct{}
	once   sync.Once
	// pending: a request was written and no byte of an answer read since
	// (counted in p.waiting, which lets Kick skip its poll).
	pending atomic.Bool

	rp     []byte
	rn     int
	rerr   unix.Errno
	readFn func(uintptr) bool
}

func (c *pollConn) poke() {
	select {
	case c.wakec <- struct{}{}:
	default:
	}
}

func (c *pollConn) readRaw(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rp[0])), uintptr(len(c.rp)))
		if e == unix.EINTR {
			continue
		}
		c.rn, c.rerr = int(n), e
		return true
	}
}

func (c *pollConn) Write(b []byte) (int, error) {
	if !c.pending.Swap(true) {
		c.p.waiting.Add(1)
	}
	return c.TCPConn.Write(b)
}

func (c *pollConn) answered() {
	if c.pending.Swap(false) {
		c.p.waiting.Add(-1)
	}
}

// Read reads what the socket holds, or waits on the poller for more.
// (net/http's Transport sets no deadlines on HTTP/1 connections; a
// deadline set anyway applies once the poller is gone.)
func (c *pollConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if c.p.dead.Load() {
			n, err := c.TCPConn.Read(b)
			if n > 0 || err != nil {
				c.answered()
			}
			return n, err
		}
		c.rp = b
		err := c.raw.Read(c.readFn)
		c.rp = nil
		if err != nil {
			c.answered()
			return 0, c.opErr(err)
		}
		switch {
		case c.rerr == 0:
			c.answered()
			if c.rn == 0 {
				return 0, io.EOF
			}
			return c.rn, nil
		case c.rerr != unix.EAGAIN:
			c.answered()
			return 0, c.opErr(os.NewSyscallError("read", c.rerr))
		}
		select {
		case <-c.wakec:
		case <-c.closed:
			c.answered()
			return 0, c.opErr(net.ErrClosed)
		}
	}
}

// opErr wraps a read failure the way net.Conn's Read reports one.
func (c *pollConn) opErr(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *pollConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.answered()
		c.p.forget(c)
		// Closing the socket removes it from the epoll set.
	})
	return c.TCPConn.Close()
}
