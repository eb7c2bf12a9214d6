package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/origin"
)

// waitEncodeMax is the largest compressible response a client that takes
// compression waits for in full on a miss, so that it gets the compressed
// encoding at once instead of the identity stream.
const waitEncodeMax = 256 << 10

// fillJob is everything the fill goroutine needs; it owns all of it (no
// pointers into a connection's buffers).
type fillJob struct {
	f       *cache.Fill
	s       *site
	g       *generation
	req     *http.Request
	stale   *cache.Entry
	facts   cache.RequestFacts
	primary string
	leader  cache.Encoding // the encoding the leading client prefers
	// ranged: the client's Range (and If-Range) went to the origin (a
	// hit-for-pass GET); only a 200 may then be stored.
	ranged bool
}

// fetch sends the request to the origin through a (usually shared) fill
// and answers from it. stale is the stored response being revalidated, if
// any.
func (x *exchange) fetch(fullKey string, stale *cache.Entry, kind fwdKind) {
	h := x.h
	// A Range on a hit-for-pass URL (typically an object too large to
	// store) goes to the origin, so that a client asking for a slice of
	// a large file does not make the node fetch all of it.
	x.rangePass = kind == fwdPass && x.r.Method == http.MethodGet && x.r.Header.Has("Range")
	auth := x.r.Header.Has("Authorization")
	private := kind == fwdPass || auth || x.rcc.Has(cache.DirNoStore)
	var (
		f      *cache.Fill
		leader = true
	)
	if private {
		f = h.store.NewPrivateFill(fullKey)
	} else {
		f, leader = h.store.Begin(fullKey, stale == nil)
		if !leader {
			if ended, size := f.BodyEnded(); ended && size <= waitEncodeMax {
				// The fill has its whole body and is compressing and
				// storing it (its first client may have moved on to its
				// next request already): answer from what it stores.
				f.Wait(h.fillCtx)
			}
			if x.serveFinished(f) {
				return
			}
			if _, _, done := f.Result(); done {
				f, leader = h.store.Begin(fullKey, false)
			}
		}
	}
	rd, ok := f.NewReader()
	if !ok {
		// The fill finished meanwhile (its entry answers), or it streams a
		// large uncacheable body and has moved past its start: then this
		// request fetches on its own.
		if x.serveFinished(f) {
			return
		}
		f, leader = h.store.NewPrivateFill(fullKey), true
		rd, _ = f.NewReader()
	}
	defer rd.Close()
	if leader {
		h.fills.start(x.fillJob(f, stale))
	}
	x.readFill(f, rd, leader, stale, kind, fullKey)
}

// serveFinished answers from a fill that finished moments ago with a
// stored entry (ristretto may not show it yet), if that entry is the
// variant this request selects and usable for it. It reports whether it
// answered.
func (x *exchange) serveFinished(f *cache.Fill) bool {
	e, err, done := f.Result()
	if !done || err != nil || e == nil {
		return false
	}
	if e.Varies() {
		if sk := e.SecondaryKey(&x.r.Header); sk != e.VaryKey() {
			x.fetch(strings.Clone(x.key)+"\x00"+sk, nil, fwdVaryMiss)
			return true
		}
	}
	d := e.Decide(&x.rcc, x.h.now())
	if d.Use == cache.UseRevalidate {
		return false
	}
	// The fill had finished: this request did not wait for it, so it is a
	// plain hit (ristretto just had not published the entry yet).
	x.serveEntry(e, resHit, cacheStatus{hit: true, hasTTL: true, ttl: d.TTL})
	return true
}

// fillJob prepares the origin request for a fill led by this request.
func (x *exchange) fillJob(f *cache.Fill, stale *cache.Entry) *fillJob {
	req := x.originRequest(http.MethodGet, nil, true, stale)
	primary := x.ownedKey()
	prefs := x.cl.prefsFor(x.g, x.r.Header.Get("Accept-Encoding"))
	return &fillJob{
		f: f, s: x.s, g: x.g, req: req, stale: stale, primary: primary, ranged: x.rangePass,
		leader: prefs.best(x.g.comp.offered),
		facts: cache.RequestFacts{
			Method:        http.MethodGet,
			Authorization: x.r.Header.Has("Authorization"),
			Directives:    x.rcc,
		},
	}
}

