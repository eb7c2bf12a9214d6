package dnsserver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// benchServer is the test zone with RRL off, not started.
func benchServer(b *testing.B, loc dnsserver.Locator) *dnsserver.Server {
	b.Helper()
	cfg := testConfig(b)
	cfg.Listen = []string{"127.0.0.1:0"}
	s, err := dnsserver.New(cfg, loc, dnstest.NewHealth())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// ecsQueries are n queries for www A, each with its own ECS /24 (a tenth
// of them IPv6 /56), spread over the locator's regions.
func ecsQueries(b *testing.B, n int) [][]byte {
	b.Helper()
	bases := []netip.Addr{netip.MustParseAddr("198.51.100.0"), netip.MustParseAddr("203.0.113.0"),
		netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("100.64.0.0"), netip.MustParseAddr("10.0.0.0")}
	var out [][]byte
	for i := range n {
		var p netip.Prefix
		if i%10 == 9 {
			a := netip.MustParseAddr("2001:db8:8000::").As16()
			a[5], a[6] = byte(i>>8), byte(i)
			p = netip.PrefixFrom(netip.AddrFrom16(a), 56)
		} else {
			a := bases[i%len(bases)].As4()
			a[2] += byte(i / len(bases))
			if i%len(bases) >= 3 {
				a[1] = byte(i)
			}
			p = netip.PrefixFrom(netip.AddrFrom4(a), 24)
		}
		q := dnstest.WithECS(dnstest.Query("www.cdn.demo.test.", dns.TypeA), p)
		q.Id = uint16(i)
		out = append(out, raw(b, q))
	}
	return out
}

var localhost = netip.MustParseAddr("127.0.0.1")

// BenchmarkFastPath answers the plain query of the dnsperf harness (www A,
// no EDNS) in process: parse, geo lookup (static locator), copy, patch.
func BenchmarkFastPath(b *testing.B) {
	for _, c := range []struct{ name, qname string }{{"geo", "www.cdn.demo.test."}, {"static", "static.cdn.demo.test."}, {"nxdomain", "nope.cdn.demo.test."}} {
		b.Run(c.name, func(b *testing.B) {
			s := benchServer(b, testLocator())
			h := dnsserver.Handler(s)
			q := raw(b, dnstest.Query(c.qname, dns.TypeA))
			if !dnsserver.TakesFastPath(q) {
				b.Fatal("not a fast-path query")
			}
			b.ReportAllocs()
			for b.Loop() {
				if h(q, localhost) == nil {
					b.Fatal("no reply")
				}
			}
		})
	}
}

// BenchmarkFastPathECS answers www A queries with 1024 different ECS
// subnets.
func BenchmarkFastPathECS(b *testing.B) {
	s := benchServer(b, testLocator())
	h := dnsserver.Handler(s)
	qs := ecsQueries(b, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if h(qs[i%len(qs)], localhost) == nil {
			b.Fatal("no reply")
		}
		i++
	}
}

// BenchmarkSlowPath answers the same queries through miekg/dns, for
// comparison.
func BenchmarkSlowPath(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		s := benchServer(b, testLocator())
		h := dnsserver.SlowHandler(s)
		q := raw(b, dnstest.Query("www.cdn.demo.test.", dns.TypeA))
		b.ReportAllocs()
		for b.Loop() {
			h(q, localhost)
		}
	})
	b.Run("ecs", func(b *testing.B) {
		s := benchServer(b, testLocator())
		h := dnsserver.SlowHandler(s)
		qs := ecsQueries(b, 1024)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h(qs[i%len(qs)], localhost)
			i++
		}
	})
}

// BenchmarkUDP is end to end over loopback: one client socket sends a
// query and waits for its reply, one at a time (so it measures latency,
// both sides' syscalls included, not the server's throughput; batching
// cannot show here). The allocations are the whole process's per query.
func BenchmarkUDP(b *testing.B) {
	for _, c := range []struct {
		name    string
		ecs     bool
		batched bool
	}{{"plain", false, true}, {"ecs", true, true}, {"plain/portable", false, false}, {"ecs/portable", true, false}} {
		b.Run(c.name, func(b *testing.B) {
			old := dnsserver.SetBatchUDP(c.batched)
			defer dnsserver.SetBatchUDP(old)
			cfg := testConfig(b)
			cfg.Listen = []string{"127.0.0.1:0"}
			cfg.UDPSockets = 1
			s, err := dnsserver.New(cfg, testLocator(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer s.Stop(context.Background())
			conn, err := net.DialUDP("udp", nil, s.Addrs()[0].(*net.UDPAddr))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			qs := [][]byte{raw(b, dnstest.Query("www.cdn.demo.test.", dns.TypeA))}
			if c.ecs {
				qs = ecsQueries(b, 1024)
			}
			buf := make([]byte, 2048)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := conn.Write(qs[i%len(qs)]); err != nil {
					b.Fatal(err)
				}
				_ = conn.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := conn.Read(buf); err != nil {
					b.Fatal(fmt.Errorf("query %d: %w", i, err))
				}
				i++
			}
		})
	}
}
