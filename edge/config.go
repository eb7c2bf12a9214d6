package edge

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/edgecdn/edgecdn/bgp"
	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/edge/demo"
	"github.com/edgecdn/edgecdn/edge/internal/confload"
	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/origin"
)

// Config is the node's whole config file. Each package owns its section.
type Config struct {
	Node        NodeConfig        `yaml:"node"`
	HTTP        HTTPConfig        `yaml:"http"`
	Admin       AdminConfig       `yaml:"admin"`
	Cache       cache.Config      `yaml:"cache"`
	Compression CompressionConfig `yaml:"compression"`
	Runtime     RuntimeConfig     `yaml:"runtime"`
	// Demo, when present, starts the built-in demo origin (loopback only).
	Demo *demo.Config `yaml:"demo"`
	// Sites are the hostnames the node serves and their origins. At least one.
	Sites []SiteConfig `yaml:"sites"`
	// DNS, when present, serves geo-aware authoritative DNS (it needs
	// Geodata). Adding or removing it needs a restart.
	DNS *dnsserver.Config `yaml:"dns"`
	// Geodata maps client addresses to regions for the DNS server.
	Geodata *geodata.Config `yaml:"geodata"`
	// Health is the node's health state machine: checks, hysteresis and
	// the graceful drain.
	Health HealthConfig `yaml:"health"`
	// BGP, when present, announces the node's prefixes through the
	// embedded speaker while the node is healthy. Adding or removing it
	// needs a restart.
	BGP *bgp.Config `yaml:"bgp"`
}

// NodeConfig identifies the node.
type NodeConfig struct {
	// ID names the node in Cache-Status, metrics and status. Default: the
	// host name.
	ID string `yaml:"id"`
	// Region is the node's region. Default "default".
	Region string `yaml:"region"`
}

// HTTPConfig is the client-facing HTTP listener.
type HTTPConfig struct {
	// Listen lists the addresses to serve HTTP/1.1 on. Default
	// ["127.0.0.1:8080"]. They cannot change on reload.
	Listen []string `yaml:"listen"`
	// ReadHeaderTimeout bounds reading a request header. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes a kept-alive connection idle for this long.
	// Default 75s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// WriteTimeout disconnects a client that takes no data for this long.
	// Default 60s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxHeaderBytes bounds a request's header (431 beyond). Default 32KiB.
	MaxHeaderBytes int64 `yaml:"max_header_bytes" unit:"bytes"`
	// MaxURIBytes bounds the request target (414 beyond). Default 8KiB.
	MaxURIBytes int64 `yaml:"max_uri_bytes" unit:"bytes"`
	// MaxConnections caps concurrent client connections; beyond it new
	// connections wait in the listen backlog. Default 16384.
	MaxConnections int `yaml:"max_connections"`
	// MaxRequestBody bounds request bodies forwarded to origins (413
	// beyond). Default 64MiB.
	MaxRequestBody int64 `yaml:"max_request_body" unit:"bytes"`
	// ReadOrder is how connections wait for their next request:
	// "arrival" (default, Linux) has the node's own epoll wake them in the
	// order their data arrived; "runtime" leaves it to Go's network
	// poller, which wakes each batch of ready connections newest first
	// and so adds to tail latency under load. "arrival" also has plain-HTTP
	// origin responses picked up between client requests (origin.ReadPoller).
	// Elsewhere than Linux it is always "runtime". Read at start; a reload
	// cannot change it.
	ReadOrder string `yaml:"read_order"`
	// ShutdownGrace is how long a stopping node lets requests in progress
	// finish before closing their connections. Default 10s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
}

