// Package edgetest boots a whole edge node from a config string, on
// loopback ports chosen by the kernel, for tests that drive it over real
// HTTP (the way CoreDNS's test server and caddytest do).
package edgetest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/edgecdn/edgecdn/edge"
)

// Node is a running node under test.
type Node struct {
	*edge.Node
	// URL is the HTTP listener's base URL ("http://127.0.0.1:port").
	URL string
	// Admin is the admin server's base URL.
	Admin string
	// DNS is the DNS server's address (UDP and TCP), "" without a dns
	// section.
	DNS    string
	client *http.Client
}

// Start parses yaml, moves the HTTP, admin and DNS listeners to
// 127.0.0.1:0, starts the node and stops it when the test ends. Fatal on
// any error.
func Start(t testing.TB, yaml string, opts ...edge.Option) *Node {
	t.Helper()
	cfg, err := edge.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatalf("edgetest: config: %v", err)
	}
	return start(t, cfg, opts...)
}

// StartFile is Start with the config read from file, which POST /reload
// re-reads (with the same listener overrides as Start).
func StartFile(t testing.TB, file string, opts ...edge.Option) *Node {
	t.Helper()
	cfg, err := edge.LoadConfig(file)
	if err != nil {
		t.Fatalf("edgetest: config: %v", err)
	}
	src := func() (*edge.Config, error) {
		c, err := edge.LoadConfig(file)
		if err != nil {
			return nil, err
		}
		loopbackListeners(c)
		return c, nil
	}
	return start(t, cfg, append(opts, edge.WithConfigSource(src))...)
}

// loopbackListeners moves every listener to a free loopback port.
func loopbackListeners(cfg *edge.Config) {
	cfg.HTTP.Listen = []string{"127.0.0.1:0"}
	cfg.Admin.Listen = "127.0.0.1:0"
	if cfg.DNS != nil {
		cfg.DNS.Listen = []string{"127.0.0.1:0"}
	}
}

func start(t testing.TB, cfg *edge.Config, opts ...edge.Option) *Node {
	t.Helper()
	loopbackListeners(cfg)
	n, err := edge.New(cfg, opts...)
	if err != nil {
		t.Fatalf("edgetest: new: %v", err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("edgetest: start: %v", err)
	}
	tn := &Node{
		Node:  n,
		URL:   "http://" + n.HTTPAddrs()[0],
		Admin: "http://" + n.AdminAddr(),
		DNS:   n.DNSAddr(),
		client: &http.Client{
			Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
			Timeout:   30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	t.Cleanup(func() {
		tn.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("edgetest: stop: %v", err)
		}
	})
	return tn
}

// Response is a complete response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// CacheStatus returns the Cache-Status field.
func (r *Response) CacheStatus() string { return r.Header.Get("Cache-Status") }

// Do sends a request with optional header fields given as "Name: value"
// strings (a "Host: x" field sets the Host) and reads the whole answer.
func (n *Node) Do(t testing.TB, method, path string, fields ...string) *Response {
	t.Helper()
	return n.DoBody(t, method, path, nil, fields...)
}

// Get is Do with GET.
func (n *Node) Get(t testing.TB, path string, fields ...string) *Response {
	t.Helper()
	return n.DoBody(t, http.MethodGet, path, nil, fields...)
}

// DoBody sends a request with a body.
func (n *Node) DoBody(t testing.TB, method, path string, body io.Reader, fields ...string) *Response {
	t.Helper()
	req, err := http.NewRequest(method, n.URL+path, body)
	if err != nil {
		t.Fatalf("edgetest: %v", err)
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			t.Fatalf("edgetest: field %q is not Name: value", f)
		}
		v = strings.TrimSpace(v)
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	return n.roundTrip(t, req)
}

// roundTrip sends req with the node's client and reads the whole answer.
func (n *Node) roundTrip(t testing.TB, req *http.Request) *Response {
	t.Helper()
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("edgetest: %s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("edgetest: %s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Metric returns the value of a counter or gauge with the given labels
// (0 when absent).
func (n *Node) Metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatalf("edgetest: gather: %v", err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				if labelValue(m, k) != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Clock is a settable clock for edge.WithClock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ProbePath is where the origin probes of SiteConfig go, so that tests
// counting requests per path are not disturbed by them.
const ProbePath = "/edgetest-probe"

// SiteConfig returns a minimal config with one site "s" answering every
// Host from origin (the origin's base URL), its probes sent to ProbePath
// (any answer below 500 counts as up, so test origins need no handler
// there; a killed or failing origin still goes down),
// plus extra YAML lines for the site (indented by the caller as site keys,
// e.g. "    default_ttl: 1m"; not origin_policy).
func SiteConfig(origin string, siteExtra ...string) string {
	var b strings.Builder
	b.WriteString("node:\n  id: edge-test\nsites:\n  - name: s\n    hosts: [\"*\"]\n")
	b.WriteString("    origin_policy:\n      probe:\n        path: " + ProbePath + "\n        expect_status: 200-499\n")
	b.WriteString("    origins:\n      - url: " + origin + "\n")
	for _, l := range siteExtra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// AdminDo sends a request to the admin API with an optional bearer token
// and JSON body, and returns the status and the body.
func (n *Node) AdminDo(t testing.TB, method, path, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.Admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r := n.roundTrip(t, req)
	return r.Status, r.Body
}
