// Package cache is the node's object store: HTTP responses kept in memory
// on ristretto (cost = bytes), with the rules a shared cache must follow
// (RFC 9111, RFC 5861 stale-* and RFC 9213 CDN-Cache-Control), request
// collapsing, and purges that cannot lose a race.
//
// It uses net/http types but never serves HTTP: the node's edge handler
// asks it what is stored (Lookup), what a stored response may be used for
// (Entry.Decide), whether a new response may be stored and for how long
// (Analyze), and feeds it fills.
//
// # Keys and variants
//
// The primary key is the normalised URL (AppendKey). A response that varies
// (Vary) is stored under primary key + secondary key (the request's values
// of the Vary fields), with a small vary marker at the primary key naming
// the fields; Vary: * is never stored. Accept-Encoding is not part of the
// secondary key: the node fetches with a fixed Accept-Encoding and keeps the
// encodings of one response in one Entry (Entry.Body), choosing per client.
//
// # Fills and collapsing
//
// Concurrent misses for one key share one Fill (Begin): the first request
// leads, the fetch runs on its own goroutine, and every request reads the
// fill as it streams (read-while-writer). A response that may not be
// shared (private, uncacheable) goes to the leader alone and the key is
// remembered as hit-for-pass (MarkPass), so later requests go to the origin
// at once instead of queueing; the node marks responses too large to store
// the same way (and then forwards a Range to the origin). The producer
// calls EndBody once the body is complete: readers end their answers
// there, without waiting for it to be compressed and stored (Finish). A
// fill that finished is still found by Begin until ristretto has applied
// its Set, so a request arriving in that gap does not fetch again.
//
// # Purges
//
// ristretto's Set is asynchronous and may drop items, so a purge cannot just
// delete keys. Every entry records the purge sequence number current when
// its fill began. Purge flags matching stored entries (found through an
// index by host, URL and surrogate key) and leaves a marker that Put checks:
// an entry whose fill began before a matching purge is refused (hard) or
// stored stale (soft), however late it arrives. A fill that began before a
// matching purge is not joined by later requests. Markers are dropped once
// no fill in flight predates them.
//
// # Memory
//
// MaxMemory bounds the sum of entry costs: bodies of every stored encoding,
// header bytes and a fixed per-object overhead estimate. Compressible
// responses are normally stored compressed only; an identity body decoded
// for clients that cannot take compression is kept as a separate, evictable
// item once such a client asks for a stored object (PromoteIdentity);
// objects nobody asks for again stay compressed only.
//
// Entries live in a record arena: pointer-free chunks that the garbage
// collector marks without scanning, with ristretto and the purge index
// holding handles rather than pointers (arena.go, handles.go). A fill
// builds a Draft and Put copies it in; an *Entry points into its record and
// stays readable for as long as it is held, whatever happens to the stored
// object. Compaction (compact.go) copies live records out of chunks that
// evictions left sparse.
package cache