// AdminConfig is the admin server: metrics, status, purge, drain,
// reload. See "Admin API" in edge/README.md.
type AdminConfig struct {
	// Listen is the admin address. Default "127.0.0.1:9090". A
	// non-loopback address needs tokens or tls.client_ca_file.
	Listen string `yaml:"listen"`
	// Pprof serves Go's runtime profiles under /debug/pprof/ on the admin
	// listener (CPU, heap, goroutines, traces), to the admin scope.
	// Default false. Read at start; a reload cannot change it.
	Pprof bool `yaml:"pprof"`
	// Tokens are the bearer tokens the API accepts, each with its scopes.
	// Without tokens (and without a client CA) every request from
	// loopback is allowed, as the operator of the host.
	Tokens []AdminToken `yaml:"tokens"`
	// TLS serves the API over HTTPS; with client_ca_file, clients must
	// present a certificate it signed (mTLS). Read at start.
	TLS *AdminTLS `yaml:"tls"`
	// AuditLog is a file every purge, drain, reload and log level change
	// is appended to as a JSON line (who, from where, what, result).
	// Default "": the node's own log, with component=audit.
	AuditLog string `yaml:"audit_log"`
	// PurgeRate caps purge requests per second (a burst of twice as many
	// is allowed); beyond it: 429. Default 50.
	PurgeRate float64 `yaml:"purge_rate"`
	// MaxPurgeSelectors caps the URLs, prefixes, tags and hosts of one
	// purge request together. Default 10000.
	MaxPurgeSelectors int `yaml:"max_purge_selectors"`
}

// AdminToken is one bearer token.
type AdminToken struct {
	// Name identifies the token in the audit log (never the token).
	Name string `yaml:"name"`
	// Token is the secret itself, at least 16 characters; or TokenFile,
	// a file holding it (read at start and on reload).
	Token     string `yaml:"token" secret:"true"`
	TokenFile string `yaml:"token_file"`
	// Scopes: read (status, config, health, metrics), purge, admin
	// (drain, reload, log level, pprof; implies the other two).
	Scopes []string `yaml:"scopes"`
}

// AdminTLS is the admin server's TLS.
type AdminTLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// CompressionConfig controls the encodings stored for compressible
// responses.
type CompressionConfig struct {
	// Enabled turns compression on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Encodings are the content-codings offered, from "zstd", "br" and
	// "gzip". gzip is always built when compression applies (every client
	// that takes any encoding takes gzip); zstd and br are built at fill
	// time when recent clients prefer them. Default [zstd, br, gzip].
	Encodings []string `yaml:"encodings"`
	// MinSize is the smallest body compressed. Default 256B.
	MinSize int64 `yaml:"min_size" unit:"bytes"`
	// Types are the compressible media types: exact ("application/json")
	// or a top-level wildcard ("text/*"). Default: text/*, JSON, JS, CSS,
	// SVG, XML, wasm and a few more (see DefaultCompressibleTypes).
	Types []string `yaml:"types"`
	// GzipLevel is 1 (fastest) to 9 (smallest). Default 5 (on typical
	// text as small as 6, for a fifth less CPU; compression runs once per
	// stored object).
	GzipLevel int `yaml:"gzip_level"`
	// BrotliLevel is 0 to 11. Default 5.
	BrotliLevel int `yaml:"brotli_level"`
	// ZstdLevel is 1 to 22 (mapped to the encoder's four speeds). Default 3.
	ZstdLevel int `yaml:"zstd_level"`
}

// RuntimeConfig tunes the Go runtime for a memory-heavy cache.
type RuntimeConfig struct {
	// GCPercent is the garbage collector's target heap growth over live
	// data (GOGC). A cache holds most of its heap live, so the Go default
	// of 100 would let the process grow to twice the cached bytes. Default
	// 25. The GOGC environment variable, when set, takes precedence.
	GCPercent int `yaml:"gc_percent"`
}

