package edge

import (
	"math"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The dashboard's data: one-minute summaries of the last hour, computed
// from the node's own metrics (cumulative counters and histogram buckets
// snapshotted at each minute boundary), so that the request path pays
// nothing for them.

// summaryMinutes is how many closed minutes are kept.
const summaryMinutes = 60

// histSnap is a histogram's cumulative state.
type histSnap struct {
	bounds []float64 // upper bounds, ascending (+Inf excluded)
	cum    []uint64  // cumulative counts per bound
	count  uint64
}

// metricSnap is what the dashboard reads from the registry at one time.
type metricSnap struct {
	at       time.Time
	requests float64
	bytes    float64
	lookups  float64
	hits     float64
	dns      map[string]float64 // answered region → responses
	// DNS queries, and responses by rcode.
	dnsQueries float64
	dnsByRcode map[string]float64
	duration   map[string]histSnap
	ttfb       map[string]histSnap
	rtt        map[string]histSnap
}

// summarizer keeps the minute snapshots.
type summarizer struct {
	mu    sync.Mutex
	zero  *metricSnap   // at start
	marks []*metricSnap // at minute boundaries, oldest first (at most summaryMinutes+1)
}

// snapshot reads the registry.
func (n *Node) snapshot(at time.Time) *metricSnap {
	s := &metricSnap{at: at, dns: map[string]float64{}, dnsByRcode: map[string]float64{}, duration: map[string]histSnap{},
		ttfb: map[string]histSnap{}, rtt: map[string]histSnap{}}
	mfs, err := n.reg.Gather()
	if err != nil {
		return s
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "edge_http_requests_total":
			s.requests = sumCounters(mf)
		case "edge_http_response_body_bytes_total":
			s.bytes = sumCounters(mf)
		case "edge_cache_lookups_total":
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue()
				s.lookups += v
				if r := label(m, "result"); r == "hit" || r == "stale" {
					s.hits += v
				}
			}
		case "edge_dns_queries_total":
			s.dnsQueries = sumCounters(mf)
		case "edge_dns_responses_total":
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue()
				if r := label(m, "region"); r != "" {
					s.dns[r] += v
				}
				s.dnsByRcode[label(m, "rcode")] += v
			}
		case "edge_http_client_request_duration_seconds":
			readHists(mf, s.duration)
		case "edge_http_client_ttfb_seconds":
			readHists(mf, s.ttfb)
		case "edge_http_client_tcp_rtt_seconds":
			readHists(mf, s.rtt)
		}
	}
	return s
}

func sumCounters(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func readHists(mf *dto.MetricFamily, into map[string]histSnap) {
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		hs := histSnap{count: h.GetSampleCount()}
		for _, b := range h.GetBucket() {
			if math.IsInf(b.GetUpperBound(), +1) {
				continue
			}
			hs.bounds = append(hs.bounds, b.GetUpperBound())
			hs.cum = append(hs.cum, b.GetCumulativeCount())
		}
		into[label(m, "region")] = hs
	}
}

// minuteLoop snapshots the metrics at every minute boundary until stop.
func (n *Node) minuteLoop(stop <-chan struct{}) {
	defer n.wg.Done()
	for {
		now := time.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		snap := n.snapshot(time.Now())
		n.sum.mu.Lock()
		n.sum.marks = append(n.sum.marks, snap)
		if len(n.sum.marks) > summaryMinutes+1 {
			n.sum.marks = n.sum.marks[len(n.sum.marks)-summaryMinutes-1:]
		}
		n.sum.mu.Unlock()
	}
}

// RegionSummary is one client region over a window.
type RegionSummary struct {
	Requests   uint64   `json:"requests"`
	P50ms      *float64 `json:"p50_ms"`
	P95ms      *float64 `json:"p95_ms"`
	P99ms      *float64 `json:"p99_ms"`
	TTFBP50ms  *float64 `json:"ttfb_p50_ms"`
	RTTP50ms   *float64 `json:"rtt_p50_ms"`
	RTTSamples uint64   `json:"rtt_samples"`
}

// MinuteSummary is one window of the dashboard (a minute, or the current
// partial one).
type MinuteSummary struct {
	Start    time.Time                `json:"start"`
	Seconds  float64                  `json:"seconds"`
	Requests uint64                   `json:"requests"`
	Bytes    uint64                   `json:"bytes"`
	Hits     uint64                   `json:"hits"`
	Lookups  uint64                   `json:"lookups"`
	Regions  map[string]RegionSummary `json:"regions"`
	DNS      map[string]uint64        `json:"dns"`
}

// DashboardData is GET /dashboard/data.
type DashboardData struct {
	Node        string          `json:"node"`
	Region      string          `json:"region"`
	Version     string          `json:"version"`
	GeneratedAt time.Time       `json:"generated_at"`
	Regions     []string        `json:"regions"`
	Minutes     []MinuteSummary `json:"minutes"`
	Totals      struct {
		Regions map[string]RegionSummary `json:"regions"`
	} `json:"totals"`
	Origins []DashboardOrigin `json:"origins"`
	Health  HealthStatus      `json:"health"`
	BGP     any               `json:"bgp"`
}

