//go:build unix

package dnsserver

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort sets SO_REUSEPORT, so that several UDP sockets share one
// address and the kernel spreads clients over them, and on Linux sends
// IPv4 replies with DF set (see dontFragment).
func reusePort(network, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		if serr == nil {
			serr = dontFragment(network, int(fd))
		}
	}); err != nil {
		return err
	}
	return serr
}
