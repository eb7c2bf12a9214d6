package netlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Netlink is a NETLINK_ROUTE socket created inside a network namespace
// (a socket stays in the namespace it was created in), used to read that
// namespace's kernel routes without starting `ip` for each poll.
type Netlink struct {
	mu  sync.Mutex
	fd  int
	seq uint32
}

// OpenNetlink opens a route socket in the named namespace. Only the
// creating OS thread enters the namespace, and it returns to the original
// namespace before the socket is used; if it cannot, the thread is
// discarded (left locked to a goroutine that exits).
func OpenNetlink(ns string) (*Netlink, error) {
	type res struct {
		fd  int
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, fmt.Errorf("netlab: netlink: own namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, fmt.Errorf("netlab: netlink: namespace %s: %w", ns, err)}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, fmt.Errorf("netlab: netlink: setns %s: %w", ns, err)}
			return
		}
		fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the runtime ends this thread with the goroutine.
			if serr == nil {
				unix.Close(fd)
			}
			ch <- res{-1, fmt.Errorf("netlab: netlink: setns back: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		if serr != nil {
			ch <- res{-1, fmt.Errorf("netlab: netlink: socket: %w", serr)}
			return
		}
		ch <- res{fd, nil}
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(r.fd)
		return nil, fmt.Errorf("netlab: netlink: %w", err)
	}
	if err := unix.Bind(r.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(r.fd)
		return nil, fmt.Errorf("netlab: netlink: bind: %w", err)
	}
	return &Netlink{fd: r.fd}, nil
}

// Close closes the socket.
func (n *Netlink) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd < 0 {
		return nil
	}
	err := unix.Close(n.fd)
	n.fd = -1
	return err
}

// Nexthops returns the gateways of the main-table IPv4 route for exactly
// prefix (all of them for a multipath route), sorted; none if there is
// no such route.
func (n *Netlink) Nexthops(prefix netip.Prefix) ([]string, error) {
	if !prefix.Addr().Is4() {
		return nil, fmt.Errorf("netlab: netlink: %s: only IPv4", prefix)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd < 0 {
		return nil, fmt.Errorf("netlab: netlink: closed")
	}
	n.seq++
	req := make([]byte, unix.SizeofNlMsghdr+unix.SizeofRtMsg)
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], unix.RTM_GETROUTE)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], n.seq)
	req[unix.SizeofNlMsghdr] = unix.AF_INET
	if err := unix.Sendto(n.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlab: netlink: send: %w", err)
	}
	var hops []string
	buf := make([]byte, 1<<16)
	for {
		nr, _, err := unix.Recvfrom(n.fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netlab: netlink: recv: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:nr])
		if err != nil {
			return nil, fmt.Errorf("netlab: netlink: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != n.seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				sort.Slice(hops, func(i, j int) bool {
					a, _ := netip.ParseAddr(hops[i])
					b, _ := netip.ParseAddr(hops[j])
					return a.Less(b)
				})
				return hops, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
						return nil, fmt.Errorf("netlab: netlink: %w", syscall.Errno(-errno))
					}
				}
				return hops, nil
			case unix.RTM_NEWROUTE:
				hops = append(hops, routeNexthops(m, prefix)...)
			}
		}
	}
}

// routeNexthops returns the gateways of m if it is the main-table route
// for prefix.
func routeNexthops(m syscall.NetlinkMessage, prefix netip.Prefix) []string {
	if len(m.Data) < unix.SizeofRtMsg {
		return nil
	}
	rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
	if rt.Family != unix.AF_INET || int(rt.Dst_len) != prefix.Bits() {
		return nil
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(&m)
	if err != nil {
		return nil
	}
	table := uint32(rt.Table)
	var dst netip.Addr
	var gw []string
	var multipath []byte
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_TABLE:
			if len(a.Value) >= 4 {
				table = binary.NativeEndian.Uint32(a.Value)
			}
		case unix.RTA_DST:
			dst, _ = netip.AddrFromSlice(a.Value)
		case unix.RTA_GATEWAY:
			if g, ok := netip.AddrFromSlice(a.Value); ok {
				gw = append(gw, g.String())
			}
		case unix.RTA_MULTIPATH:
			multipath = a.Value
		}
	}
	if table != unix.RT_TABLE_MAIN || dst != prefix.Addr() {
		return nil
	}
	// RTA_MULTIPATH: rtnexthop {len u16, flags u8, hops u8, ifindex
	// i32} then its own attributes, each aligned to 4 bytes.
	for len(multipath) >= unix.SizeofRtNexthop {
		l := int(binary.NativeEndian.Uint16(multipath[0:2]))
		if l < unix.SizeofRtNexthop || l > len(multipath) {
			break
		}
		sub := multipath[unix.SizeofRtNexthop:l]
		for len(sub) >= 4 {
			al := int(binary.NativeEndian.Uint16(sub[0:2]))
			at := binary.NativeEndian.Uint16(sub[2:4])
			if al < 4 || al > len(sub) {
				break
			}
			if at == unix.RTA_GATEWAY {
				if g, ok := netip.AddrFromSlice(sub[4:al]); ok {
					gw = append(gw, g.String())
				}
			}
			sub = sub[min(len(sub), (al+3)&^3):]
		}
		multipath = multipath[min(len(multipath), (l+3)&^3):]
	}
	return gw
}
