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
// # Read order
//
// A connection waiting for its next request does not wait in Go's network
// poller by default. When the scheduler runs out of work it polls the
// kernel for ready sockets and makes their goroutines runnable in the
// reverse of the order the kernel reported them, so on a loaded server the
// connection whose request arrived first in a batch is served last: that is
// tail latency under load, and it grows with the batch. On Linux the server
// runs its own epoll instances (one per four Ps), edge-triggered, each
// watched by one dispatch goroutine that sleeps in the Go poller on the
// epoll descriptor, takes the ready events with a non-blocking epoll_wait
// (oldest first) and wakes the connections in that order through their
// wake channels. Only the last one woken jumps the queue (the runtime runs
// the most recently readied goroutine next), instead of the whole batch
// being reversed. Connections read their sockets directly and park on their
// wake channel on EAGAIN, or at once after a read that returned less than
// it asked for (the socket is empty; any later data raises a new edge), so a
// kept-alive request costs one read, not a read plus one that finds
// nothing. A FIN or error that arrived with the last data raises no new
// edge: the dispatcher flags it from the event and the connection reads
// instead of parking. Deadlines are a per-connection timer that pokes
// the channel, re-armed only when a deadline moves earlier. Event data
// carries a slot number and generation, so an event for a closed
// connection wakes nobody. If a poller cannot start or its dispatcher
// stops, connections go back to net.Conn reads (OnPollerError).
// Server.RuntimeReadOrder turns this off.
//
// On a saturated core the dispatcher runs in epochs: the runtime polls the
// kernel when a P's run queue drains, and otherwise only from sysmon once
// nobody has polled for 10 ms, which puts the dispatcher on the global run
// queue, where it waits for the local queue to drain anyway (a trace of
// 1 MiB hits on one core: median 6 ms there). Requests that arrive
// during one epoch are served, in arrival order, in the next. Dispatching
// from connection goroutines between epochs was measured and dropped:
// every wake-up takes the runtime's run-next slot, so each inline
// dispatch let its newest request overtake the whole queue, and under load
// a few connections then served each other while the rest starved (p99
// over 100 ms). Putting a new goroutine in that slot after each dispatch
// restores arrival order, but did not lower the p99 of the 1 MiB hit
// benchmark. Nor did dispatching only from the last connection to park
// (a count of connections running or woken, so that nothing the poller
// woke was still queued): on 1 MiB gzip hits, 4 interleaved pairs gave
// p99s of 5-12 ms with and 5-14 ms without. Counting a woken connection
// as running only once it ran brought the starvation back (p99 55-78 ms).
//
// These waits can be measured: built with -tags h1qdelay (qdelay_linux.go,
// driven by bench/http/qdelay.sh), the server times each request from the
// kernel's receive timestamp to the poller's wake-up, the read and the
// written response.
//
// # System calls
//
// On Linux the hot-path system calls are raw: a response leaves with one
// writev on the non-blocking socket (rawwrite_linux.go), in both read
// orders, and the poller's reads and zero-timeout epoll_wait calls are raw
// too (poller_linux.go). None of them can block. Going through the
// runtime's syscall entry instead costs twice:
//
//   - A call that takes longer than a sysmon tick (20 µs; a 1 MiB response
//     copies for ~200 µs) has its P handed to another thread: on a busy
//     node that is a thread switch, and the goroutine, back from the
//     kernel, queues behind every other runnable one. A raw call keeps
//     the P for at most one socket buffer's copy (a few MiB, ~1 ms).
//   - The syscall entry wakes sysmon from its deep sleep whenever the node
//     has been idle, and sysmon then runs every 20 µs for a while: on a
//     node that keeps up with its clients (idle many times a second) that
//     was ~1,000 preemptions a second of the serving thread on its core.
//
// When the socket is full a write waits in the Go poller, under the write
// deadline, and writes the rest. Measured (issue #2 notes): on 1 MiB hits
// the raw writev took the median CPU per request from 251 to 233 µs over 8
// interleaved pairs and kept the process at its idle thread count (6-7
// instead of 9-11 threads); the raw reads and epoll_wait then cut sysmon's
// wake-ups 2-8x (7x on 32 KiB hits) and the serving thread's involuntary
// switches 1.5-8x on 32 KiB and 1 KiB hits, and CPU per request by ~3 %
// (7 of 8 pairs).
//
// # Lifetime of request data
//
// Strings in a Request (method excepted) point into the connection's read
// buffer. They are valid only until the handler returns. A handler that hands
// any of them to another goroutine, or keeps them, must copy them first
// (strings.Clone). This is what makes parsing free of allocations.
package h1
