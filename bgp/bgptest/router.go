package bgptest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/edgecdn/edgecdn/bgp/internal/gobgpx"
)

// Router is a GoBGP server on loopback standing in for a node's upstream
// router. Create it with NewRouter; it stops when the test ends. Its
// methods are safe for concurrent use.
type Router struct {
	t    testing.TB
	srv  *server.BgpServer
	addr string
	port int
	asn  uint32

	cancelWatch context.CancelFunc

	mu      sync.Mutex
	stopped bool
	updates []Update
}

// Route is a path in the router's RIB, as a neighbour sent it.
type Route struct {
	// Prefix is the NLRI in canonical form, e.g. "198.51.100.80/32".
	Prefix string
	// From is the address of the neighbour that sent the path.
	From string
	// NextHop is the NEXT_HOP (IPv4) or the first MP_REACH_NLRI next hop.
	NextHop string
	// ASPath is every AS of every segment, in order (the sender first).
	ASPath []uint32
	// Communities are "A:B" (RFC 1997, both decimal), sorted;
	// GRACEFUL_SHUTDOWN is "65535:0".
	Communities []string
	// LargeCommunities are "G:L1:L2" (RFC 8092), sorted.
	LargeCommunities []string
	// MED is the MULTI_EXIT_DISC, nil when the path has none.
	MED *uint32
}

// HasCommunity reports whether the route carries community c ("A:B").
func (r Route) HasCommunity(c string) bool { return slices.Contains(r.Communities, c) }

// String is the route in one line, for test failures.
func (r Route) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s from %s via %s as-path %v", r.Prefix, r.From, r.NextHop, r.ASPath)
	if len(r.Communities) > 0 {
		fmt.Fprintf(&b, " communities %v", r.Communities)
	}
	if len(r.LargeCommunities) > 0 {
		fmt.Fprintf(&b, " large %v", r.LargeCommunities)
	}
	if r.MED != nil {
		fmt.Fprintf(&b, " med %d", *r.MED)
	}
	return b.String()
}

// Update is one path of an UPDATE message the router received: an
// announcement with its attributes, or a withdrawal (Withdraw set, with
// Prefix and From only).
type Update struct {
	Route
	Withdraw bool
	// At is when GoBGP reported the UPDATE, a moment after the router
	// read it. (GoBGP's own timestamp has whole seconds only.)
	At time.Time
}

// String is the update in one line, for test failures.
func (u Update) String() string {
	at := u.At.Format("15:04:05.000")
	if u.Withdraw {
		return fmt.Sprintf("%s withdraw %s from %s", at, u.Prefix, u.From)
	}
	return at + " announce " + u.Route.String()
}

// Present is a WaitRoute condition: the prefix is in the RIB.
func Present(rs []Route) bool { return len(rs) > 0 }

// Absent is a WaitRoute condition: the prefix is not in the RIB.
func Absent(rs []Route) bool { return len(rs) == 0 }

// live is every router not yet stopped, for barrier.
var live struct {
	sync.Mutex
	routers map[*Router]bool
	n       int // routers ever started, for router IDs
}

// barrier passes one request through every live router's event loop:
// whatever the caller did before (a StartBgp) happens before whatever
// those routers do next.
func barrier() {
	live.Lock()
	defer live.Unlock()
	for r := range live.routers {
		_, _ = r.srv.GetBgp(context.Background(), &api.GetBgpRequest{})
	}
}

// NewRouter starts a router with AS asn on 127.0.0.1 and a free port. It
// has no neighbours until AddNeighbor, and stops when the test ends.
// Fatal on error.
func NewRouter(t testing.TB, asn uint32) *Router {
	t.Helper()
	return NewRouterOn(t, "127.0.0.1", asn)
}

