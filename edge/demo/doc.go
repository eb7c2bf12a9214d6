// Package demo is the edge node's built-in demo origin: a small, deterministic
// HTTP origin server that `make run` starts on a loopback port next to a demo
// site, so that a new user can watch the edge cache at work with nothing but
// curl, and so that tests have a realistic origin to proxy to.
//
// Every answer is deterministic (the same path gives the same bytes and the
// same validators), carries the headers a real origin would send (Date,
// Last-Modified, ETag, Cache-Control, Content-Length, Vary, ...) and explains
// itself. Three headers are set on every response:
//
//	Server: edgecdn-demo-origin
//	Date: <now>
//	X-Demo-Fetch: <n>
//
// X-Demo-Fetch counts how many times this exact path (query ignored) has
// reached the origin, this request included (HEAD, 304 and error answers
// count too; /demo/stats and /demo/stats/reset are not counted and carry no
// X-Demo-Fetch). A copy served from the edge cache shows an old number, so
// the header tells whether a request went to the origin. Counts are kept for
// at most 10,000 distinct paths (paths longer than 256 bytes or not valid
// UTF-8 never get their own entry); everything beyond is counted under
// "other".
//
// # Endpoints
//
// Unless noted, an endpoint answers GET and HEAD (HEAD: the GET headers, no
// body) and answers other methods with 405 and an Allow header. Endpoints with
// an ETag or Last-Modified answer If-None-Match (weak comparison, "*" and
// lists), If-Modified-Since (only without If-None-Match), If-Match and
// If-Unmodified-Since (412) as RFC 9110 says.
//
//	path                       what it is                                   Cache-Control / validators
//	-------------------------  -------------------------------------------  ----------------------------------------------
//	/, /demo/, /demo           HTML index of these endpoints                public, max-age=60; ETag
//	/demo/text/<bytes>         exactly <bytes> of readable text (0..256m;   public, max-age=3600; ETag, Last-Modified
//	                           "4096", "4k", "1m"), gzip ratio ~3-4:1       (2025-01-01T00:00:00Z); Content-Length
//	/demo/slow/<ms>            text answered after <ms> (0..60000) ms,      as /demo/text; ETag differs per path
//	                           ?size=<bytes> (default 4096); the wait ends
//	                           when the client goes away
//	/demo/gzip/<bytes>         text compressed by the origin when           as /demo/text; Vary: Accept-Encoding;
//	                           Accept-Encoding allows gzip                  ETag gets a "-gzip" suffix when compressed
//	/demo/json                 a few KiB of JSON (fake product catalogue)   public, max-age=60; ETag, Last-Modified
//	/demo/image.png            a real ~365 KiB PNG                          public, max-age=86400; ETag, Last-Modified
//	/demo/image.svg            a small, compressible SVG                    public, max-age=86400; ETag, Last-Modified
//	/demo/large/<MiB>          1..4096 MiB of incompressible bytes;         public, max-age=3600; ETag, Last-Modified;
//	                           single Range (206, 416), If-Range            Accept-Ranges: bytes
//	/demo/nostore              never stored                                 no-store
//	/demo/private              private caches only                          private, max-age=60
//	/demo/nocache              stored, revalidated on every use             no-cache; ETag
//	/demo/expires              freshness from Expires only                  none; Expires = Date + 120 s; ETag
//	/demo/heuristic            no explicit freshness                        none; Last-Modified = now - 24 h
//	/demo/nofreshness          no freshness and no validators at all        none
//	/demo/stale                body shows the time it was generated         public, max-age=5, stale-while-revalidate=30,
//	                                                                        stale-if-error=300; ETag, Last-Modified = now
//	/demo/tag/<tag>/<name>     text for purge-by-tag demos                  public, max-age=3600; ETag;
//	                           (<tag>: 1..64 of A-Z a-z 0-9 . _ -)          Surrogate-Key: <tag> demo-all; Cache-Tag: <tag>
//	/demo/vary                 body names the X-Demo-Variant it was         public, max-age=3600; ETag per variant;
//	                           served for (default "none")                  Vary: X-Demo-Variant
//	/demo/status/<code>        answers <code> (200..599; 1xx is 400)        public, max-age=30
//	/demo/headers              any method: echoes method, path, query,      no-store
//	                           headers (sorted) and body size as JSON
//	/demo/fail                 GET: shows the failure switch; POST ?on=1    no-store
//	                           or ?on=0 turns it on or off
//	/demo/stats                JSON {"paths": {path: n}, "total": n}        no-store (not counted)
//	/demo/stats/reset          POST only: zeroes the counters               no-store (not counted)
//	anything else              404, plain text                              none
//
// # The failure switch
//
// While the failure switch is on (POST /demo/fail?on=1), every request for
// /demo/stale and /demo/text/... is answered 503 with Cache-Control:
// no-store, so that the edge's stale-if-error handling can be shown. POST
// /demo/fail?on=0 turns it off. It is a demo switch that anyone who can reach
// the origin may flip; that is acceptable only because the demo origin
// listens on loopback, which New enforces.
//
// # Limits
//
// Sizes, delays and the counters map are bounded (see above). Generated
// bodies are streamed through a 32 KiB buffer, so a 256 MiB text or a 4 GiB
// large file costs no more memory than a small one; the JSON, SVG and PNG
// documents are built once per process and shared. Nothing is logged per
// request.
package demo
