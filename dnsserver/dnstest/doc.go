// Package dnstest helps test code that runs a dnsserver.Server: it starts
// a real server on 127.0.0.1 (UDP and TCP on one free port) that stops when
// the test ends, and it provides the two things a server needs besides its
// config, as simple real implementations rather than mocks:
//
//   - [Locator], a static prefix table mapping client addresses to regions
//     (longest match wins; the matched prefix is the ECS scope), with a
//     fallback order per region;
//   - [Health], a region health map that tests flip.
//
// [Server.Exchange] sends one query over UDP or TCP with a miekg client;
// [Query] and [WithECS] build queries.
package dnstest
