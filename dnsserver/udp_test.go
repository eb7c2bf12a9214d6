package dnsserver_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// TestUDPLoops runs both UDP loops (batched recvmmsg/sendmmsg on Linux,
// and the portable one) under concurrent clients: every query gets its
// own reply, intact.
func TestUDPLoops(t *testing.T) {
	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			old := dnsserver.SetBatchUDP(batched)
			defer dnsserver.SetBatchUDP(old)
			srv, _, _ := startTest(t, func(c *dnsserver.Config) { c.UDPSockets = 2 })
			names := []struct{ name, want string }{
				{"static.cdn.demo.test.", "192.0.2.80,192.0.2.81"},
				{"www.cdn.demo.test.", "203.0.113.10"},
				{"mail.cdn.demo.test.", "192.0.2.25"},
				{"nope.cdn.demo.test.", ""},
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
					for i := range 200 {
						n := names[(g+i)%len(names)]
						q := dnstest.Query(n.name, dns.TypeA)
						if i%3 == 0 {
							q.SetEdns0(1232, false)
						}
						r, _, err := c.Exchange(q, srv.Addr)
						if err != nil {
							errs <- err
							return
						}
						if got := strings.Join(addrs(r.Answer), ","); got != n.want || r.Question[0].Name != n.name {
							errs <- fmt.Errorf("%s: %s", n.name, got)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// A malformed packet and a truncated answer on this loop too.
			if b := rawExchange(t, srv.Addr, []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63}); b == nil || b[3]&0xF != dns.RcodeFormatError {
				t.Errorf("garbage: reply %x", b)
			}
			if r := srv.Exchange(t, "udp", dnstest.Query("big.cdn.demo.test.", dns.TypeTXT)); !r.Truncated {
				t.Error("big answer not truncated")
			}
		})
	}
}

// TestServeDNS mounts the Server as the handler of a miekg dns.Server.
func TestServeDNS(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = []string{"127.0.0.1:0"}
	s, err := dnsserver.New(cfg, testLocator(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	ms := &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { close(started) }}
	go ms.ActivateAndServe()
	defer ms.Shutdown()
	<-started
	c := &dns.Client{Timeout: 2 * time.Second}
	q := dnstest.WithECS(dnstest.Query("WWW.cdn.demo.test.", dns.TypeA), pfx("198.51.100.0/24"))
	r, _, err := c.Exchange(q, pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if got := addrs(r.Answer); !sameStrings(got, []string{"203.0.113.30"}) || dnstest.ECS(r).SourceScope != 22 || r.Question[0].Name != "WWW.cdn.demo.test." {
		t.Errorf("reply: %v", r)
	}
}
