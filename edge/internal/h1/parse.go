package h1

import (
	"bytes"
	"unsafe"
)

// Reasons a request is rejected before it reaches the handler. They are the
// values passed to Server.OnReject (a fixed set, usable as metric labels).
const (
	ReasonRequestLine   = "bad_request_line"   // malformed request line
	ReasonMethod        = "bad_method"         // method not a token, or CONNECT
	ReasonTarget        = "bad_target"         // malformed request-target
	ReasonURITooLong    = "uri_too_long"       // request-target over the limit (414)
	ReasonVersion       = "bad_version"        // not HTTP/1.0 or HTTP/1.1 (400/505)
	ReasonHeader        = "bad_header"         // malformed field line, obs-fold, control bytes
	ReasonHeaderTooBig  = "header_too_large"   // header block or field count over the limit (431)
	ReasonHost          = "bad_host"           // missing, repeated or malformed Host
	ReasonLength        = "bad_content_length" // malformed or conflicting Content-Length
	ReasonTE            = "bad_transfer_encoding"
	ReasonExpect        = "bad_expect" // an expectation other than 100-continue (417)
	ReasonBody          = "bad_body"   // malformed chunked body
	ReasonHeaderTimeout = "header_timeout"
)

// parseError is a request the server refuses, with the status to answer.
type parseError struct {
	status int
	reason string
	msg    string
}

func (e *parseError) Error() string { return e.msg }

func perr(status int, reason, msg string) *parseError {
	return &parseError{status: status, reason: reason, msg: msg}
}

// Preallocated errors: rejecting hostile input must not allocate either.
var (
	errRequestLine  = perr(400, ReasonRequestLine, "malformed request line")
	errMethod       = perr(400, ReasonMethod, "malformed method")
	errConnect      = perr(501, ReasonMethod, "CONNECT is not supported")
	errTarget       = perr(400, ReasonTarget, "malformed request target")
	errURITooLong   = perr(414, ReasonURITooLong, "request target too long")
	errVersion      = perr(400, ReasonVersion, "malformed HTTP version")
	errVersionUnsup = perr(505, ReasonVersion, "HTTP version not supported")
	errHeader       = perr(400, ReasonHeader, "malformed header field")
	errObsFold      = perr(400, ReasonHeader, "obsolete line folding is not accepted")
	errTooMany      = perr(431, ReasonHeaderTooBig, "too many header fields")
	errTooBig       = perr(431, ReasonHeaderTooBig, "request header too large")
	errNoHost       = perr(400, ReasonHost, "missing Host header")
	errManyHost     = perr(400, ReasonHost, "more than one Host header")
	errBadHost      = perr(400, ReasonHost, "malformed Host")
	errLength       = perr(400, ReasonLength, "malformed Content-Length")
	errLengthTE     = perr(400, ReasonTE, "both Content-Length and Transfer-Encoding")
	errTE           = perr(501, ReasonTE, "unsupported Transfer-Encoding")
	errTE10         = perr(400, ReasonTE, "Transfer-Encoding in an HTTP/1.0 request")
	errExpect       = perr(417, ReasonExpect, "unsupported expectation")
	errChunked      = perr(400, ReasonBody, "malformed chunked body")
	errTimeout      = perr(408, ReasonHeaderTimeout, "timeout reading request header")
)

// bstr views b as a string without copying. The string is valid while b's
// bytes are not modified.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// tchar reports whether c may appear in a token (RFC 9110 5.6.2).
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// hostChar reports whether c may appear in a Host (reg-name, IPv4, IP-literal
// brackets and colons, port digits; RFC 3986 3.2.2).
var hostChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=%:[]" {
		t[c] = true
	}
	return t
}()

