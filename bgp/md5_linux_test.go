package bgp

import (
	"net"

	"golang.org/x/sys/unix"
)

// listenerTakesMD5 reports whether a listening socket accepts a TCP MD5
// key, as the router side of TestMD5 needs. Some sandboxes refuse it.
func listenerTakesMD5() error {
	l, err := net.Listen("tcp4", "127.0.4.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	sc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		return err
	}
	sig := &unix.TCPMD5Sig{Keylen: 6}
	sig.Addr.Family = unix.AF_INET
	copy(sig.Addr.Data[2:], net.ParseIP("127.0.4.2").To4())
	copy(sig.Key[:], "s3cret")
	var serr error
	if err := sc.Control(func(fd uintptr) {
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, sig)
	}); err != nil {
		return err
	}
	return serr
}