// NewRouterOn is NewRouter on another local address, such as 127.0.0.2
// or ::1.
func NewRouterOn(t testing.TB, addr string, asn uint32) *Router {
	t.Helper()
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		t.Fatalf("bgptest: router address %q: %v", addr, err)
	}
	addr = ip.String()
	live.Lock()
	live.n++
	id := fmt.Sprintf("10.255.%d.%d", live.n/250%250, live.n%250+1)
	live.Unlock()

	// The free port may be taken again before GoBGP binds it: try a few.
	var r *Router
	for attempt := 0; ; attempt++ {
		r = &Router{t: t, addr: addr, asn: asn, port: freePort(t, addr)}
		r.srv = server.NewBgpServer(server.LoggerOption(gobgpx.Logger(routerLogger(addr))))
		go r.srv.Serve()
		err = r.srv.StartBgp(context.Background(), &api.StartBgpRequest{Global: &api.Global{
			Asn: asn, RouterId: id, ListenPort: int32(r.port), ListenAddresses: []string{addr},
		}})
		if err == nil {
			break
		}
		_ = r.srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		if attempt == 2 {
			t.Fatalf("bgptest: router %s: %v", addr, err)
		}
	}
	live.Lock()
	if live.routers == nil {
		live.routers = map[*Router]bool{}
	}
	live.routers[r] = true
	live.Unlock()
	t.Cleanup(r.Stop)
	barrier()

	ctx, cancel := context.WithCancel(context.Background())
	r.cancelWatch = cancel
	err = r.srv.WatchEvent(ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_ADJIN}},
	}}, r.onUpdate)
	if err != nil {
		t.Fatalf("bgptest: router %s: watch updates: %v", addr, err)
	}
	return r
}

// freePort returns a TCP port that was free on addr a moment ago.
func freePort(t testing.TB, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("bgptest: free port on %s: %v", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// onUpdate records the paths of received UPDATE messages (GoBGP's
// pre-policy watch: an UPDATE's paths, withdrawals included, and nothing
// for a session that goes down).
func (r *Router) onUpdate(ev *api.WatchEventResponse) {
	now := time.Now()
	var us []Update
	for _, p := range ev.GetTable().GetPaths() {
		rt, ok := decodeRoute(p)
		if !ok {
			continue // End-of-RIB
		}
		us = append(us, Update{Route: rt, Withdraw: p.IsWithdraw, At: now})
	}
	r.mu.Lock()
	r.updates = append(r.updates, us...)
	r.mu.Unlock()
}

// Addr returns the router's address, e.g. "127.0.0.1".
func (r *Router) Addr() string { return r.addr }

// Port returns the router's TCP port (the neighbour's port to dial).
func (r *Router) Port() int { return r.port }

// ASN returns the router's AS.
func (r *Router) ASN() uint32 { return r.asn }

// AddNeighbor configures a passive neighbour: the router accepts a
// session from addr (with AS asn) and never dials it. Fatal (through the
// test that created the router) on error.
func (r *Router) AddNeighbor(addr string, asn uint32) {
	r.t.Helper()
	err := r.srv.AddPeer(context.Background(), &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: addr, PeerAsn: asn},
		Transport: &api.Transport{PassiveMode: true},
	}})
	if err != nil {
		r.t.Fatalf("bgptest: router %s: add neighbour %s: %v", r.addr, addr, err)
	}
}

// PeerUp reports whether the session with neighbour addr is established.
func (r *Router) PeerUp(addr string) bool { return r.PeerState(addr) == "established" }

// PeerState returns the session state with neighbour addr in lower case:
// idle, connect, active, opensent, openconfirm or established ("" for an
// unknown neighbour or a stopped router).
func (r *Router) PeerState(addr string) string {
	if r.isStopped() {
		return ""
	}
	st := ""
	_ = r.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr}, func(p *api.Peer) {
		s := p.GetState().GetSessionState()
		if s != api.PeerState_UNKNOWN {
			st = strings.ToLower(s.String())
		}
	})
	return st
}

