// Package geodata maps client addresses to serving regions, from a
// MaxMind-format database (GeoIP2, GeoLite2 or DB-IP City or Country) and
// an operator's coverage file. It is the bottom layer: every other package
// may import it, and it imports none of ours.
//
// # Mapping
//
// [Geo.Locate] decides in this order, first match wins:
//
//  1. coverage: the longest prefix of the coverage file that contains the
//     address ("PREFIX REGION" lines, IPv4 and IPv6);
//  2. subdivision: the record's country and first subdivision, "US-CA";
//  3. country: the record's country, "US";
//  4. continent: the record's continent, "EU";
//  5. nearest: the region whose site is nearest the record's coordinates
//     by great-circle (haversine) distance, config order on ties; only
//     when the record has coordinates (no location is not 0,0);
//  6. default: the default region (not in the database, or nothing
//     usable in the record).
//
// This is the bench's spec (../shared/bench/dns, policy.txt), which the
// tests check over every network of a GeoLite2 City database.
//
// # Scope
//
// Each answer carries a Scope (the ECS scope of RFC 7871): a prefix that
// contains the address and in which every address gets the same region.
// A caching resolver reuses the answer for the whole scope, so a scope
// must never be too wide, and should be as wide as that allows.
//
// The database answers with the network of the matching record (or, for
// an address not in it, the empty subtree around it). The scope starts
// wider than that: when a state is built, one walk over the search tree
// computes for every node the single region all of its subtree maps to,
// or "mixed" (decoding each record once, and proving the tree sound on
// the way: pointers in range, no cycles, no path longer than an address,
// every record decodable). Locate walks the tree to the record, keeping
// the nodes it passed, and the scope is the shortest prefix on that path
// whose node maps wholly to the answer's region. This is gdnsd's merging
// of neighbouring networks with the same answer, exact and at the cost of
// a table lookup per level.
//
// Coverage entries then narrow it. The coverage prefixes of each family
// live in a binary trie whose nodes know how many entries their subtree
// holds and whether all of them name one region. Walking down the
// address's path, the scope is the shortest prefix (at least the
// deciding length: the coverage entry, when one decided) whose subtree
// holds no entry of another region. Such an entry would change the answer
// for part of the prefix; an entry of the same region would not.
//
// The property the tests check exhaustively on small random databases:
// the region is the spec's, Scope contains the address, every address in
// Scope gets the same region, and (where only the database decides) the
// prefix one bit wider would not.
//
// # Cache
//
// Answers are cached in a fixed-size, lock-free, two-way set-associative
// table of pointers to immutable entries. An entry is valid for its exact
// prefix, the part of the scope where the record, rule and region are all
// the same (the record's network, narrowed by any coverage entry inside),
// and a hit is checked against it, so the cache can miss but never answer
// wrongly. An address is looked for under its /24 (IPv4) or /48 (IPv6),
// where entries valid for the whole block live, and under the address
// itself, for narrower ones. A hit costs two to four atomic loads and
// allocates nothing.
//
// # IPv4 block table
//
// [Geo.LocateRegion] returns only Region and Scope. For IPv4 it first
// reads a table with an entry per /24 block, built with each state by
// walking the IPv4 space in scope-sized steps with the same locate: a
// block has an entry when its scope is /24 or wider and no coverage entry
// longer than that scope lies inside it. Then every address of the block
// computes the same region and the same scope, because both scope walks
// (the node table and the coverage trie from the same longest match) stop
// within bits the block's addresses share; so the table can only agree
// with Locate, and the tests check that it does. Other blocks, and IPv6,
// go through Locate.
//
// # Reload and concurrency
//
// Everything Locate reads (database, rules, trie, node table, cache, block table) is
// one immutable state behind an atomic.Pointer. A reload builds a new
// state next to the old one and swaps it in; a Locate that loaded the old
// pointer finishes on the old state, which the garbage collector frees
// afterwards (databases are held in memory, so nothing must be closed or
// unmapped under a reader). A bad file (corrupt, missing, of another
// schema, a coverage entry naming an unknown region) leaves the old state
// serving. Reloads are serialised by a mutex; Locate takes no lock.
//
// [Geo.Start] polls the files every check_interval (size, modification
// time, inode): replacing a file by rename and rewriting it in place both
// work, a half-written file fails to load and is retried when it changes
// again. [Geo.Reload] applies a whole new config the same way and does
// not read an unchanged database file again.
//
// # Databases
//
// [DB] reads a database with its own search-tree walk and decodes only
// the fields it uses (continent, country, first subdivision, location)
// with maxminddb-golang's cursor API: no allocation per lookup, unlike
// geoip2-golang's City. Package geodatatest writes small City databases
// for tests and for the demo node.
//
// Counters are in [Geo.Stats]; the node exports them as edge_dns_geodata_*
// (this package has no Prometheus dependency).
package geodata
