package dnsserver_test

import (
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// TestRepliesDontFragment reads the IPv4 header of UDP replies as they
// arrive on loopback (a raw socket, so root only): DF is set and the IP ID
// is 0, on both UDP loops (RFC 9715: responders set DF).
func TestRepliesDontFragment(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a raw socket to read the replies' IP headers); CI runs it as root")
	}
	for _, batched := range []bool{true, false} {
		t.Run(map[bool]string{true: "batched", false: "portable"}[batched], func(t *testing.T) { checkDF(t, batched) })
	}
}

// checkDF sends queries to a server on one UDP loop until a reply shows
// up on a raw socket, and checks its IPv4 header.
func checkDF(t *testing.T, batched bool) {
	old := dnsserver.SetBatchUDP(batched)
	t.Cleanup(func() { dnsserver.SetBatchUDP(old) }) // after the server's own cleanup stopped it
	srv, _, _ := startTest(t)
	{

		raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
		if err != nil {
			t.Fatal(err)
		}
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("udp4", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		client := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		server := uint16(c.RemoteAddr().(*net.UDPAddr).Port)
		q, _ := dnstest.Query("www.cdn.demo.test.", dns.TypeA).Pack()
		found := false
		deadline := time.Now().Add(5 * time.Second)
		for sent := 0; !found && time.Now().Before(deadline); sent++ {
			if sent < 10 {
				if _, err := c.Write(q); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 2048)
			for !found && time.Now().Before(deadline) {
				n, _, err := unix.Recvfrom(raw, buf, 0)
				if err != nil {
					break // timeout: send again
				}
				p := buf[:n]
				ihl := int(p[0]&0xF) * 4
				if n < ihl+8 || binary.BigEndian.Uint16(p[ihl:]) != server || binary.BigEndian.Uint16(p[ihl+2:]) != client {
					continue
				}
				found = true
				if flags := binary.BigEndian.Uint16(p[6:]); flags&0x4000 == 0 {
					t.Errorf("batched=%v: reply without DF (flags/offset %#04x)", batched, flags)
				}
				if id := binary.BigEndian.Uint16(p[4:]); id != 0 {
					t.Errorf("batched=%v: reply with IP ID %d, want 0 (DF set)", batched, id)
				}
			}
		}
		c.Close()
		unix.Close(raw)
		if !found {
			t.Fatalf("batched=%v: no reply seen on the raw socket", batched)
		}
	}
}