// SiteConfig is one site: the hostnames it answers and its origin.
type SiteConfig struct {
	// Name identifies the site in metrics and logs: letters, digits, '-'
	// and '_'. Required, unique.
	Name string `yaml:"name"`
	// Hosts are the Host values the site answers: exact names
	// ("www.example.com"), wildcards for any subdomain ("*.example.com")
	// or "*" for any host (one site at most). Ports are ignored. Required.
	Hosts []string `yaml:"hosts"`
	// Origins are the site's origin servers: primaries, and optionally
	// backups used only while no primary is healthy.
	Origins []origin.Config `yaml:"origins"`
	// OriginPolicy is how the site chooses among its origins (probes,
	// lowest-latency or consistent-hash selection, breaker, retries).
	OriginPolicy origin.PolicyConfig `yaml:"origin_policy"`
	// DefaultTTL is given to storable responses without any freshness
	// information. Default 0: such responses are not stored.
	DefaultTTL time.Duration `yaml:"default_ttl"`
	// StaleIfError is how long past expiry a stored response is served
	// when the origin fails (unreachable, timeout, 500/502/503/504), unless
	// the response forbids it; the response's own stale-if-error wins.
	// Default 1h; "0s" serves stale only where the response allows.
	StaleIfError *time.Duration `yaml:"stale_if_error"`
	// Keep is how long an expired response with a validator stays stored
	// for revalidation (a 304 costs the origin much less than a 200).
	// Default 1h.
	Keep *time.Duration `yaml:"keep"`
}

// Defaults of the node's own sections.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultAdminListen       = "127.0.0.1:9090"
	DefaultPurgeRate         = 50
	DefaultMaxPurgeSelectors = 10000
	DefaultMaxConnections    = 16384
	// http.read_order values.
	ReadOrderArrival      = "arrival"
	ReadOrderRuntime      = "runtime"
	DefaultMaxRequestBody = 64 << 20
	DefaultShutdownGrace  = 10 * time.Second
	DefaultGCPercent      = 25
	DefaultStaleIfError   = time.Hour
	DefaultKeep           = time.Hour
)

// DefaultCompressibleTypes are compressed unless Types says otherwise.
var DefaultCompressibleTypes = []string{
	"text/*", "application/json", "application/javascript", "application/x-javascript",
	"application/ecmascript", "application/xml", "application/xhtml+xml", "application/rss+xml",
	"application/atom+xml", "application/ld+json", "application/manifest+json",
	"application/wasm", "application/vnd.api+json", "application/graphql-response+json",
	"image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon", "font/ttf", "font/otf",
	"application/x-font-ttf", "application/vnd.ms-fontobject",
}

// DefaultYAML is the embedded default config: one node on loopback with
// the demo site and the built-in demo origin (what `edged` runs without
// -config, and `make run`).
//
//go:embed default.yaml
var DefaultYAML []byte

// ParseConfig decodes a config file strictly, fills in defaults and
// validates it. Every problem is reported with its field path.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := confload.Decode(data, &c); err != nil {
		return nil, err
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// LoadConfig reads and parses a config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edge: config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// DefaultConfig returns the parsed embedded default config.
func DefaultConfig() *Config {
	c, err := ParseConfig(DefaultYAML)
	if err != nil {
		panic("edge: embedded default config is invalid: " + err.Error())
	}
	return c
}

// YAML renders the effective config (secrets redacted).
func (c *Config) YAML() ([]byte, error) { return confload.EncodeRedacted(c) }

