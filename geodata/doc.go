// Package geodata will hold MaxMind-format database lookups (hot reload),
// client locations, the client → region mapping with coverage overrides, and
// a writer for small test databases. It is the bottom layer: every other
// package may import it and it imports none of ours.
//
// Nothing is implemented here yet: it lands with the geo-DNS issue (#4).
package geodata
