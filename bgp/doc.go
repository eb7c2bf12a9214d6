// Package bgp will hold the node's embedded BGP speaker (GoBGP v3): it
// announces the node's anycast and regional prefixes to its upstream routers,
// withdraws them when the node's health state says so (after a graceful
// shutdown announcement, RFC 8326), and reports peer state to edge through a
// hook.
//
// Nothing is implemented here yet: the speaker lands with the anycast issue
// (#5). The folder exists so that the package layout and the dependency rules
// (see CONVENTIONS: leaves import only geodata) are fixed from the start; the
// node does not announce anything until then.
package bgp
