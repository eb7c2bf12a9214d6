package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgecdn/edgecdn/bgp/internal/gobgpx"
)

// This file holds the test helpers: a second GoBGP speaker on loopback
// standing in for the router (as GoBGP's own TestMonitor does), and ways
// to read what it received.
//
// The tests do not run in parallel: GoBGP v3's StartBgp writes package
// variables (table.SelectionOptions, table.UseMultiplePaths) that every
// server in the process reads while it handles paths, without a lock. Two
// servers in one process are therefore a data race as far as -race can
// tell. The tests start their servers one after another and then call
// barrier, so that each server's next step happens after the last write.

// live holds the GoBGP servers of the running test.
var live struct {
	sync.Mutex
	servers map[*server.BgpServer]bool
}

func register(t testing.TB, srv *server.BgpServer) {
	live.Lock()
	if live.servers == nil {
		live.servers = map[*server.BgpServer]bool{}
	}
	live.servers[srv] = true
	live.Unlock()
	t.Cleanup(func() {
		live.Lock()
		delete(live.servers, srv)
		live.Unlock()
	})
	barrier()
}

// barrier passes one request through every live server's loop, which
// orders everything the caller did before (StartBgp) before whatever the
// servers do next.
func barrier() {
	live.Lock()
	defer live.Unlock()
	for srv := range live.servers {
		_, _ = srv.GetBgp(context.Background(), &api.GetBgpRequest{})
	}
}

const (
	localASN = 65001
	waitFor  = 15 * time.Second // a session needs 1-2 s (GoBGP's first dial is delayed)
)

// testLogger logs to stderr with -v and BGP_TEST_LOG=1, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("BGP_TEST_LOG") != "" && testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// freePort returns a TCP port that was free on addr a moment ago.
func freePort(t testing.TB, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// router is the peer side of a test: a GoBGP server listening on addr.
type router struct {
	t    testing.TB
	srv  *server.BgpServer
	addr string
	port int
	asn  uint32
	stop sync.Once
}

// routerID derives a distinct router ID from a test address.
func routerID(addr string) string {
	ip := net.ParseIP(addr)
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("10.%d.%d.%d", v4[1], v4[2], v4[3])
	}
	return fmt.Sprintf("10.255.%d.%d", ip[14], ip[15])
}

// newRouter starts a router on addr:<free port> with the given neighbours
// (see passiveNeighbor) and stops it when the test ends.
func newRouter(t testing.TB, addr string, asn uint32, neighbors ...*api.Peer) *router {
	t.Helper()
	r := &router{t: t, addr: addr, asn: asn, port: freePort(t, addr)}
	r.srv = server.NewBgpServer(server.LoggerOption(gobgpx.Logger(testLogger().With("router", addr))))
	go r.srv.Serve()
	ctx := context.Background()
	if err := r.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: routerID(addr), ListenPort: int32(r.port), ListenAddresses: []string{addr},
	}}); err != nil {
		t.Fatalf("router %s: %v", addr, err)
	}
	t.Cleanup(r.Stop)
	register(t, r.srv)
	for _, n := range neighbors {
		r.addNeighbor(n)
	}
	return r
}

func (r *router) addNeighbor(n *api.Peer) {
	r.t.Helper()
	if err := r.srv.AddPeer(context.Background(), &api.AddPeerRequest{Peer: n}); err != nil {
		r.t.Fatalf("router %s: add neighbour: %v", r.addr, err)
	}
}

// Stop stops the router (again is harmless).
func (r *router) Stop() {
	r.stop.Do(func() {
		// Close the sessions first: StopBgp with a live session races in
		// GoBGP (see gobgpx.CloseSessions).
		gobgpx.CloseSessions(context.Background(), r.srv, "test router stopped")
		_ = r.srv.StopBgp(context.Background(), &api.StopBgpRequest{})
	})
}

// passiveNeighbor is the router's view of our speaker: it waits for us to
// dial from addr.
func passiveNeighbor(addr string, asn uint32) *api.Peer {
	return &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: addr, PeerAsn: asn},
		Transport: &api.Transport{PassiveMode: true},
	}
}

// dialTo is our neighbour config for r, dialled from local.
func dialTo(r *router, local string) NeighborConfig {
	return NeighborConfig{
		Address: r.addr, ASN: r.asn, Port: r.port, LocalAddress: local,
		ConnectRetry: time.Second, Description: "router " + r.addr,
	}
}

