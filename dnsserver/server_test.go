package dnsserver_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// TestAuthoritative checks the rules of a pure authoritative server over
// UDP and TCP, with and without EDNS.
func TestAuthoritative(t *testing.T) {
	srv, _, _ := startTest(t)
	type want struct {
		rcode   int
		aa      bool
		answer  []string // rr.String(), in order
		ns      []string
		extra   []string // without OPT
		nsTypes []uint16 // types of the authority section, when ns is nil
	}
	soaNeg := "cdn.demo.test.\t60\tIN\tSOA\tns1.cdn.demo.test. hostmaster.cdn.demo.test. 2024010101 3600 600 604800 60"
	rows := []struct {
		name  string
		qname string
		qtype uint16
		rd    bool
		want  want
	}{
		{"static A", "static.cdn.demo.test.", dns.TypeA, true, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"static.cdn.demo.test.\t120\tIN\tA\t192.0.2.80", "static.cdn.demo.test.\t120\tIN\tA\t192.0.2.81"}}},
		{"static AAAA", "static.cdn.demo.test.", dns.TypeAAAA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"static.cdn.demo.test.\t300\tIN\tAAAA\t2001:db8::80"}}},
		{"apex SOA", "cdn.demo.test.", dns.TypeSOA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"cdn.demo.test.\t300\tIN\tSOA\tns1.cdn.demo.test. hostmaster.cdn.demo.test. 2024010101 3600 600 604800 60"}}},
		{"apex NS with glue", "cdn.demo.test.", dns.TypeNS, false, want{rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"cdn.demo.test.\t300\tIN\tNS\tns1.cdn.demo.test.", "cdn.demo.test.\t300\tIN\tNS\tns2.example.net."},
			extra:  []string{"ns1.cdn.demo.test.\t300\tIN\tA\t192.0.2.53", "ns1.cdn.demo.test.\t300\tIN\tAAAA\t2001:db8::53"}}},
		{"apex MX", "cdn.demo.test.", dns.TypeMX, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"cdn.demo.test.\t300\tIN\tMX\t10 mail.cdn.demo.test."}}},
		{"apex TXT", "cdn.demo.test.", dns.TypeTXT, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"cdn.demo.test.\t300\tIN\tTXT\t\"v=spf1 -all\""}}},
		{"apex CAA", "cdn.demo.test.", dns.TypeCAA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"cdn.demo.test.\t300\tIN\tCAA\t0 issue \"letsencrypt.org\""}}},
		{"glue name A", "ns1.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"ns1.cdn.demo.test.\t300\tIN\tA\t192.0.2.53"}}},
		{"NXDOMAIN", "nope.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeNameError, aa: true, ns: []string{soaNeg}}},
		{"NXDOMAIN deep", "x.y.z.cdn.demo.test.", dns.TypeTXT, false, want{rcode: dns.RcodeNameError, aa: true, ns: []string{soaNeg}}},
		{"NODATA", "mail.cdn.demo.test.", dns.TypeAAAA, false, want{rcode: dns.RcodeSuccess, aa: true, ns: []string{soaNeg}}},
		{"NODATA SOA below apex", "mail.cdn.demo.test.", dns.TypeSOA, false, want{rcode: dns.RcodeSuccess, aa: true, ns: []string{soaNeg}}},
		{"NODATA other type", "static.cdn.demo.test.", dns.TypeHTTPS, false, want{rcode: dns.RcodeSuccess, aa: true, ns: []string{soaNeg}}},
		{"empty non-terminal", "b.deep.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeSuccess, aa: true, ns: []string{soaNeg}}},
		{"empty non-terminal 2", "deep.cdn.demo.test.", dns.TypeTXT, false, want{rcode: dns.RcodeSuccess, aa: true, ns: []string{soaNeg}}},
		{"below a leaf", "x.a.b.deep.cdn.demo.test.", dns.TypeTXT, false, want{rcode: dns.RcodeNameError, aa: true, ns: []string{soaNeg}}},
		{"REFUSED outside", "www.example.org.", dns.TypeA, true, want{rcode: dns.RcodeRefused}},
		{"REFUSED parent", "demo.test.", dns.TypeA, false, want{rcode: dns.RcodeRefused}},
		{"REFUSED root", ".", dns.TypeNS, false, want{rcode: dns.RcodeRefused}},
		{"REFUSED AXFR", "cdn.demo.test.", dns.TypeAXFR, false, want{rcode: dns.RcodeRefused}},
		{"second zone", "other.test.", dns.TypeNS, false, want{rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"other.test.\t300\tIN\tNS\tns.other.test."}, extra: []string{"ns.other.test.\t300\tIN\tA\t192.0.2.54"}}},
		{"CNAME to geo", "alias.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"alias.cdn.demo.test.\t300\tIN\tCNAME\twww.cdn.demo.test.", "www.cdn.demo.test.\t60\tIN\tA\t203.0.113.10"}}},
		{"CNAME chain", "alias2.cdn.demo.test.", dns.TypeAAAA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"alias2.cdn.demo.test.\t300\tIN\tCNAME\talias.cdn.demo.test.", "alias.cdn.demo.test.\t300\tIN\tCNAME\twww.cdn.demo.test.",
			"www.cdn.demo.test.\t60\tIN\tAAAA\t2001:db8:10::1"}}},
		{"CNAME query", "alias.cdn.demo.test.", dns.TypeCNAME, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"alias.cdn.demo.test.\t300\tIN\tCNAME\twww.cdn.demo.test."}}},
		{"CNAME out of zone", "ext.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"ext.cdn.demo.test.\t300\tIN\tCNAME\tcdn.example.net."}}},
		{"CNAME dangling", "dangling.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeNameError, aa: true,
			answer: []string{"dangling.cdn.demo.test.\t300\tIN\tCNAME\tnothere.cdn.demo.test."}, ns: []string{soaNeg}}},
		{"CNAME to NODATA", "alias.cdn.demo.test.", dns.TypeTXT, false, want{rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"alias.cdn.demo.test.\t300\tIN\tCNAME\twww.cdn.demo.test."}, ns: []string{soaNeg}}},
		{"CNAME loop", "loop1.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"loop1.cdn.demo.test.\t300\tIN\tCNAME\tloop2.cdn.demo.test.", "loop2.cdn.demo.test.\t300\tIN\tCNAME\tloop1.cdn.demo.test."}}},
		{"ANY apex", "cdn.demo.test.", dns.TypeANY, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"cdn.demo.test.\t300\tIN\tSOA\tns1.cdn.demo.test. hostmaster.cdn.demo.test. 2024010101 3600 600 604800 60"}}},
		{"ANY static", "static.cdn.demo.test.", dns.TypeANY, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"static.cdn.demo.test.\t120\tIN\tA\t192.0.2.80", "static.cdn.demo.test.\t120\tIN\tA\t192.0.2.81"}}},
		{"ANY geo", "www.cdn.demo.test.", dns.TypeANY, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"www.cdn.demo.test.\t300\tIN\tHINFO\t\"RFC8482\" \"\""}}},
		{"ANY CNAME", "alias.cdn.demo.test.", dns.TypeANY, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"alias.cdn.demo.test.\t300\tIN\tCNAME\twww.cdn.demo.test."}}},
		{"ANY NXDOMAIN", "nope.cdn.demo.test.", dns.TypeANY, false, want{rcode: dns.RcodeNameError, aa: true, ns: []string{soaNeg}}},
		{"geo A (resolver 127.0.0.1 → na-east)", "www.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"www.cdn.demo.test.\t60\tIN\tA\t203.0.113.10"}}},
		{"geo AAAA", "www.cdn.demo.test.", dns.TypeAAAA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"www.cdn.demo.test.\t60\tIN\tAAAA\t2001:db8:10::1"}}},
		{"geo other type NODATA", "www.cdn.demo.test.", dns.TypeTXT, false, want{rcode: dns.RcodeSuccess, aa: true, ns: []string{soaNeg}}},
		{"geo without AAAA anywhere", "v4only.cdn.demo.test.", dns.TypeAAAA, false, want{rcode: dns.RcodeSuccess, aa: true, ns: []string{soaNeg}}},
		{"geo fallback for a region it lacks", "v4only.cdn.demo.test.", dns.TypeA, false, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"v4only.cdn.demo.test.\t60\tIN\tA\t203.0.113.31"}}},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, edns := range []bool{false, true} {
			for _, row := range rows {
				name := network + "/" + row.name
				if edns {
					name = network + "/edns/" + row.name
				}
				t.Run(name, func(t *testing.T) {
					q := dnstest.Query(row.qname, row.qtype)
					q.RecursionDesired = row.rd
					if edns {
						q.SetEdns0(1232, true)
					}
					r := srv.Exchange(t, network, q)
					if r.Id != q.Id || !r.Response || r.Opcode != dns.OpcodeQuery {
						t.Errorf("header: id %d (want %d) qr %v opcode %d", r.Id, q.Id, r.Response, r.Opcode)
					}
					if r.Rcode != row.want.rcode || r.Authoritative != row.want.aa {
						t.Errorf("rcode %s aa %v, want %s aa %v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[row.want.rcode], row.want.aa)
					}
					if r.RecursionAvailable {
						t.Error("RA set")
					}
					if r.RecursionDesired != row.rd {
						t.Errorf("RD %v, want it copied (%v)", r.RecursionDesired, row.rd)
					}
					if r.Truncated {
						t.Error("TC set")
					}
					if len(r.Question) != 1 || r.Question[0] != q.Question[0] {
						t.Errorf("question %v, want %v", r.Question, q.Question)
					}
					if got := rrStrings(r.Answer); !sameStrings(got, row.want.answer) {
						t.Errorf("answer\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(row.want.answer, "\n"))
					}
					if got := rrStrings(r.Ns); !sameStrings(got, row.want.ns) {
						t.Errorf("authority\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(row.want.ns, "\n"))
					}
					var extra []dns.RR
					for _, rr := range r.Extra {
						if rr.Header().Rrtype != dns.TypeOPT {
							extra = append(extra, rr)
						}
					}
					if got := rrStrings(extra); !sameStrings(got, row.want.extra) {
						t.Errorf("additional\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(row.want.extra, "\n"))
					}
					opt := r.IsEdns0()
					switch {
					case edns && opt == nil:
						t.Error("no OPT in the reply to an EDNS query")
					case edns && (opt.UDPSize() != 1232 || opt.Version() != 0 || !opt.Do()):
						t.Errorf("OPT: size %d version %d do %v, want 1232 0 true", opt.UDPSize(), opt.Version(), opt.Do())
					case !edns && opt != nil:
						t.Error("OPT in the reply to a query without EDNS")
					}
					if dnstest.ECS(r) != nil {
						t.Error("ECS in the reply to a query without ECS")
					}
				})
			}
		}
	}
}

// TestCaseEcho: the question comes back in the query's case, and the
// answer is found whatever the case.
func TestCaseEcho(t *testing.T) {
	srv, _, _ := startTest(t)
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"StAtIc.CDN.demo.TEST.", "WWW.CDN.DEMO.TEST.", "NoPe.Cdn.Demo.Test.", "AlIaS.cdn.demo.test."} {
			for _, edns := range []bool{false, true} {
				q := dnstest.Query(name, dns.TypeA)
				if edns {
					q.SetEdns0(1232, false)
				}
				r := srv.Exchange(t, network, q)
				if r.Question[0].Name != name {
					t.Errorf("%s %s: question %q", network, name, r.Question[0].Name)
				}
				if r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 {
					t.Errorf("%s %s: no answer", network, name)
				}
				for _, rr := range r.Answer {
					if strings.EqualFold(rr.Header().Name, name) && rr.Header().Name != name {
						t.Errorf("%s %s: answer owner %q does not echo the case", network, name, rr.Header().Name)
					}
				}
			}
		}
	}
}

