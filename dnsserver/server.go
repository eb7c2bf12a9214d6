package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Locator maps a client address (the ECS subnet's address when the query
// has one, else the resolver's) to a region. *geodata.Geo implements it.
// Both methods are called on the query path and must be safe for
// concurrent use.
type Locator interface {
	// LocateRegion returns the client's region and the prefix around
	// the address that maps to the same region (the ECS scope).
	LocateRegion(netip.Addr) (region string, scope netip.Prefix)
	// Fallback lists the other regions by distance from region, nearest
	// first.
	Fallback(region string) []string
}

// RegionHealth says whether a region may be answered. The node implements
// it; it is asked on the query path and must be cheap and safe for
// concurrent use.
type RegionHealth interface{ Up(region string) bool }

type counter = prometheus.Counter

// Server is the authoritative DNS server. Create it with New; its methods
// are safe for concurrent use.
type Server struct {
	loc     Locator
	health  RegionHealth
	log     *slog.Logger
	met     *Metrics
	listen  []string
	sockets int

	state    atomic.Pointer[state]
	ready    atomic.Bool
	stopping atomic.Bool
	tcpOpen  atomic.Int64
	workers  sync.Pool // *worker for TCP queries
	panicked atomic.Bool

	mu    sync.Mutex // guards the fields below
	phase int        // 0 new, 1 started, 2 stopped
	udp   []*net.UDPConn
	tcp   []net.Listener
	addrs []net.Addr
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// state is one compiled configuration, swapped whole by Reload.
type state struct {
	cfg        Config
	zs         *zoneSet
	failClosed bool
	rrl        *rrl // nil when disabled
	rc         *respCounters
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithMetrics sets the metrics the server counts into (default: private
// ones that nothing exports).
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.met = m } }

// New fills in cfg's defaults, validates it and compiles the zones (every
// reply is packed here, once). loc may be nil only when no zone has geo
// names; health nil means every region is up. New opens no sockets.
func New(cfg Config, loc Locator, health RegionHealth, opts ...Option) (*Server, error) {
	s := &Server{loc: loc, health: health, log: slog.New(slog.DiscardHandler), conns: map[net.Conn]struct{}{}}
	for _, o := range opts {
		o(s)
	}
	if s.met == nil {
		s.met = NewMetrics()
	}
	s.log = s.log.With("component", "dns")
	st, err := s.build(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("dnsserver: %w", err)
	}
	s.listen = slices.Clone(st.cfg.Listen)
	s.sockets = st.cfg.UDPSockets
	s.state.Store(st)
	s.workers.New = func() any { return newWorker(s) }
	return s, nil
}

// build compiles cfg into a state; old (nil at New) lends its rate limiter
// when the limits did not change.
func (s *Server) build(cfg Config, old *state) (*state, error) {
	cfg.SetDefaults()
	zs, err := cfg.check(time.Now())
	if err != nil {
		return nil, err
	}
	if s.loc == nil && len(zs.geos) > 0 {
		return nil, errors.New("zones have geo names but the server has no Locator")
	}
	st := &state{cfg: cfg, zs: zs, failClosed: cfg.AllDown == FailClosed, rc: s.met.respCounters()}
	for _, n := range zs.names {
		for _, a := range n.ans {
			if a.static != nil {
				a.static.resp = st.rc[a.static.rcode]
			}
			for _, v := range a.regional {
				if v != nil {
					v.resp = s.met.responses.WithLabelValues(rcodeName(v.rcode), v.region)
				}
			}
		}
	}
	if !cfg.RRL.Disabled {
		if old != nil && old.rrl != nil && old.cfg.RRL == cfg.RRL {
			st.rrl = old.rrl
		} else {
			st.rrl = newRRL(cfg.RRL)
		}
	}
	return st, nil
}

// Reload swaps in a new configuration: zones, limits and policies. The
// whole config is validated and compiled first; on any error the old one
// keeps serving. listen and udp_sockets cannot change (a restart can).
func (s *Server) Reload(cfg Config) error {
	cfg.SetDefaults()
	var errs []error
	if !slices.Equal(cfg.Listen, s.listen) {
		errs = append(errs, fmt.Errorf("listen: cannot change on reload (from %v to %v); restart instead", s.listen, cfg.Listen))
	}
	if cfg.UDPSockets != s.sockets {
		errs = append(errs, fmt.Errorf("udp_sockets: cannot change on reload (from %d to %d); restart instead", s.sockets, cfg.UDPSockets))
	}
	if len(errs) > 0 {
		return fmt.Errorf("dnsserver: reload: %w", errors.Join(errs...))
	}
	st, err := s.build(cfg, s.state.Load())
	if err != nil {
		return fmt.Errorf("dnsserver: reload: %w", err)
	}
	s.state.Store(st)
	s.log.Info("dns config reloaded", "zones", len(st.zs.zones), "names", len(st.zs.names))
	return nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Server) Config() Config { return s.state.Load().cfg }

// Start opens the listeners, UDP (UDPSockets sockets per address, bound
// with SO_REUSEPORT) and TCP on the same port, starts one goroutine per
// UDP socket and one accept loop per TCP listener, and returns once it
// serves. On an error nothing stays open.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.phase {
	case 1:
		return errors.New("dnsserver: already started")
	case 2:
		return errors.New("dnsserver: stopped; create a new server")
	}
	for _, addr := range s.listen {
		if err := s.listenOn(ctx, addr); err != nil {
			s.closeListeners()
			return fmt.Errorf("dnsserver: listen %s: %w", addr, err)
		}
	}
	s.phase = 1
	for _, c := range s.udp {
		s.wg.Add(1)
		go s.serveUDP(c)
	}
	for _, ln := range s.tcp {
		s.wg.Add(1)
		go s.serveTCP(ln)
	}
	s.ready.Store(true)
	s.log.Info("dns server started", "addr", s.addrStrings(), "udp_sockets", s.sockets)
	return nil
}