// route is a path as a router received it.
type route struct {
	from        string // neighbour that sent it
	nextHop     string
	asPath      []uint32
	med         *uint32
	communities []uint32
	large       []string
}

// routes returns the best paths of family in the router's RIB that came
// from neighbour from ("" for all, including the router's own), by prefix.
func (r *router) routes(family *api.Family, from string) map[string]route {
	r.t.Helper()
	out := map[string]route{}
	err := r.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: family},
		func(d *api.Destination) {
			for _, p := range d.Paths {
				if !p.Best || from != "" && p.NeighborIp != from {
					continue
				}
				out[d.Prefix] = decodeRoute(r.t, p)
			}
		})
	if err != nil {
		r.t.Fatalf("router %s: list paths: %v", r.addr, err)
	}
	return out
}

func decodeRoute(t testing.TB, p *api.Path) route {
	t.Helper()
	rt := route{from: p.NeighborIp}
	for _, a := range p.Pattrs {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("decode attribute %s: %v", a.TypeUrl, err)
		}
		switch v := m.(type) {
		case *api.NextHopAttribute:
			rt.nextHop = v.NextHop
		case *api.MpReachNLRIAttribute:
			if len(v.NextHops) > 0 {
				rt.nextHop = v.NextHops[0]
			}
		case *api.AsPathAttribute:
			for _, s := range v.Segments {
				rt.asPath = append(rt.asPath, s.Numbers...)
			}
		case *api.MultiExitDiscAttribute:
			rt.med = ptr(v.Med)
		case *api.CommunitiesAttribute:
			rt.communities = append(rt.communities, v.Communities...)
		case *api.LargeCommunitiesAttribute:
			for _, l := range v.Communities {
				rt.large = append(rt.large, fmt.Sprintf("%d:%d:%d", l.GlobalAdmin, l.LocalData1, l.LocalData2))
			}
		}
	}
	slices.Sort(rt.communities)
	slices.Sort(rt.large)
	return rt
}

// announce makes the router originate prefix (IPv4) towards its neighbours.
func (r *router) announce(prefix string, bits uint32) {
	r.t.Helper()
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: prefix, PrefixLen: bits})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "0.0.0.0"})
	if _, err := r.srv.AddPath(context.Background(), &api.AddPathRequest{Path: &api.Path{
		Family: familyIPv4, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh},
	}}); err != nil {
		r.t.Fatalf("router %s: announce %s/%d: %v", r.addr, prefix, bits, err)
	}
}

// peerState returns the router's session state with neighbour addr.
func (r *router) peerState(addr string) api.PeerState_SessionState {
	r.t.Helper()
	var st api.PeerState_SessionState
	_ = r.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr}, func(p *api.Peer) {
		st = p.GetState().GetSessionState()
	})
	return st
}

// receivedUpdates returns how many UPDATE messages the router received
// from neighbour addr (kept across sessions).
func (r *router) receivedUpdates(addr string) uint64 {
	r.t.Helper()
	var n uint64
	_ = r.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr}, func(p *api.Peer) {
		n = p.GetState().GetMessages().GetReceived().GetUpdate()
	})
	return n
}

// eventually retries cond until it returns nil or waitFor passes.
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after %s", what, err, waitFor)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSpeaker builds and starts a speaker, stopping it when the test ends.
func startSpeaker(t testing.TB, cfg Config, opts ...Option) *Speaker {
	t.Helper()
	s, err := New(cfg, append([]Option{WithLogger(testLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	register(t, s.srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// peerUp waits for our session with addr to be established.
func peerUp(t testing.TB, s *Speaker, addr string) PeerState {
	t.Helper()
	var ps PeerState
	eventually(t, "session with "+addr, func() error {
		for _, p := range s.Snapshot().Peers {
			if p.Address == addr {
				if ps = p; p.Up {
					return nil
				}
				return errors.New(p.State)
			}
		}
		return errors.New("not a neighbour")
	})
	return ps
}

func mustSetMode(t testing.TB, s *Speaker, m Mode) {
	t.Helper()
	if err := s.SetMode(context.Background(), m); err != nil {
		t.Fatalf("set mode %s: %v", m, err)
	}
}

func asPath(asn uint32, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = asn
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
