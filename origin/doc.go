// Package origin reaches a site's origin servers: one tuned, pooled,
// kept-alive http.Transport per origin, request rewriting (scheme, host,
// Host header), timeouts on every phase of a fetch, and metrics.
//
// In this version a site has exactly one origin (Pool.Do sends every request
// to it). Latency probes, origin selection, retries and circuit breakers
// build on this package with the origins issue (#3).
package origin
