package bgp

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the speaker's Prometheus series. Create one per node
// registry with NewMetrics, register it (it is a prometheus.Collector) and
// pass it to New with WithMetrics; a reload keeps the same Speaker and so
// the same Metrics. Peer and prefix state is read from the speaker at
// scrape time.
type Metrics struct {
	updates      *prometheus.CounterVec
	updateErrors prometheus.Counter

	peerUp      *prometheus.Desc
	peerState   *prometheus.Desc
	uptime      *prometheus.Desc
	transitions *prometheus.Desc
	announced   *prometheus.Desc
	mode        *prometheus.Desc

	mu      sync.Mutex
	speaker *Speaker // the running speaker, nil before Start and after Stop
}

// NewMetrics creates the bgp metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_bgp_updates_total",
			Help: "Path changes handed to GoBGP, by action (announce, withdraw).",
		}, []string{"action"}),
		updateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_bgp_update_errors_total",
			Help: "Path changes that GoBGP refused.",
		}),
		peerUp: prometheus.NewDesc("edge_bgp_peer_up",
			"1 while the BGP session with the neighbour is established.", []string{"peer"}, nil),
		peerState: prometheus.NewDesc("edge_bgp_peer_state",
			"1 for the current FSM state of the BGP session with the neighbour, 0 for the others.", []string{"peer", "state"}, nil),
		uptime: prometheus.NewDesc("edge_bgp_peer_uptime_seconds",
			"Time since the BGP session with the neighbour was established, 0 while it is down.", []string{"peer"}, nil),
		transitions: prometheus.NewDesc("edge_bgp_peer_transitions_total",
			"Established BGP sessions with the neighbour that were lost.", []string{"peer"}, nil),
		announced: prometheus.NewDesc("edge_bgp_prefix_announced",
			"1 while the configured prefix is announced.", []string{"prefix"}, nil),
		mode: prometheus.NewDesc("edge_bgp_mode",
			"1 for the current announce mode (withdrawn, announce, degraded, draining), 0 for the others.", []string{"mode"}, nil),
	}
}

func (m *Metrics) track(s *Speaker) {
	m.mu.Lock()
	m.speaker = s
	m.mu.Unlock()
}

func (m *Metrics) untrack(s *Speaker) {
	m.mu.Lock()
	if m.speaker == s {
		m.speaker = nil
	}
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.updates.Describe(ch)
	m.updateErrors.Describe(ch)
	for _, d := range []*prometheus.Desc{m.peerUp, m.peerState, m.uptime, m.transitions, m.announced, m.mode} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.updates.Collect(ch)
	m.updateErrors.Collect(ch)
	m.mu.Lock()
	s := m.speaker
	m.mu.Unlock()
	if s == nil {
		return
	}
	snap, _ := s.snapshot(time.Now())
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range snap.Peers {
		gauge(m.peerUp, b2f(p.Up), p.Address)
		for _, st := range stateNames {
			gauge(m.peerState, b2f(p.State == st), p.Address, st)
		}
		gauge(m.uptime, p.UptimeSeconds, p.Address)
		ch <- prometheus.MustNewConstMetric(m.transitions, prometheus.CounterValue, float64(p.Transitions), p.Address)
	}
	on := map[string]bool{}
	for _, p := range snap.Announced {
		on[p] = true
	}
	for _, p := range s.prefixes() {
		gauge(m.announced, b2f(on[p]), p)
	}
	for _, name := range modeNames {
		gauge(m.mode, b2f(snap.Mode == name), name)
	}
}

// prefixes returns the configured prefixes.
func (s *Speaker) prefixes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cfg.Prefixes...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var _ prometheus.Collector = (*Metrics)(nil)
