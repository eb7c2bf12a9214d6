package cache

import (
	"errors"
	"strings"
)

// ErrBadTarget is returned for request targets that cannot be normalised
// (malformed percent-encoding, a fragment, not starting with "/").
var ErrBadTarget = errors.New("cache: malformed request target")

// AppendKey appends the primary cache key for a request to dst:
//
//	scheme "://" host path [ "?" query ]
//
// in normalised form (RFC 3986 6.2.2), so that equivalent URLs share one
// object and a URL prefix is a key prefix (purge by prefix):
//
//   - scheme and host in lower case, a trailing dot and the scheme's
//     default port removed from the host;
//   - percent-encodings in upper-case hex, and decoded where they encode
//     an unreserved character (ALPHA DIGIT - . _ ~);
//   - bytes that may not appear in a URI (non-ASCII, controls, space,
//     `"<>\^{|}` and backquote) percent-encoded;
//   - "." and ".." path segments resolved, an empty path made "/".
//
// The query is kept in its order (reordering could change its meaning to
// the origin). The part after the host — the normalised target — is what
// the node forwards to the origin, so a stored object always corresponds to
// its key. path must start with "/" (or be "*"); host must be non-empty.
func AppendKey(dst []byte, scheme, host, path, query string, hasQuery bool) ([]byte, error) {
	for i := 0; i < len(scheme); i++ {
		dst = append(dst, lowerByte(scheme[i]))
	}
	dst = append(dst, "://"...)
	dst = AppendHost(dst, host, scheme)
	return AppendTarget(dst, path, query, hasQuery)
}

// AppendHost appends host in normalised form (see AppendKey).
func AppendHost(dst []byte, host, scheme string) []byte {
	h := host
	port := ""
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			h, port = h[:i+1], h[i+1:]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h, port = h[:i], h[i:]
	}
	h = strings.TrimSuffix(h, ".")
	switch port {
	case ":":
		port = ""
	case ":80":
		if strings.EqualFold(scheme, "http") {
			port = ""
		}
	case ":443":
		if strings.EqualFold(scheme, "https") {
			port = ""
		}
	}
	for i := 0; i < len(h); i++ {
		dst = append(dst, lowerByte(h[i]))
	}
	return append(dst, port...)
}

// AppendTarget appends the normalised path and query (see AppendKey).
func AppendTarget(dst []byte, path, query string, hasQuery bool) ([]byte, error) {
	if path == "*" && !hasQuery {
		return append(dst, '*'), nil
	}
	if len(path) == 0 || path[0] != '/' {
		return dst, ErrBadTarget
	}
	start := len(dst)
	var err error
	if dst, err = appendNormalized(dst, path, false); err != nil {
		return dst, err
	}
	if needsDotRemoval(dst[start:]) {
		p := removeDotSegments(string(dst[start:]))
		dst = append(dst[:start], p...)
	}
	if hasQuery {
		dst = append(dst, '?')
		if dst, err = appendNormalized(dst, query, true); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// uriSafe marks bytes that stand for themselves in a normalised path or
// query: unreserved, sub-delims, ":" "@" "/" and, in queries, "?".
var uriSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/?" {
		t[c] = true
	}
	return t
}()

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

const upperHex = "0123456789ABCDEF"

func appendNormalized(dst []byte, s string, query bool) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return dst, ErrBadTarget
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, ErrBadTarget
			}
			b := hi<<4 | lo
			if isUnreserved(b) {
				dst = append(dst, b)
			} else {
				dst = append(dst, '%', upperHex[b>>4], upperHex[b&15])
			}
			i += 2
		case c == '#':
			return dst, ErrBadTarget
		case c == '?' && !query:
			return dst, ErrBadTarget // the caller split the query off already
		case uriSafe[c]:
			dst = append(dst, c)
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// needsDotRemoval reports whether p has a "." or ".." segment.
func needsDotRemoval(p []byte) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || (i > 0 && p[i-1] != '/') {
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return true
		}
	}
	return false
}

// removeDotSegments implements RFC 3986 5.2.4 for an absolute path.
func removeDotSegments(in string) string {
	var out []string
	segs := strings.Split(in[1:], "/")
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}
