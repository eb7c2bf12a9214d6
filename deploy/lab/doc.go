// Package lab is the network-namespace lab of edgecdn: a router running
// BIRD 2 with one eBGP session per edge and ECMP (L4 hash) towards the
// anycast VIP, three edge namespaces that share the VIP on lo, an origin
// namespace running `labtool origin`, and a client namespace for traffic.
// Tests build it with New, start the real node in the edges with
// StartEdged, inject faults with nftables (RejectHTTP, RejectOrigin),
// watch BIRD's and the kernel's routes with a few milliseconds of
// resolution (WatchRoutes), and measure client impact (StartLoop, Load).
//
// Everything lives in namespaces named with a per-run prefix ("ecl" and
// random hex) and uses only documentation prefixes (198.51.100.0/24,
// 203.0.113.0/24); nothing is configured in the host's namespace. Every
// process the lab starts is stopped by its PID in t.Cleanup and the
// namespaces are deleted, also when the test fails; labs left behind by a
// killed test binary are removed by the next New. Traffic comes only from
// labtool run with `ip netns exec`, and labtool refuses to send anything
// unless it runs inside the namespace it was told about (and that is not
// the host's).
//
// New skips the test (it does not fail) when not root or when ip, bird,
// birdc or nft are missing. See README.md for the topology and the API.
package lab
