package dnsserver_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// sameReply compares a fast-path and a slow-path reply: both must unpack
// and say the same thing (header, question with its case, every record).
// Their bytes must be identical except for a bare NXDOMAIN, whose SOA the
// fast path packs after any question without compressing its RDATA names
// while miekg compresses them against the question (so they may take the
// question's case there: names compare case-insensitively).
func sameReply(fast, slow []byte) error {
	var f, s dns.Msg
	if err := f.Unpack(fast); err != nil {
		return fmt.Errorf("fast reply does not unpack: %v", err)
	}
	if err := s.Unpack(slow); err != nil {
		return fmt.Errorf("slow reply does not unpack: %v", err)
	}
	if s.Rcode == dns.RcodeNameError && len(s.Answer) == 0 {
		if fmt.Sprint(f.Question) != fmt.Sprint(s.Question) || strings.ToLower(f.String()) != strings.ToLower(s.String()) {
			return fmt.Errorf("replies differ:\nfast:\n%s\nslow:\n%s", &f, &s)
		}
		return nil
	}
	if !bytes.Equal(fast, slow) {
		return fmt.Errorf("replies differ:\nfast:\n%s\nslow:\n%s\nfast %x\nslow %x", &f, &s, fast, slow)
	}
	return nil
}

// queryVariants builds the common queries the fast path must take: every
// name of the test zones (and some that do not exist) × query types × EDNS
// and ECS forms × case.
func queryVariants(t testing.TB) [][]byte {
	names := []string{"cdn.demo.test.", "www.cdn.demo.test.", "static.cdn.demo.test.", "alias.cdn.demo.test.", "alias2.cdn.demo.test.",
		"ext.cdn.demo.test.", "dangling.cdn.demo.test.", "loop1.cdn.demo.test.", "b.deep.cdn.demo.test.", "a.b.deep.cdn.demo.test.",
		"big.cdn.demo.test.", "huge.cdn.demo.test.", "ns1.cdn.demo.test.", "mail.cdn.demo.test.", "v4only.cdn.demo.test.",
		"nope.cdn.demo.test.", "x.y.nope.cdn.demo.test.", "other.test.", "ns.other.test.", "no.other.test.", "example.org.", ".",
		"WwW.CdN.dEmO.TeSt.", "NOPE.CDN.DEMO.TEST.", "Big.Cdn.Demo.Test."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeSOA, dns.TypeNS, dns.TypeTXT, dns.TypeMX, dns.TypeCAA,
		dns.TypeANY, dns.TypeHTTPS, dns.TypeHINFO, dns.TypeOPT, 0, 65535}
	ecs := []netip.Prefix{{}, pfx("198.51.100.0/24"), pfx("198.51.101.128/25"), pfx("203.0.113.0/24"), pfx("10.9.0.0/16"),
		pfx("0.0.0.0/0"), pfx("2001:db8:8000:1200::/56"), pfx("::/0"), pfx("100.64.0.0/10"), pfx("198.51.100.7/32")}
	var out [][]byte
	for _, n := range names {
		for _, qt := range types {
			for i, e := range ecs {
				q := dnstest.Query(n, qt)
				q.RecursionDesired = i%2 == 0
				q.CheckingDisabled = i%3 == 0
				q.Id = uint16(len(out))
				out = append(out, raw(t, q)) // no EDNS
				for _, size := range []uint16{0, 512, 1232, 4096} {
					qe := q.Copy()
					qe.SetEdns0(size, size == 4096)
					if e.IsValid() {
						dnstest.WithECS(qe, e)
					}
					if size == 1232 {
						// an option the server ignores, before the ECS one
						opt := qe.IsEdns0()
						opt.Option = append([]dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}, opt.Option...)
					}
					out = append(out, raw(t, qe))
				}
			}
		}
	}
	return out
}

