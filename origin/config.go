package origin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config describes one origin server.
type Config struct {
	// URL is the origin's base URL: scheme (http or https), host and
	// optional port. A path is not allowed (requests keep their own).
	// Required.
	URL string `yaml:"url"`
	// HostHeader is the Host sent to the origin. Empty (the default) sends
	// the client's Host, as received.
	HostHeader string `yaml:"host_header"`
	// ConnectTimeout bounds establishing a TCP connection (and the TLS
	// handshake for https). Default 3s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ResponseHeaderTimeout bounds the wait for the response header after
	// the request is sent. Default 30s.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	// BodyIdleTimeout bounds the gap between two reads of the response
	// body: a stalled origin fails the fetch instead of holding it forever.
	// Default 30s.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// IdleTimeout is how long an idle kept-alive connection stays in the
	// pool. Default 90s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxIdleConns caps idle kept-alive connections to this origin.
	// Default 128.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// MaxConns caps connections to this origin (in use and idle); requests
	// beyond it wait for a connection. Default 1024; 0 is the default, not
	// "unlimited".
	MaxConns int `yaml:"max_conns"`
	// TLSHandshakeTimeout bounds the TLS handshake of an https origin.
	// Default 5s.
	TLSHandshakeTimeout time.Duration `yaml:"tls_handshake_timeout"`
	// TLS configures connections to an https origin.
	TLS TLSConfig `yaml:"tls"`
	// Weight biases selection towards this origin: its latency estimate is
	// divided by it (lowest-latency) or its share of the key space
	// multiplied by it (consistent-hash). 1-1000, default 1.
	Weight int `yaml:"weight"`
	// Backup puts the origin in the backup tier: used only while no
	// primary origin is healthy.
	Backup bool `yaml:"backup"`
}

// TLSConfig is the client side of TLS to an origin.
type TLSConfig struct {
	// ServerName is the SNI name sent and the name the certificate must
	// carry. Default: the URL's host.
	ServerName string `yaml:"server_name"`
	// CAFile is a PEM bundle of the CAs trusted for this origin. Default:
	// the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate (PEM) presented to
	// origins that ask for one. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify accepts any server certificate. Only for tests
	// and emergencies: it is logged as a warning at every (re)load.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (t TLSConfig) isSet() bool { return t != TLSConfig{} }

// Defaults.
const (
	DefaultConnectTimeout        = 3 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultBodyIdleTimeout       = 30 * time.Second
	DefaultIdleTimeout           = 90 * time.Second
	DefaultMaxIdleConns          = 128
	DefaultMaxConns              = 1024
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultWeight                = 1
)

// SetDefaults fills in zero fields.
func (c *Config) SetDefaults() {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.BodyIdleTimeout == 0 {
		c.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.TLSHandshakeTimeout == 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.Weight == 0 {
		c.Weight = DefaultWeight
	}
}

// Validate reports every problem, each prefixed with its field name.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if u, err := parseBase(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	} else if u.Scheme != "https" && c.TLS.isSet() {
		errs = append(errs, fmt.Errorf("tls: set for %q, which is not an https origin", c.URL))
	} else if u.Scheme == "https" {
		t := *c
		if (t.TLS.CertFile == "") != (t.TLS.KeyFile == "") {
			t.TLS.CertFile, t.TLS.KeyFile = "", "" // reported below; still check the CA file
		}
		if _, err := t.tlsClientConfig(u.Hostname()); err != nil {
			errs = append(errs, err)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	if c.TLS.ServerName != "" && strings.ContainsAny(c.TLS.ServerName, " /\r\n\t@:") {
		errs = append(errs, fmt.Errorf("tls.server_name: %q is not a host name", c.TLS.ServerName))
	}
	if c.Weight < 1 || c.Weight > 1000 {
		errs = append(errs, fmt.Errorf("weight: must be 1-1000, got %d", c.Weight))
	}
	if c.HostHeader != "" && strings.ContainsAny(c.HostHeader, " /\r\n\t@") {
		errs = append(errs, fmt.Errorf("host_header: %q is not a host", c.HostHeader))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"connect_timeout", c.ConnectTimeout}, {"response_header_timeout", c.ResponseHeaderTimeout},
		{"body_idle_timeout", c.BodyIdleTimeout}, {"idle_timeout", c.IdleTimeout},
		{"tls_handshake_timeout", c.TLSHandshakeTimeout},
	} {
		if d.v < time.Millisecond {
			errs = append(errs, fmt.Errorf("%s: must be at least 1ms, got %s", d.name, d.v))
		}
	}
	if c.MaxIdleConns < 0 {
		errs = append(errs, errors.New("max_idle_conns: must not be negative"))
	}
	if c.MaxConns < 1 {
		errs = append(errs, errors.New("max_conns: must be at least 1"))
	} else if c.MaxIdleConns > c.MaxConns {
		errs = append(errs, fmt.Errorf("max_idle_conns: %d is more than max_conns (%d)", c.MaxIdleConns, c.MaxConns))
	}
	return errors.Join(errs...)
}

// parseBase checks an origin URL and returns it.
func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q: want scheme://host[:port]", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: a path, query or fragment is not supported", s)
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil && port == "" {
		return nil, fmt.Errorf("%q: empty port", s)
	}
	return u, nil
}

