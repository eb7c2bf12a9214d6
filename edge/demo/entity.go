package demo

import (
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// entity describes one representation to send: its metadata and a function
// that writes its bytes. serve turns it into a response, applying
// conditional requests, Range, HEAD and the write deadline.
type entity struct {
	contentType  string
	encoding     string    // Content-Encoding; "" = identity
	cacheControl string    // "" = no Cache-Control
	etag         string    // quoted, W/ prefix if weak; "" = no ETag
	modified     time.Time // zero = no Last-Modified
	size         int64     // body length; -1 = unknown (no Content-Length)
	ranges       bool      // honour single byte ranges; sends Accept-Ranges
	// body writes n bytes starting at off (n = -1: everything from off).
	body func(w io.Writer, off, n int64) error
}

// bytesEntity returns an entity whose body is b.
func bytesEntity(contentType, cacheControl, etag string, modified time.Time, b []byte) *entity {
	return &entity{
		contentType:  contentType,
		cacheControl: cacheControl,
		etag:         etag,
		modified:     modified,
		size:         int64(len(b)),
		body: func(w io.Writer, off, n int64) error {
			_, err := w.Write(b[off : off+n])
			return err
		},
	}
}

// serve writes e as the response to r (a GET or HEAD): 304 or 412 per the
// request's preconditions (RFC 9110 §13.2.2), 206 or 416 for a Range when
// e.ranges, else 200 with the whole body (headers only for HEAD).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, e *entity, now time.Time) {
	extendWrite(w)
	h := w.Header()
	if e.cacheControl != "" {
		h.Set("Cache-Control", e.cacheControl)
	}
	if e.etag != "" {
		h.Set("ETag", e.etag)
	}
	if !e.modified.IsZero() {
		h.Set("Last-Modified", e.modified.UTC().Format(http.TimeFormat))
	}
	if e.ranges {
		h.Set("Accept-Ranges", "bytes")
	}

	switch evalPreconditions(r, e, now) {
	case http.StatusNotModified:
		// Metadata that guides cache updates stays (ETag, Cache-Control,
		// Last-Modified, Vary, Expires); the body's own headers go.
		w.WriteHeader(http.StatusNotModified)
		return
	case http.StatusPreconditionFailed:
		h.Del("Cache-Control")
		h.Del("Accept-Ranges")
		writePlain(w, r, http.StatusPreconditionFailed, "412 precondition failed: If-Match or If-Unmodified-Since does not match this representation\n")
		return
	}

	status, off, n := http.StatusOK, int64(0), e.size
	if e.ranges && e.size >= 0 && r.Method == http.MethodGet {
		start, end, res := parseRange(r, e)
		switch res {
		case rangeUnsatisfiable:
			h.Del("Cache-Control")
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(e.size, 10))
			writePlain(w, r, http.StatusRequestedRangeNotSatisfiable,
				"416 range not satisfiable: this object has "+strconv.FormatInt(e.size, 10)+" bytes\n")
			return
		case rangeOK:
			status, off, n = http.StatusPartialContent, start, end-start+1
			h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10)+"/"+strconv.FormatInt(e.size, 10))
		}
	}
	h.Set("Content-Type", e.contentType)
	if e.encoding != "" {
		h.Set("Content-Encoding", e.encoding)
	}
	if n >= 0 {
		h.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return
	}
	// An error here means the client went away; there is nobody to tell.
	_ = e.body(&streamWriter{w: w, rc: http.NewResponseController(w)}, off, n)
}

// writePlain writes a short text/plain response (no body for HEAD).
func writePlain(w http.ResponseWriter, r *http.Request, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// extendWrite renews the connection's write deadline (the server's
// WriteTimeout counts from the end of the request headers, which a long
// /demo/slow wait or a multi-GiB body would exceed). Handlers that are not
// served by an http.Server ignore it.
func extendWrite(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
}

// streamWriter renews the write deadline while a body streams, so that the
// timeout bounds a stalled client but not a slow, progressing one.
type streamWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	next time.Time // when to renew the deadline again
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.After(sw.next) {
		_ = sw.rc.SetWriteDeadline(now.Add(writeTimeout))
		sw.next = now.Add(time.Second)
	}
	return sw.w.Write(p)
}

// evalPreconditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order of RFC 9110 §13.2.2 and returns 412, 304 or
// 0 (go on).
func evalPreconditions(r *http.Request, e *entity, now time.Time) int {
	if v := headerList(r, "If-Match"); v != "" {
		if !matchETags(v, e.etag, false) {
			return http.StatusPreconditionFailed
		}
	} else if v := r.Header.Get("If-Unmodified-Since"); v != "" && !e.modified.IsZero() {
		if t, err := http.ParseTime(v); err == nil && e.modified.Truncate(time.Second).After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if v := headerList(r, "If-None-Match"); v != "" {
		// If-Modified-Since is ignored when If-None-Match is present.
		if matchETags(v, e.etag, true) {
			return http.StatusNotModified // only GET and HEAD reach serve
		}
		return 0
	}
	if v := r.Header.Get("If-Modified-Since"); v != "" && !e.modified.IsZero() {
		// A date in the future is invalid and ignored (RFC 9110 §13.1.3).
		if t, err := http.ParseTime(v); err == nil && !t.After(now) && !e.modified.Truncate(time.Second).After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// headerList joins all the lines of a list-valued request header.
func headerList(r *http.Request, name string) string {
	vs := r.Header.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ",")
}

// matchETags reports whether the If-Match or If-None-Match list matches etag,
// using the weak comparison (W/"x" matches "x") when weak, else the strong
// one. "*" matches any current representation. A malformed list matches
// only as far as it could be read.
func matchETags(list, etag string, weak bool) bool {
	for {
		list = textproto.TrimString(list)
		if list == "" {
			return false
		}
		if list[0] == ',' {
			list = list[1:]
			continue
		}
		if list[0] == '*' {
			return true
		}
		tag, rest := scanETag(list)
		if tag == "" {
			return false
		}
		if etag != "" {
			if weak && strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
			if !weak && tag == etag && !strings.HasPrefix(tag, "W/") {
				return true
			}
		}
		list = rest
	}
}

// scanETag reads one entity-tag from the start of s and returns it with the
// rest of s, or "" if s does not start with one (RFC 9110 §8.8.3).
func scanETag(s string) (tag, rest string) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s)-start < 2 || s[start] != '"' {
		return "", ""
	}
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:]
		case c == 0x21 || c >= 0x23 && c <= 0x7e || c >= 0x80:
		default:
			return "", ""
		}
	}
	return "", ""
}

// rangeResult is the outcome of parseRange.
type rangeResult int

const (
	rangeNone          rangeResult = iota // no usable Range: send everything
	rangeOK                               // send bytes start..end
	rangeUnsatisfiable                    // 416
)

// parseRange reads a single "bytes=" range for e. A missing, malformed or
// multi-range header, or one whose If-Range does not match, is ignored as RFC
// 9110 §14.2 allows; a range that starts beyond the end is unsatisfiable.
func parseRange(r *http.Request, e *entity) (start, end int64, res rangeResult) {
	v := r.Header.Get("Range")
	if v == "" || len(r.Header.Values("Range")) != 1 {
		return 0, 0, rangeNone
	}
	if ir := r.Header.Get("If-Range"); ir != "" && !ifRangeMatches(ir, e) {
		return 0, 0, rangeNone
	}
	const unit = "bytes="
	if len(v) < len(unit) || !strings.EqualFold(v[:len(unit)], unit) {
		return 0, 0, rangeNone
	}
	spec := textproto.TrimString(v[len(unit):])
	if strings.Contains(spec, ",") {
		return 0, 0, rangeNone
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, rangeNone
	}
	first, last = textproto.TrimString(first), textproto.TrimString(last)
	size := e.size
	if first == "" { // suffix: the last N bytes
		n, ok := parseDigits(last)
		if !ok {
			return 0, 0, rangeNone
		}
		if n == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		return max(size-n, 0), size - 1, rangeOK
	}
	a, ok := parseDigits(first)
	if !ok {
		return 0, 0, rangeNone
	}
	b := size - 1
	if last != "" {
		if b, ok = parseDigits(last); !ok || b < a {
			return 0, 0, rangeNone
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	return a, min(b, size-1), rangeOK
}

// ifRangeMatches applies If-Range: an entity-tag must match strongly, a date
// must equal Last-Modified.
func ifRangeMatches(v string, e *entity) bool {
	v = textproto.TrimString(v)
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		tag, rest := scanETag(v)
		return tag != "" && rest == "" && e.etag != "" && tag == e.etag && !strings.HasPrefix(tag, "W/")
	}
	t, err := http.ParseTime(v)
	return err == nil && !e.modified.IsZero() && e.modified.Truncate(time.Second).Equal(t)
}

// parseDigits parses a non-negative decimal number of at most 18 digits (so
// it cannot overflow).
func parseDigits(s string) (int64, bool) {
	if !isDigits(s) || len(s) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// acceptsGzip reports whether an Accept-Encoding header value allows gzip:
// "gzip" or "x-gzip" with q > 0, or else "*" with q > 0. q=0 means "not
// acceptable"; a malformed q counts as 0. No header means identity only (no
// real origin compresses for a client that did not ask).
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for elem := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(elem, ";")
		name = strings.ToLower(textproto.TrimString(name))
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(p, "=")
			if !ok || !strings.EqualFold(textproto.TrimString(k), "q") {
				continue
			}
			f, err := strconv.ParseFloat(textproto.TrimString(v), 64)
			if err != nil || f < 0 || f > 1 || f != f {
				f = 0
			}
			q = f
		}
		switch name {
		case "gzip", "x-gzip":
			gzipQ = max(gzipQ, q)
		case "*":
			starQ = max(starQ, q)
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
