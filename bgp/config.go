package bgp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Config is the `bgp:` section of the node's configuration: one local
// speaker, the routers it peers with and the prefixes it announces.
type Config struct {
	// ASN is the local autonomous system number, 1-4294967294 (not 23456,
	// AS_TRANS). Required; cannot change on reload.
	ASN uint32 `yaml:"asn"`
	// RouterID is the BGP identifier, an IPv4 address in dotted-quad form
	// (not 0.0.0.0). Required; cannot change on reload.
	RouterID string `yaml:"router_id"`
	// Listen is "addr:port" to accept sessions on (an empty addr listens on
	// every address). Empty (the default) does not listen at all: the node
	// dials its neighbours. Passive neighbours need it. Cannot change on
	// reload.
	Listen string `yaml:"listen"`
	// Neighbors are the routers to peer with. At least one.
	Neighbors []NeighborConfig `yaml:"neighbors"`
	// Prefixes are announced (CIDR, IPv4 and IPv6, no host bits set), with
	// the session's local address as next hop: IPv4 prefixes to IPv4
	// neighbours, IPv6 prefixes to IPv6 neighbours. At least one.
	Prefixes []string `yaml:"prefixes"`
	// Announce holds the attributes while healthy (ModeAnnounce).
	Announce Attributes `yaml:"announce"`
	// Degraded holds the attributes in ModeDegraded. Nil (the default)
	// withdraws every prefix in that mode.
	Degraded *Attributes `yaml:"degraded"`
	// Drain holds the attributes while draining (ModeDraining). The
	// GRACEFUL_SHUTDOWN community 65535:0 (RFC 8326) is always added;
	// drain.prepend defaults to 3.
	Drain Attributes `yaml:"drain"`
}

// NeighborConfig is one BGP neighbour. Timers are whole seconds (BGP
// carries seconds; there is no BFD).
type NeighborConfig struct {
	// Address is the neighbour's IPv4 or IPv6 address. Required, unique.
	Address string `yaml:"address"`
	// ASN is the neighbour's AS: different from ours for eBGP, the same
	// for iBGP. Required.
	ASN uint32 `yaml:"asn"`
	// Port is the neighbour's TCP port that the node dials. Default 179.
	Port int `yaml:"port"`
	// LocalAddress is the source address of the session (same family as
	// Address). Empty (the default) lets the kernel choose.
	LocalAddress string `yaml:"local_address"`
	// HoldTime is proposed in OPEN; the session is dropped when nothing is
	// heard from the neighbour for the negotiated hold time. Whole seconds,
	// 3s-65535s, default 9s.
	HoldTime time.Duration `yaml:"hold_time"`
	// Keepalive is the interval between KEEPALIVE messages. Whole seconds,
	// at least 1s and less than hold_time; default hold_time/3.
	Keepalive time.Duration `yaml:"keepalive"`
	// ConnectRetry is the interval between connection attempts while the
	// session is down. Whole seconds, 1s-65535s, default 5s.
	ConnectRetry time.Duration `yaml:"connect_retry"`
	// Password enables TCP MD5 signatures (RFC 2385) with this key, at
	// most 80 bytes. Empty (the default): none.
	Password string `yaml:"password" secret:"true"`
	// Multihop is the TTL of eBGP packets to a neighbour that is not
	// directly connected, 1-255. 0 (the default): directly connected
	// (TTL 1).
	Multihop int `yaml:"multihop"`
	// TTLSecurity enables GTSM (RFC 5082): packets go out with TTL 255 and
	// only packets from at most this many hops away are accepted (1 =
	// directly connected), 1-254. 0 (the default): off. Not with multihop.
	TTLSecurity int `yaml:"ttl_security"`
	// Passive waits for the neighbour to connect instead of dialling it.
	// Needs listen.
	Passive bool `yaml:"passive"`
	// Description is free text shown in the status.
	Description string `yaml:"description"`
}

