package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/bgp"
	"github.com/edgecdn/edgecdn/bgp/bgptest"
	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// These tests boot a whole node with a bgp section against a router of
// package bgptest on loopback and check what the router receives as the
// health machine moves. They start GoBGP servers, so they must not run in
// parallel (see bgptest).

const (
	anycastPrefix      = "198.51.100.80/32"
	anycastLocal       = "127.0.0.1" // the node's session address, and so the next hop
	anycastASN         = 65001
	anycastRouterASN   = 65000
	anycastHold        = 300 * time.Millisecond
	anycastDrain       = 300 * time.Millisecond
	anycastLame        = 100 * time.Millisecond
	anycastSessionWait = 10 * time.Second // GoBGP dials 1-2 s after start
	anycastWait        = 5 * time.Second
)

// anycastConfig is a node config for origin with short health timings and
// a bgp section dialling r; extra lines go into the health section.
func anycastConfig(origin string, r *bgptest.Router, healthExtra ...string) string {
	var b strings.Builder
	b.WriteString(edgetest.SiteConfig(origin))
	fmt.Fprintf(&b, "health:\n  interval: 20ms\n  rise: 2\n  fall: 2\n  hold_time: %s\n  drain_delay: %s\n  lameduck: %s\n",
		anycastHold, anycastDrain, anycastLame)
	for _, l := range healthExtra {
		b.WriteString("  " + l + "\n")
	}
	fmt.Fprintf(&b, `bgp:
  asn: %d
  router_id: 192.0.2.10
  neighbors:
    - address: %s
      asn: %d
      port: %d
      local_address: %s
      connect_retry: 1s
  prefixes: [%s]
  announce:
    communities: ["65001:100"]
`, anycastASN, r.Addr(), r.ASN(), r.Port(), anycastLocal, anycastPrefix)
	return b.String()
}

// anycastOrigin is an origin that answers its probes and every other
// path with a small uncacheable body.
func anycastOrigin(t *testing.T) *origintest.Server {
	t.Helper()
	o := origintest.New(t)
	o.Handle(edgetest.ProbePath, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "hello")
	})
	return o
}

// startAnycast starts a router, an origin and a node peering with the
// router (the router first: see bgptest).
func startAnycast(t *testing.T, healthExtra ...string) (*bgptest.Router, *origintest.Server, *edgetest.Node) {
	t.Helper()
	r := bgptest.NewRouter(t, anycastRouterASN)
	r.AddNeighbor(anycastLocal, anycastASN)
	o := anycastOrigin(t)
	n := edgetest.Start(t, anycastConfig(o.URL, r, healthExtra...))
	return r, o, n
}

// normalAnycastRoute: announced with the announce attributes.
func normalAnycastRoute(rs []bgptest.Route) bool {
	return len(rs) == 1 && slices.Equal(rs[0].ASPath, []uint32{anycastASN}) &&
		slices.Equal(rs[0].Communities, []string{"65001:100"})
}

// drainAnycastRoute: announced with the drain attributes: GRACEFUL_SHUTDOWN
// and the default drain prepend of 3.
func drainAnycastRoute(rs []bgptest.Route) bool {
	return len(rs) == 1 && slices.Equal(rs[0].ASPath, []uint32{anycastASN, anycastASN, anycastASN, anycastASN}) &&
		slices.Equal(rs[0].Communities, []string{"65535:0"})
}

// checkAnycastRoute checks next hop and sender of the one route.
func checkAnycastRoute(t *testing.T, rs []bgptest.Route) {
	t.Helper()
	if len(rs) != 1 || rs[0].NextHop != anycastLocal || rs[0].From != anycastLocal || rs[0].MED != nil {
		t.Errorf("routes %v: want one from %s with next hop %[2]s and no MED", rs, anycastLocal)
	}
}

// wantAnycastState checks the node's health state.
func wantAnycastState(t *testing.T, n *edgetest.Node, want edge.HealthState) {
	t.Helper()
	if h := n.Health(); h.State != want {
		t.Errorf("health state %s (%s), want %s", h.State, h.Reason, want)
	}
}

