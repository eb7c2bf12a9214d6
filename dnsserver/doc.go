// Package dnsserver is the node's geo-aware authoritative DNS server: the
// zones of the CDN, answered over UDP and TCP, with the address of the
// region that should serve each client.
//
// # Answers
//
// A Server is authoritative for its zones and nothing else (RFC 1034,
// 1035, 2181): answers carry AA and never RA, and copy RD and CD; a name
// that does not exist is NXDOMAIN and a type a name lacks is NODATA, both
// with the zone's SOA in the authority section (TTL min(SOA TTL, SOA
// minimum), RFC 2308); names outside the zones are REFUSED; the apex NS
// answer carries in-zone glue; CNAMEs are followed inside their zone, loops
// and all; ANY gets one RRset or a synthesized HINFO (RFC 8482); opcodes
// other than QUERY are NOTIMP, a query without exactly one question
// FORMERR, an EDNS version above 0 BADVERS (RFC 6891). Replies to EDNS
// queries carry our OPT record (UDP size 1232, DO copied). A UDP reply
// larger than the client's size (512 without EDNS, at most 1232 with it)
// goes out truncated: TC, the question, no records, so the client asks
// again over TCP. The question is echoed with the case it was asked in.
//
// # Geo names
//
// A geo name has addresses per region. The client is the EDNS Client
// Subnet address when the query has one with a source prefix above 0, else
// the packet's source address; the Locator maps it to a region and to the
// prefix in which every address maps the same (RFC 7871's SCOPE
// PREFIX-LENGTH, echoed in the reply). When that region is down (the
// RegionHealth says so) or has no addresses of the asked type, the
// Locator's fallback list (nearest first) and then the name's other
// regions are tried in order; with none up, all_down decides: fail-open
// answers the client's region anyway, fail-closed answers SERVFAIL. Any
// other answer echoes ECS with scope 0, because it is the same for every
// client. Malformed ECS options are FORMERR.
//
// # Two paths
//
// Every reply is computed when the configuration is loaded: for each name
// (and empty non-terminal), each query type that can make a difference (A,
// AAAA, CNAME, SOA, NS, TXT, MX, CAA, ANY, and one answer for all other
// types) and, for geo answers, each region, the reply is packed once with
// miekg/dns. The fast path takes the common query — UDP or TCP, opcode
// QUERY, one question of class IN with an uncompressed name, and at most
// an OPT record of version 0 with well-formed options and at most one,
// valid, ECS option — parses it in place, looks the lower-cased name up in
// a map, copies the packed reply into the socket's buffer, patches the ID,
// RD, CD and the question bytes (so the case comes from the query), and
// appends the OPT record with the echoed ECS option. It allocates nothing.
// Everything else goes to the slow path, which unpacks the query into a
// dns.Msg, builds the reply as a dns.Msg from the same zone data and packs
// it. Both give the same replies, which a differential test and a fuzz
// target check.
//
// # Sockets
//
// Each listen address gets UDPSockets UDP sockets bound with SO_REUSEPORT,
// each read by one goroutine with its own buffers (the kernel spreads
// clients over them), and one TCP listener on the same port. On Linux a
// UDP goroutine reads up to 32 queries with one recvmmsg and writes their
// replies with one sendmmsg; elsewhere it uses ReadFromUDPAddrPort and
// WriteToUDPAddrPort, one query per syscall. TCP
// connections (at most TCPMaxConns) are answered in order, closed after
// TCPIdleTimeout without a query. UDP replies pass response rate limiting
// per client prefix (RRLConfig) before they are written. Reload swaps the
// compiled zones and limits atomically; listeners outlive reloads.
package dnsserver
