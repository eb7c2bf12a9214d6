//go:build !unix

package dnsserver

import "syscall"

// reusePort does nothing where SO_REUSEPORT does not exist: use
// udp_sockets: 1 there (a second socket on the address fails to bind).
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
