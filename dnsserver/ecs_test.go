package dnsserver_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// TestECS checks RFC 7871 over UDP and TCP: the answer follows the ECS
// subnet, the option is echoed with the locator's scope for geo answers
// and scope 0 for everything else.
func TestECS(t *testing.T) {
	srv, _, _ := startTest(t)
	rows := []struct {
		name   string
		qname  string
		qtype  uint16
		ecs    netip.Prefix
		answer []string
		scope  uint8
	}{
		{"geo eu /24 (scope /22 wider than the source)", "www.cdn.demo.test.", dns.TypeA, pfx("198.51.100.0/24"), []string{"203.0.113.30"}, 22},
		{"geo eu /32", "www.cdn.demo.test.", dns.TypeA, pfx("198.51.101.7/32"), []string{"203.0.113.30"}, 22},
		{"geo apac", "www.cdn.demo.test.", dns.TypeA, pfx("203.0.113.0/24"), []string{"203.0.113.40", "203.0.113.41"}, 24},
		{"geo na-east", "www.cdn.demo.test.", dns.TypeA, pfx("192.0.2.0/24"), []string{"203.0.113.10"}, 24},
		{"geo default region: host scope", "www.cdn.demo.test.", dns.TypeA, pfx("100.64.1.0/24"), []string{"203.0.113.10"}, 32},
		{"geo /16 source inside a /22 network: scope 22 > source", "www.cdn.demo.test.", dns.TypeA, pfx("198.51.0.0/16"), []string{"203.0.113.10"}, 32},
		{"geo IPv6 /56", "www.cdn.demo.test.", dns.TypeAAAA, pfx("2001:db8:8000:1200::/56"), []string{"2001:db8:30::1"}, 34},
		{"geo IPv6 subnet for an A query", "www.cdn.demo.test.", dns.TypeA, pfx("2001:db8:8000::/48"), []string{"203.0.113.30"}, 34},
		{"geo via CNAME", "alias.cdn.demo.test.", dns.TypeA, pfx("198.51.100.0/24"), []string{"203.0.113.30"}, 22},
		{"static: scope 0", "static.cdn.demo.test.", dns.TypeA, pfx("198.51.100.0/24"), []string{"192.0.2.80", "192.0.2.81"}, 0},
		{"NXDOMAIN: scope 0", "nope.cdn.demo.test.", dns.TypeA, pfx("198.51.100.0/24"), nil, 0},
		{"NODATA at a geo name: scope 0", "www.cdn.demo.test.", dns.TypeTXT, pfx("198.51.100.0/24"), nil, 0},
		{"SOA: scope 0", "cdn.demo.test.", dns.TypeSOA, pfx("198.51.100.0/24"), nil, 0},
		{"source /0: resolver address (127.0.0.1 → na-east), scope 0", "www.cdn.demo.test.", dns.TypeA, pfx("0.0.0.0/0"), []string{"203.0.113.10"}, 0},
		{"source ::/0: scope 0", "www.cdn.demo.test.", dns.TypeA, pfx("::/0"), []string{"203.0.113.10"}, 0},
		{"REFUSED echoes scope 0", "www.example.org.", dns.TypeA, pfx("198.51.100.0/24"), nil, 0},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, row := range rows {
			t.Run(network+"/"+row.name, func(t *testing.T) {
				q := dnstest.WithECS(dnstest.Query(row.qname, row.qtype), row.ecs)
				r := srv.Exchange(t, network, q)
				if got := addrs(r.Answer); !sameStrings(got, row.answer) {
					t.Errorf("answer %v, want %v", got, row.answer)
				}
				e := dnstest.ECS(r)
				if e == nil {
					t.Fatal("no ECS option in the reply")
				}
				want := dnstest.ECS(q)
				if e.Family != want.Family || e.SourceNetmask != want.SourceNetmask || !e.Address.Equal(want.Address) {
					t.Errorf("ECS %v (family %d), want %v (family %d)", e, e.Family, want, want.Family)
				}
				if e.SourceScope != row.scope {
					t.Errorf("scope %d, want %d", e.SourceScope, row.scope)
				}
			})
		}
	}
}

