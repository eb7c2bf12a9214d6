package bgp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// Each test that runs in parallel has its own 127.0.N.0/24: .2 is the
// speaker's local address, the routers are .1, .3, .4...

// wantRoutes checks the routes a router has from our speaker.
func wantRoutes(r *router, family *api.Family, from string, want map[string]route) func() error {
	return func() error {
		got := r.routes(family, from)
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("routes %+v, want %+v", got, want)
		}
		return nil
	}
}

// TestModes walks the speaker through every mode against two routers and
// checks what they receive: next hop self, communities, large
// communities, MED, AS path with prepend, graceful shutdown; nothing
// imported from a router is passed on, nothing unconfigured announced.
func TestModes(t *testing.T) {
	const local = "127.0.1.2"
	r1 := newRouter(t, "127.0.1.1", 65010, passiveNeighbor(local, localASN))
	r2 := newRouter(t, "127.0.1.3", 65020, passiveNeighbor(local, localASN))

	var mu sync.Mutex
	var events []PeerEvent
	hook := func(ev PeerEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}
	cfg := Config{
		ASN: localASN, RouterID: "10.0.1.2",
		Neighbors: []NeighborConfig{dialTo(r1, local), dialTo(r2, local)},
		Prefixes:  []string{"198.18.0.0/24", "198.51.100.0/24"},
		Announce: Attributes{
			Communities:      []string{"65001:100", "no-export"},
			LargeCommunities: []string{"65001:1:2"},
			MED:              ptr(uint32(50)),
			Prepend:          ptr(1),
		},
		Drain: Attributes{Communities: []string{"65001:666"}},
	}
	s := startSpeaker(t, cfg, WithPeerHook(hook))
	if s.Mode() != ModeWithdrawn {
		t.Fatalf("mode after start %s", s.Mode())
	}
	peerUp(t, s, r1.addr)
	peerUp(t, s, r2.addr)
	if !s.Ready() {
		t.Fatal("not ready with sessions established")
	}
	mu.Lock()
	var established []string
	for _, ev := range events {
		if ev.Up && ev.State == "established" && !ev.At.IsZero() {
			established = append(established, ev.Address)
		}
	}
	mu.Unlock()
	slices.Sort(established)
	if want := []string{r1.addr, r2.addr}; !slices.Equal(established, want) {
		t.Errorf("hook saw established %v, want %v", established, want)
	}

	// Nothing is announced after Start.
	time.Sleep(100 * time.Millisecond)
	if got := r1.routes(familyIPv4, local); len(got) != 0 {
		t.Fatalf("announced before SetMode: %v", got)
	}

	// r1 announces a route to us: it reaches our Adj-RIB-In but not our
	// RIB, and so never r2.
	r1.announce("203.0.113.0", 24)
	eventually(t, "route from r1 received", func() error {
		var got uint64
		_ = s.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: r1.addr}, func(p *api.Peer) {
			for _, af := range p.AfiSafis {
				got += af.GetState().GetReceived()
			}
		})
		if got != 1 {
			return fmt.Errorf("received %d", got)
		}
		return nil
	})
	var ours []string
	_ = s.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: familyIPv4},
		func(d *api.Destination) { ours = append(ours, d.Prefix) })
	if len(ours) != 0 {
		t.Errorf("speaker RIB imported %v", ours)
	}

	announced := route{from: local, nextHop: local, asPath: asPath(localASN, 2), med: ptr(uint32(50)),
		communities: []uint32{65001<<16 | 100, 0xFFFFFF01}, large: []string{"65001:1:2"}}
	mustSetMode(t, s, ModeAnnounce)
	mustSetMode(t, s, ModeAnnounce) // idempotent
	for _, r := range []*router{r1, r2} {
		eventually(t, "announce at "+r.addr, wantRoutes(r, familyIPv4, local,
			map[string]route{"198.18.0.0/24": announced, "198.51.100.0/24": announced}))
	}
	if got := r2.routes(familyIPv4, ""); len(got) != 2 {
		t.Errorf("r2 has %v, want only our two prefixes (nothing from r1)", got)
	}
	snap := s.Snapshot()
	if snap.Mode != "announce" || !slices.Equal(snap.Announced, cfg.Prefixes) {
		t.Errorf("snapshot mode %s announced %v", snap.Mode, snap.Announced)
	}
	for _, p := range snap.Peers {
		if !p.Up || p.State != "established" || p.PrefixesSent != 2 || p.EstablishedAt.IsZero() || p.UptimeSeconds <= 0 {
			t.Errorf("snapshot peer %+v", p)
		}
	}

	drained := route{from: local, nextHop: local, asPath: asPath(localASN, 4),
		communities: []uint32{65001<<16 | 666, CommunityGracefulShutdown}}
	mustSetMode(t, s, ModeDraining)
	eventually(t, "drain at r1", wantRoutes(r1, familyIPv4, local,
		map[string]route{"198.18.0.0/24": drained, "198.51.100.0/24": drained}))

	// Degraded without attributes withdraws.
	mustSetMode(t, s, ModeDegraded)
	eventually(t, "degraded (withdrawn) at r1", wantRoutes(r1, familyIPv4, local, map[string]route{}))
	if got := s.Snapshot().Announced; len(got) != 0 {
		t.Errorf("snapshot announced %v in degraded without attributes", got)
	}

	// Reload with degraded attributes (and the same neighbours) applies
	// them at once, since the mode is degraded.
	cfg2 := cfg
	cfg2.Degraded = &Attributes{Communities: []string{"65001:200"}, MED: ptr(uint32(500)), Prepend: ptr(2)}
	if err := s.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	degraded := route{from: local, nextHop: local, asPath: asPath(localASN, 3), med: ptr(uint32(500)),
		communities: []uint32{65001<<16 | 200}}
	eventually(t, "degraded at r1", wantRoutes(r1, familyIPv4, local,
		map[string]route{"198.18.0.0/24": degraded, "198.51.100.0/24": degraded}))

	// Reload dropping a prefix and changing the attributes while
	// announcing: the prefix is withdrawn, the other re-announced.
	mustSetMode(t, s, ModeAnnounce)
	cfg3 := cfg2
	cfg3.Prefixes = []string{"198.51.100.0/24"}
	cfg3.Announce = Attributes{Communities: []string{"65001:300"}}
	if err := s.Reload(cfg3); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reloaded attributes at r2", wantRoutes(r2, familyIPv4, local, map[string]route{
		"198.51.100.0/24": {from: local, nextHop: local, asPath: asPath(localASN, 1), communities: []uint32{65001<<16 | 300}},
	}))

	mustSetMode(t, s, ModeWithdrawn)
	eventually(t, "withdrawn at r2", wantRoutes(r2, familyIPv4, local, map[string]route{}))

	// Stop withdraws before closing: announce again, then stop.
	mustSetMode(t, s, ModeAnnounce)
	eventually(t, "announce at r1", func() error {
		if n := len(r1.routes(familyIPv4, local)); n != 1 {
			return fmt.Errorf("%d routes", n)
		}
		return nil
	})
	updates := r1.receivedUpdates(local)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The withdrawal went out as an UPDATE before the session closed.
	eventually(t, "withdrawal received by r1 before the close", func() error {
		if n := r1.receivedUpdates(local); n <= updates {
			return fmt.Errorf("%d updates received, %d before Stop", n, updates)
		}
		return nil
	})
	eventually(t, "routes gone at r1", wantRoutes(r1, familyIPv4, local, map[string]route{}))
	eventually(t, "session down at r1", func() error {
		if st := r1.peerState(local); st == api.PeerState_ESTABLISHED {
			return errors.New("established")
		}
		return nil
	})
	if err := s.SetMode(context.Background(), ModeAnnounce); !errors.Is(err, ErrStopped) {
		t.Errorf("set mode after stop: %v", err)
	}
	if s.Ready() {
		t.Error("ready after stop")
	}
}

