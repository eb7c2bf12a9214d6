package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// ErrNotServing is returned by Check before Start and after Stop.
var ErrNotServing = errors.New("dns server is not serving")

// Check sends one real query (SOA of the first zone, over UDP) to the
// server's first listen address — the loopback address of its family when
// it listens on a wildcard — and reports whether it came back
// authoritative, NOERROR, with the SOA. It is the node's DNS health check:
// it goes through the same sockets as client queries. A timeout is
// returned as an error for which errors.Is(err, os.ErrDeadlineExceeded)
// holds.
func (s *Server) Check(ctx context.Context) error {
	addrs := s.Addrs()
	if !s.Ready() || len(addrs) == 0 {
		return ErrNotServing
	}
	ua, ok := addrs[0].(*net.UDPAddr)
	if !ok {
		return fmt.Errorf("dns check: unexpected address %v", addrs[0])
	}
	ip := ua.IP
	if ip.IsUnspecified() {
		if ip.To4() != nil {
			ip = net.IPv4(127, 0, 0, 1)
		} else {
			ip = net.IPv6loopback
		}
	}
	zone := s.state.Load().cfg.Zones[0].Name
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
	conn, err := (&net.Dialer{}).DialContext(ctx, "udp", net.JoinHostPort(ip.String(), fmt.Sprint(ua.Port)))
	if err != nil {
		return fmt.Errorf("dns check: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	co := &dns.Conn{Conn: conn}
	if err := co.WriteMsg(q); err != nil {
		return fmt.Errorf("dns check: %w", err)
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return fmt.Errorf("dns check: %w", err)
		}
		if r.Id != q.Id {
			continue // a stray answer to an earlier, timed-out check
		}
		switch {
		case r.Rcode != dns.RcodeSuccess:
			return fmt.Errorf("dns check: SOA %s answered %s", zone, dns.RcodeToString[r.Rcode])
		case !r.Authoritative:
			return fmt.Errorf("dns check: SOA %s answered without AA", zone)
		case len(r.Answer) == 0 || r.Answer[0].Header().Rrtype != dns.TypeSOA:
			return fmt.Errorf("dns check: SOA %s answered without the SOA", zone)
		}
		return nil
	}
}