// ecsQuery builds a raw query for www A with an OPT carrying one ECS
// option with the given raw fields.
func ecsQuery(t *testing.T, family uint16, source, scope uint8, addr []byte) []byte {
	t.Helper()
	q := dnstest.Query("www.cdn.demo.test.", dns.TypeA)
	q.SetEdns0(1232, false)
	b := raw(t, q)
	data := binary.BigEndian.AppendUint16(nil, family)
	data = append(data, source, scope)
	data = append(data, addr...)
	opt := binary.BigEndian.AppendUint16(nil, dns.EDNS0SUBNET)
	opt = binary.BigEndian.AppendUint16(opt, uint16(len(data)))
	opt = append(opt, data...)
	// The OPT record is last and has no options: set RDLENGTH and append.
	binary.BigEndian.PutUint16(b[len(b)-2:], uint16(len(opt)))
	return append(b, opt...)
}

// TestECSMalformed: the RFC 7871 corner cases that are FORMERR (with an
// OPT and no ECS in the reply), and the ones that are not.
func TestECSMalformed(t *testing.T) {
	srv, _, m := startTest(t)
	rows := []struct {
		name    string
		pkt     func(t *testing.T) []byte
		formerr bool
	}{
		{"family 0", func(t *testing.T) []byte { return ecsQuery(t, 0, 0, 0, nil) }, true},
		{"unknown family 9", func(t *testing.T) []byte { return ecsQuery(t, 9, 24, 0, []byte{198, 51, 100}) }, true},
		{"IPv4 source /33", func(t *testing.T) []byte { return ecsQuery(t, 1, 33, 0, []byte{198, 51, 100, 0, 0}) }, true},
		{"IPv6 source /129", func(t *testing.T) []byte { return ecsQuery(t, 2, 129, 0, make([]byte, 17)) }, true},
		{"family mismatch: IPv6 address as family 1", func(t *testing.T) []byte {
			return ecsQuery(t, 1, 56, 0, []byte{0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 0})
		}, true},
		{"family mismatch: IPv4 address as family 2", func(t *testing.T) []byte { return ecsQuery(t, 2, 24, 0, []byte{198, 51, 100}) }, false},
		{"address longer than the prefix needs", func(t *testing.T) []byte { return ecsQuery(t, 1, 24, 0, []byte{198, 51, 100, 0}) }, true},
		{"address shorter than the prefix needs", func(t *testing.T) []byte { return ecsQuery(t, 1, 24, 0, []byte{198, 51}) }, true},
		{"host bits beyond the prefix", func(t *testing.T) []byte { return ecsQuery(t, 1, 22, 0, []byte{198, 51, 101}) }, true},
		{"non-zero scope in the query", func(t *testing.T) []byte { return ecsQuery(t, 1, 24, 16, []byte{198, 51, 100}) }, true},
		{"option shorter than 4 bytes", func(t *testing.T) []byte {
			b := ecsQuery(t, 1, 0, 0, nil)
			// shrink the option to 2 bytes of data
			binary.BigEndian.PutUint16(b[len(b)-6:], 2)
			binary.BigEndian.PutUint16(b[len(b)-10:], 6)
			return b[:len(b)-2]
		}, true},
		{"two ECS options", func(t *testing.T) []byte {
			b := ecsQuery(t, 1, 24, 0, []byte{198, 51, 100})
			opt := b[len(b)-11:]
			b = append(b, opt...)
			binary.BigEndian.PutUint16(b[len(b)-24:], 22)
			return b
		}, true},
		{"valid /22 with zero host bits", func(t *testing.T) []byte { return ecsQuery(t, 1, 22, 0, []byte{198, 51, 100}) }, false},
		{"valid /0", func(t *testing.T) []byte { return ecsQuery(t, 1, 0, 0, nil) }, false},
	}
	before := counterValue(t, m, "edge_dns_ecs_queries_total", map[string]string{"result": "malformed"})
	nbad := 0
	for _, network := range []string{"udp", "tcp"} {
		for _, row := range rows {
			t.Run(network+"/"+row.name, func(t *testing.T) {
				pkt := row.pkt(t)
				var r *dns.Msg
				if network == "udp" {
					b := rawExchange(t, srv.Addr, pkt)
					if b == nil {
						t.Fatal("no reply")
					}
					r = new(dns.Msg)
					if err := r.Unpack(b); err != nil {
						t.Fatalf("unpack: %v", err)
					}
				} else {
					r = tcpRaw(t, srv.Addr, pkt)
				}
				if row.formerr {
					nbad++
					if r.Rcode != dns.RcodeFormatError {
						t.Fatalf("rcode %s, want FORMERR", dns.RcodeToString[r.Rcode])
					}
					if r.IsEdns0() == nil {
						t.Error("no OPT in the FORMERR reply")
					}
					if dnstest.ECS(r) != nil {
						t.Error("ECS echoed in the FORMERR reply")
					}
					if len(r.Answer) != 0 {
						t.Error("answer in a FORMERR reply")
					}
					return
				}
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					t.Fatalf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
				}
				if dnstest.ECS(r) == nil {
					t.Error("no ECS echoed")
				}
			})
		}
	}
	if got := counterValue(t, m, "edge_dns_ecs_queries_total", map[string]string{"result": "malformed"}) - before; int(got) != nbad {
		t.Errorf("ecs malformed counted %v times, want %d", got, nbad)
	}
}

