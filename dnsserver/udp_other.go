//go:build !linux

package dnsserver

import "net"

var batchUDP = false

// serveUDPBatch: only Linux batches (recvmmsg/sendmmsg).
func (s *Server) serveUDPBatch(*net.UDPConn) bool { return false }
