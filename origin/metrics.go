package origin

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the origin series of a node, shared by its pools.
type Metrics struct {
	requests           *prometheus.CounterVec
	duration           *prometheus.HistogramVec
	opened             *prometheus.CounterVec
	selections         *prometheus.CounterVec
	retries            *prometheus.CounterVec
	unavailable        *prometheus.CounterVec
	switches           *prometheus.CounterVec
	probes             *prometheus.CounterVec
	probeRTT           *prometheus.HistogramVec
	breakerTransitions *prometheus.CounterVec

	conns    *prometheus.Desc
	up       *prometheus.Desc
	ewma     *prometheus.Desc
	stddev   *prometheus.Desc
	loss     *prometheus.Desc
	breaker  *prometheus.Desc
	selected *prometheus.Desc
	inflight *prometheus.Desc

	mu    sync.Mutex
	pools map[*Pool]struct{}
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics creates the origin metrics; register them with a registry
// (the Metrics value is a prometheus.Collector).
func NewMetrics() *Metrics {
	so := []string{"site", "origin"}
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_requests_total",
			Help: "Requests sent to origins, by outcome (status class, connect_error, timeout, error).",
		}, []string{"site", "origin", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edge_origin_request_duration_seconds",
			Help:    "Time from sending a request to an origin to its response header.",
			Buckets: latencyBuckets,
		}, so),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_connections_opened_total",
			Help: "TCP connections opened to origins.",
		}, so),
		selections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_selections_total",
			Help: "Requests (first tries and retries) sent to each origin.",
		}, so),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_retries_total",
			Help: "Failed idempotent requests considered for a retry on the next origin, by result (retried, budget_exhausted, no_alternative).",
		}, []string{"site", "result"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_unavailable_total",
			Help: "Requests refused because no origin of the site was up with a closed breaker.",
		}, []string{"site"}),
		switches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_switches_total",
			Help: "Changes of the origin chosen by lowest-latency selection.",
		}, []string{"site"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_probes_total",
			Help: "Health and latency probes, by result (ok, fail, slow: timed out while requests were answered).",
		}, []string{"site", "origin", "result"}),
		probeRTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edge_origin_probe_rtt_seconds",
			Help:    "Round-trip time of successful probes: connect (when a new connection was needed) plus time to the response header.",
			Buckets: latencyBuckets,
		}, so),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_breaker_transitions_total",
			Help: "Circuit breaker state changes, by the state entered.",
		}, []string{"site", "origin", "to"}),
		conns: prometheus.NewDesc("edge_origin_connections",
			"Connections to origins by state: active (carrying a request; HTTP/2: requests in flight, capped at open) or idle.",
			[]string{"site", "origin", "state"}, nil),
		up:       prometheus.NewDesc("edge_origin_up", "1 when the origin's probes say it is up.", so, nil),
		ewma:     prometheus.NewDesc("edge_origin_rtt_ewma_seconds", "EWMA of the probe round-trip time.", so, nil),
		stddev:   prometheus.NewDesc("edge_origin_rtt_stddev_seconds", "Standard deviation (EWMA) of the probe round-trip time.", so, nil),
		loss:     prometheus.NewDesc("edge_origin_probe_loss_ratio", "EWMA of failed probes (0-1).", so, nil),
		breaker:  prometheus.NewDesc("edge_origin_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.", so, nil),
		selected: prometheus.NewDesc("edge_origin_selected", "1 for the origin lowest-latency selection currently sends requests to.", so, nil),
		inflight: prometheus.NewDesc("edge_origin_requests_in_flight", "Requests to the origin from send until the response body is closed.", so, nil),
		pools:    make(map[*Pool]struct{}),
	}
}

func (m *Metrics) track(p *Pool) {
	m.mu.Lock()
	m.pools[p] = struct{}{}
	m.mu.Unlock()
}

func (m *Metrics) untrack(p *Pool) {
	m.mu.Lock()
	delete(m.pools, p)
	m.mu.Unlock()
}

func (m *Metrics) vecs() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.opened, m.selections, m.retries, m.unavailable,
		m.switches, m.probes, m.probeRTT, m.breakerTransitions}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.vecs() {
		c.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{m.conns, m.up, m.ewma, m.stddev, m.loss, m.breaker, m.selected, m.inflight} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.vecs() {
		c.Collect(ch)
	}
	m.mu.Lock()
	pools := make([]*Pool, 0, len(m.pools))
	for p := range m.pools {
		pools = append(pools, p)
	}
	m.mu.Unlock()
	seen := map[[2]string]bool{}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range pools {
		for _, s := range p.Snapshot() {
			k := [2]string{s.Site, s.Origin}
			if seen[k] {
				continue // a reload briefly has two pools for a site
			}
			seen[k] = true
			active := min(s.InFlight, s.ConnectionsOpen)
			gauge(m.conns, float64(active), s.Site, s.Origin, "active")
			gauge(m.conns, float64(s.ConnectionsOpen-active), s.Site, s.Origin, "idle")
			gauge(m.up, b2f(s.Up), s.Site, s.Origin)
			gauge(m.ewma, s.RTTEWMAms/1000, s.Site, s.Origin)
			gauge(m.stddev, s.RTTStdDevMs/1000, s.Site, s.Origin)
			gauge(m.loss, s.Loss, s.Site, s.Origin)
			gauge(m.breaker, float64(breakerIndex(s.Breaker)), s.Site, s.Origin)
			gauge(m.selected, b2f(s.Selected), s.Site, s.Origin)
			gauge(m.inflight, float64(s.InFlight), s.Site, s.Origin)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func breakerIndex(name string) int {
	for i, n := range breakerNames {
		if n == name {
			return i
		}
	}
	return 0
}

var _ prometheus.Collector = (*Metrics)(nil)
