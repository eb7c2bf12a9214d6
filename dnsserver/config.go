package dnsserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config is the dns section of the node's config file.
type Config struct {
	// Listen lists the addresses ("127.0.0.1:8053", "[::1]:53", ":53") to
	// serve on; each gets UDP and TCP on the same port. A port of 0 takes
	// a free one (tests), the same for UDP and TCP. Required; cannot
	// change on reload.
	Listen []string `yaml:"listen"`
	// UDPSockets is the number of UDP sockets bound to each address with
	// SO_REUSEPORT, each served by one goroutine; the kernel spreads
	// clients over them. Default GOMAXPROCS; 1-1024. Cannot change on
	// reload.
	UDPSockets int `yaml:"udp_sockets"`
	// TCPIdleTimeout closes a TCP connection that sends no complete query
	// for this long (RFC 7766). Default 10s.
	TCPIdleTimeout time.Duration `yaml:"tcp_idle_timeout"`
	// TCPMaxConns caps open TCP connections over all addresses; a
	// connection beyond it is closed at once. Default 1000.
	TCPMaxConns int `yaml:"tcp_max_conns"`
	// AllDown is what a geo name answers when no region that could answer
	// is up: "fail-open" (default) answers the region the client maps to
	// anyway (or, when that one has no addresses of the asked type, the
	// nearest that has), "fail-closed" answers SERVFAIL.
	AllDown string `yaml:"all_down"`
	// RRL is response rate limiting of UDP clients.
	RRL RRLConfig `yaml:"rrl"`
	// Zones are the zones served. At least one; no zone may contain
	// another.
	Zones []ZoneConfig `yaml:"zones"`
}

// AllDown policies.
const (
	FailOpen   = "fail-open"
	FailClosed = "fail-closed"
)

// RRLConfig is response rate limiting (RRL) of UDP responses per client
// prefix: a spoofed-source flood cannot turn the server into an amplifier,
// while a real resolver behind a limited prefix still gets every slip-th
// answer as a truncated reply and retries over TCP, which is not limited.
//
// Each prefix has a token bucket (kept as a GCRA theoretical arrival time):
// it refills at ResponsesPerSecond and holds ResponsesPerSecond × Window
// responses, so a prefix gets that rate on average and bursts of up to a
// window's worth. State is a fixed-size table (32768 prefixes, 4-way set
// associative, keyed by a seeded hash); when a set is full the entry
// closest to being idle is replaced, which can only let a prefix through
// early, never limit one that is not over its rate.
type RRLConfig struct {
	// Disabled turns rate limiting off.
	Disabled bool `yaml:"disabled"`
	// ResponsesPerSecond is the rate each client prefix may receive.
	// Default 100; 1-1000000.
	ResponsesPerSecond int `yaml:"responses_per_second"`
	// Slip: over the limit, every Slip-th response is sent truncated (TC
	// set, no records, so a real resolver retries over TCP) and the
	// others are dropped. 1 truncates every limited response, -1 drops
	// every one (0 is "unset" and means the default, 2). -1 to 10.
	Slip int `yaml:"slip"`
	// IPv4Prefix and IPv6Prefix are the prefix lengths that group client
	// addresses into one bucket. Defaults 24 and 56.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Window is the burst a bucket holds, as time at the full rate.
	// Default 1s; 100ms-1h.
	Window time.Duration `yaml:"window"`
}

// ZoneConfig is one zone served with authority.
type ZoneConfig struct {
	// Name is the apex, e.g. "cdn.example.com" (trailing dot optional,
	// case-insensitive). Required.
	Name string `yaml:"name"`
	// TTL is the TTL of the SOA, NS and glue records and of static
	// records without their own. Default 300s; whole seconds.
	TTL time.Duration `yaml:"ttl"`
	// SOA is the zone's SOA record.
	SOA SOAConfig `yaml:"soa"`
	// NS are the zone's name servers (the apex NS RRset). At least one.
	NS []NSConfig `yaml:"ns"`
	// Records are static records.
	Records []RecordConfig `yaml:"records"`
	// Geo are names whose A and AAAA answers depend on the client's
	// region.
	Geo []GeoConfig `yaml:"geo"`
}

// SOAConfig is the SOA record of a zone. Its TTL is the zone's TTL.
type SOAConfig struct {
	// MName is the primary name server. Default: the first NS.
	MName string `yaml:"mname"`
	// RName is the responsible mailbox as a name. Default
	// "hostmaster.<zone>".
	RName string `yaml:"rname"`
	// Serial is the zone serial. Default (0): the Unix time at which the
	// configuration is loaded, so every reload increases it.
	Serial uint32 `yaml:"serial"`
	// Refresh, Retry and Expire are for secondaries. Defaults 1h, 10m, 7d.
	Refresh time.Duration `yaml:"refresh"`
	Retry   time.Duration `yaml:"retry"`
	Expire  time.Duration `yaml:"expire"`
	// Minimum is the TTL of negative answers (RFC 2308): NXDOMAIN and
	// NODATA carry the SOA with TTL min(zone TTL, minimum). Default 60s.
	Minimum time.Duration `yaml:"minimum"`
}

