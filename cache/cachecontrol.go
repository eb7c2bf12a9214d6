package cache

import "strings"

// Directive flags (Cache-Control, RFC 9111 5.2; stale-* from RFC 5861).
const (
	DirNoCache         uint32 = 1 << iota // no-cache (any form)
	DirNoStore                            // no-store
	DirPrivate                            // private (any form)
	DirPublic                             // public
	DirMustRevalidate                     // must-revalidate
	DirProxyRevalidate                    // proxy-revalidate
	DirNoTransform                        // no-transform
	DirMustUnderstand                     // must-understand
	DirImmutable                          // immutable (RFC 8246)
	DirOnlyIfCached                       // only-if-cached (request)
	DirMaxStaleAny                        // max-stale without a value (request)
	DirInvalid                            // a directive we use had an invalid value
)

// NoValue marks a numeric directive that is absent.
const NoValue int32 = -1

// maxDelta is what an overflowing delta-seconds value is taken as
// (RFC 9111 1.2.2: 2^31).
const maxDelta int32 = 1<<31 - 1

// Directives is a parsed Cache-Control (or CDN-Cache-Control) field.
// Numeric directives are seconds, NoValue when absent. When a numeric
// directive appears more than once with different values, the smaller is
// kept (the most restrictive reading, RFC 9111 4.2.1).
type Directives struct {
	Flags    uint32
	MaxAge   int32
	SMaxAge  int32
	MaxStale int32 // request; with DirMaxStaleAny, any staleness
	MinFresh int32 // request
	SWR      int32 // stale-while-revalidate
	SIE      int32 // stale-if-error
}

// Has reports whether every flag in f is set.
func (d *Directives) Has(f uint32) bool { return d.Flags&f == f }

// Empty reports whether no directive was recognised.
func (d *Directives) Empty() bool {
	return d.Flags == 0 && d.MaxAge == NoValue && d.SMaxAge == NoValue && d.MaxStale == NoValue &&
		d.MinFresh == NoValue && d.SWR == NoValue && d.SIE == NoValue
}

// ParseDirectives parses a Cache-Control field value. Several field lines
// may be joined with commas first. Unknown directives are ignored;
// malformed numeric values set DirInvalid and leave the directive as if it
// had been given 0 (so max-age=abc makes a response stale, the safe
// reading). It never fails.
func ParseDirectives(v string) Directives {
	d := Directives{MaxAge: NoValue, SMaxAge: NoValue, MaxStale: NoValue, MinFresh: NoValue, SWR: NoValue, SIE: NoValue}
	d.Add(v)
	return d
}

// Add merges the directives of another field line into d.
func (d *Directives) Add(v string) {
	for len(v) > 0 {
		// One directive: name [ "=" ( token / quoted-string ) ].
		v = trimLeftOWS(v)
		if len(v) == 0 {
			return
		}
		if v[0] == ',' {
			v = v[1:]
			continue
		}
		i := 0
		for i < len(v) && v[i] != '=' && v[i] != ',' {
			i++
		}
		name := trimRightOWS(v[:i])
		v = v[i:]
		var val string
		hasVal := false
		if len(v) > 0 && v[0] == '=' {
			hasVal = true
			v = trimLeftOWS(v[1:])
			if len(v) > 0 && v[0] == '"' {
				val, v = quoted(v)
			} else {
				j := 0
				for j < len(v) && v[j] != ',' {
					j++
				}
				val, v = trimRightOWS(v[:j]), v[j:]
			}
		}
		d.apply(name, val, hasVal)
	}
}

// quoted returns the unescaped content of the quoted-string at the start
// of v and the rest after it (an unterminated string runs to the end).
func quoted(v string) (string, string) {
	var b strings.Builder
	i := 1
	for i < len(v) {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			b.WriteByte(v[i+1])
			i += 2
			continue
		}
		if c == '"' {
			return b.String(), v[i+1:]
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), ""
}

func (d *Directives) apply(name, val string, hasVal bool) {
	switch lower(name) {
	case "max-age":
		d.MaxAge = d.num(d.MaxAge, val, hasVal)
	case "s-maxage":
		d.SMaxAge = d.num(d.SMaxAge, val, hasVal)
	case "max-stale":
		if !hasVal {
			d.Flags |= DirMaxStaleAny
			return
		}
		d.MaxStale = d.num(d.MaxStale, val, hasVal)
	case "min-fresh":
		d.MinFresh = d.num(d.MinFresh, val, hasVal)
	case "stale-while-revalidate":
		d.SWR = d.num(d.SWR, val, hasVal)
	case "stale-if-error":
		d.SIE = d.num(d.SIE, val, hasVal)
	case "no-cache":
		d.Flags |= DirNoCache
	case "no-store":
		d.Flags |= DirNoStore
	case "private":
		d.Flags |= DirPrivate
	case "public":
		d.Flags |= DirPublic
	case "must-revalidate":
		d.Flags |= DirMustRevalidate
	case "proxy-revalidate":
		d.Flags |= DirProxyRevalidate
	case "no-transform":
		d.Flags |= DirNoTransform
	case "must-understand":
		d.Flags |= DirMustUnderstand
	case "immutable":
		d.Flags |= DirImmutable
	case "only-if-cached":
		d.Flags |= DirOnlyIfCached
	}
}

// num parses delta-seconds, keeping the smaller of a repeated directive.
func (d *Directives) num(cur int32, val string, hasVal bool) int32 {
	n, ok := parseDelta(val)
	if !hasVal || !ok {
		d.Flags |= DirInvalid
		n = 0
	}
	if cur != NoValue && cur < n {
		return cur
	}
	return n
}

// parseDelta parses 1*DIGIT, saturating at 2^31-1.
func parseDelta(s string) (int32, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < int64(maxDelta) {
			n = n*10 + int64(c-'0')
		}
	}
	if n > int64(maxDelta) {
		n = int64(maxDelta)
	}
	return int32(n), true
}

func trimLeftOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

func trimRightOWS(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// lower returns s in ASCII lower case, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