// TestReloadNeighbors: an unchanged neighbour keeps its session, a removed
// one goes away, an added one comes up.
func TestReloadNeighbors(t *testing.T) {
	const local = "127.0.2.2"
	keep := newRouter(t, "127.0.2.1", 65010, passiveNeighbor(local, localASN))
	gone := newRouter(t, "127.0.2.3", 65020, passiveNeighbor(local, localASN))
	added := newRouter(t, "127.0.2.4", 65030, passiveNeighbor(local, localASN))
	changed := newRouter(t, "127.0.2.5", 65040, passiveNeighbor(local, localASN))

	cfg := Config{
		ASN: localASN, RouterID: "10.0.2.2",
		Neighbors: []NeighborConfig{dialTo(keep, local), dialTo(gone, local), dialTo(changed, local)},
		Prefixes:  []string{"198.18.0.0/24"},
	}
	var mu sync.Mutex
	events := map[string][]string{}
	s := startSpeaker(t, cfg, WithPeerHook(func(ev PeerEvent) {
		mu.Lock()
		events[ev.Address] = append(events[ev.Address], ev.State)
		mu.Unlock()
	}))
	before := peerUp(t, s, keep.addr)
	peerUp(t, s, gone.addr)
	peerUp(t, s, changed.addr)
	mustSetMode(t, s, ModeAnnounce)
	eventually(t, "announce at keep", func() error {
		if n := len(keep.routes(familyIPv4, local)); n != 1 {
			return fmt.Errorf("%d routes", n)
		}
		return nil
	})

	cfg2 := cfg
	kept := dialTo(keep, local)
	kept.Description = "renamed" // description only: the session stays
	ch := dialTo(changed, local)
	ch.HoldTime = 6 * time.Second // a real change: the session restarts
	cfg2.Neighbors = []NeighborConfig{kept, dialTo(added, local), ch}
	if err := s.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	peerUp(t, s, added.addr)
	eventually(t, "announce at added", func() error {
		if n := len(added.routes(familyIPv4, local)); n != 1 {
			return fmt.Errorf("%d routes", n)
		}
		return nil
	})
	eventually(t, "session down at gone", func() error {
		if st := gone.peerState(local); st == api.PeerState_ESTABLISHED {
			return errors.New("established")
		}
		return nil
	})
	// The changed neighbour's session restarts. It is not waited for: the
	// router holds a lost session idle for ~5 s before it listens again.
	eventually(t, "changed neighbour restarted", func() error {
		for _, p := range s.Snapshot().Peers {
			if p.Address == changed.addr && p.Transitions != 1 {
				return fmt.Errorf("%d transitions", p.Transitions)
			}
		}
		return nil
	})

	snap := s.Snapshot()
	var addrs []string
	for _, p := range snap.Peers {
		addrs = append(addrs, p.Address)
		switch p.Address {
		case keep.addr:
			if !p.Up || !p.EstablishedAt.Equal(before.EstablishedAt) || p.Transitions != 0 || p.Description != "renamed" {
				t.Errorf("unchanged neighbour was disturbed: %+v (before %+v)", p, before)
			}
		}
	}
	if want := []string{keep.addr, added.addr, changed.addr}; !slices.Equal(addrs, want) {
		t.Errorf("snapshot peers %v, want %v", addrs, want)
	}
	if st := keep.peerState(local); st != api.PeerState_ESTABLISHED {
		t.Errorf("kept session at the router: %s", st)
	}
	mu.Lock()
	if ev := events[gone.addr]; len(ev) == 0 || ev[len(ev)-1] != "idle" {
		t.Errorf("removed neighbour's events %v, want a last idle", ev)
	}
	mu.Unlock()

	// Fixed fields cannot change; nothing else changes either.
	bad := cfg2
	bad.ASN = 65002
	bad.RouterID = "10.9.9.9"
	bad.Prefixes = []string{"198.51.100.0/24"}
	err := s.Reload(bad)
	if err == nil || !strings.Contains(err.Error(), "bgp.asn: cannot change on reload (restart the node)") ||
		!strings.Contains(err.Error(), "bgp.router_id: cannot change") {
		t.Errorf("reload changing asn and router_id: %v", err)
	}
	if got := s.Snapshot(); got.ASN != localASN || !slices.Equal(got.Announced, []string{"198.18.0.0/24"}) {
		t.Errorf("a refused reload changed the speaker: %+v", got)
	}
	invalid := cfg2
	invalid.Neighbors = append(slices.Clone(cfg2.Neighbors), NeighborConfig{Address: "127.0.2.9"})
	if err := s.Reload(invalid); err == nil || !strings.Contains(err.Error(), "bgp.neighbors[3].asn: required") {
		t.Errorf("invalid reload: %v", err)
	}
	if n := len(s.Snapshot().Peers); n != 3 {
		t.Errorf("an invalid reload changed the neighbours: %d", n)
	}
}

