package dnstest

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/geodata"
)

// Locator is a static prefix table: the region of an address is that of
// the longest prefix containing it, and its scope is that prefix. An
// address no prefix contains gets Default, with its own host prefix (/32
// or /128) as scope. It is safe for concurrent use.
type Locator struct {
	// Default is the region of addresses outside every prefix.
	Default  string
	entries  []entry // longest first
	fallback map[string][]string
	calls    atomic.Int64
}

type entry struct {
	prefix netip.Prefix
	region string
}

// NewLocator builds a Locator from "prefix" → region (prefixes are
// masked; IPv4 prefixes match IPv4 addresses) and region → the other
// regions nearest first. It panics on a bad prefix (a test bug).
func NewLocator(def string, prefixes map[string]string, fallback map[string][]string) *Locator {
	l := &Locator{Default: def, fallback: fallback}
	for p, r := range prefixes {
		l.entries = append(l.entries, entry{netip.MustParsePrefix(p).Masked(), r})
	}
	slices.SortFunc(l.entries, func(a, b entry) int { return b.prefix.Bits() - a.prefix.Bits() })
	return l
}

// Locate answers from the prefixes, longest first (Rule "static"), else
// the default region with the address's host prefix (Rule "default").
func (l *Locator) Locate(a netip.Addr) geodata.Result {
	l.calls.Add(1)
	a = a.Unmap()
	for _, e := range l.entries {
		if e.prefix.Contains(a) {
			return geodata.Result{Region: e.region, Scope: e.prefix, Rule: "static"}
		}
	}
	p, _ := a.Prefix(a.BitLen())
	return geodata.Result{Region: l.Default, Scope: p, Rule: "default"}
}

// LocateRegion implements dnsserver.Locator: Locate's Region and Scope.
func (l *Locator) LocateRegion(a netip.Addr) (string, netip.Prefix) {
	res := l.Locate(a)
	return res.Region, res.Scope
}

// Fallback implements dnsserver.Locator.
func (l *Locator) Fallback(region string) []string { return l.fallback[region] }

// Calls returns how many times Locate was called.
func (l *Locator) Calls() int64 { return l.calls.Load() }

// Health is a region health map: every region is up until Set says
// otherwise. It is safe for concurrent use.
type Health struct {
	mu   sync.RWMutex
	down map[string]bool
}

// NewHealth returns a Health with every region up.
func NewHealth() *Health { return &Health{down: map[string]bool{}} }

// Set marks region up or down.
func (h *Health) Set(region string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down[region] = !up
}

// Up implements dnsserver.RegionHealth.
func (h *Health) Up(region string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return !h.down[region]
}

// Server is a started dnsserver.Server on loopback.
type Server struct {
	*dnsserver.Server
	// Addr is "127.0.0.1:port", for UDP and TCP.
	Addr string
}

// NewServer creates and starts a server from cfg with Listen set to
// 127.0.0.1:0 (when empty), and stops it when the test ends (failing the
// test when Stop fails).
func NewServer(t testing.TB, cfg dnsserver.Config, loc dnsserver.Locator, health dnsserver.RegionHealth, opts ...dnsserver.Option) *Server {
	t.Helper()
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	s, err := dnsserver.New(cfg, loc, health, opts...)
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("dnstest: %v", err)
		}
	})
	return &Server{Server: s, Addr: s.Addrs()[0].String()}
}

// Exchange sends m over network ("udp" or "tcp") and returns the reply.
// A UDP reply is not retried over TCP when truncated.
func (s *Server) Exchange(t testing.TB, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	r, err := s.TryExchange(network, m)
	if err != nil {
		t.Fatalf("dnstest: %s exchange %v: %v", network, m.Question, err)
	}
	return r
}

// TryExchange is Exchange returning the error.
func (s *Server) TryExchange(network string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, s.Addr)
	return r, err
}

// Query returns a query for name and qtype with RD clear and no EDNS.
func Query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	return m
}

// WithECS adds an OPT record (UDP size 1232) with an ECS option for
// prefix (masked; an invalid prefix adds OPT only) to m and returns m.
func WithECS(m *dns.Msg, prefix netip.Prefix) *dns.Msg {
	opt := m.IsEdns0()
	if opt == nil {
		m.SetEdns0(1232, false)
		opt = m.IsEdns0()
	}
	if !prefix.IsValid() {
		return m
	}
	prefix = prefix.Masked()
	e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(prefix.Bits()), Address: prefix.Addr().AsSlice()}
	if prefix.Addr().Is6() {
		e.Family = 2
	}
	opt.Option = append(opt.Option, e)
	return m
}

// ECS returns the ECS option of a reply, or nil.
func ECS(m *dns.Msg) *dns.EDNS0_SUBNET {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_SUBNET); ok {
			return e
		}
	}
	return nil
}

var (
	_ dnsserver.Locator      = (*Locator)(nil)
	_ dnsserver.RegionHealth = (*Health)(nil)
)
