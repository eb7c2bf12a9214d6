package edge

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/edge/internal/h1"
)

// maxRanges bounds the ranges honoured in one request; more are answered
// with the whole representation (RFC 9110 14.2 lets a server ignore Range).
const maxRanges = 16

type byteRange struct{ start, end int64 } // inclusive

// parseRanges parses a Range value against a representation of size
// bytes (RFC 9110 14.1.2). ok is false when the field should be ignored
// (not a bytes range, malformed, too many ranges); an ok result with no
// ranges means none is satisfiable (416). Overlapping and adjacent ranges
// are merged.
func parseRanges(v string, size int64) (rs []byteRange, ok bool) {
	unit, set, found := strings.Cut(v, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, false
	}
	n := 0
	for _, spec := range strings.Split(set, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		if n++; n > maxRanges {
			return nil, false
		}
		a, b, found := strings.Cut(spec, "-")
		if !found {
			return nil, false
		}
		a, b = strings.TrimSpace(a), strings.TrimSpace(b)
		var r byteRange
		switch {
		case a == "": // suffix: the last b bytes
			last, err := strconv.ParseInt(b, 10, 64)
			if err != nil || last < 0 || !digits(b) {
				return nil, false
			}
			if last == 0 || size == 0 {
				continue // unsatisfiable
			}
			r = byteRange{max(size-last, 0), size - 1}
		default:
			first, err := strconv.ParseInt(a, 10, 64)
			if err != nil || !digits(a) {
				return nil, false
			}
			end := size - 1
			if b != "" {
				e, err := strconv.ParseInt(b, 10, 64)
				if err != nil || !digits(b) || e < first {
					return nil, false
				}
				end = min(e, size-1)
			}
			if first >= size {
				continue // unsatisfiable
			}
			r = byteRange{first, end}
		}
		rs = append(rs, r)
	}
	if n == 0 {
		return nil, false
	}
	slices.SortFunc(rs, func(a, b byteRange) int { return int(a.start - b.start) })
	merged := rs[:0]
	for _, r := range rs {
		if len(merged) > 0 && r.start <= merged[len(merged)-1].end+1 {
			merged[len(merged)-1].end = max(merged[len(merged)-1].end, r.end)
			continue
		}
		merged = append(merged, r)
	}
	return merged, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ifRangeHolds evaluates If-Range (RFC 9110 13.1.5) against the identity
// representation: a strong ETag equal to the origin's (only when identity
// is the encoding the origin sent), or an HTTP-date equal to Last-Modified.
func ifRangeHolds(e *cache.Entry, v string) bool {
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		return e.Native() == cache.Identity && etagMatchStrong(v, e.ETag())
	}
	t, err := http.ParseTime(v)
	lm, err2 := http.ParseTime(e.LastModified())
	return err == nil && err2 == nil && t.Equal(lm)
}

// serveRange answers a Range request from the stored identity body. It
// returns false when the whole representation should be sent instead.
func (x *exchange) serveRange(e *cache.Entry, spec string, result int, cs cacheStatus) bool {
	if ir := x.r.Header.Get("If-Range"); ir != "" && !ifRangeHolds(e, ir) {
		return false
	}
	body, ok := e.Body(cache.Identity), true
	if body == nil {
		if body, ok = x.identity(e); !ok {
			return false
		}
	}
	size := int64(len(body))
	rs, ok := parseRanges(spec, size)
	if !ok {
		return false
	}
	age := strconv.FormatInt(int64(e.Age(x.h.now())/time.Second), 10)
	common := func(b []byte, status int) []byte {
		b = h1.AppendStatusLine(b, status)
		b = append(b, e.Header()...)
		// RFC 9110 15.3.7: the fields a 200 would carry. The ranges are
		// of the identity representation.
		b = appendValidatorFields(b, e, cache.Identity)
		b = append(b, "Accept-Ranges: bytes\r\nAge: "+age+"\r\nCache-Status: "...)
		b = cs.append(b, x.g.csPrefix)
		return append(b, "\r\n"...)
	}
	if len(rs) == 0 {
		b := common(x.w.Scratch(), 416)
		b = append(b, "Content-Range: bytes */"+strconv.FormatInt(size, 10)+"\r\nContent-Length: 0\r\n"...)
		x.w.WriteRaw(416, b, nil)
		x.done(result, 416, cache.Identity)
		return true
	}
	if len(rs) == 1 {
		r := rs[0]
		b := common(x.w.Scratch(), 206)
		b = append(b, "Content-Range: bytes "...)
		b = strconv.AppendInt(b, r.start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, r.end, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, size, 10)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, r.end-r.start+1, 10)
		b = append(b, "\r\n"...)
		x.w.WriteRaw(206, b, body[r.start:r.end+1])
		x.done(result, 206, cache.Identity)
		return true
	}
	// Several ranges: multipart/byteranges (RFC 9110 14.6). The stored
	// Content-Type moves into each part.
	ct := e.HeaderValue("Content-Type")
	var boundary [12]byte
	rand.Read(boundary[:])
	bnd := hex.EncodeToString(boundary[:])
	var out []byte
	for _, r := range rs {
		out = append(out, "\r\n--"+bnd+"\r\n"...)
		if ct != "" {
			out = append(out, "Content-Type: "+ct+"\r\n"...)
		}
		out = append(out, "Content-Range: bytes "+strconv.FormatInt(r.start, 10)+"-"+strconv.FormatInt(r.end, 10)+"/"+strconv.FormatInt(size, 10)+"\r\n\r\n"...)
		out = append(out, body[r.start:r.end+1]...)
	}
	out = append(out, "\r\n--"+bnd+"--\r\n"...)
	hdr := common(nil, 206)
	// Replace the stored Content-Type with the multipart one.
	hdr = dropField(hdr, "Content-Type")
	hdr = append(hdr, "Content-Type: multipart/byteranges; boundary="+bnd+"\r\nContent-Length: "+strconv.Itoa(len(out))+"\r\n"...)
	x.w.WriteRaw(206, hdr, out)
	x.done(result, 206, cache.Identity)
	return true
}

// dropField removes every line of the named field from a header block.
func dropField(b []byte, name string) []byte {
	out := b[:0:0]
	for len(b) > 0 {
		i := strings.Index(string(b), "\r\n")
		if i < 0 {
			i = len(b) - 2
		}
		line := b[:i+2]
		b = b[i+2:]
		if len(line) > len(name) && line[len(name)] == ':' && strings.EqualFold(string(line[:len(name)]), name) {
			continue
		}
		out = append(out, line...)
	}
	return out
}
