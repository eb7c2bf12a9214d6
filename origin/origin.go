package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pool holds the origins of one site and sends its requests to them.
type Pool struct {
	site    string
	origins []*Origin
	logger  *slog.Logger
	met     *Metrics
}

// Origin is one origin server with its own connection pool.
type Origin struct {
	name string // the configured URL, used as metric label
	cfg  Config
	base *url.URL
	tr   *http.Transport

	opened atomic.Int64
	open   atomic.Int64

	requests  *prometheus.CounterVec
	duration  prometheus.Observer
	openedCtr prometheus.Counter
}

// Option configures a Pool beyond its Config.
type Option func(*Pool)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Pool) { p.logger = l } }

// WithMetrics makes the pool record into m (shared by every pool of a
// node; create it once with NewMetrics).
func WithMetrics(m *Metrics) Option { return func(p *Pool) { p.met = m } }

// NewPool validates the origins of site (defaults filled in) and builds
// their transports. It opens no connections.
func NewPool(site string, cfgs []Config, opts ...Option) (*Pool, error) {
	p := &Pool{site: site, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(p)
	}
	if p.met == nil {
		p.met = NewMetrics()
	}
	p.logger = p.logger.With("component", "origin", "site", site)
	if len(cfgs) == 0 {
		return nil, errors.New("origin: a site needs an origin")
	}
	var errs []error
	for i, c := range cfgs {
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("origins[%d]: %w", i, err))
			continue
		}
		base, _ := parseBase(c.URL)
		o := &Origin{name: c.URL, cfg: c, base: base}
		o.tr = o.newTransport()
		o.requests = p.met.requests.MustCurryWith(prometheus.Labels{"site": site, "origin": o.name})
		o.duration = p.met.duration.WithLabelValues(site, o.name)
		o.openedCtr = p.met.opened.WithLabelValues(site, o.name)
		p.origins = append(p.origins, o)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.met.track(p)
	return p, nil
}

func (o *Origin) newTransport() *http.Transport {
	d := &net.Dialer{Timeout: o.cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &ConnectError{Origin: o.name, Err: err}
			}
			o.opened.Add(1)
			o.open.Add(1)
			o.openedCtr.Inc()
			return &countedConn{Conn: c, o: o}, nil
		},
		TLSHandshakeTimeout:   o.cfg.ConnectTimeout,
		ResponseHeaderTimeout: o.cfg.ResponseHeaderTimeout,
		IdleConnTimeout:       o.cfg.IdleTimeout,
		MaxIdleConns:          o.cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   o.cfg.MaxIdleConns,
		MaxConnsPerHost:       o.cfg.MaxConns,
		DisableCompression:    true, // the edge handles content-codings itself
		ForceAttemptHTTP2:     o.base.Scheme == "https",
		ExpectContinueTimeout: time.Second,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        32 << 10,
		// A response header this large is an origin fault; Go's default
		// (10 MB) would let one origin make every fill allocate that much.
		MaxResponseHeaderBytes: 256 << 10,
	}
	if o.base.Scheme == "https" {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return tr
}

// countedConn tracks open origin connections.
type countedConn struct {
	net.Conn
	o      *Origin
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if !c.closed.Swap(true) {
		c.o.open.Add(-1)
	}
	return c.Conn.Close()
}

// ConnectError is a failure to reach the origin at all (no byte of the
// request was sent), so the request may be retried elsewhere.
type ConnectError struct {
	Origin string
	Err    error
}

func (e *ConnectError) Error() string { return "origin: connect " + e.Origin + ": " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// IsTimeout reports whether err is an origin timeout (connect, response
// header or body idle).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, ErrBodyIdle) || (errors.As(err, &ne) && ne.Timeout())
}

// IsConnect reports whether err happened before the request reached the
// origin (refused, unreachable, DNS, connect timeout).
func IsConnect(err error) bool {
	var ce *ConnectError
	return errors.As(err, &ce) || errors.Is(err, syscall.ECONNREFUSED)
}

// ErrBodyIdle is returned by a response body that went without data for
// longer than the origin's BodyIdleTimeout.
var ErrBodyIdle = errors.New("origin: response body idle timeout")

