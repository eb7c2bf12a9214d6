package h1

import (
	"io"
	"net/netip"
)

// Field is one request header field as received: Name as sent (use
// EqualFold to compare), Value with surrounding whitespace removed.
type Field struct {
	Name, Value string
}

// Header is the list of a request's header fields in the order received.
type Header []Field

// Get returns the value of the named field ("" if absent), the name
// compared case-insensitively. Several lines of the field are combined
// into one comma-separated value (RFC 9110 5.3); only then does Get
// allocate.
func (h Header) Get(name string) string {
	for i := range h {
		if EqualFold(h[i].Name, name) {
			v := h[i].Value
			for j := i + 1; j < len(h); j++ {
				if EqualFold(h[j].Name, name) {
					v += ", " + h[j].Value
				}
			}
			return v
		}
	}
	return ""
}

// Values calls fn with every value of the named field, in order.
func (h Header) Values(name string, fn func(v string)) {
	for i := range h {
		if EqualFold(h[i].Name, name) {
			fn(h[i].Value)
		}
	}
}

// Has reports whether the named field is present.
func (h Header) Has(name string) bool {
	for i := range h {
		if EqualFold(h[i].Name, name) {
			return true
		}
	}
	return false
}

// Request is one parsed HTTP/1.x request. See the package documentation for
// how long its strings stay valid.
type Request struct {
	// Method is the request method as sent (methods are case-sensitive).
	// Common methods are interned and stay valid after the handler returns.
	Method string
	// Target is the request-target as sent (origin-form "/p?q", or the
	// path-and-query of an absolute-form target, or "*").
	Target string
	// Path and Query split Target at the first '?' (Query excludes it).
	Path, Query string
	// HasQuery tells "/p?" (empty query) from "/p".
	HasQuery bool
	// Host is the authority the request is for: the absolute-form target's
	// authority, else the Host field. May be empty for HTTP/1.0.
	Host string
	// ProtoMinor is 0 for HTTP/1.0 and 1 for HTTP/1.1.
	ProtoMinor int
	// Header holds the fields in the order received.
	Header Header
	// ContentLength is the body length: -1 when chunked, 0 without a body.
	ContentLength int64
	// Close is true when the connection will close after this response
	// (the client asked for it, HTTP/1.0 without keep-alive, or the server
	// is shutting down).
	Close bool
	// ExpectContinue is true when the client sent "Expect: 100-continue";
	// the server sends "100 Continue" on the first read of Body.
	ExpectContinue bool
	// RemoteAddr is the client's address.
	RemoteAddr netip.AddrPort
	// Body reads the request body (io.EOF at its end, at once when there
	// is none). It must not be used after the handler returns.
	Body io.Reader

	c       *conn
	hasBody bool
}

// IsHead reports whether the method is HEAD.
func (r *Request) IsHead() bool { return r.Method == "HEAD" }

// HasBody reports whether the request has a body (a positive length or a
// chunked one).
func (r *Request) HasBody() bool { return r.hasBody }

// EqualFold reports whether a and b are equal under ASCII case folding (field
// names and tokens are ASCII; this is cheaper than strings.EqualFold).
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// internMethod returns a static string for common methods, else a copy.
func internMethod(b []byte) string {
	switch string(b) { // no allocation: the compiler compares in place
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	case "PATCH":
		return "PATCH"
	case "TRACE":
		return "TRACE"
	case "CONNECT":
		return "CONNECT"
	case "PURGE":
		return "PURGE"
	}
	return string(b)
}