func (s *Server) listenOn(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	lc := net.ListenConfig{Control: reusePort}
	for attempt := 0; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return err
		}
		first := pc.(*net.UDPConn)
		bound := net.JoinHostPort(host, strconv.Itoa(first.LocalAddr().(*net.UDPAddr).Port))
		conns := []*net.UDPConn{first}
		closeAll := func() {
			for _, c := range conns {
				c.Close()
			}
		}
		for range s.sockets - 1 {
			pc, err := lc.ListenPacket(ctx, "udp", bound)
			if err != nil {
				closeAll()
				return err
			}
			conns = append(conns, pc.(*net.UDPConn))
		}
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", bound)
		if err != nil {
			closeAll()
			if port == "0" && attempt < 10 {
				continue // the free UDP port is taken for TCP: try another
			}
			return err
		}
		for _, c := range conns {
			// Room for bursts; the kernel caps it at net.core.rmem_max.
			_ = c.SetReadBuffer(4 << 20)
			_ = c.SetWriteBuffer(1 << 20)
		}
		s.udp = append(s.udp, conns...)
		s.tcp = append(s.tcp, ln)
		s.addrs = append(s.addrs, first.LocalAddr())
		return nil
	}
}

func (s *Server) closeListeners() {
	for _, c := range s.udp {
		c.Close()
	}
	for _, ln := range s.tcp {
		ln.Close()
	}
}

func (s *Server) addrStrings() []string {
	var out []string
	for _, a := range s.addrs {
		out = append(out, a.String())
	}
	return out
}

// Addrs returns the UDP address of each listen address, as bound (with the
// actual port when the configured one was 0); TCP listens on the same
// ports. Nil before Start.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.addrs)
}

// Ready reports whether the server is serving: between a successful Start
// and Stop.
func (s *Server) Ready() bool { return s.ready.Load() }