// tlsClientConfig builds the client TLS settings of an https origin,
// reading the CA and client certificate files.
func (c *Config) tlsClientConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: c.TLS.InsecureSkipVerify}
	if c.TLS.ServerName != "" {
		tc.ServerName = c.TLS.ServerName
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Selection policies.
const (
	// LowestLatency sends misses to the healthy origin with the lowest
	// latency estimate, with hysteresis.
	LowestLatency = "lowest-latency"
	// ConsistentHash maps each cache key to one healthy origin (weighted
	// rendezvous hashing): for origin shards and parent caches.
	ConsistentHash = "consistent-hash"
)

// PolicyConfig is how a site chooses among its origins, probes them and
// handles their failures (sites[].origin_policy).
type PolicyConfig struct {
	// Selection is lowest-latency (default) or consistent-hash.
	Selection string `yaml:"selection"`
	// Probe is the active health and latency check.
	Probe ProbeConfig `yaml:"probe"`
	// SwitchRatio and SwitchMin are the hysteresis of lowest-latency: the
	// chosen origin is replaced only by one whose estimate is below
	// SwitchRatio times its own and at least SwitchMin lower. Defaults 0.8
	// and 5ms.
	SwitchRatio float64        `yaml:"switch_ratio"`
	SwitchMin   *time.Duration `yaml:"switch_min"`
	// Breaker opens on passive failures of real traffic.
	Breaker BreakerConfig `yaml:"breaker"`
	// Retry caps retries on the next-best origin.
	Retry RetryConfig `yaml:"retry"`
}

// ProbeConfig is the latency and health probe, sent to every origin on an
// interval over the origin's own connection pool.
type ProbeConfig struct {
	// Disabled turns probes off: every origin counts as up, ranked in
	// configuration order, and only the breaker takes origins out.
	Disabled bool `yaml:"disabled"`
	// Path is requested with GET. Default "/".
	Path string `yaml:"path"`
	// Host is the Host header of probes. Default: the origin's
	// host_header, else its URL host.
	Host string `yaml:"host"`
	// Interval between probes of one origin. Default 500ms: the node's
	// health (and so its BGP announcement) follows its origins' state,
	// and an origin fault must be seen in well under a second. That is
	// two small requests a second per origin per node; raise it for large
	// fleets, and point Path at a cheap endpoint.
	Interval time.Duration `yaml:"interval"`
	// FastInterval replaces Interval while an origin's state is in
	// question (a failure while up, a success while down), until Rise or
	// Fall decides it (HAProxy's fastinter). Default 50ms (at most
	// Interval).
	FastInterval time.Duration `yaml:"fast_interval"`
	// Jitter spreads probes by up to this fraction of Interval either way.
	// 0-0.5, default 0.2.
	Jitter *float64 `yaml:"jitter"`
	// Timeout of one probe (connect to response header). Default 2s; at
	// most Interval. A probe that times out while real requests to the
	// origin are being answered gives no verdict: the origin is slow, not
	// gone.
	Timeout time.Duration `yaml:"timeout"`
	// ExpectStatus is the status range that counts as success, "200" or
	// "200-399". Default "200-399".
	ExpectStatus string `yaml:"expect_status"`
	// Rise successive successes mark a down origin up; Fall successive
	// failures mark an up origin down. Defaults 2 and 3.
	Rise int `yaml:"rise"`
	Fall int `yaml:"fall"`
	// Alpha is the weight of a new sample in the latency and loss
	// averages (EWMA). 0.05-1, default 0.3.
	Alpha float64 `yaml:"alpha"`
}

// BreakerConfig is the circuit breaker fed by real traffic: connect
// errors, timeouts and 5xx answers.
type BreakerConfig struct {
	// Failures in a row open the breaker. Default 5; -1 disables it.
	Failures int `yaml:"failures"`
	// OpenFor is how long an open breaker keeps the origin out before
	// half-open trial requests. Default 10s.
	OpenFor time.Duration `yaml:"open_for"`
	// Trials is how many trial requests a half-open breaker lets through
	// at once; one success closes it, one failure opens it again.
	// Default 1.
	Trials int `yaml:"trials"`
}

// RetryConfig is the retry of idempotent requests that failed before any
// response arrived (connect error, connection reset) on the next-best
// origin. A budget caps retries to a fraction of traffic, so that retries
// cannot multiply the load of an overloaded origin tier.
type RetryConfig struct {
	// Disabled turns retries off.
	Disabled bool `yaml:"disabled"`
	// Budget is the fraction of requests that may be retried. 0-1,
	// default 0.1.
	Budget *float64 `yaml:"budget"`
	// MinPerSecond retries are always allowed, whatever the traffic.
	// Default 10.
	MinPerSecond *int `yaml:"min_per_second"`
}

// Policy defaults.
const (
	DefaultProbePath     = "/"
	DefaultProbeInterval = 500 * time.Millisecond
	DefaultFastInterval  = 50 * time.Millisecond
	DefaultProbeTimeout  = 2 * time.Second
	DefaultProbeJitter   = 0.2
	DefaultExpectStatus  = "200-399"
	DefaultRise          = 2
	DefaultFall          = 3
	DefaultAlpha         = 0.3
	DefaultSwitchRatio   = 0.8
	DefaultSwitchMin     = 5 * time.Millisecond
	DefaultBreakerFails  = 5
	DefaultBreakerOpen   = 10 * time.Second
	DefaultBreakerTrials = 1
	DefaultRetryBudget   = 0.1
	DefaultRetryMin      = 10
)

// SetDefaults fills in zero fields.
func (c *PolicyConfig) SetDefaults() {
	if c.Selection == "" {
		c.Selection = LowestLatency
	}
	p := &c.Probe
	if p.Path == "" {
		p.Path = DefaultProbePath
	}
	if p.Interval == 0 {
		p.Interval = DefaultProbeInterval
	}
	if p.Timeout == 0 {
		p.Timeout = min(DefaultProbeTimeout, p.Interval)
	}
	if p.FastInterval == 0 {
		p.FastInterval = min(DefaultFastInterval, p.Interval)
	}
	if p.Jitter == nil {
		p.Jitter = ptr(DefaultProbeJitter)
	}
	if p.ExpectStatus == "" {
		p.ExpectStatus = DefaultExpectStatus
	}
	if p.Rise == 0 {
		p.Rise = DefaultRise
	}
	if p.Fall == 0 {
		p.Fall = DefaultFall
	}
	if p.Alpha == 0 {
		p.Alpha = DefaultAlpha
	}
	if c.SwitchRatio == 0 {
		c.SwitchRatio = DefaultSwitchRatio
	}
	if c.SwitchMin == nil {
		c.SwitchMin = ptr(DefaultSwitchMin)
	}
	b := &c.Breaker
	if b.Failures == 0 {
		b.Failures = DefaultBreakerFails
	}
	if b.OpenFor == 0 {
		b.OpenFor = DefaultBreakerOpen
	}
	if b.Trials == 0 {
		b.Trials = DefaultBreakerTrials
	}
	if c.Retry.Budget == nil {
		c.Retry.Budget = ptr(DefaultRetryBudget)
	}
	if c.Retry.MinPerSecond == nil {
		c.Retry.MinPerSecond = ptr(DefaultRetryMin)
	}
}

// Validate reports every problem, each prefixed with its field name.
func (c *PolicyConfig) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Selection != LowestLatency && c.Selection != ConsistentHash {
		add("selection: %q is not %s or %s", c.Selection, LowestLatency, ConsistentHash)
	}
	p := &c.Probe
	if !strings.HasPrefix(p.Path, "/") || strings.ContainsAny(p.Path, " \r\n\t#") {
		add("probe.path: %q is not an absolute path", p.Path)
	}
	if p.Host != "" && strings.ContainsAny(p.Host, " /\r\n\t@") {
		add("probe.host: %q is not a host", p.Host)
	}
	if p.Interval < 10*time.Millisecond {
		add("probe.interval: must be at least 10ms, got %s", p.Interval)
	}
	if p.FastInterval < 10*time.Millisecond || p.FastInterval > max(p.Interval, 10*time.Millisecond) {
		add("probe.fast_interval: must be 10ms-interval (%s), got %s", p.Interval, p.FastInterval)
	}
	if p.Timeout < time.Millisecond || p.Timeout > p.Interval {
		add("probe.timeout: must be 1ms-interval (%s), got %s", p.Interval, p.Timeout)
	}
	if p.Jitter != nil && (*p.Jitter < 0 || *p.Jitter > 0.5) {
		add("probe.jitter: must be 0-0.5, got %g", *p.Jitter)
	}
	if _, _, err := parseStatusRange(p.ExpectStatus); err != nil {
		add("probe.expect_status: %v", err)
	}
	if p.Rise < 1 || p.Rise > 100 {
		add("probe.rise: must be 1-100, got %d", p.Rise)
	}
	if p.Fall < 1 || p.Fall > 100 {
		add("probe.fall: must be 1-100, got %d", p.Fall)
	}
	if p.Alpha < 0.05 || p.Alpha > 1 {
		add("probe.alpha: must be 0.05-1, got %g", p.Alpha)
	}
	if c.SwitchRatio <= 0 || c.SwitchRatio > 1 {
		add("switch_ratio: must be in (0, 1], got %g", c.SwitchRatio)
	}
	if c.SwitchMin != nil && *c.SwitchMin < 0 {
		add("switch_min: must not be negative, got %s", *c.SwitchMin)
	}
	if c.Breaker.Failures < -1 || c.Breaker.Failures == 0 || c.Breaker.Failures > 10000 {
		add("breaker.failures: must be 1-10000, or -1 to disable, got %d", c.Breaker.Failures)
	}
	if c.Breaker.OpenFor < 10*time.Millisecond {
		add("breaker.open_for: must be at least 10ms, got %s", c.Breaker.OpenFor)
	}
	if c.Breaker.Trials < 1 || c.Breaker.Trials > 1000 {
		add("breaker.trials: must be 1-1000, got %d", c.Breaker.Trials)
	}
	if b := c.Retry.Budget; b != nil && (*b < 0 || *b > 1 || (*b > 0 && *b < 0.001)) {
		add("retry.budget: must be 0 or 0.001-1, got %g", *b)
	}
	if m := c.Retry.MinPerSecond; m != nil && (*m < 0 || *m > 100000) {
		add("retry.min_per_second: must be 0-100000, got %d", *m)
	}
	return errors.Join(errs...)
}

