package cache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy is the per-site part of the caching rules (the site's config).
type Policy struct {
	// DefaultTTL is the freshness lifetime given to storable responses that
	// carry no freshness information at all (no max-age, s-maxage, Expires
	// or Last-Modified). Zero (the default) means such responses are not
	// stored.
	DefaultTTL time.Duration
	// StaleIfError is how long past expiry a stored response may be served
	// when the origin cannot be reached or answers 500, 502, 503 or 504,
	// unless the response forbids it (must-revalidate, proxy-revalidate,
	// s-maxage, no-cache). A stale-if-error directive in the response
	// overrides it. Zero means only what the response allows.
	StaleIfError time.Duration
	// HeuristicMax caps heuristic freshness (10% of the time since
	// Last-Modified, RFC 9111 4.2.2). Zero disables heuristic freshness.
	HeuristicMax time.Duration
}

// Why a response is not stored. These are metric label values.
const (
	ReasonMethod        = "method"
	ReasonStatus        = "status"
	ReasonNoStore       = "no-store"
	ReasonPrivate       = "private"
	ReasonAuthorization = "authorization"
	ReasonSetCookie     = "set-cookie"
	ReasonVaryStar      = "vary-star"
	ReasonNoFreshness   = "no-freshness"
	ReasonTooLarge      = "too-large"
	ReasonPartial       = "partial"
)

// heuristicStatus lists status codes that are heuristically cacheable
// (RFC 9110 15.1).
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// Analysis is the caching verdict on one response.
type Analysis struct {
	// Storable tells whether the response may be stored; if not, Reason
	// says why (a Reason… constant).
	Storable bool
	Reason   string
	// Directives are the effective directives: from CDN-Cache-Control when
	// it is present and valid (RFC 9213), else from Cache-Control.
	Directives Directives
	// Targeted is true when CDN-Cache-Control decided.
	Targeted bool
	// Lifetime is the freshness lifetime (RFC 9111 4.2.1).
	Lifetime time.Duration
	// Heuristic is true when Lifetime is heuristic (4.2.2) or the site's
	// default TTL.
	Heuristic bool
	// DateValue, AgeValue: the response's Date (zero if absent) and Age
	// (0 if absent or invalid).
	DateValue time.Time
	AgeValue  time.Duration
	// VaryNames are the lower-case field names the response varies on,
	// Accept-Encoding excluded (the cache handles encodings itself).
	VaryNames []string
	// Tags are the surrogate keys (Surrogate-Key and Cache-Tag fields).
	Tags []string
}

// Request facts that matter for storing a response.
type RequestFacts struct {
	Method        string
	Authorization bool       // the request carried Authorization
	Directives    Directives // the request's Cache-Control
}

// Analyze decides whether a response may be stored by a shared cache and
// for how long it is fresh. It implements RFC 9111 sections 3 and 4.2 plus
// RFC 9213 (CDN-Cache-Control), with two policies of ours on top: a
// response that sets a cookie is never stored (it is usually personal),
// and one without freshness information is stored only when the site has a
// default TTL.
//
// now is when the response arrived; it stands in for a missing Date.
func Analyze(req RequestFacts, status int, h http.Header, p *Policy, now time.Time) Analysis {
	var a Analysis
	a.Directives, a.Targeted = effectiveDirectives(h)
	a.DateValue, _ = http.ParseTime(h.Get("Date"))
	if v := h.Get("Age"); v != "" {
		if n, ok := parseDelta(strings.TrimSpace(v)); ok {
			a.AgeValue = time.Duration(n) * time.Second
		}
	}
	a.VaryNames, a.Reason = varyNames(h)
	a.Tags = surrogateKeys(h)
	d := &a.Directives

	switch {
	case req.Method != http.MethodGet && req.Method != http.MethodHead:
		a.Reason = ReasonMethod
	case status == http.StatusPartialContent:
		a.Reason = ReasonPartial
	case status < 200 || status == http.StatusNotModified || http.StatusText(status) == "":
		a.Reason = ReasonStatus
	case d.Has(DirNoStore) || req.Directives.Has(DirNoStore):
		a.Reason = ReasonNoStore
	case d.Has(DirPrivate):
		a.Reason = ReasonPrivate
	case req.Authorization && !d.Has(DirPublic) && !d.Has(DirMustRevalidate) && d.SMaxAge == NoValue:
		a.Reason = ReasonAuthorization
	case len(h["Set-Cookie"]) > 0:
		a.Reason = ReasonSetCookie
	case a.Reason != "": // Vary: *
	}
	if a.Reason != "" {
		return a
	}

	// Freshness lifetime (4.2.1): s-maxage, max-age, Expires - Date, then
	// heuristics (4.2.2), then the site's default.
	switch {
	case d.SMaxAge != NoValue:
		a.Lifetime = time.Duration(d.SMaxAge) * time.Second
	case d.MaxAge != NoValue:
		a.Lifetime = time.Duration(d.MaxAge) * time.Second
	case !a.Targeted && len(h["Expires"]) > 0:
		exp, err := http.ParseTime(h.Get("Expires"))
		if err == nil {
			date := a.DateValue
			if date.IsZero() {
				date = now
			}
			a.Lifetime = max(exp.Sub(date), 0)
		} // an invalid Expires means already expired: lifetime 0
	default:
		lm, err := http.ParseTime(h.Get("Last-Modified"))
		switch {
		case err == nil && p.HeuristicMax > 0 && (heuristicStatus(status) || d.Has(DirPublic)):
			date := a.DateValue
			if date.IsZero() {
				date = now
			}
			a.Lifetime = min(max(date.Sub(lm)/10, 0), p.HeuristicMax)
			a.Heuristic = true
		case d.Has(DirNoCache) && h.Get("Etag") != "":
			// Revalidated on every use anyway: store it for the
			// validator, fresh for no time at all.
			a.Lifetime = 0
		case p.DefaultTTL > 0:
			a.Lifetime = p.DefaultTTL
			a.Heuristic = true
		default:
			a.Reason = ReasonNoFreshness
			return a
		}
	}
	a.Storable = true
	return a
}

// effectiveDirectives returns CDN-Cache-Control's directives when that
// field is present with a valid, non-empty value, else Cache-Control's.
func effectiveDirectives(h http.Header) (Directives, bool) {
	if vs := h["Cdn-Cache-Control"]; len(vs) > 0 {
		if d, ok := parseTargeted(strings.Join(vs, ",")); ok {
			return d, true
		}
	}
	d := ParseDirectives("")
	for _, v := range h["Cache-Control"] {
		d.Add(v)
	}
	return d, false
}

// parseTargeted parses a targeted cache-control field, which is a
// Structured Fields Dictionary (RFC 9213 2.1, RFC 8941 3.2): keys are
// lower-case sf-keys, values bare (true), integers, or other items. A value
// that does not parse as a dictionary makes the whole field invalid.
func parseTargeted(v string) (Directives, bool) {
	d := ParseDirectives("")
	any := false
	for _, member := range splitMembers(v) {
		member = strings.TrimSpace(member)
		if member == "" {
			return d, false
		}
		key, val, hasVal := strings.Cut(member, "=")
		if i := strings.IndexByte(key, ';'); i >= 0 {
			key = key[:i] // parameters are allowed and ignored
		}
		if !sfKey(key) {
			return d, false
		}
		if i := strings.IndexByte(val, ';'); i >= 0 {
			val = val[:i]
		}
		if hasVal && !sfBareItem(val) {
			return d, false
		}
		switch {
		case !hasVal || val == "?1":
			d.apply(key, "", false)
		case val == "?0":
			// false: the directive is absent
		default:
			if _, isNum := parseDelta(val); isNum || !isNumericDirective(key) {
				d.apply(key, val, true)
			}
			// A non-integer value for a numeric directive is ignored.
		}
		any = true
	}
	return d, any
}

// splitMembers splits a structured-field list at the commas that are not
// inside a quoted string (honouring backslash escapes).
func splitMembers(v string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

func isNumericDirective(k string) bool {
	switch k {
	case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
		return true
	}
	return false
}

func sfKey(k string) bool {
	if k == "" || !(k[0] == '*' || ('a' <= k[0] && k[0] <= 'z')) {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			return false
		}
	}
	return true
}

// sfBareItem accepts integers/decimals, strings, tokens, byte sequences
// and booleans (enough to tell a dictionary from junk).
func sfBareItem(v string) bool {
	if v == "" {
		return false
	}
	switch c := v[0]; {
	case c == '"':
		return len(v) >= 2 && v[len(v)-1] == '"'
	case c == '?':
		return v == "?0" || v == "?1"
	case c == ':':
		return len(v) >= 2 && v[len(v)-1] == ':'
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := strconv.ParseFloat(v, 64)
		return err == nil && len(v) <= 20
	case c == '*' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'):
		for i := 1; i < len(v); i++ {
			if !tokenChar(v[i]) && v[i] != ':' && v[i] != '/' {
				return false
			}
		}
		return true
	}
	return false
}

func tokenChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// varyNames returns the response's Vary field names (lower case, sorted,
// deduplicated, Accept-Encoding left out), or ReasonVaryStar when the list
// contains "*".
func varyNames(h http.Header) ([]string, string) {
	var names []string
	for _, v := range h["Vary"] {
		for _, n := range strings.Split(v, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			switch n {
			case "":
				continue
			case "*":
				return nil, ReasonVaryStar
			case "accept-encoding":
				continue
			}
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, ""
	}
	slices.Sort(names)
	return slices.Compact(names), ""
}

// surrogateKeys collects purge tags from Surrogate-Key (space separated)
// and Cache-Tag (comma separated).
func surrogateKeys(h http.Header) []string {
	var tags []string
	for _, v := range h["Surrogate-Key"] {
		tags = append(tags, strings.Fields(v)...)
	}
	for _, v := range h["Cache-Tag"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	if len(tags) == 0 {
		return nil
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	if len(tags) > maxTags {
		tags = tags[:maxTags]
	}
	return tags
}

// maxTags bounds the surrogate keys kept per object.
const maxTags = 64
