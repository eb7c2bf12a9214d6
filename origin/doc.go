// Package origin reaches a site's origin servers.
//
// A Pool holds the origins of one site. Each origin has its own tuned,
// pooled, kept-alive http.Transport (HTTP/2 to TLS origins, a cap on
// connections, a timeout on every phase of a fetch) and its own health and
// latency state:
//
//   - Probes: one GET of a health path per origin per interval (with
//     jitter), over the origin's own pool. Successful probes feed an EWMA
//     of the round-trip time (connect when needed + time to first byte)
//     and its variance; every probe feeds a loss EWMA. Rise successes in a
//     row mark a down origin up, fall failures mark it down.
//   - Breaker: real traffic's connect errors, timeouts and 500/502/503/504
//     answers open a circuit breaker after a run of failures; after a
//     pause it lets trial requests through (half-open) and closes on the
//     first success.
//   - Selection: lowest-latency sends requests to the up primary with the
//     lowest estimate (EWMA + one standard deviation, divided by the
//     weight), keeping the current choice unless another is clearly better
//     (by ratio and by an absolute margin); consistent-hash maps cache keys
//     to origins by weighted rendezvous hashing, the same on every node.
//     Backups take requests only while no primary can.
//   - Retries: an idempotent request without a body that fails before any
//     response (connect error, reset) and not by timeout is sent once more
//     to the next origin, within a retry budget (a fraction of requests
//     plus a floor per second).
//
// Pool.Do is the request path; Pool.Snapshot the state for the admin API
// and dashboards; Metrics the Prometheus series (edge_origin_*).
package origin
