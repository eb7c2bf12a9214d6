// Package edge is the edgecdn node. It composes the leaf packages (cache,
// origin and, as they land, dnsserver, bgp and geodata) into a Node with one
// lifecycle (New, Start, Stop, Reload, Ready), owns the config file
// (Config, ParseConfig), and holds the HTTP edge handler and the admin
// server.
//
// # The request path
//
// A request arrives on the node's own HTTP/1.1 server (internal/h1, chosen
// over net/http for the cost of a cache hit). The handler picks the site by
// Host (an unknown Host gets 421 and is never forwarded), builds the cache
// key, and asks the cache:
//
//   - fresh stored response: answered from memory — the stored encoding the
//     client prefers (zstd, br, gzip, identity; never compressed on a hit),
//     304 for conditional requests, 206/416 for Range — with a prepared
//     header block, Age and Cache-Status;
//   - stale within stale-while-revalidate: answered stale, refreshed in the
//     background (one refresh per key at a time);
//   - otherwise: a fill (shared by concurrent requests for the key) fetches
//     from the origin over a pooled connection — conditionally when a stale
//     copy with validators exists — streams the response to every waiting
//     request while it is stored, and builds the compressed encodings once.
//     Fills run on worker goroutines that outlive one fill (workers.go), so
//     their deep stacks are not grown anew for every miss.
//     When the origin fails, a stale copy is served where allowed
//     (stale-if-error or the site's default), else 502 or 504;
//   - hit-for-pass (a URL that recently answered uncacheably or too large
//     to store): straight to the origin, a GET's Range and If-Range
//     included, so a slice of a large file is fetched as a slice.
//
// Methods other than GET and HEAD are forwarded with their bodies, and a
// successful unsafe request invalidates the stored responses for its URL
// (and same-host Location / Content-Location).
//
// Every response carries Cache-Status (RFC 9211) naming this node.
package edge