// Attributes are the path attributes of the announced prefixes in one
// mode. ORIGIN is always IGP.
type Attributes struct {
	// Communities are standard communities, "65000:100", or well-known
	// names: graceful-shutdown, no-export, no-advertise,
	// no-export-subconfed, no-peer, blackhole, accept-own, llgr-stale,
	// no-llgr.
	Communities []string `yaml:"communities"`
	// LargeCommunities are RFC 8092 communities, "65000:1:2".
	LargeCommunities []string `yaml:"large_communities"`
	// MED is the MULTI_EXIT_DISC. Nil (the default): not sent.
	MED *uint32 `yaml:"med"`
	// Prepend is how many extra times the local ASN is put in the
	// AS_PATH, 0-10, making the path longer and so less preferred.
	// Default 0, and 3 for drain.
	Prepend *int `yaml:"prepend"`
}

// Defaults.
const (
	DefaultPort         = 179
	DefaultHoldTime     = 9 * time.Second
	DefaultConnectRetry = 5 * time.Second
	DefaultDrainPrepend = 3
	// MaxPrepend caps Attributes.Prepend.
	MaxPrepend = 10
)

// SetDefaults fills in zero fields.
func (c *Config) SetDefaults() {
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		if n.Port == 0 {
			n.Port = DefaultPort
		}
		if n.HoldTime == 0 {
			n.HoldTime = DefaultHoldTime
		}
		if n.Keepalive == 0 {
			n.Keepalive = max((n.HoldTime / 3).Truncate(time.Second), time.Second)
		}
		if n.ConnectRetry == 0 {
			n.ConnectRetry = DefaultConnectRetry
		}
	}
	if c.Announce.Prepend == nil {
		c.Announce.Prepend = ptr(0)
	}
	if c.Degraded != nil && c.Degraded.Prepend == nil {
		c.Degraded.Prepend = ptr(0)
	}
	if c.Drain.Prepend == nil {
		c.Drain.Prepend = ptr(DefaultDrainPrepend)
	}
}

// Validate reports every problem, each prefixed with its field path
// within the bgp section ("neighbors[1].asn: required").
func (c *Config) Validate() error { return errors.Join(c.problems()...) }

