// Package h1 is the node's HTTP/1.1 server for client traffic.
//
// Why not net/http: a cache hit is a few hundred bytes of header and a body
// that is already in memory, and on these machines a net/http handler that
// writes a fixed body costs ~15 µs of CPU per request before any cache logic
// (shared/bench/README.md) — about what Apache Traffic Server needs for a
// whole 1 KiB hit. This package keeps the per-request cost close to the
// kernel's: requests are parsed in place from a per-connection buffer without
// allocating, responses are written from caller-built header blocks, and a
// small response plus its body leave in one write (writev for large bodies).
// The rest of the node (origin fetches, admin API) still uses net/http.
//
// # What it implements (RFC 9112)
//
//   - Request line, header fields, origin-form, absolute-form (its authority
//     replaces Host) and asterisk-form (OPTIONS only); CONNECT is refused.
//   - Exactly one valid Host for HTTP/1.1; HTTP/1.0 may omit it.
//   - Bodies framed by Content-Length or chunked transfer coding; a request
//     carrying both, conflicting lengths, or another transfer coding is
//     rejected (no request smuggling through this node).
//   - Persistent connections (HTTP/1.1 by default, HTTP/1.0 with
//     "Connection: keep-alive"), pipelined requests answered in order,
//     "Expect: 100-continue".
//   - Limits: header bytes (431), request-target length (414), header count
//     (431), idle and header read timeouts, per-write progress timeout, a cap
//     on concurrent connections, unread request bodies drained up to a bound.
//
// Malformed requests are answered with a short plain-text status (400, 414,
// 431, 501, 505) and the connection is closed; each rejection is reported to
// the OnReject hook with a reason from a fixed set, for metrics.
//
// # Lifetime of request data
//
// Strings in a Request (method excepted) point into the connection's read
// buffer. They are valid only until the handler returns. A handler that hands
// any of them to another goroutine, or keeps them, must copy them first
// (strings.Clone). This is what makes parsing free of allocations.
package h1