// Do sends req to the site's origin under ctx: it sets the URL's scheme
// and host from the origin (req.URL's path and query are kept) and the
// Host header (HostHeader, else the req.Host the caller set). The response
// body is watched for BodyIdleTimeout; closing it releases the connection.
func (p *Pool) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	o := p.origins[0]
	req.URL.Scheme, req.URL.Host = o.base.Scheme, o.base.Host
	if o.cfg.HostHeader != "" {
		req.Host = o.cfg.HostHeader
	}
	ctx, cancel := context.WithCancel(ctx)
	req = req.WithContext(ctx)
	start := time.Now()
	resp, err := o.tr.RoundTrip(req)
	o.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		cancel()
		o.requests.WithLabelValues(errorClass(err)).Inc()
		return nil, fmt.Errorf("origin %s: %w", o.name, err)
	}
	o.requests.WithLabelValues(codeClass(resp.StatusCode)).Inc()
	resp.Body = newIdleBody(resp.Body, o.cfg.BodyIdleTimeout, cancel)
	return resp, nil
}

func codeClass(code int) string {
	switch {
	case code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}

func errorClass(err error) string {
	switch {
	case IsConnect(err):
		return "connect_error"
	case IsTimeout(err):
		return "timeout"
	}
	return "error"
}

// idleBody cancels the request when no Read completes for the timeout.
type idleBody struct {
	rc      io.ReadCloser
	d       time.Duration
	timer   *time.Timer
	cancel  context.CancelFunc
	expired atomic.Bool
	once    sync.Once
}

func newIdleBody(rc io.ReadCloser, d time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{rc: rc, d: d, cancel: cancel}
	b.timer = time.AfterFunc(d, func() {
		b.expired.Store(true)
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.expired.Load() {
		return n, ErrBodyIdle
	}
	if n > 0 {
		b.timer.Reset(b.d)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.once.Do(func() { b.timer.Stop() })
	err := b.rc.Close()
	b.cancel()
	return err
}

// Close releases idle connections. Requests in flight finish.
func (p *Pool) Close() {
	for _, o := range p.origins {
		o.tr.CloseIdleConnections()
	}
	p.met.untrack(p)
}

// State is a snapshot of one origin for status pages.
type State struct {
	Site, Origin      string
	ConnectionsOpen   int64
	ConnectionsOpened int64
}

// Snapshot returns the state of every origin of the pool.
func (p *Pool) Snapshot() []State {
	out := make([]State, 0, len(p.origins))
	for _, o := range p.origins {
		out = append(out, State{Site: p.site, Origin: o.name, ConnectionsOpen: o.open.Load(), ConnectionsOpened: o.opened.Load()})
	}
	return out
}

// Metrics are the origin series of a node, shared by its pools.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	opened   *prometheus.CounterVec
	openNow  *prometheus.Desc

	mu    sync.Mutex
	pools map[*Pool]struct{}
}

// NewMetrics creates the origin metrics; register them with Register.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_requests_total",
			Help: "Requests sent to origins, by outcome (status class, connect_error, timeout, error).",
		}, []string{"site", "origin", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edge_origin_request_duration_seconds",
			Help:    "Time from sending a request to an origin to its response header.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"site", "origin"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_connections_opened_total",
			Help: "TCP connections opened to origins.",
		}, []string{"site", "origin"}),
		openNow: prometheus.NewDesc("edge_origin_connections_open",
			"TCP connections to origins currently open (in use or idle in the pool).",
			[]string{"site", "origin"}, nil),
		pools: make(map[*Pool]struct{}),
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

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.opened.Describe(ch)
	ch <- m.openNow
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.opened.Collect(ch)
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[[2]string]bool{}
	for p := range m.pools {
		for _, o := range p.origins {
			k := [2]string{p.site, o.name}
			if seen[k] {
				continue // a reload briefly has two pools for a site
			}
			seen[k] = true
			ch <- prometheus.MustNewConstMetric(m.openNow, prometheus.GaugeValue, float64(o.open.Load()), p.site, o.name)
		}
	}
}

var _ prometheus.Collector = (*Metrics)(nil)
