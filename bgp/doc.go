// Package bgp is the node's BGP speaker: an embedded GoBGP v3 server that
// announces the node's anycast and regional prefixes to its upstream
// routers and reports the state of its sessions.
//
// The node decides what to announce and says so with SetMode: announce
// while healthy, degraded (other attributes, or nothing), draining (the
// GRACEFUL_SHUTDOWN community of RFC 8326 and a longer AS path, so that
// routers move traffic away before the withdrawal), or withdrawn. The
// speaker only ever announces the prefixes of its Config, with itself as
// next hop, and imports nothing: what the routers send is kept in GoBGP's
// Adj-RIB-In but never selected or passed on.
//
// Why GoBGP: it is a library, so the speaker lives in the node's process
// and withdraws the moment the node decides, with no helper process or
// control socket between health and routing. Measured in a lab, detection
// timers, not BGP, set the withdrawal time, and withdrawing before stopping
// loses no request; so Stop withdraws and waits until the withdrawal was
// sent before it closes the sessions. README.md has the operational notes
// (whole-second timers, no BFD, slow reconnects, one speaker per process).
//
// GoBGP is imported by this package only.
package bgp
