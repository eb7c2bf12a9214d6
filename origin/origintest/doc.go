// Package origintest provides a real HTTP origin on loopback whose answers
// and failures a test controls, and which counts what reaches it: requests
// per path and per protocol, accepted TCP connections and the peak of
// concurrent requests.
//
// [New] starts a plain HTTP origin and [NewTLS] an HTTPS one with its own
// throw-away CA (optionally negotiating HTTP/2 and requiring a client
// certificate); both close when the test ends. Besides routes ([Server.Handle],
// [Server.HandleFallback]) a test has these controls:
//
//   - [Server.SetDelay] makes every request wait before it is answered, to
//     simulate a slow origin; the wait ends early, without an answer, when the
//     client goes away.
//   - [Server.SetDown] keeps the origin listening but makes every request fail
//     with a closed connection.
//   - [Server.Kill] makes the origin die like a crashed process: new dials are
//     refused and every open connection, idle or busy, is closed at once.
//     [Server.Revive] listens again on the same address with the same routes,
//     counters and certificates; [Server.Alive] reports which state it is in.
package origintest