// Stop closes the listeners and UDP sockets at once, lets TCP connections
// finish the query they are answering, and waits for every goroutine
// until ctx is done; then it closes the remaining connections and returns
// ctx's error. Calling it again does nothing; called before Start, it
// only marks the server stopped (Start then fails).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.phase != 1 {
		s.phase = 2
		s.mu.Unlock()
		return nil
	}
	s.phase = 2
	s.ready.Store(false)
	s.stopping.Store(true)
	s.closeListeners()
	for c := range s.conns {
		// Wake connections waiting for a query; see serveConn for why
		// this cannot be missed.
		_ = c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.log.Info("dns server stopped")
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	s.log.Warn("dns server stopped before TCP connections finished", "err", ctx.Err())
	return fmt.Errorf("dnsserver: stop: %w", ctx.Err())
}

// serveUDP is the loop of one UDP socket: batched where the platform
// can (udp_linux.go), else one query per read and one reply per write.
func (s *Server) serveUDP(c *net.UDPConn) {
	defer s.wg.Done()
	if batchUDP && s.serveUDPBatch(c) {
		return
	}
	w := newWorker(s)
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp := w.answerUDP(buf[:n], from, time.Time{}); resp != nil {
			_, _ = c.WriteToUDPAddrPort(resp, from)
		}
	}
}

// answerUDP answers one UDP query (handle, then rate limit) and returns
// the reply to send, nil for none. The reply is valid until the next call.
// now is the time for the rate limiter (zero: read the clock if needed).
func (w *worker) answerUDP(q []byte, from netip.AddrPort, now time.Time) []byte {
	s := w.s
	st := s.state.Load()
	w.count++
	var t0 time.Time
	sample := w.count%udpSampleEvery == 0
	if sample {
		t0 = time.Now()
	}
	src := from.Addr().Unmap()
	resp := w.handle(st, q, src, udp)
	if resp != nil && st.rrl != nil {
		if now.IsZero() {
			now = time.Now()
		}
		switch st.rrl.check(src, now) {
		case rrlDrop:
			s.met.drop.Inc()
			resp = nil
		case rrlSlip:
			s.met.slip.Inc()
			resp = slipReply(resp)
		}
	}
	if sample {
		s.met.dur[udp].Observe(time.Since(t0).Seconds())
	}
	return resp
}

// handle answers one query by the fast path when it can, else by the slow
// path. A panic is counted, logged once, and answered SERVFAIL.
func (w *worker) handle(st *state, q []byte, src netip.Addr, transport int) (out []byte) {
	defer func() {
		if p := recover(); p != nil {
			out = w.recovered(q, p)
		}
	}()
	var f fastQuery
	if w.parseFast(q, &f) {
		if out, ok := w.fast(st, q, &f, src, transport); ok {
			return out
		}
	}
	return w.slow(st, q, src, transport)
}

func (w *worker) recovered(q []byte, p any) []byte {
	w.s.met.panics.Inc()
	if w.s.panicked.CompareAndSwap(false, true) {
		w.s.log.Error("dns query handling panicked (logged once)", "err", fmt.Sprint(p), "stack", string(debug.Stack()))
	}
	if len(q) < 12 || q[2]&0x80 != 0 {
		return nil
	}
	out := append(w.out[:0], q[:12]...)
	out[2] = 0x80 | q[2]&0x79
	out[3] = dns.RcodeServerFailure
	clear(out[4:12])
	w.out = out
	return out
}

