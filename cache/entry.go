package cache

import (
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// Encoding names a stored representation of an object's body.
type Encoding uint8

// The encodings the cache stores, in the order a client preference tie is
// broken (best first: zstd, br, gzip, identity).
const (
	Identity Encoding = iota
	Gzip
	Brotli
	Zstd
	NumEncodings
)

var encodingNames = [NumEncodings]string{"identity", "gzip", "br", "zstd"}

// String returns the content-coding name ("identity", "gzip", "br", "zstd").
func (e Encoding) String() string {
	if e < NumEncodings {
		return encodingNames[e]
	}
	return "unknown"
}

// ParseEncoding maps a content-coding name to an Encoding.
func ParseEncoding(s string) (Encoding, bool) {
	for i, n := range encodingNames {
		if strings.EqualFold(s, n) {
			return Encoding(i), true
		}
	}
	return Identity, false
}

// Purge states of an entry.
const (
	notPurged uint32 = iota
	softPurged
	hardPurged
)

// Entry is one stored response: metadata, the stored header fields and a
// body per stored encoding. Entries are immutable once stored except for
// the atomic fields; a revalidation stores a new Entry.
type Entry struct {
	// Key is the primary cache key (the normalised URL); VaryKey the
	// secondary key built from the request fields named by VaryNames.
	Key, VaryKey string
	// VaryNames are the fields the response varies on (lower case,
	// Accept-Encoding excluded). An entry stored at the primary key of a
	// varying response holds only VaryNames (a vary marker).
	VaryNames []string
	// Tags are the surrogate keys for purge by tag.
	Tags []string

	// Header holds the stored response fields in wire form ("Name: value\r\n"
	// lines), without hop-by-hop fields, Age, Content-Length,
	// Content-Encoding, Vary, ETag and the surrogate-key fields, which are
	// kept separately or generated per response.
	Header string
	// ETag and LastModified are the validators as sent by the origin.
	ETag, LastModified string
	// Vary is the Vary field value to send (the origin's, Accept-Encoding
	// added when the cache built encodings).
	Vary string
	// Bodies holds the body per encoding (nil: not stored). A body may be
	// empty but non-nil.
	Bodies [NumEncodings][]byte
	// Size is the length of the identity body (known even when the identity
	// body is not stored).
	Size int64

	// Freshness inputs (RFC 9111 4.2.3), fixed at store time.
	ResponseTime        time.Time
	CorrectedInitialAge time.Duration
	Lifetime            time.Duration
	// StaleIfError is the window past expiry in which the entry may be
	// served when the origin fails.
	StaleIfError time.Duration

	// prepared is free for the consumer to cache data derived from the
	// entry, per encoding (edge keeps its prepared response heads there):
	// see Prepared and SetPrepared.
	prepared atomic.Pointer[preparedBlock]

	seq uint64 // purge sequence when the fill that made it started
	// Status is the response status code.
	Status       int32
	purged       atomic.Uint32
	identityHits atomic.Int32
	// Native is the encoding the origin sent; the other stored encodings
	// were derived from it (their ETag is sent weak).
	Native     Encoding
	Directives Directives

	identity    atomic.Pointer[Entry] // the promoted identity item, while ristretto holds it
	owner       *Entry                // for a promoted identity item: the entry it belongs to
	nextVariant *Entry                // the purge index's list of entries under one key hash
	cost        int64
}

// preparedBlock is the consumer data of one config generation. It lives
// at the start of a pointer-free []byte allocation, followed by every
// encoding's data back to back: an entry that is served then carries one
// more heap object with nothing in it for the garbage collector to scan
// (a struct of slices plus a buffer per encoding cost every GC cycle about
// as much as the rest of the entry).
type preparedBlock struct {
	gen        uint64
	has        uint32 // bit per encoding
	_          uint32
	start, end [NumEncodings]uint32 // offsets after the block header
}

const preparedHeader = int(unsafe.Sizeof(preparedBlock{}))

// data returns the bytes after the header (n of them).
func (p *preparedBlock) data(from, to uint32) []byte {
	base := unsafe.Add(unsafe.Pointer(p), preparedHeader)
	return unsafe.Slice((*byte)(unsafe.Add(base, from)), to-from)[: to-from : to-from]
}

// Prepared returns the consumer data cached for an encoding under
// generation gen (nil if none).
func (e *Entry) Prepared(gen uint64, enc Encoding) []byte {
	if p := e.prepared.Load(); p != nil && p.gen == gen && p.has&(1<<enc) != 0 {
		return p.data(p.start[enc], p.end[enc])
	}
	return nil
}

// SetPrepared caches a copy of consumer data for an encoding under
// generation gen (data of older generations is dropped) and returns the
// stored copy. It is copy-on-write: rare, and safe against concurrent
// readers.
func (e *Entry) SetPrepared(gen uint64, enc Encoding, b []byte) []byte {
	for {
		old := e.prepared.Load()
		var items [NumEncodings][]byte
		has := uint32(1) << enc
		if old != nil && old.gen == gen {
			has |= old.has
			for i := range NumEncodings {
				if old.has&(1<<i) != 0 {
					items[i] = old.data(old.start[i], old.end[i])
				}
			}
		}
		items[enc] = b
		size := 0
		for _, d := range items {
			size += len(d)
		}
		// One spare byte: an empty last item must not point past the
		// allocation.
		buf := make([]byte, preparedHeader+size+1)
		n := (*preparedBlock)(unsafe.Pointer(&buf[0]))
		n.gen, n.has = gen, has
		off := 0
		for i, d := range items {
			n.start[i] = uint32(off)
			off += copy(buf[preparedHeader+off:], d)
			n.end[i] = uint32(off)
		}
		if e.prepared.CompareAndSwap(old, n) {
			return n.data(n.start[enc], n.end[enc])
		}
	}
}

// IsVaryMarker reports whether e only records the Vary fields of the
// responses stored under its key.
func (e *Entry) IsVaryMarker() bool { return e.Status == 0 && len(e.VaryNames) > 0 }

// Age is the entry's current age (RFC 9111 4.2.3).
func (e *Entry) Age(now time.Time) time.Duration {
	return e.CorrectedInitialAge + max(now.Sub(e.ResponseTime), 0)
}

// TTL is the remaining freshness: negative once stale. A soft-purged entry
// is stale.
func (e *Entry) TTL(now time.Time) time.Duration {
	ttl := e.Lifetime - e.Age(now)
	if e.purged.Load() == softPurged && ttl >= 0 {
		return -1
	}
	return ttl
}

// Purged reports whether the entry was removed by a (hard) purge.
func (e *Entry) Purged() bool { return e.purged.Load() == hardPurged }

// SoftPurged reports whether the entry was marked stale by a purge.
func (e *Entry) SoftPurged() bool { return e.purged.Load() == softPurged }

// Has reports whether the entry stores the encoding.
func (e *Entry) Has(enc Encoding) bool { return e.Bodies[enc] != nil }

// mustRevalidate tells whether the entry may never be served stale by a
// shared cache (must-revalidate, proxy-revalidate, s-maxage; RFC 9111
// 5.2.2.2, 5.2.2.8, 5.2.2.10).
func (e *Entry) mustRevalidate() bool {
	d := &e.Directives
	return d.Flags&(DirMustRevalidate|DirProxyRevalidate) != 0 || d.SMaxAge != NoValue
}

// Use says how a stored entry may answer a request.
type Use uint8

const (
	// UseFresh: serve it.
	UseFresh Use = iota
	// UseStale: serve it now (stale-while-revalidate or max-stale) and,
	// for stale-while-revalidate, refresh it in the background.
	UseStale
	// UseRevalidate: validate with the origin first.
	UseRevalidate
)

// Decision is the outcome of Decide.
type Decision struct {
	Use Use
	// Background asks for a background refresh (stale-while-revalidate).
	Background bool
	// StaleOnError tells whether the entry may be served if the
	// revalidation fails (stale-if-error, RFC 5861 4).
	StaleOnError bool
	// TTL is the remaining freshness (negative when stale).
	TTL time.Duration
	// Forced is true when the request's directives (no-cache, max-age,
	// min-fresh) forced the revalidation of a fresh entry.
	Forced bool
}

// Decide applies the response's and the request's directives to a stored
// entry (RFC 9111 4, 5.2.1; RFC 5861).
func (e *Entry) Decide(req *Directives, now time.Time) Decision {
	age := e.Age(now)
	ttl := e.TTL(now)
	dec := Decision{TTL: ttl}
	stale := -ttl // how long past expiry (when positive)
	mustRev := e.mustRevalidate()
	canServeStale := !mustRev && !e.Directives.Has(DirNoCache)
	dec.StaleOnError = canServeStale && (stale <= e.StaleIfError ||
		(req.SIE != NoValue && stale <= time.Duration(req.SIE)*time.Second))

	// Revalidation the request asks for (5.2.1).
	switch {
	case req.Has(DirNoCache):
		dec.Use, dec.Forced = UseRevalidate, ttl > 0
		return dec
	case req.MaxAge != NoValue && age > time.Duration(req.MaxAge)*time.Second:
		dec.Use, dec.Forced = UseRevalidate, ttl > 0
		return dec
	case req.MinFresh != NoValue && ttl < time.Duration(req.MinFresh)*time.Second:
		dec.Use, dec.Forced = UseRevalidate, ttl > 0
		return dec
	}
	if e.Directives.Has(DirNoCache) {
		dec.Use = UseRevalidate
		return dec
	}
	if ttl > 0 {
		dec.Use = UseFresh
		return dec
	}
	if canServeStale {
		// The client accepts staleness (max-stale)...
		if !e.SoftPurged() && (req.Has(DirMaxStaleAny) || (req.MaxStale != NoValue && stale <= time.Duration(req.MaxStale)*time.Second)) {
			dec.Use = UseStale
			return dec
		}
		// ...or the origin allows serving it while refreshing.
		if e.Directives.SWR != NoValue && stale <= time.Duration(e.Directives.SWR)*time.Second && !e.SoftPurged() {
			dec.Use, dec.Background = UseStale, true
			return dec
		}
	}
	dec.Use = UseRevalidate
	return dec
}

// HeaderValue returns the first value of the named field in the stored
// header block (name compared case-insensitively), or "".
func (e *Entry) HeaderValue(name string) string {
	return headerBlockGet(e.Header, name)
}

// HTTPHeader returns the stored header fields as an http.Header, with the
// separately kept ones (ETag, Vary, Content-Type) restored.
func (e *Entry) HTTPHeader() http.Header {
	h := parseHeaderBlock(e.Header)
	if e.ETag != "" {
		h.Set("Etag", e.ETag)
	}
	if e.Vary != "" {
		h.Set("Vary", e.Vary)
	}
	return h
}

// hopByHop lists fields that are not stored or forwarded (RFC 9110 7.6.1)
// plus the ones the cache sends per response (Age, framing, encoding) or
// keeps apart (ETag, Vary, surrogate keys).
var notStored = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Proxy-Authenticate": true,
	"Age": true, "Content-Length": true, "Content-Encoding": true, "Etag": true, "Vary": true,
	"Surrogate-Key": true, "Cache-Tag": true, "Surrogate-Control": true, "Set-Cookie": true,
	"Cache-Status": true,
}