// readFill answers this request from a fill.
func (x *exchange) readFill(f *cache.Fill, rd *cache.FillReader, leader bool, stale *cache.Entry, kind fwdKind, fullKey string) {
	h := x.h
	// No timeout of our own: the fill always finishes, bounded by the
	// origin's connect, response-header and body-idle timeouts, and the
	// node's stop cancels fillCtx.
	head, err := rd.Head(h.fillCtx)
	staleOK := stale != nil && stale.Decide(&x.rcc, h.now()).StaleOnError
	if head == nil {
		if e, ferr, done := f.Result(); err == nil && done && ferr == nil && e != nil {
			// A revalidation answered 304: the refreshed entry is the answer.
			x.serveEntry(e, resRevalidated, cacheStatus{fwd: kind, fwdStatus: 304, stored: true, hasTTL: true,
				ttl: e.TTL(h.now()), collapsed: !leader})
			return
		}
		if err == nil {
			_, err, _ = f.Result()
		}
		x.originFailed(err, stale, staleOK, kind)
		return
	}
	if !leader && !head.Shareable {
		// The response was for the leader alone (private, uncacheable):
		// fetch for this request on its own.
		rd.Close()
		x.fetchAlone(fullKey, stale, kind)
		return
	}
	if !leader && len(head.VaryNames) > 0 && cache.SecondaryKey(head.VaryNames, &x.r.Header) != head.VaryKey {
		// The response varies and this request would select another one.
		rd.Close()
		full := strings.Clone(x.key) + "\x00" + cache.SecondaryKey(head.VaryNames, &x.r.Header)
		x.fetch(full, nil, fwdVaryMiss)
		return
	}
	if staleOK && isServerError(head.Status) {
		x.serveStaleOnError(stale, head.Status)
		return
	}
	result := resultFor(kind, head.Status)
	cs := cacheStatus{fwd: kind, fwdStatus: head.Status, stored: head.Shareable, collapsed: !leader}
	if head.Shareable {
		cs.hasTTL, cs.ttl = true, head.Analysis.Lifetime-head.Analysis.InitialAge(head.RequestTime, head.ResponseTime)
	}
	if kind == fwdPass {
		cs.detail = "hit-for-pass"
	}
	prefs := x.cl.prefsFor(x.g, x.r.Header.Get("Accept-Encoding"))
	// A small compressible response: a client that takes compression
	// waits for the stored encodings rather than streaming identity.
	// So does one that cannot take the origin's own encoding.
	waitEntry := head.WillEncode && head.ContentLength >= 0 && head.ContentLength <= waitEncodeMax &&
		prefs.best(x.g.comp.offered) != cache.Identity
	if head.Encoding != cache.Identity && prefs.q[head.Encoding] <= 0 && head.Shareable {
		waitEntry = true
	}
	if waitEntry {
		e, err := f.Wait(h.fillCtx)
		if err == nil && e != nil {
			x.serveEntry(e, result, cs)
			return
		}
		if err != nil {
			x.originFailed(err, stale, staleOK, kind)
			return
		}
		// Not stored after all: stream what the fill buffered.
	}
	x.stream(head, rd, result, cs)
}

// fetchAlone fetches through a fill of its own.
func (x *exchange) fetchAlone(fullKey string, stale *cache.Entry, kind fwdKind) {
	f := x.h.store.NewPrivateFill(fullKey)
	rd, _ := f.NewReader()
	defer rd.Close()
	x.h.fills.start(x.fillJob(f, stale))
	x.readFill(f, rd, true, stale, kind, fullKey)
}

func resultFor(kind fwdKind, status int) int {
	switch kind {
	case fwdVaryMiss:
		return resVaryMiss
	case fwdStale, fwdRequest:
		if status == http.StatusNotModified {
			return resRevalidated
		}
		return resExpired
	case fwdPass:
		return resPass
	}
	return resMiss
}

func isServerError(status int) bool {
	switch status {
	case 500, 502, 503, 504:
		return true
	}
	return false
}

