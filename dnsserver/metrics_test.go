package dnsserver_test

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// gather returns the families of m by name.
func gather(t testing.TB, m *dnsserver.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := labels[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

// counterValue sums the counter series of name whose labels include
// labels.
func counterValue(t testing.TB, m *dnsserver.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	var v float64
	for _, s := range gather(t, m)[name].GetMetric() {
		if matches(s, labels) {
			v += s.GetCounter().GetValue()
		}
	}
	return v
}

func gaugeValue(t testing.TB, m *dnsserver.Metrics, name string) float64 {
	t.Helper()
	var v float64
	for _, s := range gather(t, m)[name].GetMetric() {
		v += s.GetGauge().GetValue()
	}
	return v
}

func TestMetricsLint(t *testing.T) {
	m := dnsserver.NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(func() []*dto.MetricFamily {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		return mfs
	}()).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetrics counts a few queries of each kind over both transports.
func TestMetrics(t *testing.T) {
	srv, h, m := startTest(t)
	h.Set("eu", false)
	srv.Exchange(t, "udp", dnstest.Query("static.cdn.demo.test.", dns.TypeA))
	srv.Exchange(t, "tcp", dnstest.Query("static.cdn.demo.test.", dns.TypeAAAA))
	srv.Exchange(t, "udp", dnstest.Query("nope.cdn.demo.test.", dns.TypeMX))
	srv.Exchange(t, "udp", dnstest.Query("www.cdn.demo.test.", dns.TypeHTTPS))
	srv.Exchange(t, "udp", dnstest.WithECS(dnstest.Query("www.cdn.demo.test.", dns.TypeA), pfx("198.51.100.0/24")))   // eu down → na-east
	srv.Exchange(t, "udp", dnstest.WithECS(dnstest.Query("www.cdn.demo.test.", dns.TypeAAAA), pfx("203.0.113.0/24"))) // apac has no AAAA → eu down → na-east
	srv.Exchange(t, "udp", dnstest.WithECS(dnstest.Query("www.cdn.demo.test.", dns.TypeA), pfx("0.0.0.0/0")))
	q := dnstest.WithECS(dnstest.Query("www.cdn.demo.test.", dns.TypeA), netip.Prefix{})
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, SourceScope: 5, Address: []byte{198, 51, 100, 0}})
	srv.Exchange(t, "udp", q)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edge_dns_queries_total", map[string]string{"transport": "udp", "qtype": "A"}, 4},
		{"edge_dns_queries_total", map[string]string{"transport": "tcp", "qtype": "AAAA"}, 1},
		{"edge_dns_queries_total", map[string]string{"transport": "udp", "qtype": "MX"}, 1},
		{"edge_dns_queries_total", map[string]string{"transport": "udp", "qtype": "other"}, 1},
		{"edge_dns_responses_total", map[string]string{"rcode": "NXDOMAIN", "region": ""}, 1},
		{"edge_dns_responses_total", map[string]string{"rcode": "NOERROR", "region": ""}, 3},
		{"edge_dns_responses_total", map[string]string{"rcode": "NOERROR", "region": "na-east"}, 3},
		{"edge_dns_responses_total", map[string]string{"rcode": "FORMERR"}, 1},
		{"edge_dns_ecs_queries_total", map[string]string{"result": "present"}, 2},
		{"edge_dns_ecs_queries_total", map[string]string{"result": "source0"}, 1},
		{"edge_dns_ecs_queries_total", map[string]string{"result": "malformed"}, 1},
		{"edge_dns_ecs_queries_total", map[string]string{"result": "absent"}, 4},
		{"edge_dns_fallbacks_total", map[string]string{"reason": "down"}, 1},
		{"edge_dns_fallbacks_total", map[string]string{"reason": "nodata"}, 1},
	} {
		if got := counterValue(t, m, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	var n uint64
	for _, s := range gather(t, m)["edge_dns_request_duration_seconds"].GetMetric() {
		n += s.GetHistogram().GetSampleCount()
	}
	if n < 1 { // the TCP query is always timed
		t.Errorf("request_duration_seconds has %d samples", n)
	}
}
