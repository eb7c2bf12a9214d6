package edge

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/edge/internal/h1"
)

// fwdKind says why a request went to the origin (RFC 9211 "fwd").
type fwdKind uint8

const (
	fwdNone     fwdKind = iota
	fwdURIMiss          // nothing stored
	fwdVaryMiss         // stored responses vary and none matched
	fwdStale            // stored response was stale (or purged soft)
	fwdRequest          // the request's directives forced the forward
	fwdPass             // hit-for-pass, or a request that must not share
	fwdMethod           // a method the cache does not handle
)

var fwdNames = [...]string{"", "uri-miss", "vary-miss", "stale", "request", "bypass", "method"}

// cacheStatus is one RFC 9211 Cache-Status member for this node.
type cacheStatus struct {
	hit       bool
	fwd       fwdKind
	fwdStatus int
	stored    bool
	collapsed bool
	hasTTL    bool
	ttl       time.Duration
	detail    string
}

func csHit(ttl time.Duration) cacheStatus { return cacheStatus{hit: true, hasTTL: true, ttl: ttl} }

// append renders the member's parameters after the node's prefix.
func (cs *cacheStatus) append(b []byte, prefix string) []byte {
	b = append(b, prefix...)
	first := true
	param := func(s string) {
		if !first {
			b = append(b, "; "...)
		}
		first = false
		b = append(b, s...)
	}
	if cs.hit {
		param("hit")
	}
	if cs.fwd != fwdNone {
		param("fwd=")
		b = append(b, fwdNames[cs.fwd]...)
	}
	if cs.fwdStatus > 0 {
		param("fwd-status=")
		b = strconv.AppendInt(b, int64(cs.fwdStatus), 10)
	}
	if cs.stored {
		param("stored")
	}
	if cs.collapsed {
		param("collapsed")
	}
	if cs.hasTTL {
		param("ttl=")
		b = strconv.AppendInt(b, ttlSeconds(cs.ttl), 10)
	}
	if cs.detail != "" {
		param("detail=")
		b = append(b, cs.detail...)
	}
	return b
}

// String renders the member as a string; it is built on the stack and
// copied once (misses and passes set it as a header field).
func (cs *cacheStatus) String(prefix string) string {
	var buf [160]byte
	return string(cs.append(buf[:0], prefix))
}

// ttlSeconds rounds a remaining lifetime to whole seconds, towards
// negative infinity (a response one millisecond past expiry is stale).
func ttlSeconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d < 0 && d%time.Second != 0 {
		s--
	}
	return s
}

// serveEntry answers from a stored response: conditional requests with
// 304, Range with 206/416, otherwise the stored encoding the client
// prefers, with Age and Cache-Status.
func (x *exchange) serveEntry(e *cache.Entry, result int, cs cacheStatus) {
	r := x.r
	prefs := x.cl.prefsFor(x.g, r.Header.Get("Accept-Encoding"))
	enc := prefs.choose(e)
	if e.Status() == http.StatusOK {
		// RFC 9110 13.2.2: If-None-Match, when present, decides alone.
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			if e.ETag() != "" && etagMatchWeak(inm, e.ETag()) {
				x.notModified(e, enc, result, cs)
				return
			}
		} else if ims := r.Header.Get("If-Modified-Since"); ims != "" && e.LastModified() != "" {
			if notModifiedSince(e.LastModified(), ims) {
				x.notModified(e, enc, result, cs)
				return
			}
		}
		if rng := r.Header.Get("Range"); rng != "" && r.Method == "GET" {
			if x.serveRange(e, rng, result, cs) {
				return
			}
		}
	}
	body := e.Body(enc)
	if body == nil && enc == cache.Identity && e.Status() != http.StatusNoContent {
		var ok bool
		if body, ok = x.identity(e); !ok {
			x.plainError(502, "stored response could not be decoded", "decode-error")
			return
		}
	}
	b := append(x.w.Scratch(), x.preparedHead(e, enc, len(body))...)
	if cs.hit && cs.detail == "" && !cs.collapsed {
		b = strconv.AppendInt(b, ttlSeconds(cs.ttl), 10)
	} else {
		// The prepared head ends with a hit prefix; this answer needs
		// other parameters, so the field is rebuilt.
		b = b[:len(b)-len(x.hitPrefix())]
		b = append(b, "Cache-Status: "...)
		b = cs.append(b, x.g.csPrefix)
	}
	b = append(b, "\r\nAge: "...)
	b = strconv.AppendInt(b, int64(e.Age(x.h.now())/time.Second), 10)
	b = append(b, "\r\n"...)
	x.w.WriteRaw(int(e.Status()), b, body)
	x.done(result, int(e.Status()), enc)
}

// done records metrics for an answered request.
func (x *exchange) done(result, status int, enc cache.Encoding) {
	n := x.w.Written()
	if n > 0 {
		x.h.met.servedBy[enc].Add(float64(n))
	}
	end := x.h.now()
	x.s.met.observe(result, status, n, end.Sub(x.start).Seconds())
	x.observeRegion(end)
}

func (x *exchange) hitPrefix() string { return "Cache-Status: " + x.g.csPrefix + "hit; ttl=" }