// TestPassive: with listen set, a passive neighbour dials the speaker.
func TestPassive(t *testing.T) {
	const local = "127.0.3.2"
	port := freePort(t, local)
	r := newRouter(t, "127.0.3.1", 65010, &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: local, PeerAsn: localASN},
		Transport: &api.Transport{RemotePort: uint32(port), LocalAddress: "127.0.3.1"},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1}},
	})
	s := startSpeaker(t, Config{
		ASN: localASN, RouterID: "10.0.3.2", Listen: net.JoinHostPort(local, itoa(port)),
		Neighbors: []NeighborConfig{{Address: r.addr, ASN: r.asn, Passive: true}},
		Prefixes:  []string{"198.18.0.0/24"},
	})
	peerUp(t, s, r.addr)
	mustSetMode(t, s, ModeAnnounce)
	eventually(t, "announce over the passive session", wantRoutes(r, familyIPv4, local, map[string]route{
		"198.18.0.0/24": {from: local, nextHop: local, asPath: []uint32{localASN}},
	}))
}

// TestMD5: a session with a TCP MD5 password on both sides comes up.
func TestMD5(t *testing.T) {
	if err := listenerTakesMD5(); err != nil {
		t.Skipf("this host refuses a TCP MD5 key on a listening socket (%v); the router side cannot listen with one", err)
	}
	const local = "127.0.4.2"
	n := passiveNeighbor(local, localASN)
	n.Conf.AuthPassword = "s3cret"
	r := newRouter(t, "127.0.4.1", 65010, n)
	nc := dialTo(r, local)
	nc.Password = "s3cret"
	s := startSpeaker(t, Config{ASN: localASN, RouterID: "10.0.4.2", Neighbors: []NeighborConfig{nc},
		Prefixes: []string{"198.18.0.0/24"}})
	peerUp(t, s, r.addr)
}