// findHeaderEnd returns the length of the header block at the start of b
// (request line through the blank line), or -1 if b does not hold all of it
// yet. Lines end in CRLF or a bare LF (RFC 9112 2.2 lets a recipient accept
// LF). from is where to resume scanning (a previous call's progress) and the
// new resume point is returned.
func findHeaderEnd(b []byte, from int) (end, next int) {
	i := from
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1, i
		}
		line := b[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i, i
		}
	}
}

// parseRequest parses the header block blk (as found by findHeaderEnd) into
// r. fields is reused storage for r.Header.
func parseRequest(blk []byte, r *Request, fields []Field, lim *limits) *parseError {
	// Request line.
	nl := bytes.IndexByte(blk, '\n')
	line := trimCR(blk[:nl])
	rest := blk[nl+1:]
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return errRequestLine
	}
	method := line[:sp]
	for _, c := range method {
		if !tchar[c] {
			return errMethod
		}
	}
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp < 0 {
		return errRequestLine
	}
	target, version := line[:sp], line[sp+1:]
	if len(target) == 0 {
		return errRequestLine
	}
	if len(target) > lim.maxURI {
		return errURITooLong
	}
	switch {
	case bytes.Equal(version, http11):
		r.ProtoMinor = 1
	case bytes.Equal(version, http10):
		r.ProtoMinor = 0
	case len(version) == 8 && bytes.HasPrefix(version, []byte("HTTP/")) &&
		isDigit(version[5]) && version[6] == '.' && isDigit(version[7]):
		return errVersionUnsup
	default:
		return errVersion
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return errTarget
		}
	}
	r.Method = internMethod(method)
	if r.Method == "CONNECT" {
		return errConnect
	}

	// Request target forms (RFC 9112 3.2).
	var authority []byte
	switch {
	case target[0] == '/':
	case len(target) == 1 && target[0] == '*':
		if r.Method != "OPTIONS" {
			return errTarget
		}
	default:
		var ok bool
		authority, target, ok = splitAbsolute(target)
		if !ok {
			return errTarget
		}
	}
	r.Target = bstr(target)
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		r.Path, r.Query, r.HasQuery = bstr(target[:q]), bstr(target[q+1:]), true
	} else {
		r.Path, r.Query, r.HasQuery = r.Target, "", false
	}

	// Header fields.
	var (
		hosts, lengths int
		host           []byte
		te             bool
		clen           int64 = -1
	)
	r.Close = r.ProtoMinor == 0
	r.ExpectContinue = false
	fields = fields[:0]
	for len(rest) > 0 {
		nl = bytes.IndexByte(rest, '\n')
		line = trimCR(rest[:nl])
		rest = rest[nl+1:]
		if len(line) == 0 {
			break // the blank line
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errHeader
		}
		name := line[:colon]
		for _, c := range name {
			if !tchar[c] {
				return errHeader
			}
		}
		value := trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return errHeader
			}
		}
		if len(fields) == lim.maxFields {
			return errTooMany
		}
		fields = append(fields, Field{Name: bstr(name), Value: bstr(value)})

		// Fields the server itself must understand.
		switch len(name) {
		case 4: // Host
			if asciiEqualFold(name, "host") {
				hosts++
				host = value
			}
		case 6: // Expect
			if asciiEqualFold(name, "expect") {
				if !asciiEqualFold(value, "100-continue") {
					return errExpect
				}
				r.ExpectContinue = r.ProtoMinor == 1
			}
		case 10: // Connection
			if asciiEqualFold(name, "connection") {
				if hasToken(value, "close") {
					r.Close = true
				} else if r.ProtoMinor == 0 && hasToken(value, "keep-alive") {
					r.Close = false
				}
			}
		case 14: // Content-Length
			if asciiEqualFold(name, "content-length") {
				n, ok := parseContentLength(value)
				if !ok || (lengths > 0 && n != clen) {
					return errLength
				}
				clen = n
				lengths++
			}
		case 17: // Transfer-Encoding
			if asciiEqualFold(name, "transfer-encoding") {
				if r.ProtoMinor == 0 {
					return errTE10
				}
				if te || !asciiEqualFold(value, "chunked") {
					return errTE
				}
				te = true
			}
		}
	}
	r.Header = fields

	if te && lengths > 0 {
		return errLengthTE
	}
	switch {
	case te:
		r.ContentLength, r.hasBody = -1, true
	case clen > 0:
		r.ContentLength, r.hasBody = clen, true
	default:
		r.ContentLength, r.hasBody = 0, false
	}

	if hosts > 1 {
		return errManyHost
	}
	if authority != nil {
		host = authority
	} else if hosts == 0 {
		if r.ProtoMinor == 1 {
			return errNoHost
		}
	}
	if host != nil {
		if !validHost(host) {
			return errBadHost
		}
		r.Host = bstr(host)
	} else {
		r.Host = ""
	}
	return nil
}