// TestFastSlowDifferential: for every common query, from several client
// addresses, over UDP and TCP, with regions up and down, the fast path
// takes it and answers exactly as the slow path does.
func TestFastSlowDifferential(t *testing.T) {
	for _, allDown := range []string{dnsserver.FailOpen, dnsserver.FailClosed} {
		cfg := testConfig(t)
		cfg.Listen = []string{"127.0.0.1:0"}
		cfg.AllDown = allDown
		h := dnstest.NewHealth()
		s, err := dnsserver.New(cfg, testLocator(), h)
		if err != nil {
			t.Fatal(err)
		}
		queries := queryVariants(t)
		srcs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("2001:db8:8000::1")}
		healths := [][]string{nil, {"eu"}, {"eu", "na-east"}, {"eu", "na-east", "apac"}}
		// Each query once per policy, with the health state, client
		// address and transport taken in turn.
		n := 0
		for hi, down := range healths {
			for _, r := range []string{"eu", "na-east", "apac"} {
				h.Set(r, true)
			}
			for _, r := range down {
				h.Set(r, false)
			}
			for i, q := range queries {
				if i%len(healths) != hi || (testing.Short() && i%5 != 0) {
					continue
				}
				src := srcs[(i/len(healths))%len(srcs)]
				tr := []int{dnsserver.UDP, dnsserver.TCP}[(i/7)%2]
				fast, ok, slow := dnsserver.BothPaths(s, q, src, tr)
				if !ok {
					var m dns.Msg
					_ = m.Unpack(q)
					t.Fatalf("fast path declined a common query:\n%s", &m)
				}
				if err := sameReply(fast, slow); err != nil {
					var m dns.Msg
					_ = m.Unpack(q)
					t.Fatalf("%s, src %s, transport %d, down %v, query:\n%s\n%v", allDown, src, tr, down, &m, err)
				}
				n++
			}
		}
		t.Logf("%s: %d queries answered the same by both paths", allDown, n)
	}
}

// TestFastPathDeclines: what the fast path leaves to the slow path.
func TestFastPathDeclines(t *testing.T) {
	base := func() *dns.Msg { return dnstest.Query("www.cdn.demo.test.", dns.TypeA) }
	rows := []struct {
		name string
		pkt  func() []byte
	}{
		{"opcode NOTIFY", func() []byte { m := base(); m.Opcode = dns.OpcodeNotify; return raw(t, m) }},
		{"response", func() []byte { m := base(); m.Response = true; return raw(t, m) }},
		{"two questions", func() []byte { m := base(); m.Question = append(m.Question, m.Question[0]); return raw(t, m) }},
		{"class CH", func() []byte { m := base(); m.Question[0].Qclass = dns.ClassCHAOS; return raw(t, m) }},
		{"AXFR", func() []byte { m := base(); m.Question[0].Qtype = dns.TypeAXFR; return raw(t, m) }},
		{"EDNS version 1", func() []byte { m := base(); m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1); return raw(t, m) }},
		{"malformed ECS", func() []byte { return ecsQuery(t, 1, 24, 8, []byte{198, 51, 100}) }},
		{"trailing bytes", func() []byte { return append(raw(t, base()), 0) }},
		{"answer record in query", func() []byte {
			m := base()
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: []byte{1, 2, 3, 4}}}
			return raw(t, m)
		}},
		{"TSIG-like additional record", func() []byte {
			m := base()
			m.Extra = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: []byte{1, 2, 3, 4}}}
			return raw(t, m)
		}},
		{"compressed question name", func() []byte {
			b := raw(t, base())
			return append(b[:12], 0xC0, 12, 0, 1, 0, 1)
		}},
	}
	for _, row := range rows {
		if dnsserver.TakesFastPath(row.pkt()) {
			t.Errorf("%s: fast path took it", row.name)
		}
	}
	if !dnsserver.TakesFastPath(raw(t, base())) {
		t.Error("fast path declined a plain query")
	}
}

