package bgptest_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/edgecdn/edgecdn/bgp/bgptest"
)

var ipv4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// speaker is a bare GoBGP server dialling r from 127.0.0.1, standing in
// for package bgp's speaker (which this package must not import).
// The returned stop may be called any number of times.
func speaker(t *testing.T, r *bgptest.Router, asn uint32) (*server.BgpServer, func()) {
	t.Helper()
	quiet := gobgplog.NewDefaultLogger()
	quiet.SetLevel(gobgplog.PanicLevel)
	s := server.NewBgpServer(server.LoggerOption(quiet))
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: asn, RouterId: "10.0.0.2", ListenPort: -1}}); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = s.StopBgp(context.Background(), &api.StopBgpRequest{}) }) }
	t.Cleanup(stop)
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: r.Addr(), PeerAsn: r.ASN()},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1}},
		Transport: &api.Transport{RemotePort: uint32(r.Port()), LocalAddress: "127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	return s, stop
}

func path(t *testing.T, prefix string, bits uint32, attrs ...*anypb.Any) *api.Path {
	t.Helper()
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: prefix, PrefixLen: bits})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "0.0.0.0"})
	return &api.Path{Family: ipv4, Nlri: nlri, Pattrs: append([]*anypb.Any{origin, nh}, attrs...)}
}

func attr(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRouter checks what the router reports for a session, an
// announcement with every attribute it decodes, a withdrawal, and the
// session's end.
func TestRouter(t *testing.T) {
	r := bgptest.NewRouter(t, 65000)
	if r.Addr() != "127.0.0.1" || r.Port() == 0 || r.ASN() != 65000 {
		t.Fatalf("router %s:%d AS %d", r.Addr(), r.Port(), r.ASN())
	}
	r.AddNeighbor("127.0.0.1", 65001)
	if r.PeerUp("127.0.0.1") {
		t.Fatal("session up before anyone dialled")
	}
	if st := r.PeerState("198.18.0.1"); st != "" {
		t.Errorf("unknown neighbour in state %q", st)
	}
	s, stop := speaker(t, r, 65001)
	r.WaitPeerUp(t, "127.0.0.1", 10*time.Second)

	const prefix = "198.51.100.0/24"
	if rs := r.Routes(prefix); len(rs) != 0 {
		t.Fatalf("routes before any announcement: %v", rs)
	}
	comms := attr(t, &api.CommunitiesAttribute{Communities: []uint32{65535<<16 | 0, 65001<<16 | 100}})
	large := attr(t, &api.LargeCommunitiesAttribute{Communities: []*api.LargeCommunity{{GlobalAdmin: 65001, LocalData1: 0, LocalData2: 1}}})
	med := attr(t, &api.MultiExitDiscAttribute{Med: 5})
	resp, err := s.AddPath(context.Background(), &api.AddPathRequest{Path: path(t, "198.51.100.0", 24, comms, large, med)})
	if err != nil {
		t.Fatal(err)
	}
	rs := r.WaitRoute(t, prefix, bgptest.Present, 5*time.Second)
	five := uint32(5)
	want := bgptest.Route{
		Prefix: prefix, From: "127.0.0.1", NextHop: "127.0.0.1", ASPath: []uint32{65001},
		Communities: []string{"65001:100", "65535:0"}, LargeCommunities: []string{"65001:0:1"}, MED: &five,
	}
	if len(rs) != 1 || !reflect.DeepEqual(rs[0], want) {
		t.Fatalf("routes %v, want [%v]", rs, want)
	}
	if !rs[0].HasCommunity("65535:0") || rs[0].HasCommunity("65535:1") {
		t.Error("HasCommunity")
	}
	if all := r.Routes(""); len(all) != 1 {
		t.Errorf("all routes: %v", all)
	}
	if other := r.Routes("198.51.100.0/25"); len(other) != 0 {
		t.Errorf("a more specific prefix matched: %v", other)
	}

	if err := s.DeletePath(context.Background(), &api.DeletePathRequest{Family: ipv4, Uuid: resp.Uuid}); err != nil {
		t.Fatal(err)
	}
	r.WaitRoute(t, prefix, bgptest.Absent, 5*time.Second)
	us := r.WaitUpdates(t, prefix, func(us []bgptest.Update) bool { return len(us) >= 2 }, 5*time.Second)
	if len(us) != 2 || us[0].Withdraw || !us[1].Withdraw || !reflect.DeepEqual(us[0].Route, want) ||
		us[1].Prefix != prefix || us[1].From != "127.0.0.1" || us[1].At.Before(us[0].At) {
		t.Fatalf("updates %v", us)
	}

	// A route that goes away with its session is no withdrawal.
	if _, err := s.AddPath(context.Background(), &api.AddPathRequest{Path: path(t, "198.51.100.0", 24)}); err != nil {
		t.Fatal(err)
	}
	r.WaitRoute(t, prefix, bgptest.Present, 5*time.Second)
	stop()
	r.WaitRoute(t, prefix, bgptest.Absent, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for r.PeerUp("127.0.0.1") {
		if time.Now().After(deadline) {
			t.Fatal("session still up after the speaker stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	us = r.WaitUpdates(t, "", func(us []bgptest.Update) bool { return len(us) >= 3 }, 5*time.Second)
	if len(us) != 3 || us[2].Withdraw || len(us[2].Communities) != 0 {
		t.Fatalf("updates %v", us)
	}

	r.Stop()
	r.Stop()
	if r.Routes("") != nil || r.PeerUp("127.0.0.1") {
		t.Error("a stopped router reports routes or sessions")
	}
}

// Two routers in one test, one after the other: the barrier orders the
// second StartBgp before what the first does next (run with -race).
func TestTwoRouters(t *testing.T) {
	r1 := bgptest.NewRouter(t, 65000)
	r1.AddNeighbor("127.0.0.1", 65001)
	r2 := bgptest.NewRouterOn(t, "127.0.0.2", 65002)
	if r2.Addr() != "127.0.0.2" || r1.Port() == r2.Port() && r1.Addr() == r2.Addr() {
		t.Fatalf("routers %s:%d and %s:%d", r1.Addr(), r1.Port(), r2.Addr(), r2.Port())
	}
	speaker(t, r1, 65001)
	r1.WaitPeerUp(t, "127.0.0.1", 10*time.Second)
	if rs := r2.Routes(""); len(rs) != 0 {
		t.Errorf("second router has routes: %v", rs)
	}
}

// Stopping the router while its neighbour keeps sending UPDATEs is no
// data race (run with -race) and does not wait for the neighbour.
func TestStopWhileReceiving(t *testing.T) {
	r := bgptest.NewRouter(t, 65000)
	r.AddNeighbor("127.0.0.1", 65001)
	s, _ := speaker(t, r, 65001)
	r.WaitPeerUp(t, "127.0.0.1", 10*time.Second)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := s.AddPath(context.Background(), &api.AddPathRequest{Path: path(t, "198.51.100.0", 24)})
			if err == nil {
				_ = s.DeletePath(context.Background(), &api.DeletePathRequest{Family: ipv4, Uuid: resp.Uuid})
			}
		}
	}()
	r.WaitUpdates(t, "", func(us []bgptest.Update) bool { return len(us) > 10 }, 5*time.Second)
	start := time.Now()
	r.Stop()
	close(stop)
	<-done
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %s", d)
	}
}
