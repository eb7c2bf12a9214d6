package dnsserver

import (
	"bytes"
	"net/netip"

	dto "github.com/prometheus/client_model/go"
)

// Test hooks for the external test package: the fast and slow paths
// without sockets.

// Transport values for the hooks.
const (
	UDP = udp
	TCP = tcp
)

// BothPaths answers q by the fast path (when it takes the query) and by
// the slow path, as if received from src.
func BothPaths(s *Server, q []byte, src netip.Addr, transport int) (fast []byte, fastOK bool, slow []byte) {
	st := s.state.Load()
	w := newWorker(s)
	var f fastQuery
	if w.parseFast(q, &f) {
		var out []byte
		if out, fastOK = w.fast(st, q, &f, src, transport); fastOK {
			fast = bytes.Clone(out)
		}
	}
	slow = newWorker(s).slow(st, q, src, transport)
	return fast, fastOK, slow
}

// Handler returns a function that answers queries the way a UDP socket
// goroutine does (fast path, else slow path), reusing one worker. The
// reply is valid until the next call.
func Handler(s *Server) func(q []byte, src netip.Addr) []byte {
	w := newWorker(s)
	return func(q []byte, src netip.Addr) []byte { return w.handle(s.state.Load(), q, src, udp) }
}

// SlowHandler is Handler for the slow path only.
func SlowHandler(s *Server) func(q []byte, src netip.Addr) []byte {
	w := newWorker(s)
	return func(q []byte, src netip.Addr) []byte { return w.slow(s.state.Load(), q, src, udp) }
}

// TakesFastPath reports whether the fast path takes q.
func TakesFastPath(q []byte) bool {
	var f fastQuery
	return (&worker{}).parseFast(q, &f)
}

// Panics returns edge_dns_panics_total.
func Panics(m *Metrics) float64 {
	var d dto.Metric
	if err := m.panics.Write(&d); err != nil {
		panic(err)
	}
	return d.GetCounter().GetValue()
}

// SetBatchUDP turns the batched (recvmmsg/sendmmsg) UDP loop on or off for
// servers started afterwards, and returns the previous setting. False
// where the platform has no batched loop.
func SetBatchUDP(on bool) bool {
	old := batchUDP
	batchUDP = on
	return old
}
