package netlab

import (
	"fmt"
	"strings"
)

// RouterBIRDConfig returns the router's BIRD 2 configuration: one eBGP
// session per edge (router AS 65000, edges AS 65001), everything imported
// from the edges and nothing exported to them, and a kernel protocol that
// installs the merged (ECMP) route into the router namespace's main table.
//
// ECMP in BIRD 2 needs `merge paths on` in the kernel protocol, and the
// routes must be mergeable (bgp_rte_mergable): same local preference, AS
// path length, origin and MED (the edges share one AS, so MED is
// compared: none sets one). An edge that drains (RFC 8326
// GRACEFUL_SHUTDOWN community, AS path prepended) drops out of the ECMP
// set: its local preference goes to 0 here, as RFC 8326 asks of the
// receiver, and its longer path no longer ties.
//
// Timers are shortened for a lab: BIRD tries to connect after 1 s,
// retries every 2 s and waits only 1-2 s after a session error before it
// accepts a new session (defaults 5, 120 and 60-300 s).
func RouterBIRDConfig(t *Topology, logFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# edgecdn lab router (generated)\n")
	fmt.Fprintf(&b, "log %q all;\n", logFile)
	fmt.Fprintf(&b, "router id %s;\n", RouterID)
	b.WriteString(`protocol device {
	scan time 10;
}
protocol kernel kernel4 {
	ipv4 {
		import none;
		export where source = RTS_BGP;
	};
	merge paths on;
}
filter edge_in {
	if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
	accept;
}
template bgp edge {
`)
	fmt.Fprintf(&b, "\tlocal as %d;\n", RouterASN)
	b.WriteString(`	ipv4 {
		import filter edge_in;
		export none;
	};
	connect delay time 1;
	connect retry time 2;
	error wait time 1, 2;
}
`)
	for _, e := range t.Edges {
		fmt.Fprintf(&b, "protocol bgp %s from edge {\n\tneighbor %s as %d;\n\tsource address %s;\n}\n",
			e.Proto, e.Addr, e.ASN, e.RouterAddr)
	}
	return b.String()
}

// EdgeBIRDConfig returns a BIRD configuration that makes BIRD a stand-in
// BGP speaker for edge e: it announces the VIP to the router, nothing
// else. It lets the lab's own tests exercise ECMP and route watching
// before (and independently of) the node's speaker.
func EdgeBIRDConfig(e Edge, logFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# edgecdn lab stand-in speaker for %s (generated)\n", e.NodeID)
	fmt.Fprintf(&b, "log %q all;\n", logFile)
	fmt.Fprintf(&b, "router id %s;\n", e.Addr)
	b.WriteString("protocol device {\n}\n")
	fmt.Fprintf(&b, "protocol static vip {\n\tipv4;\n\troute %s unreachable;\n}\n", VIPPrefix)
	fmt.Fprintf(&b, `protocol bgp uplink {
	local %s as %d;
	neighbor %s as %d;
	connect delay time 1;
	connect retry time 2;
	error wait time 1, 2;
	ipv4 {
		import none;
		export where proto = "vip";
	};
}
`, e.Addr, e.ASN, e.RouterAddr, RouterASN)
	return b.String()
}