// serveStaleOnError answers with a stale stored response because the
// origin failed (RFC 5861 stale-if-error, or the site's default).
func (x *exchange) serveStaleOnError(stale *cache.Entry, originStatus int) {
	cs := cacheStatus{fwd: fwdStale, fwdStatus: originStatus, hasTTL: true, ttl: stale.TTL(x.h.now()), detail: "stale-if-error"}
	x.serveEntry(stale, resStaleError, cs)
}

// originFailed answers a request whose origin fetch failed: stale if
// allowed, else 504 for timeouts and 502 otherwise.
func (x *exchange) originFailed(err error, stale *cache.Entry, staleOK bool, kind fwdKind) {
	if staleOK {
		x.serveStaleOnError(stale, 0)
		return
	}
	status, what := http.StatusBadGateway, "origin unreachable"
	switch {
	case stale != nil:
		// A stored response exists but may not be served stale: RFC 9111
		// 5.2.2.2 asks for 504 (Gateway Timeout) then.
		status, what = http.StatusGatewayTimeout, "origin failed and the stored response must be revalidated"
	case err == nil:
		what = "origin answer unusable"
	case origin.IsUnavailable(err):
		what = "no healthy origin"
	case origin.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		status, what = http.StatusGatewayTimeout, "origin timed out"
	case origin.IsConnect(err):
	default:
		what = "origin request failed"
	}
	x.plainError(status, what, "origin-error")
}

// stream sends a fill's response as it arrives.
func (x *exchange) stream(head *cache.FillHead, rd *cache.FillReader, result int, cs cacheStatus) {
	w := x.w
	hdr := head.Header.Clone()
	hdr.Del("Surrogate-Key")
	hdr.Del("Cache-Tag")
	if head.WillEncode {
		hdr["Vary"] = []string{addVary(hdr.Get("Vary"), "Accept-Encoding")}
	}
	hdr.Set("Cache-Status", cs.String(x.g.csPrefix))
	cl := head.ContentLength
	var dec *gzip.Reader
	prefs := x.cl.prefsFor(x.g, x.r.Header.Get("Accept-Encoding"))
	if head.Encoding == cache.Gzip && prefs.q[cache.Gzip] <= 0 && head.Status != http.StatusPartialContent {
		// The origin compressed and this client cannot take it.
		hdr.Del("Content-Encoding")
		hdr.Del("Etag") // a decoded body is another representation
		cl = -1
		dec = new(gzip.Reader)
	}
	w.WriteHead(head.Status, hdr, cl)
	ctx := x.h.fillCtx
	var err error
	if dec != nil {
		pr := &fillStream{ctx: ctx, rd: rd}
		if err = dec.Reset(pr); err == nil {
			_, err = io.Copy(flushWriter{w}, dec)
		}
	} else {
		// Next ends at the body's end (EndBody), not at the fill's: the
		// connection does not wait for the body to be compressed and
		// stored before it takes its next request.
		for {
			var chunk []byte
			chunk, err = rd.Next(ctx)
			if err != nil {
				break
			}
			if _, err = w.Write(chunk); err != nil {
				break
			}
			if err = w.Flush(); err != nil {
				break
			}
		}
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		w.Abort() // a truncated body must not look complete
	}
	x.done(result, head.Status, head.Encoding)
}

// fillStream reads a fill as an io.Reader.
type fillStream struct {
	ctx  context.Context
	rd   *cache.FillReader
	rest []byte
}