// seedQueries are fuzz seeds: common queries and the odd ones.
func seedQueries(t testing.TB) [][]byte {
	var out [][]byte
	for i, q := range queryVariants(t) {
		if i%97 == 0 {
			out = append(out, q)
		}
	}
	m := dnstest.Query("www.cdn.demo.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	m.IsEdns0().SetVersion(1)
	out = append(out, raw(t, m))
	m = dnstest.Query("www.cdn.demo.test.", dns.TypeA)
	m.Opcode = dns.OpcodeUpdate
	out = append(out, raw(t, m))
	b := raw(t, dnstest.WithECS(dnstest.Query("www.cdn.demo.test.", dns.TypeA), pfx("198.51.100.0/24")))
	b[len(b)-4] = 9 // scope
	out = append(out, b, []byte{}, []byte{0, 0}, bytes.Repeat([]byte{0xff}, 40))
	hdr := make([]byte, 12)
	binary.BigEndian.PutUint16(hdr[4:], 1)
	out = append(out, append(hdr, strings.Repeat("\x3f"+strings.Repeat("a", 63), 4)+"\x00\x00\x01\x00\x01"...))
	return out
}

// TestNXDOMAINNearLimit: with long SOA names the fast path's uncompressed
// NXDOMAIN can exceed 512 bytes where the slow path's compressed one does
// not; whatever the question's length, the server answers like the slow
// path.
func TestNXDOMAINNearLimit(t *testing.T) {
	long := strings.Repeat("m", 60)
	cfg := decodeConfig(t, `
zones:
  - name: long.test
    soa: {mname: `+long+`.`+long+`.`+long+`.long.test., rname: `+long+`.`+long+`.`+long+`.long.test.}
    ns: [{name: ns.example.net.}]
`)
	cfg.Listen = []string{"127.0.0.1:0"}
	s, err := dnsserver.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	handle, slow := dnsserver.Handler(s), dnsserver.SlowHandler(s)
	declined, fast := 0, 0
	for n := 1; n <= 240; n += 3 {
		var labels []string
		for rest := n; rest > 0; rest -= 50 {
			labels = append(labels, strings.Repeat("q", min(rest, 49)))
		}
		q := raw(t, dnstest.Query(strings.Join(labels, ".")+".long.test.", dns.TypeA))
		a := bytes.Clone(handle(q, localhost))
		b := slow(q, localhost)
		if err := sameReply(a, b); err != nil {
			t.Fatalf("qname of %d bytes: %v", n, err)
		}
		if _, ok, _ := dnsserver.BothPaths(s, q, localhost, dnsserver.UDP); ok {
			fast++
		} else {
			declined++
		}
	}
	if declined == 0 || fast == 0 {
		t.Errorf("fast path took %d and declined %d NXDOMAIN questions; want some of each", fast, declined)
	}
}

// TestIgnoredOptions: EDNS options other than ECS are ignored (RFC 6891),
// even one miekg cannot unpack (an UPDATE-LEASE of length 0, found by
// FuzzServeUDP: the slow path answered FORMERR, the fast path NOERROR).
func TestIgnoredOptions(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = []string{"127.0.0.1:0"}
	s, err := dnsserver.New(cfg, testLocator(), nil)
	if err != nil {
		t.Fatal(err)
	}
	q := dnstest.Query("static.cdn.demo.test.", dns.TypeA)
	q.SetEdns0(1232, false)
	b := raw(t, q)
	for _, opt := range [][]byte{
		{0, 2, 0, 0},                          // UPDATE-LEASE, length 0
		{0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}, // COOKIE
		{0, 12, 0, 3, 0, 0, 0},                // PADDING
		{0xfd, 0xe9, 0, 1, 7},                 // a local option
	} {
		pkt := append(bytes.Clone(b), opt...)
		binary.BigEndian.PutUint16(pkt[len(b)-2:], uint16(len(opt)))
		fast, ok, slow := dnsserver.BothPaths(s, pkt, localhost, dnsserver.UDP)
		if !ok {
			t.Fatalf("option %x: fast path declined", opt)
		}
		if err := sameReply(fast, slow); err != nil {
			t.Fatalf("option %x: %v", opt, err)
		}
		var r dns.Msg
		if err := r.Unpack(slow); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
			t.Errorf("option %x: %v %v", opt, err, &r)
		}
	}
}