var (
	http11 = []byte("HTTP/1.1")
	http10 = []byte("HTTP/1.0")
)

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold compares b with the lower-case ASCII string s, ignoring
// case in b.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token tok
// (case-insensitively; tok is lower case).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		if asciiEqualFold(trimOWS(item), tok) {
			return true
		}
	}
	return false
}

// parseContentLength accepts 1*DIGIT, or a list of identical values
// ("5, 5"), which RFC 9112 6.3 lets a recipient treat as one.
func parseContentLength(v []byte) (int64, bool) {
	n := int64(-1)
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = trimOWS(v[:i]), v[i+1:]
		} else {
			item, v = trimOWS(v), nil
		}
		if len(item) == 0 || len(item) > 18 {
			return 0, false
		}
		var x int64
		for _, c := range item {
			if !isDigit(c) {
				return 0, false
			}
			x = x*10 + int64(c-'0')
		}
		if n >= 0 && x != n {
			return 0, false
		}
		n = x
	}
	return n, n >= 0
}

// splitAbsolute splits an absolute-form target "http://authority/path?q"
// into its authority and path-and-query ("/" when the path is empty).
func splitAbsolute(t []byte) (authority, pathQuery []byte, ok bool) {
	i := bytes.Index(t, []byte("://"))
	if i <= 0 {
		return nil, nil, false
	}
	scheme := t[:i]
	if !asciiEqualFold(scheme, "http") && !asciiEqualFold(scheme, "https") {
		return nil, nil, false
	}
	rest := t[i+3:]
	end := len(rest)
	for j, c := range rest {
		if c == '/' || c == '?' || c == '#' {
			end = j
			break
		}
	}
	authority, pathQuery = rest[:end], rest[end:]
	if len(authority) == 0 || bytes.IndexByte(authority, '@') >= 0 {
		return nil, nil, false
	}
	if len(pathQuery) == 0 {
		pathQuery = slash
	} else if pathQuery[0] == '?' {
		// "http://h?q": the path is empty; RFC 9112 3.2.1 says send "/".
		// Rejecting keeps the target a view into the buffer.
		return nil, nil, false
	} else if pathQuery[0] == '#' {
		return nil, nil, false
	}
	return authority, pathQuery, true
}

var slash = []byte("/")

// validHost checks a Host value: non-empty, host characters only, brackets
// only around an IP literal at the start, and a numeric port if any.
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !hostChar[c] {
			return false
		}
	}
	var port []byte
	if h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 2 {
			return false
		}
		for _, c := range h[1:end] {
			if !(isHex(c) || c == ':' || c == '.') {
				return false
			}
		}
		rest := h[end+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return false
			}
			port = rest[1:]
		}
	} else {
		if bytes.IndexByte(h, '[') >= 0 || bytes.IndexByte(h, ']') >= 0 {
			return false
		}
		if i := bytes.IndexByte(h, ':'); i >= 0 {
			if i == 0 {
				return false
			}
			port = h[i+1:]
		}
	}
	if port != nil {
		if len(port) == 0 || len(port) > 5 {
			return false
		}
		for _, c := range port {
			if !isDigit(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