// TestIPv6: IPv6 prefixes go to IPv6 neighbours with an IPv6 next hop
// (MP_REACH_NLRI), IPv4 prefixes to IPv4 neighbours.
func TestIPv6(t *testing.T) {
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback (::1): %v", err)
	} else {
		l.Close()
	}
	const local4 = "127.0.5.2"
	r6 := newRouter(t, "::1", 65060, passiveNeighbor("::1", localASN))
	r4 := newRouter(t, "127.0.5.1", 65040, passiveNeighbor(local4, localASN))
	s := startSpeaker(t, Config{
		ASN: localASN, RouterID: "10.0.5.2",
		Neighbors: []NeighborConfig{dialTo(r6, "::1"), dialTo(r4, local4)},
		Prefixes:  []string{"198.18.0.0/24", "2001:db8:1::/48"},
		Announce:  Attributes{Communities: []string{"65001:6"}, Prepend: ptr(2)},
	})
	peerUp(t, s, "::1")
	peerUp(t, s, r4.addr)
	mustSetMode(t, s, ModeAnnounce)
	eventually(t, "IPv6 at r6", wantRoutes(r6, familyIPv6, "::1", map[string]route{
		"2001:db8:1::/48": {from: "::1", nextHop: "::1", asPath: asPath(localASN, 3), communities: []uint32{65001<<16 | 6}},
	}))
	eventually(t, "IPv4 at r4", wantRoutes(r4, familyIPv4, local4, map[string]route{
		"198.18.0.0/24": {from: local4, nextHop: local4, asPath: asPath(localASN, 3), communities: []uint32{65001<<16 | 6}},
	}))
	if got := r6.routes(familyIPv4, ""); len(got) != 0 {
		t.Errorf("IPv6 neighbour got IPv4 routes %v", got)
	}
	if got := r4.routes(familyIPv6, ""); len(got) != 0 {
		t.Errorf("IPv4 neighbour got IPv6 routes %v", got)
	}
	mustSetMode(t, s, ModeWithdrawn)
	eventually(t, "IPv6 withdrawn", wantRoutes(r6, familyIPv6, "::1", map[string]route{}))
}

