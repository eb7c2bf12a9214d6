package bgp

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// gatherAll registers m with a fresh pedantic registry and gathers it.
func gatherAll(t testing.TB, m *Metrics) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Error(err)
	}
	return mfs
}

// TestMetrics scrapes a running speaker: every series is there with the
// expected values, and promlint is happy.
func TestMetrics(t *testing.T) {
	const local = "127.0.8.2"
	r := newRouter(t, "127.0.8.1", 65010, passiveNeighbor(local, localASN))
	m := NewMetrics()
	down := NeighborConfig{Address: "127.0.8.9", ASN: 65099, Port: freePort(t, "127.0.8.9")} // nobody there
	s := startSpeaker(t, Config{ASN: localASN, RouterID: "10.0.8.2",
		Neighbors: []NeighborConfig{dialTo(r, local), down},
		Prefixes:  []string{"198.18.0.0/24", "198.51.100.0/24"},
	}, WithMetrics(m))
	peerUp(t, s, r.addr)
	mustSetMode(t, s, ModeAnnounce)
	cfg2 := Config{ASN: localASN, RouterID: "10.0.8.2",
		Neighbors: []NeighborConfig{dialTo(r, local), down},
		Prefixes:  []string{"198.18.0.0/24", "198.51.100.0/24", "203.0.113.0/24"},
	}
	if err := s.Reload(cfg2); err != nil { // one more prefix, announced at once
		t.Fatal(err)
	}
	mustSetMode(t, s, ModeDegraded) // withdraws all three

	problems, err := promlint.NewWithMetricFamilies(gatherAll(t, m)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	want := `
# HELP edge_bgp_mode 1 for the current announce mode (withdrawn, announce, degraded, draining), 0 for the others.
# TYPE edge_bgp_mode gauge
edge_bgp_mode{mode="announce"} 0
edge_bgp_mode{mode="degraded"} 1
edge_bgp_mode{mode="draining"} 0
edge_bgp_mode{mode="withdrawn"} 0
# HELP edge_bgp_peer_up 1 while the BGP session with the neighbour is established.
# TYPE edge_bgp_peer_up gauge
edge_bgp_peer_up{peer="127.0.8.1"} 1
edge_bgp_peer_up{peer="127.0.8.9"} 0
# HELP edge_bgp_peer_transitions_total Established BGP sessions with the neighbour that were lost.
# TYPE edge_bgp_peer_transitions_total counter
edge_bgp_peer_transitions_total{peer="127.0.8.1"} 0
edge_bgp_peer_transitions_total{peer="127.0.8.9"} 0
# HELP edge_bgp_prefix_announced 1 while the configured prefix is announced.
# TYPE edge_bgp_prefix_announced gauge
edge_bgp_prefix_announced{prefix="198.18.0.0/24"} 0
edge_bgp_prefix_announced{prefix="198.51.100.0/24"} 0
edge_bgp_prefix_announced{prefix="203.0.113.0/24"} 0
# HELP edge_bgp_updates_total Path changes handed to GoBGP, by action (announce, withdraw).
# TYPE edge_bgp_updates_total counter
edge_bgp_updates_total{action="announce"} 3
edge_bgp_updates_total{action="withdraw"} 3
# HELP edge_bgp_update_errors_total Path changes that GoBGP refused.
# TYPE edge_bgp_update_errors_total counter
edge_bgp_update_errors_total 0
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "edge_bgp_mode", "edge_bgp_peer_up",
		"edge_bgp_peer_transitions_total", "edge_bgp_prefix_announced", "edge_bgp_updates_total",
		"edge_bgp_update_errors_total"); err != nil {
		t.Error(err)
	}

	// One state series per FSM state and peer, exactly one of them 1.
	for _, mf := range gatherAll(t, m) {
		switch mf.GetName() {
		case "edge_bgp_peer_state":
			on := map[string]string{}
			for _, s := range mf.GetMetric() {
				if s.GetGauge().GetValue() == 1 {
					on[label(s, "peer")] += label(s, "state")
				}
			}
			if len(mf.GetMetric()) != 2*len(stateNames) || on["127.0.8.1"] != "established" ||
				(on["127.0.8.9"] != "active" && on["127.0.8.9"] != "idle" && on["127.0.8.9"] != "connect") {
				t.Errorf("edge_bgp_peer_state: %d series, on %v", len(mf.GetMetric()), on)
			}
		case "edge_bgp_peer_uptime_seconds":
			for _, s := range mf.GetMetric() {
				if v := s.GetGauge().GetValue(); (label(s, "peer") == "127.0.8.1") != (v > 0) {
					t.Errorf("uptime of %s: %g", label(s, "peer"), v)
				}
			}
		}
	}

	// After Stop the speaker's series go; the counters stay.
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, mf := range gatherAll(t, m) {
		if n := mf.GetName(); n != "edge_bgp_updates_total" && n != "edge_bgp_update_errors_total" {
			t.Errorf("%s still reported after Stop", n)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