// awaitAnycastState polls the node's health state until it is want.
func awaitAnycastState(t *testing.T, n *edgetest.Node, want edge.HealthState, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h := n.Health()
		if h.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health state %s (%s) after %s, want %s", h.State, h.Reason, timeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitAnycastMode polls the node's status until the speaker reports mode.
// (GoBGP may send a change before the speaker's SetMode has returned and
// recorded it.)
func awaitAnycastMode(t *testing.T, n *edgetest.Node, mode string) bgp.Snapshot {
	t.Helper()
	deadline := time.Now().Add(anycastWait)
	for {
		b := n.Status().BGP
		if b == nil {
			t.Fatal("status without bgp")
		}
		if b.Mode == mode {
			return *b
		}
		if time.Now().After(deadline) {
			t.Fatalf("bgp mode %s after %s, want %s", b.Mode, anycastWait, mode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func anycastAdmin(t *testing.T, n *edgetest.Node, method, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.Admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// awaitAnycastWithdrawal waits for the router to log a withdrawal of the prefix
// as its last UPDATE: the route went away with an UPDATE, not with the
// session.
func awaitAnycastWithdrawal(t *testing.T, r *bgptest.Router) bgptest.Update {
	t.Helper()
	us := r.WaitUpdates(t, anycastPrefix, func(us []bgptest.Update) bool {
		return len(us) > 0 && us[len(us)-1].Withdraw
	}, anycastWait)
	return us[len(us)-1]
}

// awaitAnycastAnnouncement waits until the router's last UPDATE for the prefix
// announces a route that satisfies cond, and returns the updates.
func awaitAnycastAnnouncement(t *testing.T, r *bgptest.Router, cond func([]bgptest.Route) bool) []bgptest.Update {
	t.Helper()
	return r.WaitUpdates(t, anycastPrefix, func(us []bgptest.Update) bool {
		return len(us) > 0 && !us[len(us)-1].Withdraw && cond([]bgptest.Route{us[len(us)-1].Route})
	}, anycastWait)
}

// The route reaches the router only once the node is healthy: not while
// it is starting (health.warmup holds it there for longer than the
// session takes to come up), with next hop self and the node's AS path.
// Status and metrics report the session and the announcement.
func TestAnycastAnnouncesOnlyWhenHealthy(t *testing.T) {
	const warmup = 2500 * time.Millisecond
	start := time.Now()
	r, _, n := startAnycast(t, "warmup: "+warmup.String())
	var peerWhileStarting bool
	var rs []bgptest.Route
	for {
		// Routes first, then the state: the state only moves forward, so
		// a route seen while the state read after it is still starting
		// was announced too early.
		rs = r.Routes(anycastPrefix)
		h := n.Health()
		if len(rs) > 0 {
			if h.State != edge.StateHealthy {
				t.Fatalf("route %v at the router while the node is %s (%s)", rs, h.State, h.Reason)
			}
			break
		}
		if h.State == edge.StateStarting && r.PeerUp(anycastLocal) {
			peerWhileStarting = true
		}
		if time.Since(start) > warmup+anycastSessionWait {
			t.Fatalf("no route after %s; node %s (%s), session %s", time.Since(start), h.State, h.Reason, r.PeerState(anycastLocal))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(start); d < warmup {
		t.Errorf("route after %s, before the warmup of %s", d, warmup)
	}
	if !peerWhileStarting {
		t.Errorf("the session never came up while the node was starting: nothing shown (raise the warmup)")
	}
	if !normalAnycastRoute(rs) {
		t.Errorf("routes %v: want AS path [%d] and community 65001:100", rs, anycastASN)
	}
	checkAnycastRoute(t, rs)
	if us := awaitAnycastAnnouncement(t, r, normalAnycastRoute); len(us) != 1 {
		t.Errorf("updates %v, want the one announcement", us)
	}

	// The speaker records an announcement once GoBGP's AddPath returns,
	// and GoBGP may have sent it by then: poll until the status agrees.
	type status struct {
		Ready  bool `json:"ready"`
		Health struct {
			State   string `json:"state"`
			BGPMode string `json:"bgp_mode"`
		} `json:"health"`
		BGP *struct {
			ASN       uint32   `json:"asn"`
			Mode      string   `json:"mode"`
			Announced []string `json:"announced"`
			Peers     []struct {
				Address      string `json:"address"`
				State        string `json:"state"`
				Up           bool   `json:"up"`
				PrefixesSent int    `json:"prefixes_sent"`
			} `json:"peers"`
		} `json:"bgp"`
	}
	var st status
	var body []byte
	for deadline := time.Now().Add(anycastWait); ; {
		var code int
		code, body = anycastAdmin(t, n, "GET", "/status")
		st = status{}
		if err := json.Unmarshal(body, &st); code != 200 || err != nil {
			t.Fatalf("GET /status: %d %v\n%s", code, err, body)
		}
		if st.Health.BGPMode == "announce" && st.BGP != nil && st.BGP.Mode == "announce" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status does not show the announcement after %s:\n%s", anycastWait, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !st.Ready || st.Health.State != "healthy" || st.Health.BGPMode != "announce" {
		t.Errorf("status: ready %v, health %+v", st.Ready, st.Health)
	}
	switch b := st.BGP; {
	case b == nil:
		t.Errorf("status without bgp:\n%s", body)
	case b.ASN != anycastASN || b.Mode != "announce" || !slices.Equal(b.Announced, []string{anycastPrefix}):
		t.Errorf("status bgp: %+v", *b)
	case len(b.Peers) != 1 || b.Peers[0].Address != r.Addr() || b.Peers[0].State != "established" ||
		!b.Peers[0].Up || b.Peers[0].PrefixesSent != 1:
		t.Errorf("status bgp peers: %+v", b.Peers)
	}
	for _, m := range []struct {
		name   string
		labels []string
	}{
		{"edge_bgp_peer_up", []string{"peer", r.Addr()}},
		{"edge_bgp_prefix_announced", []string{"prefix", anycastPrefix}},
		{"edge_bgp_mode", []string{"mode", "announce"}},
		{"edge_health_state", []string{"state", "healthy"}},
	} {
		if got := n.Metric(t, m.name, m.labels...); got != 1 {
			t.Errorf("%s%v = %v, want 1", m.name, m.labels, got)
		}
	}
	if got := n.Metric(t, "edge_health_state", "state", "starting"); got != 0 {
		t.Errorf(`edge_health_state{state="starting"} = %v, want 0`, got)
	}
}

// A dead origin withdraws the route (degraded); once the origin is back,
// the route returns, but not before the hold time.
func TestAnycastWithdrawsWhileDegraded(t *testing.T) {
	r, o, n := startAnycast(t)
	r.WaitRoute(t, anycastPrefix, normalAnycastRoute, anycastSessionWait)

	o.Kill()
	r.WaitRoute(t, anycastPrefix, bgptest.Absent, anycastWait)
	wantAnycastState(t, n, edge.StateDegraded)
	awaitAnycastWithdrawal(t, r)
	if !r.PeerUp(anycastLocal) {
		t.Error("session down while degraded")
	}
	if b := awaitAnycastMode(t, n, "degraded"); len(b.Announced) != 0 {
		t.Errorf("status bgp while degraded: %+v", b)
	}

	o.Revive()
	revived := time.Now()
	rs := r.WaitRoute(t, anycastPrefix, bgptest.Present, anycastWait)
	if d := time.Since(revived); d < anycastHold {
		t.Errorf("announced again %s after the origin came back, before the hold time of %s", d, anycastHold)
	}
	if !normalAnycastRoute(rs) {
		t.Errorf("routes %v after recovery: want the announce attributes", rs)
	}
	checkAnycastRoute(t, rs)
	wantAnycastState(t, n, edge.StateHealthy)
}

// An operator drain announces the drain attributes (GRACEFUL_SHUTDOWN,
// longer AS path) for drain_delay, then withdraws; ending it announces
// the normal attributes again. The node keeps serving throughout.
func TestAnycastOperatorDrain(t *testing.T) {
	r, _, n := startAnycast(t)
	normal := r.WaitRoute(t, anycastPrefix, normalAnycastRoute, anycastSessionWait)

	drainAt := time.Now()
	if code, body := anycastAdmin(t, n, "POST", "/drain"); code != 200 {
		t.Fatalf("POST /drain: %d %s", code, body)
	}
	rs := r.WaitRoute(t, anycastPrefix, drainAnycastRoute, anycastWait)
	if len(rs[0].ASPath) <= len(normal[0].ASPath) {
		t.Errorf("drain AS path %v not longer than %v", rs[0].ASPath, normal[0].ASPath)
	}
	checkAnycastRoute(t, rs)
	r.WaitRoute(t, anycastPrefix, bgptest.Absent, anycastWait)
	if d := time.Since(drainAt); d < anycastDrain {
		t.Errorf("withdrawn %s after the drain began, before drain_delay %s", d, anycastDrain)
	}
	awaitAnycastWithdrawal(t, r)
	wantAnycastState(t, n, edge.StateWithdrawn)
	if code, _ := anycastAdmin(t, n, "GET", "/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/ready %d while drained", code)
	}
	if resp := n.Get(t, "/x"); resp.Status != 200 || string(resp.Body) != "hello" {
		t.Errorf("drained node: %d %q", resp.Status, resp.Body)
	}

	if code, body := anycastAdmin(t, n, "DELETE", "/drain"); code != 200 {
		t.Fatalf("DELETE /drain: %d %s", code, body)
	}
	rs = r.WaitRoute(t, anycastPrefix, bgptest.Present, anycastWait)
	if !normalAnycastRoute(rs) {
		t.Errorf("routes %v after the drain: want the announce attributes", rs)
	}
	checkAnycastRoute(t, rs)
	awaitAnycastState(t, n, edge.StateHealthy, anycastWait)
}

// Stop drains before it stops: the router gets GRACEFUL_SHUTDOWN first,
// then, after drain_delay, the withdrawal (as an UPDATE, while the
// session is up); Stop returns after drain_delay and lameduck. HTTP
// answers during the drain.
func TestAnycastStopDrainsFirst(t *testing.T) {
	r, _, n := startAnycast(t)
	r.WaitRoute(t, anycastPrefix, normalAnycastRoute, anycastSessionWait)
	before := len(awaitAnycastAnnouncement(t, r, normalAnycastRoute))

	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := n.Stop(ctx)
		done <- result{err, time.Now()}
	}()

	r.WaitRoute(t, anycastPrefix, drainAnycastRoute, anycastWait)
	if h := n.Health(); h.State != edge.StateDraining {
		t.Errorf("state %s while the drain attributes are announced", h.State)
	} else if resp := n.Get(t, "/x"); resp.Status != 200 || string(resp.Body) != "hello" {
		t.Errorf("request while draining: %d %q", resp.Status, resp.Body)
	}
	r.WaitRoute(t, anycastPrefix, bgptest.Absent, anycastWait)

	var res result
	select {
	case res = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not return")
	}
	if res.err != nil {
		t.Errorf("stop: %v", res.err)
	}
	// The router got exactly: the drain announcement, then the withdrawal.
	awaitAnycastWithdrawal(t, r)
	us := r.Updates(anycastPrefix)[before:]
	if len(us) != 2 || us[0].Withdraw || !drainAnycastRoute([]bgptest.Route{us[0].Route}) || !us[1].Withdraw {
		t.Fatalf("updates during stop: %v, want the drain announcement and a withdrawal", us)
	}
	if d := us[1].At.Sub(start); d < anycastDrain {
		t.Errorf("withdrawn %s after Stop began, before drain_delay %s", d, anycastDrain)
	}
	took := res.at.Sub(start)
	if took < anycastDrain+anycastLame || took > anycastDrain+anycastLame+5*time.Second {
		t.Errorf("Stop took %s, want drain_delay+lameduck (%s) and not much more", took, anycastDrain+anycastLame)
	}
	deadline := time.Now().Add(anycastWait)
	for r.PeerUp(anycastLocal) {
		if time.Now().After(deadline) {
			t.Fatal("session still up after Stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