// SetDefaults fills in every zero field.
func (c *Config) SetDefaults() {
	if c.Node.ID == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Node.ID = h
		} else {
			c.Node.ID = "edge"
		}
	}
	if c.Node.Region == "" {
		c.Node.Region = "default"
	}
	h := &c.HTTP
	if len(h.Listen) == 0 {
		h.Listen = []string{DefaultListen}
	}
	setDur(&h.ReadHeaderTimeout, 10*time.Second)
	setDur(&h.IdleTimeout, 75*time.Second)
	setDur(&h.WriteTimeout, 60*time.Second)
	setInt64(&h.MaxHeaderBytes, 32<<10)
	setInt64(&h.MaxURIBytes, 8<<10)
	if h.MaxConnections == 0 {
		h.MaxConnections = DefaultMaxConnections
	}
	setInt64(&h.MaxRequestBody, DefaultMaxRequestBody)
	setDur(&h.ShutdownGrace, DefaultShutdownGrace)
	if h.ReadOrder == "" {
		h.ReadOrder = ReadOrderArrival
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Admin.PurgeRate == 0 {
		c.Admin.PurgeRate = DefaultPurgeRate
	}
	if c.Admin.MaxPurgeSelectors == 0 {
		c.Admin.MaxPurgeSelectors = DefaultMaxPurgeSelectors
	}
	c.Cache.SetDefaults()
	z := &c.Compression
	if z.Enabled == nil {
		t := true
		z.Enabled = &t
	}
	if len(z.Encodings) == 0 {
		z.Encodings = []string{"zstd", "br", "gzip"}
	}
	setInt64(&z.MinSize, 256)
	if len(z.Types) == 0 {
		z.Types = append([]string(nil), DefaultCompressibleTypes...)
	}
	if z.GzipLevel == 0 {
		z.GzipLevel = 5
	}
	if z.BrotliLevel == 0 {
		z.BrotliLevel = 5
	}
	if z.ZstdLevel == 0 {
		z.ZstdLevel = 3
	}
	if c.Runtime.GCPercent == 0 {
		c.Runtime.GCPercent = DefaultGCPercent
	}
	if c.DNS != nil {
		c.DNS.SetDefaults()
	}
	if c.Geodata != nil {
		c.Geodata.SetDefaults()
	}
	c.Health.setDefaults(c.BGP != nil)
	if c.BGP != nil {
		c.BGP.SetDefaults()
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		for j := range s.Origins {
			s.Origins[j].SetDefaults()
		}
		s.OriginPolicy.SetDefaults()
		if s.StaleIfError == nil {
			d := DefaultStaleIfError
			s.StaleIfError = &d
		}
		if s.Keep == nil {
			d := DefaultKeep
			s.Keep = &d
		}
	}
}

func setDur(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func setInt64(n *int64, v int64) {
	if *n == 0 {
		*n = v
	}
}

var siteName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports every problem with its field path.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if strings.ContainsAny(c.Node.ID, " ;,\"\r\n\t") {
		add("node.id", "%q may not contain spaces, quotes, commas or semicolons (it goes into Cache-Status)", c.Node.ID)
	}
	h := &c.HTTP
	seen := map[string]bool{}
	for i, l := range h.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			add(fmt.Sprintf("http.listen[%d]", i), "%q is not host:port", l)
		}
		if seen[l] {
			add(fmt.Sprintf("http.listen[%d]", i), "%q is listed twice", l)
		}
		seen[l] = true
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"http.read_header_timeout", h.ReadHeaderTimeout}, {"http.idle_timeout", h.IdleTimeout},
		{"http.write_timeout", h.WriteTimeout}, {"http.shutdown_grace", h.ShutdownGrace},
	} {
		if d.v < time.Millisecond {
			add(d.name, "must be at least 1ms, got %s", d.v)
		}
	}
	if h.MaxHeaderBytes < 1024 || h.MaxHeaderBytes > 1<<20 {
		add("http.max_header_bytes", "must be between 1KiB and 1MiB, got %d", h.MaxHeaderBytes)
	}
	if h.MaxURIBytes < 256 || h.MaxURIBytes > h.MaxHeaderBytes {
		add("http.max_uri_bytes", "must be between 256B and max_header_bytes, got %d", h.MaxURIBytes)
	}
	if h.MaxConnections < 1 {
		add("http.max_connections", "must be at least 1, got %d", h.MaxConnections)
	}
	if h.MaxRequestBody < 0 {
		add("http.max_request_body", "must not be negative")
	}
	if h.ReadOrder != ReadOrderArrival && h.ReadOrder != ReadOrderRuntime {
		add("http.read_order", "must be %q or %q, got %q", ReadOrderArrival, ReadOrderRuntime, h.ReadOrder)
	}
	errs = append(errs, c.Admin.validate()...)
	if err := c.Cache.Validate(); err != nil {
		errs = append(errs, confload.Prefix("cache", err))
	}
	errs = append(errs, c.Compression.validate()...)
	if c.Runtime.GCPercent < 1 || c.Runtime.GCPercent > 1000 {
		add("runtime.gc_percent", "must be between 1 and 1000, got %d", c.Runtime.GCPercent)
	}
	if c.Demo != nil {
		if err := c.Demo.Validate(); err != nil {
			errs = append(errs, confload.Prefix("demo", err))
		}
	}
	errs = append(errs, validateSites(c.Sites)...)
	errs = append(errs, validateDNS(c)...)
	errs = append(errs, c.Health.validate()...)
	if c.BGP != nil {
		if err := c.BGP.Validate(); err != nil {
			errs = append(errs, confload.Prefix("bgp", err))
		}
	}
	return errors.Join(errs...)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (z *CompressionConfig) validate() []error {
	var errs []error
	for i, e := range z.Encodings {
		if e != "zstd" && e != "br" && e != "gzip" {
			errs = append(errs, fmt.Errorf("compression.encodings[%d]: %q is not one of zstd, br, gzip", i, e))
		}
	}
	if z.MinSize < 1 {
		errs = append(errs, fmt.Errorf("compression.min_size: must be at least 1 byte"))
	}
	for i, t := range z.Types {
		major, minor, ok := strings.Cut(t, "/")
		if !ok || major == "" || minor == "" || major == "*" || strings.ContainsAny(t, " ;,") {
			errs = append(errs, fmt.Errorf("compression.types[%d]: %q is not a media type (type/subtype or type/*)", i, t))
		}
	}
	if z.GzipLevel < 1 || z.GzipLevel > 9 {
		errs = append(errs, fmt.Errorf("compression.gzip_level: must be 1 to 9, got %d", z.GzipLevel))
	}
	if z.BrotliLevel < 0 || z.BrotliLevel > 11 {
		errs = append(errs, fmt.Errorf("compression.brotli_level: must be 0 to 11, got %d", z.BrotliLevel))
	}
	if z.ZstdLevel < 1 || z.ZstdLevel > 22 {
		errs = append(errs, fmt.Errorf("compression.zstd_level: must be 1 to 22, got %d", z.ZstdLevel))
	}
	return errs
}

var hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// validHostPattern accepts "name.example", "*.example" and "*".
func validHostPattern(h string) bool {
	if h == "*" {
		return true
	}
	h = strings.TrimPrefix(h, "*.")
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return true
}

func validateSites(sites []SiteConfig) []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(sites) == 0 {
		add("sites", "at least one site is required")
	}
	names := map[string]int{}
	hosts := map[string]string{}
	for i, s := range sites {
		p := fmt.Sprintf("sites[%d]", i)
		if !siteName.MatchString(s.Name) {
			add(p+".name", "%q must be 1-64 letters, digits, '-' or '_'", s.Name)
		} else if j, dup := names[s.Name]; dup {
			add(p+".name", "%q is already the name of sites[%d]", s.Name, j)
		}
		names[s.Name] = i
		if len(s.Hosts) == 0 {
			add(p+".hosts", "at least one host is required")
		}
		for j, h := range s.Hosts {
			hp := fmt.Sprintf("%s.hosts[%d]", p, j)
			norm := strings.ToLower(h)
			if !validHostPattern(norm) {
				add(hp, "%q is not a host name, *.domain or *", h)
				continue
			}
			if other, dup := hosts[norm]; dup {
				add(hp, "%q is already served by site %q", h, other)
			}
			hosts[norm] = s.Name
		}
		for j := range s.Origins {
			if err := s.Origins[j].Validate(); err != nil {
				errs = append(errs, confload.Prefix(fmt.Sprintf("%s.origins[%d]", p, j), err))
			}
		}
		if len(s.Origins) == 0 {
			add(p+".origins", "one origin is required")
		}
		if err := origin.ValidateSet(s.Origins); err != nil {
			errs = append(errs, confload.Prefix(p, err))
		}
		if err := s.OriginPolicy.Validate(); err != nil {
			errs = append(errs, confload.Prefix(p+".origin_policy", err))
		}
		if s.DefaultTTL < 0 {
			add(p+".default_ttl", "must not be negative")
		}
		if s.StaleIfError != nil && *s.StaleIfError < 0 {
			add(p+".stale_if_error", "must not be negative")
		}
		if s.Keep != nil && *s.Keep < 0 {
			add(p+".keep", "must not be negative")
		}
	}
	return errs
}