// serveTCP accepts connections, up to TCPMaxConns open at once.
func (s *Server) serveTCP(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if s.tcpOpen.Load() >= int64(s.state.Load().cfg.TCPMaxConns) {
			s.met.tcpRejected.Inc()
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.phase != 1 {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.tcpOpen.Add(1)
		s.met.tcpOpen.Inc()
		go s.serveConn(c)
	}
}

// serveConn answers the length-prefixed queries of one TCP connection in
// order (pipelined queries wait for the ones before them) until the client
// closes it, sends nothing for TCPIdleTimeout, or the server stops.
//
// Stop sets stopping and then moves the read deadline of every connection
// to now. A connection sets its own deadline before each query and then
// checks stopping: either its deadline was set first (and Stop's wakes the
// read) or Stop's came first, and then stopping was already set when the
// connection looked.
func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.tcpOpen.Add(-1)
		s.met.tcpOpen.Dec()
		s.wg.Done()
	}()
	var src netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = a.AddrPort().Addr().Unmap()
	}
	var hdr [2]byte
	q := make([]byte, 512)
	for {
		idle := s.state.Load().cfg.TCPIdleTimeout
		_ = c.SetReadDeadline(time.Now().Add(idle))
		if s.stopping.Load() {
			return
		}
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		l := int(binary.BigEndian.Uint16(hdr[:]))
		if l == 0 {
			return
		}
		if l > len(q) {
			q = make([]byte, l)
		}
		if _, err := io.ReadFull(c, q[:l]); err != nil {
			return
		}
		t0 := time.Now()
		w := s.workers.Get().(*worker)
		resp := w.handle(s.state.Load(), q[:l], src, tcp)
		var err error
		if resp != nil {
			// Length and message in one write.
			out := append(append(w.tcp[:0], byte(len(resp)>>8), byte(len(resp))), resp...)
			w.tcp = out
			_ = c.SetWriteDeadline(time.Now().Add(idle))
			_, err = c.Write(out)
		}
		s.workers.Put(w)
		s.met.dur[tcp].Observe(time.Since(t0).Seconds())
		if err != nil {
			return
		}
	}
}

// pick chooses the region of geo name g that answers qtype qt for a client
// of region: that region when it has addresses of the type and is up;
// else the first that has and is up in the locator's fallback order, then
// in g's own (sorted) order; when none is up, fail-closed says no
// (SERVFAIL) and fail-open takes the client's region, or the first with
// addresses when it has none.
func (s *Server) pick(st *state, g *geoName, qt uint16, region string) (int, bool) {
	ci, in := g.index[region]
	chosen := in && len(g.rrs(qt, ci)) > 0
	if chosen && s.up(region) {
		return ci, true
	}
	fb := s.met.fbNodata
	if chosen {
		fb = s.met.fbDown
	}
	first := -1
	for _, r := range s.loc.Fallback(region) {
		i, ok := g.index[r]
		if !ok || len(g.rrs(qt, i)) == 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		if s.up(r) {
			fb.Inc()
			return i, true
		}
	}
	for i, r := range g.regions {
		if len(g.rrs(qt, i)) == 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		if s.up(r) {
			fb.Inc()
			return i, true
		}
	}
	if st.failClosed {
		s.met.allClosed.Inc()
		return -1, false
	}
	s.met.allOpen.Inc()
	if chosen {
		return ci, true
	}
	fb.Inc()
	return first, true
}

func (s *Server) up(region string) bool { return s.health == nil || s.health.Up(region) }

// ServeDNS answers a query received by a miekg/dns server, so that the
// zones can also be served behind a dns.Server (or a CoreDNS-style chain):
// the same replies as the Server's own listeners, without their rate
// limiting (the dns.Server owns the sockets).
func (s *Server) ServeDNS(rw dns.ResponseWriter, r *dns.Msg) {
	q, err := r.Pack()
	if err != nil {
		return
	}
	var src netip.Addr
	transport := udp
	switch a := rw.RemoteAddr().(type) {
	case *net.UDPAddr:
		src = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		src = a.AddrPort().Addr().Unmap()
		transport = tcp
	}
	w := s.workers.Get().(*worker)
	defer s.workers.Put(w)
	if resp := w.handle(s.state.Load(), q, src, transport); resp != nil {
		_, _ = rw.Write(resp)
	}
}

var _ dns.Handler = (*Server)(nil)
