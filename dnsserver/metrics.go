package dnsserver

import (
	"strconv"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the DNS series of a node (edge_dns_*). Create them with
// NewMetrics, register them (Metrics is a prometheus.Collector) and pass
// them to New with WithMetrics; they outlive reloads and may be shared by
// several servers.
type Metrics struct {
	queries     *prometheus.CounterVec
	responses   *prometheus.CounterVec
	ecs         *prometheus.CounterVec
	rrl         *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	truncated   prometheus.Counter
	tcpOpen     prometheus.Gauge
	tcpRejected prometheus.Counter
	fallbacks   *prometheus.CounterVec
	allDown     *prometheus.CounterVec
	panics      prometheus.Counter

	// Handles resolved once, so that the fast path does no label lookups.
	q         [2][numSlots]prometheus.Counter // transport × qtype slot
	ecsC      [numECSResults]prometheus.Counter
	slip      prometheus.Counter
	drop      prometheus.Counter
	dur       [2]prometheus.Observer
	fbDown    prometheus.Counter
	fbNodata  prometheus.Counter
	allOpen   prometheus.Counter
	allClosed prometheus.Counter
}

// Transports, the first index of Metrics.q and dur.
const (
	udp = 0
	tcp = 1
)

var transportNames = [2]string{"udp", "tcp"}

// durationBuckets span the in-process time of one query: a fast-path
// answer takes microseconds, a slow one tens of microseconds.
var durationBuckets = []float64{2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1}

// UDP queries timed for request_duration_seconds: one in udpSampleEvery
// per socket (timing every one would cost two clock reads per query).
const udpSampleEvery = 64

// NewMetrics creates the DNS metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_dns_queries_total",
			Help: "DNS queries received, by transport and query type (other: any type without its own label).",
		}, []string{"transport", "qtype"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_dns_responses_total",
			Help: "DNS responses sent, by rcode and answered region (empty for answers that do not depend on the region).",
		}, []string{"rcode", "region"}),
		ecs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_dns_ecs_queries_total",
			Help: "Queries by EDNS Client Subnet option: present, absent, malformed (answered FORMERR) or source0 (source prefix 0).",
		}, []string{"result"}),
		rrl: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_dns_rrl_actions_total",
			Help: "UDP responses over the rate limit of their client prefix, by action: slip (sent truncated) or drop.",
		}, []string{"action"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edge_dns_request_duration_seconds",
			Help:    "Time to answer a query: UDP in process, one query in 64 timed; TCP from read to reply written.",
			Buckets: durationBuckets,
		}, []string{"transport"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_dns_truncated_total",
			Help: "UDP responses sent truncated (TC) because the answer did not fit the client's UDP size.",
		}),
		tcpOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edge_dns_tcp_connections_open",
			Help: "Open TCP connections from DNS clients.",
		}),
		tcpRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_dns_tcp_connections_rejected_total",
			Help: "TCP connections closed at once because tcp_max_conns were open.",
		}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_dns_fallbacks_total",
			Help: "Geo answers from another region than the client's, by reason: down (its region is down) or nodata (it has no addresses of the type).",
		}, []string{"reason"}),
		allDown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_dns_all_down_total",
			Help: "Geo queries for which no region with addresses was up, by the all_down policy applied.",
		}, []string{"policy"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_dns_panics_total",
			Help: "Queries whose handling panicked (answered SERVFAIL).",
		}),
	}
	for t := range 2 {
		for s := range numSlots {
			m.q[t][s] = m.queries.WithLabelValues(transportNames[t], slotNames[s])
		}
		m.dur[t] = m.duration.WithLabelValues(transportNames[t])
	}
	for i := range numECSResults {
		m.ecsC[i] = m.ecs.WithLabelValues(ecsResultNames[i])
	}
	m.slip = m.rrl.WithLabelValues("slip")
	m.drop = m.rrl.WithLabelValues("drop")
	m.fbDown = m.fallbacks.WithLabelValues("down")
	m.fbNodata = m.fallbacks.WithLabelValues("nodata")
	m.allOpen = m.allDown.WithLabelValues(FailOpen)
	m.allClosed = m.allDown.WithLabelValues(FailClosed)
	m.respCounters()
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queries, m.responses, m.ecs, m.rrl, m.duration, m.truncated,
		m.tcpOpen, m.tcpRejected, m.fallbacks, m.allDown, m.panics}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// rcodeName is the rcode label value: miekg's name (NOERROR, NXDOMAIN ...).
func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}

// rcodes are the rcodes the server sends.
var rcodes = []int{dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError,
	dns.RcodeNotImplemented, dns.RcodeRefused, dns.RcodeBadVers}

// respCounters are the responses_total handles of one compiled state:
// those without a region by rcode, and one per variant (set in the
// variants themselves).
type respCounters [dns.RcodeBadVers + 1]prometheus.Counter

func (m *Metrics) respCounters() *respCounters {
	var r respCounters
	for _, rc := range rcodes {
		r[rc] = m.responses.WithLabelValues(rcodeName(rc), "")
	}
	return &r
}

var _ prometheus.Collector = (*Metrics)(nil)