// NSConfig is one name server of a zone.
type NSConfig struct {
	// Name is the server's name, relative to the zone or absolute.
	// Required.
	Name string `yaml:"name"`
	// Addresses are its IPv4 and IPv6 addresses. Required when the name is
	// inside the zone (they become its A and AAAA records and the glue of
	// NS answers); not allowed otherwise.
	Addresses []string `yaml:"addresses"`
}

// RecordConfig is one static RRset (or part of one: entries with the same
// name and type are merged).
type RecordConfig struct {
	// Name is the owner: "@" for the apex, a name relative to the zone
	// ("www"), or an absolute name inside it ("www.cdn.example.com", with
	// or without a trailing dot). Wildcards are not supported.
	Name string `yaml:"name"`
	// Type is A, AAAA, CNAME, TXT, MX or CAA.
	Type string `yaml:"type"`
	// TTL overrides the zone TTL. Whole seconds.
	TTL time.Duration `yaml:"ttl"`
	// Values are the records' data in zone-file presentation: an address
	// (A, AAAA), a name (CNAME: exactly one), free text (TXT: one string
	// per value, split into 255-byte pieces), "10 mail.example.com." (MX),
	// `0 issue "letsencrypt.org"` (CAA). Names in CNAME and MX values
	// follow the owner-name rule: absolute with a trailing dot or when
	// they end in the zone's name, else relative to the zone. At least one.
	Values []string `yaml:"values"`
}

// GeoConfig is a name answered by region.
type GeoConfig struct {
	// Name is the owner, as RecordConfig.Name.
	Name string `yaml:"name"`
	// TTL of the answers. Default 60s; whole seconds.
	TTL time.Duration `yaml:"ttl"`
	// Regions maps a region name (as the locator returns it) to its
	// addresses. At least one region; each with at least one address.
	Regions map[string]RegionRecords `yaml:"regions"`
}

// RegionRecords are one region's addresses for a geo name.
type RegionRecords struct {
	A    []string `yaml:"a"`
	AAAA []string `yaml:"aaaa"`
}

// Defaults.
const (
	DefaultTCPIdleTimeout = 10 * time.Second
	DefaultTCPMaxConns    = 1000
	DefaultRRLRate        = 100
	DefaultRRLSlip        = 2
	DefaultRRLIPv4Prefix  = 24
	DefaultRRLIPv6Prefix  = 56
	DefaultRRLWindow      = time.Second
	DefaultZoneTTL        = 300 * time.Second
	DefaultGeoTTL         = 60 * time.Second
	DefaultSOARefresh     = time.Hour
	DefaultSOARetry       = 10 * time.Minute
	DefaultSOAExpire      = 7 * 24 * time.Hour
	DefaultSOAMinimum     = 60 * time.Second
)

