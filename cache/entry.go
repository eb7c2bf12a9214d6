package cache

import (
	"math"
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

// Draft is a response to be stored: a fill fills it in (Fill.NewDraft) and
// hands it to Store.Put, which copies it into a record.
type Draft struct {
	// Key is the primary cache key (the normalised URL); VaryKey the
	// secondary key built from the request fields named by VaryNames.
	Key, VaryKey string
	// VaryNames are the fields the response varies on (lower case,
	// Accept-Encoding excluded). A draft at the primary key of a varying
	// response with only VaryNames set is a vary marker.
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

	// Status is the response status code.
	Status int32
	// Native is the encoding the origin sent; the other stored encodings
	// were derived from it (their ETag is sent weak).
	Native     Encoding
	Directives Directives

	seq uint64 // purge sequence when the fill that made it started
}

// Entry is one stored response: a record in the store's arena (or, for
// Draft.Entry, on its own) holding the metadata, the strings and a body
// per stored encoding. It has no pointers: its strings and bodies are read
// through accessors at offsets from its own address, and the pointers
// those return point into the same memory and keep it alive. An Entry is
// immutable except for its atomic fields; a revalidation stores a new one.
// Entries are only ever handled by pointer.
type Entry struct {
	recHead
	handle       uint64        // stable name in the store (0: not stored)
	seq          uint64        // purge sequence when the fill that made it started
	next         uint64        // purge index: next handle with the same key hash (under index.mu)
	prepared     atomic.Uint64 // location of the prepared block
	identity     atomic.Uint64 // handle of the promoted identity item
	owner        uint64        // identity item: the owner's handle
	purged       atomic.Uint32
	identityHits atomic.Int32
	status       int32
	native       Encoding
	hasBody      uint8 // bit per encoding
	_            [2]uint8
	cost         int64
	bodySize     int64
	respTime     int64 // Unix nanoseconds
	cia          time.Duration
	lifetime     time.Duration
	sie          time.Duration
	dir          Directives
	_            uint32
	strs         [numStrs]span
	bodies       [NumEncodings]span
}

// span is a part of a record: offset from the record's start and length.
type span struct{ off, n uint32 }

// The strings of a record.
const (
	sKey = iota
	sVaryKey
	sVaryNames // joined by "\n"
	sTags      // joined by "\n"
	sHeader
	sETag
	sLastModified
	sVary
	numStrs
)

const entryHeader = int(unsafe.Sizeof(Entry{}))

func (e *Entry) str(i int) string {
	s := e.strs[i]
	if s.n == 0 {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(e), s.off)), s.n)
}

// Key is the primary cache key (the normalised URL).
func (e *Entry) Key() string { return e.str(sKey) }

// VaryKey is the secondary key ("" for a response that does not vary).
func (e *Entry) VaryKey() string { return e.str(sVaryKey) }

// Header holds the stored response fields in wire form ("Name: value\r\n"
// lines), without hop-by-hop fields, Age, Content-Length,
// Content-Encoding, Vary, ETag and the surrogate-key fields.
func (e *Entry) Header() string { return e.str(sHeader) }

// ETag is the entity tag as the origin sent it.
func (e *Entry) ETag() string { return e.str(sETag) }

// LastModified is the Last-Modified value as the origin sent it.
func (e *Entry) LastModified() string { return e.str(sLastModified) }

// Vary is the Vary field value to send.
func (e *Entry) Vary() string { return e.str(sVary) }

// Varies reports whether the response varies on request fields other
// than Accept-Encoding.
func (e *Entry) Varies() bool { return e.strs[sVaryNames].n > 0 }

// VaryNames returns the fields the response varies on (a new slice).
func (e *Entry) VaryNames() []string { return splitList(e.str(sVaryNames)) }

// Tags returns the surrogate keys (a new slice).
func (e *Entry) Tags() []string { return splitList(e.str(sTags)) }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// hasTag reports whether the entry carries surrogate key t.
func (e *Entry) hasTag(t string) bool {
	for x := range strings.SplitSeq(e.str(sTags), "\n") {
		if x == t && x != "" {
			return true
		}
	}
	return false
}