// HeaderBlock renders the storable fields of h in wire form, sorted by
// name, leaving out hop-by-hop fields, the ones named in Connection, and
// those the cache generates per response.
func HeaderBlock(h http.Header) string {
	connListed := map[string]bool{}
	for _, v := range h["Connection"] {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				connListed[http.CanonicalHeaderKey(n)] = true
			}
		}
	}
	keys := make([]string, 0, len(h))
	size := 0
	for k, vs := range h {
		if notStored[k] || connListed[k] {
			continue
		}
		keys = append(keys, k)
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	sort.Strings(keys)
	b := make([]byte, 0, size)
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c == '\r' || c == '\n' || c == 0 {
					c = ' '
				}
				b = append(b, c)
			}
			b = append(b, "\r\n"...)
		}
	}
	return string(b)
}

// parseHeaderBlock turns a block made by HeaderBlock back into a map.
func parseHeaderBlock(b string) http.Header {
	h := http.Header{}
	for len(b) > 0 {
		i := indexCRLF(b)
		line := b[:i]
		b = b[min(i+2, len(b)):]
		k, v, ok := strings.Cut(line, ": ")
		if ok {
			h[k] = append(h[k], v)
		}
	}
	return h
}

func headerBlockGet(b string, name string) string {
	for len(b) > 0 {
		i := indexCRLF(b)
		line := b[:i]
		b = b[min(i+2, len(b)):]
		if len(line) > len(name)+1 && line[len(name)] == ':' && strings.EqualFold(line[:len(name)], name) {
			return strings.TrimSpace(line[len(name)+1:])
		}
	}
	return ""
}