// SetDefaults fills in zero fields.
func (c *Config) SetDefaults() {
	if c.UDPSockets == 0 {
		c.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if c.TCPIdleTimeout == 0 {
		c.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if c.TCPMaxConns == 0 {
		c.TCPMaxConns = DefaultTCPMaxConns
	}
	if c.AllDown == "" {
		c.AllDown = FailOpen
	}
	c.RRL.setDefaults()
	for i := range c.Zones {
		c.Zones[i].setDefaults()
	}
}

func (r *RRLConfig) setDefaults() {
	if r.ResponsesPerSecond == 0 {
		r.ResponsesPerSecond = DefaultRRLRate
	}
	if r.Slip == 0 {
		r.Slip = DefaultRRLSlip
	}
	if r.IPv4Prefix == 0 {
		r.IPv4Prefix = DefaultRRLIPv4Prefix
	}
	if r.IPv6Prefix == 0 {
		r.IPv6Prefix = DefaultRRLIPv6Prefix
	}
	if r.Window == 0 {
		r.Window = DefaultRRLWindow
	}
}

func (z *ZoneConfig) setDefaults() {
	if z.TTL == 0 {
		z.TTL = DefaultZoneTTL
	}
	s := &z.SOA
	if s.Refresh == 0 {
		s.Refresh = DefaultSOARefresh
	}
	if s.Retry == 0 {
		s.Retry = DefaultSOARetry
	}
	if s.Expire == 0 {
		s.Expire = DefaultSOAExpire
	}
	if s.Minimum == 0 {
		s.Minimum = DefaultSOAMinimum
	}
	if s.RName == "" && z.Name != "" {
		s.RName = "hostmaster." + strings.TrimSuffix(z.Name, ".")
	}
	if s.MName == "" && len(z.NS) > 0 {
		s.MName = z.NS[0].Name
	}
	for i := range z.Geo {
		if z.Geo[i].TTL == 0 {
			z.Geo[i].TTL = DefaultGeoTTL
		}
	}
}

// maxTTL is the largest TTL accepted (RFC 2181 8: 2^31 - 1 seconds).
const maxTTL = (1<<31 - 1) * time.Second

// Validate reports every problem, each prefixed with its field path
// ("zones[0].geo[1].regions.eu.a[0]: ..."). It also compiles the zones, so
// a config it accepts is one New accepts (given a Locator for geo names).
func (c *Config) Validate() error {
	_, err := c.check(time.Unix(0, 0))
	return err
}

// check validates and compiles; now is the load time (default serial).
func (c *Config) check(now time.Time) (*zoneSet, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Listen) == 0 {
		add("listen: at least one address is required")
	}
	seen := map[string]int{}
	for i, l := range c.Listen {
		if err := checkListen(l); err != nil {
			add("listen[%d]: %v", i, err)
		} else if j, ok := seen[l]; ok {
			add("listen[%d]: %q repeats listen[%d]", i, l, j)
		} else {
			seen[l] = i
		}
	}
	if c.UDPSockets < 1 || c.UDPSockets > 1024 {
		add("udp_sockets: must be 1-1024, got %d", c.UDPSockets)
	}
	if c.TCPIdleTimeout < time.Millisecond {
		add("tcp_idle_timeout: must be at least 1ms, got %s", c.TCPIdleTimeout)
	}
	if c.TCPMaxConns < 1 {
		add("tcp_max_conns: must be at least 1, got %d", c.TCPMaxConns)
	}
	if c.AllDown != FailOpen && c.AllDown != FailClosed {
		add("all_down: must be %q or %q, got %q", FailOpen, FailClosed, c.AllDown)
	}
	r := c.RRL
	if r.ResponsesPerSecond < 1 || r.ResponsesPerSecond > 1000000 {
		add("rrl.responses_per_second: must be 1-1000000, got %d", r.ResponsesPerSecond)
	}
	if r.Slip < -1 || r.Slip > 10 {
		add("rrl.slip: must be -1 (always drop) to 10, got %d", r.Slip)
	}
	if r.IPv4Prefix < 1 || r.IPv4Prefix > 32 {
		add("rrl.ipv4_prefix: must be 1-32, got %d", r.IPv4Prefix)
	}
	if r.IPv6Prefix < 1 || r.IPv6Prefix > 128 {
		add("rrl.ipv6_prefix: must be 1-128, got %d", r.IPv6Prefix)
	}
	if r.Window < 100*time.Millisecond || r.Window > time.Hour {
		add("rrl.window: must be 100ms-1h, got %s", r.Window)
	}
	if len(c.Zones) == 0 {
		add("zones: at least one zone is required")
	}
	zs, zerrs := compileZones(c.Zones, now)
	errs = append(errs, zerrs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return zs, nil
}

func checkListen(l string) error {
	host, port, err := net.SplitHostPort(l)
	if err != nil {
		return err
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: host must be an IP address or empty", l)
		}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("%q: bad port", l)
	}
	return nil
}

// ttlSeconds checks a TTL field and returns it in seconds.
func ttlSeconds(d time.Duration) (uint32, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("must not be negative, got %s", d)
	case d > maxTTL:
		return 0, fmt.Errorf("must be at most %s, got %s", maxTTL, d)
	case d%time.Second != 0:
		return 0, fmt.Errorf("must be whole seconds, got %s", d)
	}
	return uint32(d / time.Second), nil
}

// Record types a RecordConfig may have.
var recordTypes = map[string]uint16{
	"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CNAME": dns.TypeCNAME,
	"TXT": dns.TypeTXT, "MX": dns.TypeMX, "CAA": dns.TypeCAA,
}

// canonicalZone returns the zone name as a lower-case FQDN.
func canonicalZone(name string) (string, error) {
	if name == "" {
		return "", errors.New("required")
	}
	n := strings.ToLower(dns.Fqdn(name))
	if n == "." {
		return "", errors.New("the root zone is not supported")
	}
	if _, ok := dns.IsDomainName(n); !ok {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return n, nil
}

// ownerName resolves a name written in a zone's config (owner, CNAME or MX
// target) to a lower-case FQDN: "@" is the apex, a name with a trailing dot
// or ending in the zone's name is absolute, anything else is relative to
// the zone.
func ownerName(name, zone string) (string, error) {
	if name == "" {
		return "", errors.New("required")
	}
	var n string
	lz := strings.ToLower(name)
	switch {
	case name == "@":
		n = zone
	case strings.HasSuffix(name, "."):
		n = lz
	case lz+"." == zone || strings.HasSuffix(lz+".", "."+zone):
		n = lz + "."
	default:
		n = lz + "." + zone
	}
	if _, ok := dns.IsDomainName(n); !ok || strings.Contains(n, "..") {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	if _, err := wireName(n); err != nil {
		return "", fmt.Errorf("%q: %v", name, err)
	}
	return n, nil
}

// inZone reports whether name (FQDN) is zone or below it.
func inZone(name, zone string) bool { return dns.IsSubDomain(zone, name) }

// sortedRegions returns the region names of a geo entry, sorted: the
// order in which regions are tried after the locator's fallback list.
func sortedRegions(m map[string]RegionRecords) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