// WaitPeerUp polls until the session with addr is established; fatal
// after timeout.
func (r *Router) WaitPeerUp(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !r.PeerUp(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("bgptest: router %s: session with %s %q after %s", r.addr, addr, r.PeerState(addr), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Routes returns the paths for prefix in the router's RIB, one per
// neighbour that sent one, best first; "" returns every path. Nil after
// Stop.
func (r *Router) Routes(prefix string) []Route {
	if r.isStopped() {
		return nil
	}
	families := []*api.Family{
		{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
		{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST},
	}
	want := ""
	if prefix != "" {
		p, err := netip.ParsePrefix(prefix)
		if err != nil {
			return nil
		}
		want = p.Masked().String()
		if p.Addr().Is4() {
			families = families[:1]
		} else {
			families = families[1:]
		}
	}
	var out []Route
	for _, f := range families {
		_ = r.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f},
			func(d *api.Destination) {
				for _, p := range d.Paths {
					if rt, ok := decodeRoute(p); ok && (want == "" || rt.Prefix == want) {
						out = append(out, rt)
					}
				}
			})
	}
	return out
}

// WaitRoute polls Routes(prefix) until cond holds and returns those
// routes; fatal after timeout, with the last routes seen.
func (r *Router) WaitRoute(t testing.TB, prefix string, cond func([]Route) bool, timeout time.Duration) []Route {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rs := r.Routes(prefix)
		if cond(rs) {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("bgptest: router %s: %s: condition not met after %s; routes: %v", r.addr, prefix, timeout, rs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Updates returns the paths for prefix ("" for all) of every UPDATE the
// router has received, oldest first, across sessions. GoBGP reports them
// from a goroutine of its own, so an UPDATE may show in Routes a moment
// before it shows here: use WaitUpdates to wait for one.
func (r *Router) Updates(prefix string) []Update {
	want := prefix
	if p, err := netip.ParsePrefix(prefix); err == nil {
		want = p.Masked().String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Update
	for _, u := range r.updates {
		if want == "" || u.Prefix == want {
			out = append(out, u)
		}
	}
	return out
}

// WaitUpdates polls Updates(prefix) until cond holds and returns those
// updates; fatal after timeout, with the last updates seen.
func (r *Router) WaitUpdates(t testing.TB, prefix string, cond func([]Update) bool, timeout time.Duration) []Update {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		us := r.Updates(prefix)
		if cond(us) {
			return us
		}
		if time.Now().After(deadline) {
			t.Fatalf("bgptest: router %s: %s: condition not met after %s; updates: %v", r.addr, prefix, timeout, us)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops the router, closing its sessions with a NOTIFICATION (Cease).
// Calling it again is harmless; the test's cleanup calls it.
//
// GoBGP's StopBgp clears the server's global config while a session's
// receive goroutine may still read it for an UPDATE or OPEN arriving at
// that moment (a data race under -race). So Stop first shuts every
// session down administratively and waits (at most gobgpx.CloseWait) until none
// is past connect: then no receive goroutine is left.
func (r *Router) Stop() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	if r.cancelWatch != nil {
		r.cancelWatch()
	}
	ctx := context.Background()
	gobgpx.CloseSessions(ctx, r.srv, "bgptest: router stopped")
	_ = r.srv.StopBgp(ctx, &api.StopBgpRequest{})
	live.Lock()
	delete(live.routers, r)
	live.Unlock()
}

func (r *Router) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// decodeRoute reads a path of the GoBGP API; false for a path without an
// IP prefix (End-of-RIB).
func decodeRoute(p *api.Path) (Route, bool) {
	if p.GetNlri() == nil {
		return Route{}, false
	}
	m, err := p.Nlri.UnmarshalNew()
	if err != nil {
		return Route{}, false
	}
	nlri, ok := m.(*api.IPAddressPrefix)
	if !ok {
		return Route{}, false
	}
	addr, err := netip.ParseAddr(nlri.Prefix)
	if err != nil {
		return Route{}, false
	}
	rt := Route{Prefix: netip.PrefixFrom(addr, int(nlri.PrefixLen)).Masked().String(), From: p.NeighborIp}
	for _, a := range p.Pattrs {
		m, err := a.UnmarshalNew()
		if err != nil {
			continue
		}
		switch v := m.(type) {
		case *api.NextHopAttribute:
			rt.NextHop = v.NextHop
		case *api.MpReachNLRIAttribute:
			if len(v.NextHops) > 0 {
				rt.NextHop = v.NextHops[0]
			}
		case *api.AsPathAttribute:
			for _, s := range v.Segments {
				rt.ASPath = append(rt.ASPath, s.Numbers...)
			}
		case *api.MultiExitDiscAttribute:
			med := v.Med
			rt.MED = &med
		case *api.CommunitiesAttribute:
			for _, c := range v.Communities {
				rt.Communities = append(rt.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
			}
		case *api.LargeCommunitiesAttribute:
			for _, l := range v.Communities {
				rt.LargeCommunities = append(rt.LargeCommunities, fmt.Sprintf("%d:%d:%d", l.GlobalAdmin, l.LocalData1, l.LocalData2))
			}
		}
	}
	slices.Sort(rt.Communities)
	slices.Sort(rt.LargeCommunities)
	return rt, true
}
