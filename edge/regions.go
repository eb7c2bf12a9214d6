package edge

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecdn/edgecdn/geodata"
)

// unknownRegion labels clients geodata cannot place (or every client of a
// node without geodata).
const unknownRegion = "unknown"

// regionObs are one client region's series, resolved once per connection.
type regionObs struct {
	name     string
	duration prometheus.Observer
	ttfb     prometheus.Observer
	rtt      prometheus.Observer
}

// regionTable maps the configured regions to their series.
type regionTable struct {
	byName  map[string]*regionObs
	unknown *regionObs
}

// regionMetrics are the per-client-region histograms.
type regionMetrics struct {
	duration *prometheus.HistogramVec
	ttfb     *prometheus.HistogramVec
	rtt      *prometheus.HistogramVec
}

// latencyBuckets are the classic buckets of the regional histograms (the
// native ones need none).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// rttBuckets are the classic buckets of the TCP RTT histogram: from a
// LAN's tens of microseconds to a satellite link's second.
var rttBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .02, .04, .08, .16, .32, .64, 1.28}

func newRegionMetrics() *regionMetrics {
	h := func(name, help string, buckets []float64, native bool) *prometheus.HistogramVec {
		o := prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}
		if native {
			o.NativeHistogramBucketFactor, o.NativeHistogramMaxBucketNumber = 1.1, 100
			o.NativeHistogramMinResetDuration = time.Hour
		}
		return prometheus.NewHistogramVec(o, []string{"region"})
	}
	// Per-request histograms are classic only: a native observation costs
	// the hit path several percent (measured); the per-connection RTT is
	// native as well.
	return &regionMetrics{
		duration: h("edge_http_client_request_duration_seconds",
			"Client requests from request header to end of response, by the client's region.", latencyBuckets, false),
		ttfb: h("edge_http_client_ttfb_seconds",
			"Client requests from request header to the first response byte, by the client's region.", latencyBuckets, false),
		rtt: h("edge_http_client_tcp_rtt_seconds",
			"Kernel TCP round-trip time of client connections (TCP_INFO, once per connection), by the client's region.", rttBuckets, true),
	}
}

func (m *regionMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.duration, m.ttfb, m.rtt}
}

// table resolves the series of the regions (plus unknown).
func (m *regionMetrics) table(regions []string) *regionTable {
	obs := func(name string) *regionObs {
		return &regionObs{name: name, duration: m.duration.WithLabelValues(name),
			ttfb: m.ttfb.WithLabelValues(name), rtt: m.rtt.WithLabelValues(name)}
	}
	t := &regionTable{byName: make(map[string]*regionObs, len(regions)), unknown: obs(unknownRegion)}
	for _, r := range regions {
		t.byName[r] = obs(r)
	}
	return t
}

// locate returns the series of a client's region.
func (t *regionTable) locate(geo *geodata.Geo, a netip.Addr) *regionObs {
	if geo == nil || !geo.Ready() {
		return t.unknown
	}
	res := geo.Locate(a)
	if res.Rule == geodata.RuleDefault {
		return t.unknown
	}
	if o := t.byName[res.Region]; o != nil {
		return o
	}
	return t.unknown
}

// observeRegion records a finished request for the client's region.
func (x *exchange) observeRegion(end time.Time) {
	o := x.cl.region
	if o == nil {
		return
	}
	total := end.Sub(x.start)
	first := total
	if at := x.w.HeadAt(); !at.IsZero() {
		first = max(at.Sub(x.start), 0)
	}
	o.duration.Observe(total.Seconds())
	o.ttfb.Observe(first.Seconds())
}