// preparedHead returns the cached static part of the response head for one
// encoding of an entry: status line, stored fields, ETag, Vary,
// Content-Encoding, Content-Length and the start of Cache-Status. It is
// built once per entry, encoding and config generation.
func (x *exchange) preparedHead(e *cache.Entry, enc cache.Encoding, size int) []byte {
	if p := x.h.store.Prepared(e, x.g.id, enc); p != nil {
		return p
	}
	// Built on the stack when it fits: SetPrepared keeps its own copy.
	var stack [1024]byte
	b := h1.AppendStatusLine(stack[:0], int(e.Status()))
	b = append(b, e.Header()...)
	b = appendValidatorFields(b, e, enc)
	if enc != cache.Identity {
		b = append(b, "Content-Encoding: "...)
		b = append(b, enc.String()...)
		b = append(b, "\r\n"...)
	}
	if e.Status() != http.StatusNoContent {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(size), 10)
		b = append(b, "\r\n"...)
	}
	if e.Status() == http.StatusOK {
		b = append(b, "Accept-Ranges: bytes\r\n"...)
	}
	b = append(b, x.hitPrefix()...)
	return x.h.store.SetPrepared(e, x.g.id, enc, b)
}

// appendValidatorFields appends the ETag and Vary fields for one encoding
// of an entry. The ETag of an encoding the cache derived from the origin's
// is weak: it is a different representation (RFC 9110 8.8.3).
func appendValidatorFields(b []byte, e *cache.Entry, enc cache.Encoding) []byte {
	if e.ETag() != "" {
		b = append(b, "ETag: "...)
		if enc != e.Native() && !strings.HasPrefix(e.ETag(), "W/") {
			b = append(b, "W/"...)
		}
		b = append(b, e.ETag()...)
		b = append(b, "\r\n"...)
	}
	if e.Vary() != "" {
		b = append(b, "Vary: "...)
		b = append(b, e.Vary()...)
		b = append(b, "\r\n"...)
	}
	return b
}

// identity returns the identity body of an entry that stores only
// compressed encodings: promoted, or decoded now and kept (promoted) for
// the next identity hits.
func (x *exchange) identity(e *cache.Entry) ([]byte, bool) {
	st := x.h.store
	if b, ok := st.IdentityBody(e); ok {
		return b, true
	}
	src := cache.Identity
	for _, enc := range [...]cache.Encoding{cache.Zstd, cache.Gzip, cache.Brotli} {
		if e.Has(enc) {
			src = enc
			break
		}
	}
	if src == cache.Identity {
		return nil, false
	}
	out, err := decode(src, e.Body(src), e.Size())
	if err != nil {
		x.h.logger.Warn("stored body does not decode", "key", e.Key(), "encoding", src.String(), "err", err)
		return nil, false
	}
	x.h.met.decoded.Inc()
	if st.NoteIdentityHit(e) {
		st.PromoteIdentity(e, out)
	}
	return out, true
}

// notModified answers a conditional request from the stored response
// (RFC 9110 15.4.5: the fields a 200 would carry that help caches, no
// body).
func (x *exchange) notModified(e *cache.Entry, enc cache.Encoding, result int, cs cacheStatus) {
	b := append(x.w.Scratch(), "HTTP/1.1 304 Not Modified\r\n"...)
	for _, name := range [...]string{"Cache-Control", "Content-Location", "Date", "Expires", "Last-Modified", "Cdn-Cache-Control"} {
		if v := e.HeaderValue(name); v != "" {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = appendValidatorFields(b, e, enc)
	b = append(b, "Age: "...)
	b = strconv.AppendInt(b, int64(e.Age(x.h.now())/time.Second), 10)
	b = append(b, "\r\nCache-Status: "...)
	b = cs.append(b, x.g.csPrefix)
	b = append(b, "\r\n"...)
	x.w.WriteRaw(304, b, nil)
	x.done(result, 304, enc)
}

// etagMatchWeak implements the weak comparison of If-None-Match
// (RFC 9110 13.1.2): "*" or any listed tag equal to etag, W/ ignored.
func etagMatchWeak(header, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for header != "" {
		header = strings.TrimLeft(header, " \t,")
		if header == "" {
			break
		}
		if header[0] == '*' {
			return true
		}
		tag := header
		weak := strings.HasPrefix(tag, "W/")
		if weak {
			tag = tag[2:]
		}
		if !strings.HasPrefix(tag, `"`) {
			// Not an entity-tag: skip to the next comma.
			i := strings.IndexByte(header, ',')
			if i < 0 {
				break
			}
			header = header[i:]
			continue
		}
		end := strings.IndexByte(tag[1:], '"')
		if end < 0 {
			return false
		}
		if tag[:end+2] == etag {
			return true
		}
		header = tag[end+2:]
	}
	return false
}

// etagMatchStrong compares for If-Range (RFC 9110 13.1.5): both strong
// and equal.
func etagMatchStrong(a, b string) bool {
	return a == b && !strings.HasPrefix(a, "W/") && strings.HasPrefix(a, `"`)
}

// notModifiedSince reports whether a resource last modified at lastMod
// is unchanged since the If-Modified-Since date ims.
func notModifiedSince(lastMod, ims string) bool {
	lm, err1 := http.ParseTime(lastMod)
	t, err2 := http.ParseTime(ims)
	return err1 == nil && err2 == nil && !lm.After(t)
}

// plainError writes a short text error naming the site, with
// Cache-Status.
func (x *exchange) plainError(status int, msg, detail string) {
	site := ""
	if x.s != nil {
		site = " (site " + x.s.name + ")"
	}
	body := http.StatusText(status) + ": " + msg + site + "\n"
	b := h1.AppendStatusLine(x.w.Scratch(), status)
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nDate: "...)
	b = append(b, h1.HTTPDate()...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nCache-Status: "...)
	cs := cacheStatus{detail: detail}
	b = cs.append(b, x.g.csPrefix)
	b = append(b, "\r\n"...)
	x.w.WriteRaw(status, b, []byte(body))
	if x.s != nil {
		end := x.h.now()
		x.s.met.observe(resError, status, 0, end.Sub(x.start).Seconds())
		x.observeRegion(end)
	}
}
