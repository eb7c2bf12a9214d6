// Package netlab is the machinery shared by package lab (the Go test
// harness) and labtool (the operator's lab.sh): the lab's addresses, the
// commands that build and remove its network namespaces, the BIRD
// configuration, the namespace check every traffic generator runs first,
// and the JSON reports labtool prints.
//
// Only documentation prefixes are used inside the namespaces
// (198.51.100.0/24 and 203.0.113.0/24); nothing is configured in the
// host's network namespace.
package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Fixed lab addresses. Edge i (1-based) sits on 198.51.100.4i/30: the
// router is .4i+1 and the edge .4i+2. The origin and the client hang off
// the router on 203.0.113.0/30 and 203.0.113.4/30.
const (
	VIP        = "198.51.100.80"
	VIPPrefix  = VIP + "/32"
	RouterASN  = 65000
	EdgeASN    = 65001
	RouterID   = "203.0.113.1"
	OriginAddr = "203.0.113.2"
	OriginPort = 8080
	ClientAddr = "203.0.113.6"
	// AdminAddr is the node's admin listener inside each edge namespace.
	AdminAddr = "127.0.0.1:9090"
	// MaxEdges bounds Topology.Edges so that the edge links stay below the
	// VIP in 198.51.100.0/24.
	MaxEdges = 8
	// NFTable is the nftables table (family inet) of the fault rules in
	// each edge namespace.
	NFTable = "edgecdn_lab"
)

// Edge is one edge namespace and its link to the router.
type Edge struct {
	// Index is 1-based.
	Index int
	// Namespace is the network namespace name.
	Namespace string
	// NodeID is the node id the lab gives it in configs (edge1, ...); it
	// is what the node puts in its Via header.
	NodeID string
	// Addr is the edge's address on its link (its BGP router_id).
	Addr string
	// RouterAddr is the router's address on that link (the BGP neighbor).
	RouterAddr string
	// RouterIface is the router's interface name towards this edge.
	RouterIface string
	// ASN is the edge's AS number.
	ASN uint32
	// Proto is the name of the router's BIRD protocol for this edge.
	Proto string
}

// Topology names every namespace and address of one lab.
type Topology struct {
	// Prefix starts every namespace name: "ecl" and a few random
	// characters, unique per run.
	Prefix string
	Router string
	Origin string
	Client string
	Edges  []Edge
}

var prefixRE = regexp.MustCompile(`^ecl[0-9a-z]{1,8}$`)

// NewPrefix returns a random per-run namespace prefix ("ecl" and 6 hex
// characters).
func NewPrefix() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "ecl" + hex.EncodeToString(b[:])
}

// ValidPrefix reports whether p is of the form NewPrefix makes.
func ValidPrefix(p string) bool { return prefixRE.MatchString(p) }

// NewTopology returns the topology of a lab with the given prefix and
// number of edges (1-MaxEdges).
func NewTopology(prefix string, edges int) (*Topology, error) {
	if !ValidPrefix(prefix) {
		return nil, fmt.Errorf("netlab: prefix %q: want ecl and 1-8 of [0-9a-z]", prefix)
	}
	if edges < 1 || edges > MaxEdges {
		return nil, fmt.Errorf("netlab: edges: must be 1-%d, got %d", MaxEdges, edges)
	}
	t := &Topology{
		Prefix: prefix,
		Router: prefix + "-router",
		Origin: prefix + "-origin",
		Client: prefix + "-client",
	}
	base := netip.MustParseAddr("198.51.100.0").As4()
	for i := 1; i <= edges; i++ {
		r, e := base, base
		r[3] = byte(4*i + 1)
		e[3] = byte(4*i + 2)
		t.Edges = append(t.Edges, Edge{
			Index:       i,
			Namespace:   fmt.Sprintf("%s-edge%d", prefix, i),
			NodeID:      fmt.Sprintf("edge%d", i),
			Addr:        netip.AddrFrom4(e).String(),
			RouterAddr:  netip.AddrFrom4(r).String(),
			RouterIface: fmt.Sprintf("e%d", i),
			ASN:         EdgeASN,
			Proto:       fmt.Sprintf("edge%d", i),
		})
	}
	return t, nil
}

// Namespaces lists every namespace of the lab, router first.
func (t *Topology) Namespaces() []string {
	ns := []string{t.Router, t.Origin, t.Client}
	for _, e := range t.Edges {
		ns = append(ns, e.Namespace)
	}
	return ns
}

// Owns reports whether ns is one of the lab's namespaces.
func (t *Topology) Owns(ns string) bool {
	for _, n := range t.Namespaces() {
		if n == ns {
			return true
		}
	}
	return false
}

// OriginURL is the base URL of the lab origin.
func (t *Topology) OriginURL() string {
	return fmt.Sprintf("http://%s:%d", OriginAddr, OriginPort)
}

// EdgeByAddr returns the edge whose link address is addr.
func (t *Topology) EdgeByAddr(addr string) (Edge, bool) {
	for _, e := range t.Edges {
		if e.Addr == addr {
			return e, true
		}
	}
	return Edge{}, false
}

// EdgeConfig returns the node (edged) config of edge e: node id, HTTP on
// VIP:80, admin on AdminAddr, one site for every host with the lab origin
// (probed on /health), and a bgp section with the edge's AS and router
// id, the router as neighbour (connect_retry 1s) and the VIP as prefix.
// extra is appended verbatim (top-level YAML, e.g. a health section).
func EdgeConfig(e Edge, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node: {id: %s, region: lab}\n", e.NodeID)
	fmt.Fprintf(&b, "http: {listen: [%q]}\n", VIP+":80")
	fmt.Fprintf(&b, "admin: {listen: %q}\n", AdminAddr)
	b.WriteString("sites:\n")
	b.WriteString("  - name: lab\n")
	b.WriteString("    hosts: [\"*\"]\n")
	fmt.Fprintf(&b, "    origins: [{url: %q}]\n", fmt.Sprintf("http://%s:%d", OriginAddr, OriginPort))
	b.WriteString("    origin_policy: {probe: {path: /health}}\n")
	b.WriteString("bgp:\n")
	fmt.Fprintf(&b, "  asn: %d\n", e.ASN)
	fmt.Fprintf(&b, "  router_id: %s\n", e.Addr)
	fmt.Fprintf(&b, "  neighbors: [{address: %s, asn: %d, connect_retry: 1s}]\n", e.RouterAddr, RouterASN)
	fmt.Fprintf(&b, "  prefixes: [%q]\n", VIPPrefix)
	if extra != "" {
		b.WriteString(extra)
		if !strings.HasSuffix(extra, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