// rawExchange sends a raw packet over UDP and returns the reply, or nil
// after a short wait.
func rawExchange(t *testing.T, addr string, pkt []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// TestProtocolErrors: opcodes, question counts, EDNS versions, classes and
// packets that are not queries.
func TestProtocolErrors(t *testing.T) {
	srv, _, _ := startTest(t)
	base := func() *dns.Msg { return dnstest.Query("www.cdn.demo.test.", dns.TypeA) }
	rows := []struct {
		name   string
		pkt    func() []byte
		rcode  int // -1: no reply
		opt    bool
		qcount int
	}{
		{"NOTIFY → NOTIMP", func() []byte { m := base(); m.Opcode = dns.OpcodeNotify; return raw(t, m) }, dns.RcodeNotImplemented, false, 1},
		{"STATUS → NOTIMP", func() []byte { m := base(); m.Opcode = dns.OpcodeStatus; return raw(t, m) }, dns.RcodeNotImplemented, false, 1},
		{"UPDATE → NOTIMP", func() []byte { m := base(); m.Opcode = dns.OpcodeUpdate; return raw(t, m) }, dns.RcodeNotImplemented, false, 1},
		{"QDCOUNT 0 → FORMERR", func() []byte { m := base(); m.Question = nil; return raw(t, m) }, dns.RcodeFormatError, false, 0},
		{"QDCOUNT 2 → FORMERR", func() []byte {
			m := base()
			m.Question = append(m.Question, dns.Question{Name: "static.cdn.demo.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			return raw(t, m)
		}, dns.RcodeFormatError, false, 0},
		{"QDCOUNT 0 with EDNS → FORMERR with OPT", func() []byte { m := base(); m.Question = nil; m.SetEdns0(1232, false); return raw(t, m) }, dns.RcodeFormatError, true, 0},
		{"EDNS version 1 → BADVERS", func() []byte {
			m := base()
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return raw(t, m)
		}, dns.RcodeBadVers, true, 1},
		{"two OPT → FORMERR", func() []byte {
			m := base()
			m.SetEdns0(1232, false)
			m.Extra = append(m.Extra, dns.Copy(m.Extra[0]))
			return raw(t, m)
		}, dns.RcodeFormatError, true, 1},
		{"class CH → REFUSED", func() []byte { m := base(); m.Question[0].Qclass = dns.ClassCHAOS; return raw(t, m) }, dns.RcodeRefused, false, 1},
		{"a response → no reply", func() []byte { m := base(); m.Response = true; return raw(t, m) }, -1, false, 0},
		{"short packet → no reply", func() []byte { return []byte{1, 2, 3} }, -1, false, 0},
		{"garbage question → FORMERR", func() []byte {
			b := raw(t, base())
			return b[:len(b)-3]
		}, dns.RcodeFormatError, false, 0},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			pkt := row.pkt()
			b := rawExchange(t, srv.Addr, pkt)
			if row.rcode < 0 {
				if b != nil {
					t.Fatalf("got a reply %x", b)
				}
				return
			}
			if b == nil {
				t.Fatal("no reply")
			}
			var r dns.Msg
			if err := r.Unpack(b); err != nil {
				t.Fatalf("unpack reply: %v", err)
			}
			if r.Id != binary.BigEndian.Uint16(pkt) || !r.Response {
				t.Errorf("id %d qr %v", r.Id, r.Response)
			}
			if r.Rcode != row.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[row.rcode])
			}
			if (r.IsEdns0() != nil) != row.opt {
				t.Errorf("OPT present %v, want %v", r.IsEdns0() != nil, row.opt)
			}
			if len(r.Question) != row.qcount {
				t.Errorf("%d questions, want %d", len(r.Question), row.qcount)
			}
			if len(r.Answer) != 0 || r.Authoritative {
				t.Errorf("answer %v aa %v in an error reply", r.Answer, r.Authoritative)
			}
		})
	}
}