func tcpRaw(t *testing.T, addr string, pkt []byte) *dns.Msg {
	t.Helper()
	c, err := dns.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHealthFallback walks the fallback order as regions go down, and
// the all-down policies.
func TestHealthFallback(t *testing.T) {
	srv, h, m := startTest(t)
	euClient := pfx("198.51.100.0/24")
	ask := func(t *testing.T, qt uint16, ecs netip.Prefix) *dns.Msg {
		t.Helper()
		return srv.Exchange(t, "udp", dnstest.WithECS(dnstest.Query("www.cdn.demo.test.", qt), ecs))
	}
	steps := []struct {
		name  string
		down  []string
		qt    uint16
		ecs   netip.Prefix
		want  []string
		rcode int
	}{
		{"all up", nil, dns.TypeA, euClient, []string{"203.0.113.30"}, dns.RcodeSuccess},
		{"eu down → na-east", []string{"eu"}, dns.TypeA, euClient, []string{"203.0.113.10"}, dns.RcodeSuccess},
		{"eu, na-east down → apac", []string{"eu", "na-east"}, dns.TypeA, euClient, []string{"203.0.113.40", "203.0.113.41"}, dns.RcodeSuccess},
		{"AAAA: apac has none, eu down, na-east down → fail-open picks the first with AAAA in fallback order (eu)", []string{"eu", "na-east"}, dns.TypeAAAA, pfx("203.0.113.0/24"), []string{"2001:db8:30::1"}, dns.RcodeSuccess},
		{"AAAA for apac → eu (nodata fallback)", nil, dns.TypeAAAA, pfx("203.0.113.0/24"), []string{"2001:db8:30::1"}, dns.RcodeSuccess},
		{"region the name lacks (sa) → na-east", nil, dns.TypeA, pfx("10.1.0.0/16"), []string{"203.0.113.10"}, dns.RcodeSuccess},
		{"all down, fail-open → the client's region", []string{"eu", "na-east", "apac"}, dns.TypeA, euClient, []string{"203.0.113.30"}, dns.RcodeSuccess},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			for _, r := range []string{"eu", "na-east", "apac"} {
				h.Set(r, true)
			}
			for _, r := range s.down {
				h.Set(r, false)
			}
			r := ask(t, s.qt, s.ecs)
			if r.Rcode != s.rcode || !sameStrings(addrs(r.Answer), s.want) {
				t.Errorf("%s %v, want %s %v", dns.RcodeToString[r.Rcode], addrs(r.Answer), dns.RcodeToString[s.rcode], s.want)
			}
			if e := dnstest.ECS(r); e == nil || e.SourceScope == 0 {
				t.Errorf("ECS %v: want the locator's scope on a fallback answer too", e)
			}
		})
	}
	if v := counterValue(t, m, "edge_dns_all_down_total", map[string]string{"policy": "fail-open"}); v != 2 {
		t.Errorf("all_down_total{fail-open} = %v, want 2", v)
	}

	// fail-closed: SERVFAIL once every region with addresses is down.
	cfg := testConfig(t)
	cfg.Listen = srv.Config().Listen
	cfg.AllDown = dnsserver.FailClosed
	if err := srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"eu", "na-east", "apac"} {
		h.Set(r, false)
	}
	r := ask(t, dns.TypeA, euClient)
	if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 || r.Authoritative {
		t.Errorf("fail-closed: %s aa %v %v", dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
	}
	r = srv.Exchange(t, "tcp", dnstest.Query("www.cdn.demo.test.", dns.TypeA))
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("fail-closed over TCP: %s", dns.RcodeToString[r.Rcode])
	}
	// Static names do not depend on health.
	r = srv.Exchange(t, "udp", dnstest.Query("static.cdn.demo.test.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
		t.Errorf("static while all regions are down: %v", r)
	}
	h.Set("apac", true)
	r = ask(t, dns.TypeA, euClient)
	if !sameStrings(addrs(r.Answer), []string{"203.0.113.40", "203.0.113.41"}) {
		t.Errorf("apac back: %v", addrs(r.Answer))
	}
}
