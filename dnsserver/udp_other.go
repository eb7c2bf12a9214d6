//go:build !linux

package dnsserver

import "net"

var batchUDP = false

// serveUDPBatch: only Linux batches (recvmmsg/sendmmsg).
func (s *Server) serveUDPBatch(*net.UDPConn) bool { return false }

// dontFragment: Linux only (IP_PMTUDISC_PROBE).
func dontFragment(string, int) error { return nil }