// TestTruncation: answers beyond the client's UDP size come back with TC
// and no records; TCP gets them whole.
func TestTruncation(t *testing.T) {
	srv, _, m := startTest(t)
	rows := []struct {
		name  string
		qname string
		edns  uint16 // 0: no EDNS
		tc    bool
	}{
		{"600B TXT without EDNS", "big.cdn.demo.test.", 0, true},
		{"600B TXT with EDNS 512", "big.cdn.demo.test.", 512, true},
		{"600B TXT with EDNS 400 (counts as 512)", "big.cdn.demo.test.", 400, true},
		{"600B TXT with EDNS 1232", "big.cdn.demo.test.", 1232, false},
		{"600B TXT with EDNS 4096", "big.cdn.demo.test.", 4096, false},
		{"1500B TXT with EDNS 4096 (we send at most 1232)", "huge.cdn.demo.test.", 4096, true},
		{"small answer without EDNS", "static.cdn.demo.test.", 0, false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			q := dnstest.Query(row.qname, dns.TypeTXT)
			if row.qname == "static.cdn.demo.test." {
				q.Question[0].Qtype = dns.TypeA
			}
			if row.edns > 0 {
				q.SetEdns0(row.edns, false)
			}
			r := srv.Exchange(t, "udp", q)
			if r.Truncated != row.tc {
				t.Fatalf("TC %v, want %v", r.Truncated, row.tc)
			}
			if row.tc {
				if len(r.Answer)+len(r.Ns) != 0 || !r.Authoritative || r.Rcode != dns.RcodeSuccess || len(r.Question) != 1 {
					t.Errorf("truncated reply: %v", r)
				}
				if (r.IsEdns0() != nil) != (row.edns > 0) {
					t.Error("OPT not echoed in the truncated reply")
				}
				full := srv.Exchange(t, "tcp", q)
				if full.Truncated || len(full.Answer) != 1 {
					t.Fatalf("TCP retry: %v", full)
				}
				txt := strings.Join(full.Answer[0].(*dns.TXT).Txt, "")
				if len(txt) != 600 && len(txt) != 1500 {
					t.Errorf("TCP answer has %d bytes of text", len(txt))
				}
			} else if len(r.Answer) == 0 {
				t.Error("no answer")
			}
		})
	}
	if v := counterValue(t, m, "edge_dns_truncated_total", nil); v != 4 {
		t.Errorf("edge_dns_truncated_total = %v, want 4", v)
	}
}