func indexCRLF(b string) int {
	if i := strings.Index(b, "\r\n"); i >= 0 {
		return i
	}
	return len(b)
}

// pack moves the entry's strings into one allocation: the garbage
// collector marks every heap object of every stored entry on each cycle,
// so fewer objects per entry is less work for it (and a shorter window in
// which it competes with requests). Called once, before the entry is
// shared.
func (e *Entry) pack() {
	parts := [...]*string{&e.Key, &e.VaryKey, &e.Header, &e.ETag, &e.LastModified, &e.Vary}
	n := 0
	for _, p := range parts {
		n += len(*p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		b.WriteString(*p)
	}
	all := b.String()
	for _, p := range parts {
		l := len(*p)
		if l == 0 {
			*p = "" // no pointer: each one is work for every GC cycle
			continue
		}
		*p, all = all[:l], all[l:]
	}
}

// host is the key's host (for purge by host).
func (e *Entry) host() string { return keyHost(e.Key) }

// InitialAge computes the corrected initial age of a response (RFC 9111
// 4.2.3) from its Date and Age and when it was requested and received.
func (a *Analysis) InitialAge(requestTime, responseTime time.Time) time.Duration {
	apparent := time.Duration(0)
	if !a.DateValue.IsZero() {
		apparent = max(responseTime.Sub(a.DateValue), 0)
	}
	responseDelay := max(responseTime.Sub(requestTime), 0)
	return max(apparent, a.AgeValue+responseDelay)
}

// StoreTTL is how long to keep e: its remaining freshness, plus the
// longest window in which it may still be served stale (stale-while-
// revalidate, stale-if-error), plus keep when it has a validator (so it
// can be revalidated cheaply).
func (e *Entry) StoreTTL(now time.Time, keep time.Duration) time.Duration {
	ttl := e.Lifetime - e.Age(now)
	var extra time.Duration
	if !e.mustRevalidate() {
		if e.Directives.SWR != NoValue {
			extra = max(extra, time.Duration(e.Directives.SWR)*time.Second)
		}
		extra = max(extra, e.StaleIfError)
	}
	if e.ETag != "" || e.LastModified != "" {
		extra = max(extra, keep)
	}
	return ttl + extra
}