var emptyBody = []byte{}

// Body returns the stored body of an encoding (nil: not stored; a stored
// body may be empty).
func (e *Entry) Body(enc Encoding) []byte {
	if e.hasBody&(1<<enc) == 0 {
		return nil
	}
	s := e.bodies[enc]
	if s.n == 0 {
		return emptyBody
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(e), s.off)), s.n)[:s.n:s.n]
}

// Size is the length of the identity body (known even when the identity
// body is not stored).
func (e *Entry) Size() int64 { return e.bodySize }

// Status is the response status code.
func (e *Entry) Status() int32 { return e.status }

// Native is the encoding the origin sent; the other stored encodings were
// derived from it.
func (e *Entry) Native() Encoding { return e.native }

// Directives are the response's cache directives.
func (e *Entry) Directives() *Directives { return &e.dir }

// ResponseTime is when the response was received.
func (e *Entry) ResponseTime() time.Time {
	if e.respTime == noTime {
		return time.Time{}
	}
	return time.Unix(0, e.respTime)
}

const noTime = math.MinInt64

// CorrectedInitialAge is the response's age when it was received (RFC 9111
// 4.2.3).
func (e *Entry) CorrectedInitialAge() time.Duration { return e.cia }

// Lifetime is the freshness lifetime.
func (e *Entry) Lifetime() time.Duration { return e.lifetime }

// StaleIfError is the window past expiry in which the entry may be served
// when the origin fails.
func (e *Entry) StaleIfError() time.Duration { return e.sie }

// SecondaryKey is the request's secondary key for the entry's Vary fields
// (see the function SecondaryKey).
func (e *Entry) SecondaryKey(h HeaderGetter) string {
	var b []byte
	i := 0
	for n := range strings.SplitSeq(e.str(sVaryNames), "\n") {
		b = appendSecondary(b, i, n, h)
		i++
	}
	return string(b)
}

// layout returns the strings of the record a draft becomes and the
// record's size.
func (d *Draft) layout() (strs [numStrs]string, size int) {
	strs = [numStrs]string{
		sKey: d.Key, sVaryKey: d.VaryKey, sVaryNames: strings.Join(d.VaryNames, "\n"),
		sTags: strings.Join(d.Tags, "\n"), sHeader: d.Header, sETag: d.ETag,
		sLastModified: d.LastModified, sVary: d.Vary,
	}
	size = entryHeader
	for _, s := range strs {
		size += len(s)
	}
	for _, b := range d.Bodies {
		size += len(b)
	}
	return strs, align8(size)
}

// write lays the draft out as a record in buf (zeroed, of the size layout
// returned with strs).
func (d *Draft) write(buf []byte, strs *[numStrs]string) *Entry {
	e := (*Entry)(unsafe.Pointer(&buf[0]))
	e.size = uint32(len(buf))
	e.kind = kindEntry
	e.seq = d.seq
	e.status = d.Status
	e.native = d.Native
	e.bodySize = d.Size
	e.respTime = noTime
	if !d.ResponseTime.IsZero() {
		e.respTime = d.ResponseTime.UnixNano()
	}
	e.cia, e.lifetime, e.sie = d.CorrectedInitialAge, d.Lifetime, d.StaleIfError
	e.dir = d.Directives
	off := entryHeader
	for i, s := range strs {
		e.strs[i] = span{uint32(off), uint32(len(s))}
		off += copy(buf[off:], s)
	}
	for i, b := range d.Bodies {
		if b == nil {
			continue
		}
		e.hasBody |= 1 << i
		e.bodies[i] = span{uint32(off), uint32(len(b))}
		off += copy(buf[off:], b)
	}
	return e
}