// TestTCPPipelining sends three queries in one write and reads three
// replies, in order.
func TestTCPPipelining(t *testing.T) {
	srv, _, _ := startTest(t)
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := []string{"static.cdn.demo.test.", "www.cdn.demo.test.", "nope.cdn.demo.test."}
	var buf []byte
	var ids []uint16
	for _, n := range names {
		b := raw(t, dnstest.Query(n, dns.TypeA))
		ids = append(ids, binary.BigEndian.Uint16(b))
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(b)))
		buf = append(buf, b...)
	}
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i, n := range names {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		var r dns.Msg
		if err := r.Unpack(b); err != nil {
			t.Fatal(err)
		}
		if r.Id != ids[i] || r.Question[0].Name != n {
			t.Errorf("reply %d: id %d question %s, want %d %s", i, r.Id, r.Question[0].Name, ids[i], n)
		}
	}
}

// TestTCPIdleTimeout: a connection that sends nothing is closed after
// tcp_idle_timeout, one that keeps asking is not.
func TestTCPIdleTimeout(t *testing.T) {
	srv, _, _ := startTest(t, func(c *dnsserver.Config) { c.TCPIdleTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	_, err = c.Read(b[:])
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read from an idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("closed after %s, want about 300ms", d)
	}

	// Queries every 100ms keep a connection open past the timeout.
	co, err := dns.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	for range 6 {
		if err := co.WriteMsg(dnstest.Query("static.cdn.demo.test.", dns.TypeA)); err != nil {
			t.Fatal(err)
		}
		if _, err := co.ReadMsg(); err != nil {
			t.Fatalf("busy connection closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTCPMaxConns: beyond tcp_max_conns new connections are closed at
// once; closing one makes room.
func TestTCPMaxConns(t *testing.T) {
	srv, _, m := startTest(t, func(c *dnsserver.Config) { c.TCPMaxConns = 2 })
	var held []*dns.Conn
	for range 2 {
		co, err := dns.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		// A query round trip makes sure the server counts it as open.
		if err := co.WriteMsg(dnstest.Query("static.cdn.demo.test.", dns.TypeA)); err != nil {
			t.Fatal(err)
		}
		if _, err := co.ReadMsg(); err != nil {
			t.Fatal(err)
		}
		held = append(held, co)
	}
	if v := gaugeValue(t, m, "edge_dns_tcp_connections_open"); v != 2 {
		t.Errorf("edge_dns_tcp_connections_open = %v, want 2", v)
	}
	if _, err := srv.TryExchange("tcp", dnstest.Query("static.cdn.demo.test.", dns.TypeA)); err == nil {
		t.Fatal("third connection served")
	}
	if v := counterValue(t, m, "edge_dns_tcp_connections_rejected_total", nil); v != 1 {
		t.Errorf("edge_dns_tcp_connections_rejected_total = %v, want 1", v)
	}
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for gaugeValue(t, m, "edge_dns_tcp_connections_open") != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := srv.TryExchange("tcp", dnstest.Query("static.cdn.demo.test.", dns.TypeA)); err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	held[1].Close()
}

// TestReload swaps zones atomically under load and keeps the old ones on
// a bad config.
func TestReload(t *testing.T) {
	srv, _, _ := startTest(t)
	cfg := testConfig(t)
	cfg.Listen = []string{"127.0.0.1:0"}

	// Under concurrent queries, every answer is the old or the new one.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			for !stop.Load() {
				r, _, err := c.Exchange(dnstest.Query("static.cdn.demo.test.", dns.TypeA), srv.Addr)
				if err != nil {
					bad.Store(err.Error())
					return
				}
				got := strings.Join(addrs(r.Answer), ",")
				if got != "192.0.2.80,192.0.2.81" && got != "192.0.2.99" {
					bad.Store("answer " + got)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	next := cfg
	next.Zones = append([]dnsserver.ZoneConfig(nil), cfg.Zones...)
	z := next.Zones[0]
	z.Records = append([]dnsserver.RecordConfig(nil), z.Records...)
	for i, r := range z.Records {
		if r.Name == "static" && r.Type == "A" {
			z.Records[i].Values = []string{"192.0.2.99"}
		}
	}
	next.Zones[0] = z
	if err := srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	r := srv.Exchange(t, "udp", dnstest.Query("static.cdn.demo.test.", dns.TypeA))
	if got := addrs(r.Answer); len(got) != 1 || got[0] != "192.0.2.99" {
		t.Fatalf("after reload: %v", got)
	}

	// A bad config changes nothing.
	broken := next
	broken.Zones = append([]dnsserver.ZoneConfig(nil), next.Zones...)
	broken.Zones[0].Records = append([]dnsserver.RecordConfig{{Name: "x", Type: "A", Values: []string{"not-an-ip"}}}, next.Zones[0].Records...)
	err := srv.Reload(broken)
	if err == nil || !strings.Contains(err.Error(), "zones[0].records[0].values[0]") {
		t.Fatalf("bad reload: %v", err)
	}
	r = srv.Exchange(t, "udp", dnstest.Query("static.cdn.demo.test.", dns.TypeA))
	if got := addrs(r.Answer); len(got) != 1 || got[0] != "192.0.2.99" {
		t.Fatalf("after a failed reload: %v", got)
	}

	// Listen addresses and socket counts cannot change.
	moved := next
	moved.Listen = []string{"127.0.0.1:5353"}
	if err := srv.Reload(moved); err == nil || !strings.Contains(err.Error(), "listen:") {
		t.Errorf("listen change: %v", err)
	}
	more := next
	more.UDPSockets = 7
	if err := srv.Reload(more); err == nil || !strings.Contains(err.Error(), "udp_sockets:") {
		t.Errorf("udp_sockets change: %v", err)
	}
}

// TestLifecycle: Start serves and sets Ready, Stop is idempotent and leaks
// no goroutines, also with TCP connections open.
func TestLifecycle(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig(t)
	cfg.Listen = []string{"127.0.0.1:0", "[::1]:0"}
	if _, err := net.Listen("tcp", "[::1]:0"); err != nil {
		cfg.Listen = cfg.Listen[:1] // no IPv6 loopback here
	}
	cfg.UDPSockets = 3
	s, err := dnsserver.New(cfg, testLocator(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ready() || s.Addrs() != nil {
		t.Fatal("ready before Start")
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.Ready() || len(s.Addrs()) != len(cfg.Listen) {
		t.Fatalf("ready %v addrs %v", s.Ready(), s.Addrs())
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	for _, a := range s.Addrs() {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		if _, _, err := c.Exchange(dnstest.Query("static.cdn.demo.test.", dns.TypeA), a.String()); err != nil {
			t.Fatalf("udp %s: %v", a, err)
		}
		c.Net = "tcp"
		if _, _, err := c.Exchange(dnstest.Query("static.cdn.demo.test.", dns.TypeA), a.String()); err != nil {
			t.Fatalf("tcp %s: %v", a, err)
		}
	}
	// An idle TCP connection must not hold Stop up.
	idle, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %s with an idle connection", d)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if s.Ready() {
		t.Error("ready after Stop")
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded")
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Stop, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	// Stop before Start is harmless too.
	s2, err := dnsserver.New(cfg, testLocator(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Stop(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestListenErrors: a port in use fails Start and leaves nothing open.
func TestListenErrors(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := testConfig(t)
	cfg.Listen = []string{"127.0.0.1:0", pc.LocalAddr().String()}
	s, err := dnsserver.New(cfg, testLocator(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start on a used port succeeded")
	}
	if s.Ready() {
		t.Error("ready after a failed Start")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestCheck: the health check queries the server through its own socket;
// it fails before Start, after Stop, and with a timeout error when the
// address answers nothing.
func TestCheck(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = []string{"127.0.0.1:0"}
	s, err := dnsserver.New(cfg, testLocator(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Check(ctx); !errors.Is(err, dnsserver.ErrNotServing) {
		t.Errorf("before Start: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("serving: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); !errors.Is(err, dnsserver.ErrNotServing) {
		t.Errorf("after Stop: %v", err)
	}
}
