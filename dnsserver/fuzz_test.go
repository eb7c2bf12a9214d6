package dnsserver_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// FuzzServeUDP feeds arbitrary packets to the query path as a UDP socket
// does (fast path, else slow path) and to the slow path alone. Neither may
// panic (the handler's recover would hide it, so the panic counter is
// checked); a reply is either absent or a message miekg unpacks, with the
// query's ID; when the fast path takes the packet its reply says the same
// as the slow path's.
func FuzzServeUDP(f *testing.F) {
	for _, q := range seedQueries(f) {
		f.Add(q, uint8(0))
	}
	cfg := testConfig(f)
	cfg.Listen = []string{"127.0.0.1:0"}
	h := dnstest.NewHealth()
	m := dnsserver.NewMetrics()
	s, err := dnsserver.New(cfg, testLocator(), h, dnsserver.WithMetrics(m))
	if err != nil {
		f.Fatal(err)
	}
	srcs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("2001:db8:8000::1")}
	handle := dnsserver.Handler(s)
	slowOnly := dnsserver.SlowHandler(s)
	f.Fuzz(func(t *testing.T, q []byte, knob uint8) {
		src := srcs[int(knob)%len(srcs)]
		h.Set("eu", knob&4 == 0)
		h.Set("na-east", knob&8 == 0)
		for name, path := range map[string]func([]byte, netip.Addr) []byte{"handler": handle, "slow": slowOnly} {
			r := path(q, src)
			if r == nil {
				if len(q) >= 12 && q[2]&0x80 == 0 {
					t.Fatalf("%s: no reply to a query %x", name, q)
				}
				continue
			}
			var msg dns.Msg
			if err := msg.Unpack(r); err != nil {
				t.Fatalf("%s: reply does not unpack: %v\nquery %x\nreply %x", name, err, q, r)
			}
			if msg.Id != binary.BigEndian.Uint16(q) || !msg.Response {
				t.Fatalf("%s: reply id %d qr %v to query %x", name, msg.Id, msg.Response, q)
			}
			if len(r) > 512 && msg.IsEdns0() == nil {
				t.Fatalf("%s: %d-byte reply without EDNS", name, len(r))
			}
			if len(r) > 1232 {
				t.Fatalf("%s: %d-byte UDP reply", name, len(r))
			}
		}
		if fast, ok, slow := dnsserver.BothPaths(s, q, src, int(knob>>4)%2); ok {
			if err := sameReply(fast, slow); err != nil {
				t.Fatalf("query %x: %v", q, err)
			}
		}
		if v := dnsserver.Panics(m); v != 0 {
			t.Fatalf("query %x: the handler panicked", q)
		}
	})
}

// FuzzZoneRecords feeds arbitrary record input (owner, type, TTL, value)
// and geo input to Validate and New: no panic, and a config Validate
// accepts is one New accepts and whose names answer.
func FuzzZoneRecords(f *testing.F) {
	f.Add("www", "A", int64(0), "192.0.2.1", "eu", "203.0.113.1")
	f.Add("@", "MX", int64(60), "10 mail", "na", "2001:db8::1")
	f.Add("x.y", "CAA", int64(3600), `0 issue "letsencrypt.org"`, "r", "x")
	f.Add("t", "TXT", int64(1), `a "quoted" \ value`, "eu", "198.51.100.1")
	f.Add("c", "CNAME", int64(0), "www.example.net.", "eu", "192.0.2.9")
	f.Add("*.w", "AAAA", int64(-1), "::1", "", "")
	f.Fuzz(func(t *testing.T, name, typ string, ttl int64, value, region, addr string) {
		cfg := dnsserver.Config{
			Listen: []string{"127.0.0.1:0"},
			Zones: []dnsserver.ZoneConfig{{
				Name:    "fuzz.test",
				NS:      []dnsserver.NSConfig{{Name: "ns1", Addresses: []string{"192.0.2.53"}}},
				Records: []dnsserver.RecordConfig{{Name: name, Type: typ, TTL: time.Duration(ttl) * time.Second, Values: []string{value}}},
				Geo:     []dnsserver.GeoConfig{{Name: "geo", Regions: map[string]dnsserver.RegionRecords{region: {A: []string{addr}, AAAA: []string{addr}}}}},
			}},
		}
		cfg.SetDefaults()
		verr := cfg.Validate()
		s, nerr := dnsserver.New(cfg, testLocator(), nil)
		if (verr == nil) != (nerr == nil) {
			t.Fatalf("Validate: %v, New: %v", verr, nerr)
		}
		if nerr != nil {
			return
		}
		h := dnsserver.Handler(s)
		for _, qn := range []string{name + ".fuzz.test.", name, "geo.fuzz.test.", "fuzz.test."} {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeTXT} {
				if _, ok := dns.IsDomainName(qn); !ok {
					continue
				}
				q := dnstest.Query(dns.Fqdn(qn), qt)
				b, err := q.Pack()
				if err != nil {
					continue
				}
				r := h(b, netip.MustParseAddr("198.51.100.1"))
				var m dns.Msg
				if err := m.Unpack(r); err != nil {
					t.Fatalf("%s %s: reply does not unpack: %v", qn, dns.TypeToString[qt], err)
				}
			}
		}
	})
}