// Entry returns the draft as an entry of its own, outside any store (for
// answers that are not stored, and tests).
func (d *Draft) Entry() *Entry {
	strs, size := d.layout()
	return d.write(newRecordBuf(size), &strs)
}

// newRecordBuf allocates a standalone record, 8-aligned.
func newRecordBuf(n int) []byte {
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n)
}

// StoreTTL is how long to keep the draft once stored (see Entry.StoreTTL).
func (d *Draft) StoreTTL(now time.Time, keep time.Duration) time.Duration {
	ttl := d.Lifetime - (d.CorrectedInitialAge + max(now.Sub(d.ResponseTime), 0))
	return ttl + storeExtra(&d.Directives, d.StaleIfError, d.ETag != "" || d.LastModified != "", keep)
}

// preparedBlock is a record holding consumer data of one config
// generation, per encoding, back to back after it.
type preparedBlock struct {
	recHead
	owner      uint64 // location of the entry copy it belongs to
	gen        uint64
	has        uint32 // bit per encoding
	_          uint32
	start, end [NumEncodings]uint32 // offsets after the block header
}

const preparedHeader = int(unsafe.Sizeof(preparedBlock{}))

// data returns an encoding's bytes.
func (p *preparedBlock) data(from, to uint32) []byte {
	base := unsafe.Add(unsafe.Pointer(p), preparedHeader)
	return unsafe.Slice((*byte)(unsafe.Add(base, from)), to-from)[: to-from : to-from]
}

// IsVaryMarker reports whether e only records the Vary fields of the
// responses stored under its key.
func (e *Entry) IsVaryMarker() bool { return e.status == 0 && e.Varies() }

// Age is the entry's current age (RFC 9111 4.2.3).
func (e *Entry) Age(now time.Time) time.Duration {
	return e.cia + max(now.Sub(e.ResponseTime()), 0)
}

// TTL is the remaining freshness: negative once stale. A soft-purged entry
// is stale.
func (e *Entry) TTL(now time.Time) time.Duration {
	ttl := e.lifetime - e.Age(now)
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
func (e *Entry) Has(enc Encoding) bool { return e.hasBody&(1<<enc) != 0 }

// mustRevalidate tells whether the entry may never be served stale by a
// shared cache (must-revalidate, proxy-revalidate, s-maxage; RFC 9111
// 5.2.2.2, 5.2.2.8, 5.2.2.10).
func (e *Entry) mustRevalidate() bool {
	d := &e.dir
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
	canServeStale := !mustRev && !e.dir.Has(DirNoCache)
	dec.StaleOnError = canServeStale && (stale <= e.sie ||
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
	if e.dir.Has(DirNoCache) {
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
		if e.dir.SWR != NoValue && stale <= time.Duration(e.dir.SWR)*time.Second && !e.SoftPurged() {
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
	return headerBlockGet(e.Header(), name)
}

// HTTPHeader returns the stored header fields as an http.Header, with the
// separately kept ones (ETag, Vary, Content-Type) restored.
func (e *Entry) HTTPHeader() http.Header {
	h := parseHeaderBlock(e.Header())
	if et := e.ETag(); et != "" {
		h.Set("Etag", et)
	}
	if v := e.Vary(); v != "" {
		h.Set("Vary", v)
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

// host is the key's host (for purge by host).
func (e *Entry) host() string { return keyHost(e.Key()) }

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
	ttl := e.lifetime - e.Age(now)
	return ttl + storeExtra(&e.dir, e.sie, e.strs[sETag].n > 0 || e.strs[sLastModified].n > 0, keep)
}

func storeExtra(d *Directives, sie time.Duration, validator bool, keep time.Duration) time.Duration {
	var extra time.Duration
	if d.Flags&(DirMustRevalidate|DirProxyRevalidate) == 0 && d.SMaxAge == NoValue {
		if d.SWR != NoValue {
			extra = max(extra, time.Duration(d.SWR)*time.Second)
		}
		extra = max(extra, sie)
	}
	if validator {
		extra = max(extra, keep)
	}
	return extra
}