// DashboardOrigin is one origin's line on the dashboard.
type DashboardOrigin struct {
	Site     string  `json:"site"`
	Origin   string  `json:"origin"`
	Up       bool    `json:"up"`
	Selected bool    `json:"selected"`
	RTTEWMA  float64 `json:"rtt_ewma_ms"`
	RTTLast  float64 `json:"rtt_last_ms"`
	Breaker  string  `json:"breaker"`
}

// window summarises the change from a to b.
func window(a, b *metricSnap, regions []string) MinuteSummary {
	w := MinuteSummary{
		Start: a.at, Seconds: b.at.Sub(a.at).Seconds(),
		Requests: delta(b.requests, a.requests), Bytes: delta(b.bytes, a.bytes),
		Hits: delta(b.hits, a.hits), Lookups: delta(b.lookups, a.lookups),
		Regions: map[string]RegionSummary{}, DNS: map[string]uint64{},
	}
	for r, v := range b.dns {
		if d := delta(v, a.dns[r]); d > 0 {
			w.DNS[r] = d
		}
	}
	for _, r := range regions {
		d := diffHist(b.duration[r], a.duration[r])
		rs := RegionSummary{Requests: d.count}
		rs.P50ms, rs.P95ms, rs.P99ms = quantileMS(d, 0.5), quantileMS(d, 0.95), quantileMS(d, 0.99)
		rs.TTFBP50ms = quantileMS(diffHist(b.ttfb[r], a.ttfb[r]), 0.5)
		rt := diffHist(b.rtt[r], a.rtt[r])
		rs.RTTP50ms, rs.RTTSamples = quantileMS(rt, 0.5), rt.count
		w.Regions[r] = rs
	}
	return w
}

func delta(b, a float64) uint64 {
	if b <= a {
		return 0
	}
	return uint64(b - a)
}

// diffHist is b - a (a may be empty).
func diffHist(b, a histSnap) histSnap {
	d := histSnap{bounds: b.bounds, cum: make([]uint64, len(b.cum)), count: b.count}
	copy(d.cum, b.cum)
	if len(a.cum) == len(b.cum) {
		for i := range d.cum {
			d.cum[i] -= min(a.cum[i], d.cum[i])
		}
		d.count -= min(a.count, d.count)
	}
	return d
}

// quantileMS estimates a quantile in milliseconds by linear interpolation
// inside its bucket (as PromQL's histogram_quantile); nil without samples.
// Beyond the last finite bound it answers that bound.
func quantileMS(h histSnap, q float64) *float64 {
	if h.count == 0 || len(h.bounds) == 0 {
		return nil
	}
	rank := q * float64(h.count)
	lower, prev := 0.0, uint64(0)
	for i, b := range h.bounds {
		if float64(h.cum[i]) >= rank {
			in := h.cum[i] - prev
			v := b
			if in > 0 {
				v = lower + (b-lower)*(rank-float64(prev))/float64(in)
			}
			ms := math.Round(v*1e6) / 1e3
			return &ms
		}
		lower, prev = b, h.cum[i]
	}
	ms := h.bounds[len(h.bounds)-1] * 1e3
	return &ms
}

// dashboardData builds GET /dashboard/data.
func (n *Node) dashboardData() DashboardData {
	cfg := n.Config()
	now := n.snapshot(time.Now())
	regions := append(regionNames(cfg), unknownRegion)
	d := DashboardData{Node: cfg.Node.ID, Region: cfg.Node.Region, Version: Version, GeneratedAt: now.at.UTC(), Regions: regions}
	n.sum.mu.Lock()
	zero, marks := n.sum.zero, append([]*metricSnap(nil), n.sum.marks...)
	n.sum.mu.Unlock()
	if zero == nil {
		zero = &metricSnap{at: now.at}
	}
	prev := zero
	if len(marks) > summaryMinutes {
		prev, marks = marks[0], marks[1:]
	}
	for _, m := range marks {
		d.Minutes = append(d.Minutes, window(prev, m, regions))
		prev = m
	}
	d.Minutes = append(d.Minutes, window(prev, now, regions))
	d.Totals.Regions = window(&metricSnap{at: zero.at}, now, regions).Regions
	st := n.status(now) // the same registry snapshot
	for _, o := range st.Origins {
		d.Origins = append(d.Origins, DashboardOrigin{Site: o.Site, Origin: o.Origin, Up: o.Up, Selected: o.Selected,
			RTTEWMA: o.RTTEWMAms, RTTLast: o.LastRTTms, Breaker: o.Breaker})
	}
	d.Health = st.Health
	if st.BGP != nil {
		d.BGP = st.BGP
	}
	return d
}

func (n *Node) serveDashboardData(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, n.dashboardData())
}