// TestConcurrentUse runs SetMode from several goroutines while others
// read Snapshot, Ready and metrics (for -race).
func TestConcurrentUse(t *testing.T) {
	const local = "127.0.6.2"
	r := newRouter(t, "127.0.6.1", 65010, passiveNeighbor(local, localASN))
	m := NewMetrics()
	s := startSpeaker(t, Config{ASN: localASN, RouterID: "10.0.6.2",
		Neighbors: []NeighborConfig{dialTo(r, local)}, Prefixes: []string{"198.18.0.0/24", "198.51.100.0/24"}},
		WithMetrics(m))
	peerUp(t, s, r.addr)
	var wg sync.WaitGroup
	modes := []Mode{ModeAnnounce, ModeDraining, ModeDegraded, ModeWithdrawn}
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				if err := s.SetMode(context.Background(), modes[(i+j)%len(modes)]); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				_ = s.Snapshot()
				_ = s.Ready()
				_ = gatherAll(t, m)
			}
		})
	}
	wg.Wait()
	mustSetMode(t, s, ModeDraining)
	eventually(t, "last mode wins", func() error {
		got := r.routes(familyIPv4, local)
		if len(got) != 2 || !slices.Contains(got["198.18.0.0/24"].communities, CommunityGracefulShutdown) {
			return fmt.Errorf("routes %v", got)
		}
		return nil
	})
}

// TestLifecycleErrors: calls out of order fail cleanly.
func TestLifecycleErrors(t *testing.T) {
	cfg := Config{ASN: localASN, RouterID: "10.0.7.2", Prefixes: []string{"198.18.0.0/24"},
		Neighbors: []NeighborConfig{{Address: "127.0.7.1", ASN: 65010, Port: freePort(t, "127.0.7.1"), ConnectRetry: time.Second}}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.SetMode(ctx, ModeAnnounce); !errors.Is(err, ErrNotStarted) {
		t.Errorf("set mode before start: %v", err)
	}
	if s.Ready() {
		t.Error("ready before start")
	}
	if err := s.SetMode(ctx, Mode(9)); err == nil {
		t.Error("unknown mode accepted")
	}
	// A reload before Start only replaces the config.
	cfg.Prefixes = []string{"198.18.0.0/24", "198.51.100.0/24"}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	register(t, s.srv)
	if err := s.Start(ctx); err == nil {
		t.Error("second start accepted")
	}
	if s.Ready() {
		t.Error("ready without a session")
	}
	// With no session the paths still go to GoBGP.
	mustSetMode(t, s, ModeAnnounce)
	if got := s.Snapshot().Announced; !slices.Equal(got, cfg.Prefixes) {
		t.Errorf("announced %v", got)
	}
	eventually(t, "neighbour active", func() error {
		if st := s.Snapshot().Peers[0].State; st != "active" {
			return errors.New(st)
		}
		return nil
	})
	b, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"asn":65001,"router_id":"10.0.7.2","mode":"announce","announced":["198.18.0.0/24","198.51.100.0/24"],` +
		`"peers":[{"address":"127.0.7.1","asn":65010,"state":"active","up":false,"uptime_seconds":0,"transitions":0,"prefixes_sent":0}]}`; string(b) != want {
		t.Errorf("snapshot JSON\n%s\nwant\n%s", b, want)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if got := s.Snapshot(); len(got.Announced) != 0 || got.Mode != "withdrawn" {
		t.Errorf("after stop: %+v", got)
	}
	if err := s.Start(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("start after stop: %v", err)
	}
	if err := s.Reload(cfg); !errors.Is(err, ErrStopped) {
		t.Errorf("reload after stop: %v", err)
	}

	// Stop before Start is harmless; so is a listen address in use.
	s2, _ := New(cfg)
	if err := s2.Stop(ctx); err != nil {
		t.Errorf("stop before start: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.7.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg3 := cfg
	cfg3.Listen = l.Addr().String()
	s3, err := New(cfg3)
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Start(ctx); err == nil || !strings.HasPrefix(err.Error(), "bgp: start:") {
		t.Errorf("start on a busy port: %v", err)
	}
}

// TestNewValidates: New applies defaults and reports problems with the
// bgp. prefix.
func TestNewValidates(t *testing.T) {
	_, err := New(Config{ASN: localASN})
	if err == nil || !strings.Contains(err.Error(), "bgp.router_id: required") || !strings.Contains(err.Error(), "bgp.neighbors: at least one") {
		t.Errorf("New with a bad config: %v", err)
	}
}
