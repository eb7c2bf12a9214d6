package dnsserver_test

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// TestRRL: a client prefix over its rate gets every slip-th reply
// truncated and the others dropped; TCP is not limited.
func TestRRL(t *testing.T) {
	for _, tc := range []struct {
		name       string
		slip       int
		wantTC     bool
		wantDrop   bool
		tcFraction float64 // of limited replies, roughly
	}{
		{"slip 2", 2, true, true, 0.5},
		{"slip 1: every limited reply truncated", 1, true, false, 1},
		{"slip -1: every limited reply dropped", -1, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _, m := startTest(t, func(c *dnsserver.Config) {
				c.RRL = dnsserver.RRLConfig{ResponsesPerSecond: 5, Slip: tc.slip, Window: time.Second}
			})
			c, err := net.Dial("udp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			co := &dns.Conn{Conn: c}
			const sent = 40
			var full, truncated, lost, stale int
			start := time.Now()
			for range sent {
				q := dnstest.Query("static.cdn.demo.test.", dns.TypeA)
				if err := co.WriteMsg(q); err != nil {
					t.Fatal(err)
				}
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				for {
					r, err := co.ReadMsg()
					switch {
					case err != nil:
						lost++
					case r.Id != q.Id:
						stale++ // a late reply to an earlier query (counted lost)
						continue
					case r.Truncated:
						truncated++
						if len(r.Answer) != 0 || len(r.Question) != 1 {
							t.Errorf("slip reply has records: %v", r)
						}
					default:
						full++
					}
					break
				}
			}
			elapsed := time.Since(start)
			// 5 per second with a 1s window: a burst of 5, then one every
			// 200ms while the loop runs.
			maxFull := 5 + int(elapsed/(200*time.Millisecond)) + 1
			if full < 5 || full > maxFull {
				t.Errorf("%d full replies in %s, want 5-%d", full, elapsed, maxFull)
			}
			limited := sent - full
			if tc.wantTC != (truncated > 0) || tc.wantDrop != (lost > 0) {
				t.Errorf("%d truncated, %d dropped of %d limited", truncated, lost, limited)
			}
			if f := float64(truncated) / float64(limited); f < tc.tcFraction-0.1 || f > tc.tcFraction+0.1 {
				t.Errorf("%d of %d limited replies truncated, want about %.0f%%", truncated, limited, 100*tc.tcFraction)
			}
			// Replies that came late were counted lost: allow for them.
			if v := int(counterValue(t, m, "edge_dns_rrl_actions_total", map[string]string{"action": "slip"})); v < truncated || v > truncated+stale {
				t.Errorf("rrl slip counted %v, saw %d (%d late)", v, truncated, stale)
			}
			if v := int(counterValue(t, m, "edge_dns_rrl_actions_total", map[string]string{"action": "drop"})); v > lost || v < lost-stale {
				t.Errorf("rrl drop counted %v, saw %d lost (%d late)", v, lost, stale)
			}
			// TCP is not rate limited.
			for range 10 {
				if r := srv.Exchange(t, "tcp", dnstest.Query("static.cdn.demo.test.", dns.TypeA)); r.Truncated || len(r.Answer) == 0 {
					t.Fatalf("TCP limited: %v", r)
				}
			}
		})
	}
}
