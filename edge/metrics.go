package edge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecdn/edgecdn/cache"
)

// Lookup results (label values of edge_cache_lookups_total and the cache
// label of edge_http_request_duration_seconds).
const (
	resHit         = iota // fresh stored response
	resStale              // stale response served (stale-while-revalidate, max-stale)
	resRevalidated        // stored response validated by the origin (304)
	resExpired            // stored response replaced after a stale check (200)
	resMiss               // nothing stored for the URL
	resVaryMiss           // stored responses vary and none matched
	resPass               // not served from cache: hit-for-pass or uncacheable request
	resMethod             // request method the cache does not handle (forwarded)
	resStaleError         // stale response served because the origin failed
	resError              // origin failed with nothing to serve
	numResults
)

var resultNames = [numResults]string{"hit", "stale", "revalidated", "expired", "miss", "vary_miss", "pass", "method", "stale_error", "error"}

var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// metrics are the node's request-path series.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	bodyBytes   *prometheus.CounterVec
	lookups     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	connsOpen   prometheus.Gauge
	connsTotal  prometheus.Counter
	panics      prometheus.Counter
	pollerFails prometheus.Counter
	served      *prometheus.CounterVec
	uncacheable *prometheus.CounterVec
	encoded     *prometheus.CounterVec
	decoded     prometheus.Counter
	encodeTime  prometheus.Histogram
	reloads     *prometheus.CounterVec
	configGen   prometheus.Gauge

	adminRequests *prometheus.CounterVec
	purgeRejected *prometheus.CounterVec

	servedBy [cache.NumEncodings]prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_http_requests_total",
			Help: "Client requests answered, by site and status class.",
		}, []string{"site", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edge_http_request_duration_seconds",
			Help:    "Time from a request's header to the end of its response, by site and cache result.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"site", "cache"}),
		bodyBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_http_response_body_bytes_total",
			Help: "Response body bytes sent to clients, by site.",
		}, []string{"site"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_cache_lookups_total",
			Help: "Cache lookups by site and result (hit, stale, revalidated, expired, miss, vary_miss, pass, method, stale_error, error).",
		}, []string{"site", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_http_rejected_requests_total",
			Help: "Requests refused before reaching a site or an origin, by reason.",
		}, []string{"reason"}),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edge_http_connections_open",
			Help: "Client connections currently open.",
		}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_http_connections_total",
			Help: "Client connections accepted.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_http_panics_total",
			Help: "Panics recovered in request handlers (answered 500) and fills (failed), each logged.",
		}),
		pollerFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_http_poller_failures_total",
			Help: "Failures of the own pollers (http.read_order: arrival), for client connections and origin reads: those then wait in Go's poller, in its order; each logged.",
		}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_cache_served_bytes_total",
			Help: "Body bytes served from stored responses, by content-coding.",
		}, []string{"encoding"}),
		uncacheable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_cache_uncacheable_total",
			Help: "Origin responses not stored, by reason.",
		}, []string{"reason"}),
		encoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_cache_encodings_built_total",
			Help: "Compressed encodings built when storing responses, by content-coding.",
		}, []string{"encoding"}),
		decoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_identity_decodes_total",
			Help: "Identity bodies decoded from a stored encoding for a client that cannot take it.",
		}),
		encodeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edge_cache_encode_duration_seconds",
			Help:    "Time spent building the compressed encodings of one stored response.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_config_reloads_total",
			Help: "Config reloads by result (ok, error).",
		}, []string{"result"}),
		configGen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edge_config_generation",
			Help: "Generation of the config in effect (1 at start, +1 per successful reload).",
		}),
		adminRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_admin_requests_total",
			Help: "Admin API requests, by endpoint and result (ok, denied: no or a wrong token, or a missing scope).",
		}, []string{"endpoint", "result"}),
		purgeRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_admin_purges_rejected_total",
			Help: "Purge requests refused, by reason (body, invalid, rate).",
		}, []string{"reason"}),
	}
	for e := cache.Encoding(0); e < cache.NumEncodings; e++ {
		m.servedBy[e] = m.served.WithLabelValues(e.String())
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.bodyBytes, m.lookups, m.rejected, m.connsOpen,
		m.connsTotal, m.panics, m.pollerFails, m.served, m.uncacheable, m.encoded, m.decoded, m.encodeTime, m.reloads, m.configGen, m.adminRequests, m.purgeRejected}
}

// siteMetrics are one site's series, resolved once so that the request
// path does no label lookups.
type siteMetrics struct {
	lookups  [numResults]prometheus.Counter
	duration [numResults]prometheus.Observer
	codes    [len(statusClasses)]prometheus.Counter
	bytes    prometheus.Counter
}

func (m *metrics) forSite(name string) *siteMetrics {
	sm := &siteMetrics{bytes: m.bodyBytes.WithLabelValues(name)}
	for i, r := range resultNames {
		sm.lookups[i] = m.lookups.WithLabelValues(name, r)
		sm.duration[i] = m.duration.WithLabelValues(name, r)
	}
	for i, c := range statusClasses {
		sm.codes[i] = m.requests.WithLabelValues(name, c)
	}
	return sm
}

// observe records one answered request.
func (sm *siteMetrics) observe(result int, status int, body int64, seconds float64) {
	sm.lookups[result].Inc()
	sm.duration[result].Observe(seconds)
	if c := status/100 - 1; c >= 0 && c < len(sm.codes) {
		sm.codes[c].Inc()
	}
	if body > 0 {
		sm.bytes.Add(float64(body))
	}
}
