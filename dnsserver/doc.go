// Package dnsserver will hold the node's geo-aware authoritative DNS server
// (miekg/dns): zones, the per-region answer policy, EDNS Client Subnet scopes,
// UDP and TCP listeners and response rate limiting.
//
// Nothing is implemented here yet: the server lands with the geo-DNS issue
// (#4). The folder exists so that the package layout and the dependency rules
// (dnsserver may import only geodata) are fixed from the start.
package dnsserver