// problems lists what Validate reports, one error a problem.
func (c *Config) problems() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if err := checkASN(c.ASN); err != nil {
		add("asn: %v", err)
	}
	if c.RouterID == "" {
		add("router_id: required")
	} else if a, err := netip.ParseAddr(c.RouterID); err != nil || !a.Is4() || a.IsUnspecified() {
		add("router_id: %q is not an IPv4 address other than 0.0.0.0", c.RouterID)
	}
	var listen4, listen6 bool
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			add("listen: %q is not addr:port", c.Listen)
		} else {
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				add("listen: port %q is not 1-65535", port)
			}
			if host == "" {
				listen4, listen6 = true, true
			} else if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
				add("listen: %q is not an IP address", host)
			} else {
				listen4, listen6 = a.Is4(), a.Is6()
			}
		}
	}

	var have4, have6 bool
	if len(c.Neighbors) == 0 {
		add("neighbors: at least one required")
	}
	seen := map[netip.Addr]int{}
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		p := fmt.Sprintf("neighbors[%d]", i)
		a, err := parseNeighborAddr(n.Address)
		if err != nil {
			add("%s.address: %v", p, err)
		} else {
			if j, dup := seen[a]; dup {
				add("%s.address: %s is also neighbors[%d]", p, n.Address, j)
			}
			seen[a] = i
			have4, have6 = have4 || a.Is4(), have6 || a.Is6()
			if n.Passive && c.Listen != "" && (a.Is4() && !listen4 || a.Is6() && !listen6) {
				add("%s.passive: listen %q does not accept %s", p, c.Listen, n.Address)
			}
		}
		if err := checkASN(n.ASN); err != nil {
			add("%s.asn: %v", p, err)
		}
		if n.Port < 1 || n.Port > 65535 {
			add("%s.port: must be 1-65535, got %d", p, n.Port)
		}
		if n.LocalAddress != "" {
			if l, err := netip.ParseAddr(n.LocalAddress); err != nil {
				add("%s.local_address: %q is not an IP address", p, n.LocalAddress)
			} else if a.IsValid() && l.Is4() != a.Is4() {
				add("%s.local_address: %s is not of the family of %s", p, n.LocalAddress, n.Address)
			}
		}
		checkSeconds := func(name string, v, lo, hi time.Duration) {
			switch {
			case v%time.Second != 0:
				add("%s.%s: must be whole seconds, got %s", p, name, v)
			case v < lo || v > hi:
				add("%s.%s: must be %ds-%ds, got %s", p, name, lo/time.Second, hi/time.Second, v)
			}
		}
		checkSeconds("hold_time", n.HoldTime, 3*time.Second, 65535*time.Second)
		checkSeconds("keepalive", n.Keepalive, time.Second, 65535*time.Second)
		if n.Keepalive >= n.HoldTime && n.HoldTime > 0 {
			add("%s.keepalive: must be less than hold_time (%s), got %s", p, n.HoldTime, n.Keepalive)
		}
		checkSeconds("connect_retry", n.ConnectRetry, time.Second, 65535*time.Second)
		if len(n.Password) > 80 {
			add("%s.password: at most 80 bytes (TCP MD5 key), got %d", p, len(n.Password))
		}
		if n.Multihop < 0 || n.Multihop > 255 {
			add("%s.multihop: must be 0-255, got %d", p, n.Multihop)
		}
		if n.TTLSecurity < 0 || n.TTLSecurity > 254 {
			add("%s.ttl_security: must be 0-254, got %d", p, n.TTLSecurity)
		}
		if n.Multihop != 0 && n.TTLSecurity != 0 {
			add("%s.ttl_security: cannot be combined with multihop", p)
		}
		if n.Multihop != 0 && n.ASN == c.ASN && c.ASN != 0 {
			add("%s.multihop: only for eBGP (the neighbour's asn is ours)", p)
		}
		if n.Passive && c.Listen == "" {
			add("%s.passive: needs listen", p)
		}
	}

	if len(c.Prefixes) == 0 {
		add("prefixes: at least one required")
	}
	seenP := map[netip.Prefix]int{}
	for i, s := range c.Prefixes {
		p, err := parsePrefix(s)
		if err != nil {
			add("prefixes[%d]: %v", i, err)
			continue
		}
		if j, dup := seenP[p]; dup {
			add("prefixes[%d]: %s is also prefixes[%d]", i, s, j)
		}
		seenP[p] = i
		if len(c.Neighbors) > 0 && (p.Addr().Is4() && !have4 || p.Addr().Is6() && !have6) {
			add("prefixes[%d]: %s would never be announced: no neighbour of its family", i, s)
		}
	}

	errs = append(errs, c.Announce.validate("announce")...)
	if c.Degraded != nil {
		errs = append(errs, c.Degraded.validate("degraded")...)
	}
	errs = append(errs, c.Drain.validate("drain")...)
	return errs
}

func (a *Attributes) validate(path string) []error {
	var errs []error
	for i, s := range a.Communities {
		if _, err := parseCommunity(s); err != nil {
			errs = append(errs, fmt.Errorf("%s.communities[%d]: %w", path, i, err))
		}
	}
	for i, s := range a.LargeCommunities {
		if _, err := parseLargeCommunity(s); err != nil {
			errs = append(errs, fmt.Errorf("%s.large_communities[%d]: %w", path, i, err))
		}
	}
	if a.Prepend != nil && (*a.Prepend < 0 || *a.Prepend > MaxPrepend) {
		errs = append(errs, fmt.Errorf("%s.prepend: must be 0-%d, got %d", path, MaxPrepend, *a.Prepend))
	}
	return errs
}

func checkASN(asn uint32) error {
	switch asn {
	case 0:
		return errors.New("required")
	case 23456:
		return errors.New("23456 is AS_TRANS, not a real ASN")
	case 4294967295:
		return errors.New("4294967295 is reserved")
	}
	return nil
}

func parseNeighborAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("required")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: a zone (link-local session) is not supported", s)
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%s is not a unicast address", s)
	}
	return a, nil
}

// parsePrefix parses a CIDR prefix with no host bits set.
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a prefix", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
	}
	return p, nil
}

// neighborKey is the canonical form of a neighbour address, the key GoBGP
// uses for the neighbour.
func neighborKey(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	return a.String()
}

func ptr[T any](v T) *T { return &v }
