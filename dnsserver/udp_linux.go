package dnsserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux a UDP socket goroutine reads and writes in batches: one
// recvmmsg returns every query waiting on the socket (up to udpBatch), and
// one sendmmsg writes all their replies. Under load that divides the
// per-syscall cost (entry, socket locking, waking the client) by the
// batch; when queries come one at a time a batch is one query and the
// cost is that of recvfrom/sendto. The loop goes through the socket's
// syscall.RawConn, so the runtime's poller still parks the goroutine while
// the socket is empty and Close still wakes it.

// udpBatch is the most queries read (and replies written) per syscall.
const udpBatch = 32

// udpMaxQuery is the largest query read: longer datagrams are dropped.
// (A query is a header, one question and an OPT record: a few hundred
// bytes at most.)
const udpMaxQuery = 4096

type batch struct {
	s  *Server
	c  *net.UDPConn
	rc syscall.RawConn
	w  *worker

	in      [udpBatch]unix.Mmsghdr
	inIov   [udpBatch]unix.Iovec
	names   [udpBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	bufs    [udpBatch][udpMaxQuery]byte
	out     [udpBatch]unix.Mmsghdr
	outIov  [udpBatch]unix.Iovec
	replies [udpBatch][ednsSize]byte

	n, sent int   // received in the current batch; replies sent of nOut
	nOut    int   // replies queued
	errno   error // of the last syscall
	readFn  func(uintptr) bool
	writeFn func(uintptr) bool
}

// serveUDPBatch runs the batched loop; false means the socket cannot do it
// (and nothing was read).
func (s *Server) serveUDPBatch(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	b := &batch{s: s, c: c, rc: rc, w: newWorker(s)}
	for i := range udpBatch {
		b.inIov[i].Base = &b.bufs[i][0]
		b.inIov[i].SetLen(udpMaxQuery)
		h := &b.in[i].Hdr
		h.Iov = &b.inIov[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	b.readFn = b.recv
	b.writeFn = b.send
	for {
		for i := range udpBatch {
			b.in[i].Hdr.Namelen = uint32(unsafe.Sizeof(b.names[i]))
			b.in[i].Hdr.Flags = 0
		}
		if err := rc.Read(b.readFn); err != nil {
			return true // closed
		}
		if b.errno != nil {
			if s.stopping.Load() {
				return true
			}
			continue
		}
		b.answer()
		if b.nOut > 0 {
			b.sent = 0
			for b.sent < b.nOut {
				if err := rc.Write(b.writeFn); err != nil {
					return true
				}
				if b.errno != nil {
					// A reply the kernel refuses (a bad address, a full
					// buffer that will not drain): skip it.
					b.sent++
				}
			}
		}
	}
}

// recv and send use raw system calls: with MSG_DONTWAIT they never block,
// and telling the scheduler about each call (entersyscall/exitsyscall, and
// the processor handed off when a batch takes long) cost ~15% of the
// queries per CPU-second on one core.
func (b *batch) recv(fd uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	b.errno = nil
	if e != 0 {
		b.errno = e
		return true
	}
	b.n = int(n)
	return true
}

func (b *batch) send(fd uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[b.sent])), uintptr(b.nOut-b.sent), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	b.errno = nil
	if e != 0 {
		b.errno = e
		return true
	}
	b.sent += int(n)
	return true
}

// answer handles the received batch and queues the replies.
func (b *batch) answer() {
	b.nOut = 0
	var now time.Time // one clock read per batch for the rate limiter
	if b.s.state.Load().rrl != nil {
		now = time.Now()
	}
	for i := range b.n {
		m := &b.in[i]
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			continue
		}
		from, ok := sockaddrAddrPort(&b.names[i])
		if !ok {
			continue
		}
		resp := b.w.answerUDP(b.bufs[i][:m.Len], from, now)
		if resp == nil || len(resp) > len(b.replies[b.nOut]) {
			continue
		}
		k := b.nOut
		copy(b.replies[k][:], resp)
		b.outIov[k].Base = &b.replies[k][0]
		b.outIov[k].SetLen(len(resp))
		h := &b.out[k].Hdr
		h.Iov = &b.outIov[k]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = m.Hdr.Namelen
		b.nOut++
	}
}

// sockaddrAddrPort reads an AF_INET or AF_INET6 socket address.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) (netip.AddrPort, bool) {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port), true
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), true
	}
	return netip.AddrPort{}, false
}

// dontFragment makes a UDP socket send IPv4 datagrams with DF set and
// without consulting the path MTU cache (IP_PMTUDISC_PROBE), as RFC 9715
// recommends for DNS responders: a reply is never fragmented on the way
// (fragments are dropped by many networks and open the door to cache
// poisoning), and spoofed ICMP "fragmentation needed" messages cannot
// shrink what we send. Replies stay within the client's EDNS size and our
// 1232 bytes, which fit any IPv6-capable path. DF also spares the kernel
// choosing an IP ID per datagram. On an IPv6 socket it applies to the
// IPv4-mapped clients.
func dontFragment(network string, fd int) error {
	if network != "udp4" && network != "udp6" && network != "udp" {
		return nil
	}
	err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
	if err != nil && network == "udp6" {
		return nil // an IPv6-only socket may refuse it; it has no IPv4 to send
	}
	return err
}

// batchUDP turns the batched loop on (tests turn it off to cover the
// portable one).
var batchUDP = true
