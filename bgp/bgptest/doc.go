// Package bgptest runs a BGP router for tests: an embedded GoBGP server
// on loopback that a node's speaker (package bgp) peers with, and ways to
// read what it received. It lets tests outside package bgp, which must not
// import GoBGP themselves, check what a node announces, the way
// net/http/httptest stands in for a web server.
//
//	r := bgptest.NewRouter(t, 65000)     // listens on 127.0.0.1:<free port>
//	r.AddNeighbor("127.0.0.1", 65001)    // passive: waits for the node to dial
//	// ... start a node whose bgp section dials 127.0.0.1, port r.Port(),
//	// from local_address 127.0.0.1 ...
//	r.WaitPeerUp(t, "127.0.0.1", 10*time.Second)
//	rs := r.WaitRoute(t, "198.51.100.80/32", bgptest.Present, 10*time.Second)
//	// rs[0].NextHop, rs[0].ASPath, rs[0].Communities ...
//
// The router is passive: it never dials, never originates a route and
// imports everything its neighbours send into its RIB, which Routes reads.
// Updates is the log of the UPDATE messages it received, in order, so a
// test can tell a withdrawal sent as an UPDATE from a route that went away
// with its session (GoBGP reports UPDATEs a moment after it puts them in
// the RIB: wait for them with WaitUpdates). Every wait is a poll with a deadline: GoBGP dials a
// neighbour for the first time 1-2 s after the neighbour is added, so
// allow a few seconds for a session to come up.
//
// # One GoBGP, many servers
//
// GoBGP v3's StartBgp writes package variables (the route selection
// options) that every GoBGP server in the process reads, without a lock,
// whenever it selects paths or lists them. Two servers in one process are
// therefore a data race as far as the race detector can tell, unless each
// read is ordered after the last write. This package keeps that order for
// its callers:
//
//   - NewRouter passes one request through every live router's event loop
//     after its own StartBgp, so whatever those routers do next happens
//     after the write.
//   - Every method that uses the router's server (AddNeighbor, Routes,
//     PeerUp and the waits built on them) talks to its event loop from the
//     caller's goroutine, so anything the caller did before (starting a
//     node, whose speaker runs StartBgp) happens before what the router
//     does next. Paths a speaker sends reach the router over TCP, which
//     the race detector also counts as ordering.
//
// What is left to the caller: start the router before the speaker that
// peers with it (the usual order, since the speaker needs r.Port()), and
// do not run tests that start GoBGP servers in parallel (no t.Parallel).
//
// Set BGPTEST_LOG=1 and run with -v to see the routers' GoBGP log on
// stderr.
//
// A stopped router leaves one parked goroutine behind (GoBGP v3's serve
// loop cannot end), as package bgp's speaker does; goroutine-leak tests
// should count from after the router has started or skip that goroutine.
package bgptest