func (s *fillStream) Read(p []byte) (int, error) {
	for len(s.rest) == 0 {
		chunk, err := s.rd.Next(s.ctx)
		if err != nil {
			return 0, err
		}
		s.rest = chunk
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

type flushWriter struct {
	w interface {
		Write([]byte) (int, error)
		Flush() error
	}
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

// addVary adds a field name to a Vary value unless present.
func addVary(v, name string) string {
	for n := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(n), name) {
			return v
		}
	}
	if strings.TrimSpace(v) == "" {
		return name
	}
	return v + ", " + name
}

// backgroundRefresh revalidates a stale entry served under
// stale-while-revalidate, at most one refresh per key at a time.
func (x *exchange) backgroundRefresh(fullKey string, stale *cache.Entry) {
	f, ok := x.h.store.TryBegin(strings.Clone(fullKey))
	if !ok {
		return
	}
	x.h.fills.start(x.fillJob(f, stale))
}

var errFillPanic = errors.New("edge: fill failed (internal error)")

// testHookBeforeStore, when set (tests only), runs in a fill that has its
// whole body, before it is encoded and stored. Atomic: a test may set it
// while goroutines of other tests' nodes run fills.
var testHookBeforeStore atomic.Pointer[func(key string)]

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// runFill fetches from the origin and feeds the fill; it runs on its own
// goroutine, so a slow or vanished client never stalls the fetch for the
// others.
func (h *handler) runFill(j *fillJob) {
	f := j.f
	defer func() {
		// A bug must not take the node down, nor leave readers waiting:
		// every fill finishes.
		if v := recover(); v != nil {
			h.met.panics.Inc()
			h.logger.Error("fill panic", "key", j.primary, "err", fmt.Sprint(v), "stack", string(debug.Stack()))
			f.Finish(nil, false, errFillPanic)
		}
	}()
	reqTime := h.now()
	resp, err := j.s.pool.Do(h.fillCtx, j.req, j.primary)
	if err != nil {
		f.Finish(nil, false, err)
		return
	}
	defer resp.Body.Close()
	respTime := h.now()

	if resp.StatusCode == http.StatusNotModified && j.stale != nil {
		if d, ok := h.freshen(j, resp, reqTime, respTime); ok {
			e, stored := h.store.Put(d, d.StoreTTL(respTime, *j.s.cfg.Keep))
			f.Finish(e, stored && !e.Purged(), nil)
			return
		}
		// The 304 does not validate what we hold: fetch in full.
		resp.Body.Close()
		j.stale = nil
		delete(j.req.Header, "If-None-Match")
		delete(j.req.Header, "If-Modified-Since")
		if resp, err = j.s.pool.Do(h.fillCtx, j.req, j.primary); err != nil {
			f.Finish(nil, false, err)
			return
		}
		defer resp.Body.Close()
		respTime = h.now()
	}

	a := cache.Analyze(j.facts, resp.StatusCode, resp.Header, &j.s.policy, respTime)
	native, known := cache.Identity, true
	if ce := strings.TrimSpace(resp.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		native, known = cache.ParseEncoding(ce)
	}
	maxObj := h.store.Config().MaxObjectSize
	tooLarge := resp.ContentLength > maxObj
	if j.ranged && resp.StatusCode == http.StatusPartialContent {
		// The slice of an object: is the whole still too large to store?
		tooLarge = completeLength(resp.Header.Get("Content-Range")) > maxObj
	}
	storable := a.Storable && known && !tooLarge && (!j.ranged || resp.StatusCode == http.StatusOK)
	if !storable {
		reason := a.Reason
		switch {
		case reason != "":
		case !known:
			reason = "content-encoding"
		case tooLarge:
			reason = cache.ReasonTooLarge
		default:
			reason = "range"
		}
		h.met.uncacheable.WithLabelValues(reason).Inc()
	}
	hdr := cleanResponseHeader(resp.Header)
	if hdr.Get("Date") == "" {
		// RFC 9110 6.6.1: a cache adds Date to a response that has none.
		// Before the head is published: readers share this map.
		hdr.Set("Date", respTime.UTC().Format(http.TimeFormat))
	}
	head := &cache.FillHead{
		Status:        resp.StatusCode,
		Header:        hdr,
		ContentLength: resp.ContentLength,
		Shareable:     storable,
		VaryNames:     a.VaryNames,
		Encoding:      native,
		WillEncode:    storable && native == cache.Identity && j.g.comp.compressible(resp.Header.Get("Content-Type"), resp.ContentLength),
		Analysis:      a,
		RequestTime:   reqTime,
		ResponseTime:  respTime,
	}
	if len(a.VaryNames) > 0 {
		head.VaryKey = cache.SecondaryKey(a.VaryNames, j.req.Header)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	// A body that fits one copy buffer is read before the head is
	// published: reaching its end hands the origin connection back to
	// net/http's read loop (and waits for it), and each hand-off readies
	// a goroutine that takes the run queue's next slot. Readers woken by
	// the head before that would lose the slot and wait behind every busy
	// client connection; woken after it, by the head and the body
	// together, they run next.
	early := 0 // body bytes read before the head, at the start of *bp
	if resp.ContentLength > 0 && resp.ContentLength <= int64(len(*bp)) {
		n, rerr := io.ReadFull(resp.Body, (*bp)[:resp.ContentLength])
		if rerr != nil {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			f.Finish(nil, false, rerr)
			return
		}
		early = n
	}
	f.SetHead(head)
	if !storable {
		f.Windowed()
	}
	var size int64
	for {
		var n int
		var rerr error
		if early > 0 {
			n, early = early, 0
		} else {
			n, rerr = resp.Body.Read(*bp)
		}
		if n > 0 {
			size += int64(n)
			if storable && size > maxObj {
				storable, tooLarge = false, true
				f.Windowed()
				h.met.uncacheable.WithLabelValues(cache.ReasonTooLarge).Inc()
			}
			if werr := f.Write(h.fillCtx, (*bp)[:n]); werr != nil {
				f.Finish(nil, false, werr)
				return
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Finish(nil, false, rerr)
			return
		}
	}
	if resp.ContentLength >= 0 && size != resp.ContentLength {
		f.Finish(nil, false, io.ErrUnexpectedEOF)
		return
	}
	// Readers can end their answers (and their connections take the next
	// request) without waiting for the body to be compressed and stored.
	f.EndBody()
	if !storable {
		// Too large to store is remembered like the uncacheable answers:
		// later requests go straight to the origin, Range included.
		if (passable(a.Reason) || tooLarge) && !j.facts.Authorization && !j.facts.Directives.Has(cache.DirNoStore) {
			h.store.MarkPass(j.primary)
		}
		f.Finish(nil, false, nil)
		return
	}
	// The readers woken by the last Write have the whole body: let them
	// send it before this goroutine compresses and stores it. Otherwise
	// whatever the store wakes next (ristretto's goroutine) runs first
	// and pushes them to the back of the run queue, a whole round of the
	// busy connections later.
	runtime.Gosched()
	if hook := testHookBeforeStore.Load(); hook != nil {
		(*hook)(j.primary)
	}
	d, err := h.buildEntry(j, head, hdr, f.Body(), native)
	if err != nil {
		h.logger.Warn("response not stored", "key", j.primary, "err", err)
		f.Finish(nil, false, nil)
		return
	}
	ttl := d.StoreTTL(respTime, *j.s.cfg.Keep)
	e, stored := h.store.Put(d, ttl)
	// Put copied the bodies into the store: the fill's buffer may be
	// reused once its readers are done.
	f.Recyclable()
	if stored && len(d.VaryNames) > 0 {
		marker := f.NewDraft()
		marker.Key, marker.VaryNames = d.Key, d.VaryNames
		h.store.Put(marker, ttl)
	}
	f.Finish(e, stored && !e.Purged(), nil)
}

// passable reports whether an uncacheable reason says the URL answers
// uncacheably for everyone (so later requests should not queue).
func passable(reason string) bool {
	switch reason {
	case cache.ReasonNoStore, cache.ReasonPrivate, cache.ReasonSetCookie, cache.ReasonVaryStar:
		return true
	}
	return false
}

// buildEntry turns a complete response into a stored entry, building the
// compressed encodings once.
func (h *handler) buildEntry(j *fillJob, head *cache.FillHead, hdr http.Header, body []byte, native cache.Encoding) (*cache.Draft, error) {
	a := &head.Analysis
	e := j.f.NewDraft()
	e.Key, e.VaryNames, e.Tags = j.primary, a.VaryNames, a.Tags
	if len(a.VaryNames) > 0 {
		e.VaryKey = head.VaryKey
	}
	e.Status = int32(head.Status)
	e.Header = cache.HeaderBlock(hdr)
	e.ETag = hdr.Get("Etag")
	e.LastModified = hdr.Get("Last-Modified")
	e.Native = native
	e.ResponseTime = head.ResponseTime
	e.CorrectedInitialAge = a.InitialAge(head.RequestTime, head.ResponseTime)
	e.Lifetime = a.Lifetime
	e.Directives = a.Directives
	e.StaleIfError = j.s.policy.StaleIfError
	if a.Directives.SIE != cache.NoValue {
		e.StaleIfError = time.Duration(a.Directives.SIE) * time.Second
	}
	vary := hdr.Get("Vary")
	switch {
	case native != cache.Identity:
		// Kept as the origin sent it; identity is decoded on demand. The
		// decode here checks the body and learns its size.
		id, err := decode(native, body, -1)
		if err != nil {
			return nil, err
		}
		e.Size = int64(len(id))
		e.Bodies[native] = body
		vary = addVary(vary, "Accept-Encoding")
	case head.WillEncode:
		t0 := time.Now()
		e.Bodies = j.g.comp.encode(body, j.leader)
		h.met.encodeTime.Observe(time.Since(t0).Seconds())
		for enc := cache.Gzip; enc < cache.NumEncodings; enc++ {
			if e.Bodies[enc] != nil {
				h.met.encoded.WithLabelValues(enc.String()).Inc()
			}
		}
		e.Size = int64(len(body))
		if e.Bodies[cache.Identity] == nil {
			vary = addVary(vary, "Accept-Encoding")
		}
	default:
		e.Size = int64(len(body))
		e.Bodies[cache.Identity] = body
	}
	e.Vary = vary
	return e, nil
}

// freshen applies a 304 to the stale entry (RFC 9111 4.3.4): the stored
// fields are replaced by those the 304 carries, the body is kept. It
// returns false when the 304's validator does not match what is stored.
func (h *handler) freshen(j *fillJob, resp *http.Response, reqTime, respTime time.Time) (*cache.Draft, bool) {
	old := j.stale
	if et := resp.Header.Get("Etag"); et != "" && old.ETag() != "" &&
		strings.TrimPrefix(et, "W/") != strings.TrimPrefix(old.ETag(), "W/") {
		return nil, false
	}
	merged := old.HTTPHeader()
	for k, vs := range cleanResponseHeader(resp.Header) {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Type", "Content-Range":
			continue // what the stored body depends on stays
		}
		merged[k] = vs
	}
	a := cache.Analyze(j.facts, int(old.Status()), merged, &j.s.policy, respTime)
	e := j.f.NewDraft()
	e.Key, e.VaryKey, e.VaryNames, e.Tags = old.Key(), old.VaryKey(), old.VaryNames(), a.Tags
	e.Status = old.Status()
	e.Header = cache.HeaderBlock(merged)
	e.ETag = merged.Get("Etag")
	e.LastModified = merged.Get("Last-Modified")
	e.Vary = old.Vary()
	e.Native, e.Size = old.Native(), old.Size()
	for enc := range cache.NumEncodings {
		e.Bodies[enc] = old.Body(enc)
	}
	e.ResponseTime = respTime
	e.CorrectedInitialAge = a.InitialAge(reqTime, respTime)
	e.Lifetime = a.Lifetime
	e.Directives = a.Directives
	e.StaleIfError = j.s.policy.StaleIfError
	if a.Directives.SIE != cache.NoValue {
		e.StaleIfError = time.Duration(a.Directives.SIE) * time.Second
	}
	if !a.Storable {
		e.Lifetime = 0 // serve this once, as validated, but keep nothing fresh
	}
	return e, true
}

// hopByHop fields are never forwarded (RFC 9110 7.6.1).
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
}

// cleanResponseHeader removes, in place, the hop-by-hop fields of an origin
// response (and those named in Connection) and its Content-Length (the
// node frames bodies itself). It returns h.
func cleanResponseHeader(h http.Header) http.Header {
	listed := connectionListed(h.Values("Connection"))
	for k := range h {
		if hopByHop[k] || listed[k] || k == "Content-Length" {
			delete(h, k)
		}
	}
	return h
}

func connectionListed(vals []string) map[string]bool {
	var m map[string]bool
	for _, v := range vals {
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				if m == nil {
					m = map[string]bool{}
				}
				m[http.CanonicalHeaderKey(n)] = true
			}
		}
	}
	return m
}