// parseStatusRange parses "200" or "200-399".
func parseStatusRange(s string) (lo, hi int, err error) {
	if strings.ContainsAny(s, "+") {
		return 0, 0, fmt.Errorf("%q is not a status or a range like 200-399", s)
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err = strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a status or a range like 200-399", s)
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("%q is not a status or a range like 200-399", s)
		}
	}
	if lo < 100 || hi > 599 || lo > hi {
		return 0, 0, fmt.Errorf("%q: statuses must be 100-599, low to high", s)
	}
	return lo, hi, nil
}

// CanonicalURL is the form of an origin URL used to spot the same server
// listed twice: lower-case scheme and host, explicit port, no trailing
// slash. An unparsable URL is returned as it is.
func CanonicalURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func ptr[T any](v T) *T { return &v }

// ValidateSet checks a site's origins as a set: no server listed twice
// (compared by CanonicalURL) and at least one primary. Errors are named
// "origins[i].url" and "origins".
func ValidateSet(cfgs []Config) error {
	var errs []error
	seen := map[string]bool{}
	primaries := 0
	for i, c := range cfgs {
		if u := CanonicalURL(c.URL); seen[u] {
			errs = append(errs, fmt.Errorf("origins[%d].url: %s is listed twice", i, c.URL))
		} else {
			seen[u] = true
		}
		if !c.Backup {
			primaries++
		}
	}
	if len(cfgs) > 0 && primaries == 0 {
		errs = append(errs, errors.New("origins: every origin is a backup; at least one must be primary"))
	}
	return errors.Join(errs...)
}