// fillSkip are client fields a cache fill does not forward: the fill asks
// for the full representation for everyone who shares it.
var fillSkip = map[string]bool{
	"If-None-Match": true, "If-Modified-Since": true, "If-Match": true, "If-Unmodified-Since": true,
	"If-Range": true, "Range": true, "Cache-Control": true, "Pragma": true, "Accept-Encoding": true,
	"Expect": true, "Content-Length": true,
}

// originRequest builds the request to the origin (to be sent with
// origin.Pool.Do, which binds it to a context) from the client's: the
// normalised target, end-to-end fields (for a fill without the
// conditional and range fields), Via and X-Forwarded-For added. Every
// string is copied: the request outlives the client's buffer.
func (x *exchange) originRequest(method string, body io.Reader, forFill bool, stale *cache.Entry) *http.Request {
	r := x.r
	target := x.target
	path, query, hasQuery := strings.Cut(target, "?")
	u := &url.URL{RawPath: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	if p, err := url.PathUnescape(path); err == nil {
		u.Path = p
	} else {
		u.Path = path
	}
	u.RawPath = strings.Clone(u.RawPath)
	u.RawQuery = strings.Clone(u.RawQuery)
	hdr := make(http.Header, len(r.Header)+4)
	var listed map[string]bool
	if r.Header.Has("Connection") {
		var vals []string
		r.Header.Values("Connection", func(v string) { vals = append(vals, v) })
		listed = connectionListed(vals)
	}
	var via, xff []string
	for _, fl := range r.Header {
		k := http.CanonicalHeaderKey(fl.Name)
		switch {
		case hopByHop[k] || listed[k] || k == "Host":
			continue
		case forFill && x.rangePass && (k == "Range" || k == "If-Range"):
		case forFill && fillSkip[k]:
			continue
		case k == "Via":
			via = append(via, fl.Value)
			continue
		case k == "X-Forwarded-For":
			xff = append(xff, fl.Value)
			continue
		}
		hdr[k] = append(hdr[k], strings.Clone(fl.Value))
	}
	via = append(via, x.g.via)
	hdr["Via"] = []string{strings.Join(via, ", ")}
	if ip := r.RemoteAddr.Addr(); ip.IsValid() {
		xff = append(xff, ip.String())
		hdr["X-Forwarded-For"] = []string{strings.Join(xff, ", ")}
	}
	hdr["X-Forwarded-Proto"] = []string{"http"}
	if forFill {
		hdr["Accept-Encoding"] = []string{"gzip"}
		if x.rangePass {
			// A slice of an encoded body cannot be decoded for a client
			// that does not take the encoding: ask for identity bytes.
			hdr["Accept-Encoding"] = []string{"identity"}
		}
		if stale != nil {
			if stale.ETag() != "" {
				hdr["If-None-Match"] = []string{stale.ETag()}
			}
			if stale.LastModified() != "" {
				hdr["If-Modified-Since"] = []string{stale.LastModified()}
			}
		}
	}
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Host:       strings.Clone(r.Host),
	}
	if body != nil {
		req.Body = io.NopCloser(body)
		req.ContentLength = r.ContentLength
		if r.ContentLength < 0 {
			req.ContentLength = -1
			req.TransferEncoding = []string{"chunked"}
		}
	}
	return req
}

// sameHost reports whether a Location-style URL refers to host (for
// invalidation, RFC 9111 4.4).
func sameHost(u *url.URL, host string) bool {
	if u.Host == "" {
		return true
	}
	h, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		h = u.Host
	}
	hh, _, err := net.SplitHostPort(host)
	if err != nil {
		hh = host
	}
	return strings.EqualFold(h, hh)
}

// completeLength returns the complete length of a Content-Range
// ("bytes 0-99/12345"), or -1 when it is unknown ("*") or malformed.
func completeLength(cr string) int64 {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
