package cache

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// rfcT0 is the Date of most responses in these tests.
var rfcT0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func rfcHTTPDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// rfcHeader builds a header from name/value pairs (Add, so names repeat).
func rfcHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// analyzeKnownBugs are TestAnalyze rows that fail because of a known
// implementation bug (see the test report); the rows stay as the spec.
var analyzeKnownBugs = map[string]string{}

func TestAnalyze(t *testing.T) {
	date := rfcHTTPDate(rfcT0)
	def := Policy{HeuristicMax: 24 * time.Hour, StaleIfError: time.Hour}
	get := RequestFacts{Method: http.MethodGet, Directives: ParseDirectives("")}
	auth := RequestFacts{Method: http.MethodGet, Authorization: true, Directives: ParseDirectives("")}
	type want struct {
		storable  bool
		reason    string
		lifetime  time.Duration
		heuristic bool
		targeted  bool
	}
	stored := func(l time.Duration) want { return want{storable: true, lifetime: l} }
	heur := func(l time.Duration) want { return want{storable: true, lifetime: l, heuristic: true} }
	not := func(reason string) want { return want{reason: reason} }
	tests := []struct {
		name   string
		req    RequestFacts
		status int
		h      http.Header
		p      *Policy // nil: def
		want   want
	}{
		// Freshness lifetime, in order of precedence (RFC 9111 4.2.1).
		{"max-age", get, 200, rfcHeader("Cache-Control", "max-age=60", "Date", date), nil, stored(60 * time.Second)},
		{"s-maxage over max-age (smaller)", get, 200, rfcHeader("Cache-Control", "max-age=60, s-maxage=10", "Date", date), nil, stored(10 * time.Second)},
		{"s-maxage over max-age (larger)", get, 200, rfcHeader("Cache-Control", "s-maxage=100, max-age=10", "Date", date), nil, stored(100 * time.Second)},
		{"max-age over Expires", get, 200, rfcHeader("Cache-Control", "max-age=60", "Date", date, "Expires", rfcHTTPDate(rfcT0.Add(time.Hour))), nil, stored(60 * time.Second)},
		{"s-maxage over Expires", get, 200, rfcHeader("Cache-Control", "s-maxage=5", "Date", date, "Expires", rfcHTTPDate(rfcT0.Add(time.Hour))), nil, stored(5 * time.Second)},
		{"Expires minus Date", get, 200, rfcHeader("Date", date, "Expires", rfcHTTPDate(rfcT0.Add(90*time.Second))), nil, stored(90 * time.Second)},
		{"Expires relative to a Date in the future", get, 200,
			rfcHeader("Date", rfcHTTPDate(rfcT0.Add(240*time.Hour)), "Expires", rfcHTTPDate(rfcT0.Add(240*time.Hour+30*time.Second))), nil, stored(30 * time.Second)},
		{"Expires relative to a Date in the past", get, 200,
			rfcHeader("Date", rfcHTTPDate(rfcT0.Add(-240*time.Hour)), "Expires", rfcHTTPDate(rfcT0.Add(-240*time.Hour+45*time.Second))), nil, stored(45 * time.Second)},
		{"Expires before Date", get, 200, rfcHeader("Date", date, "Expires", rfcHTTPDate(rfcT0.Add(-time.Hour))), nil, stored(0)},
		{"Expires equal to Date", get, 200, rfcHeader("Date", date, "Expires", date), nil, stored(0)},
		{"Expires 0 is invalid, already expired", get, 200, rfcHeader("Date", date, "Expires", "0"), nil, stored(0)},
		{"Expires garbage is invalid", get, 200, rfcHeader("Date", date, "Expires", "tomorrow"), nil, stored(0)},
		{"Expires empty is invalid", get, 200, rfcHeader("Date", date, "Expires", ""), nil, stored(0)},
		{"invalid Expires beats Last-Modified", get, 200,
			rfcHeader("Date", date, "Expires", "-1", "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil, stored(0)},
		{"Expires in RFC 850 format", get, 200, rfcHeader("Date", date, "Expires", rfcT0.Add(2*time.Minute).Format(time.RFC850)), nil, stored(2 * time.Minute)},
		{"max-age=0", get, 200, rfcHeader("Cache-Control", "max-age=0", "Date", date), nil, stored(0)},
		{"invalid max-age is 0", get, 200, rfcHeader("Cache-Control", "max-age=never", "Date", date, "Expires", rfcHTTPDate(rfcT0.Add(time.Hour))), nil, stored(0)},
		{"Cache-Control on two lines", get, 200, rfcHeader("Cache-Control", "public", "Cache-Control", "max-age=60", "Date", date), nil, stored(60 * time.Second)},
		{"duplicate max-age keeps smaller", get, 200, rfcHeader("Cache-Control", "max-age=60", "Cache-Control", "max-age=20", "Date", date), nil, stored(20 * time.Second)},

		// Heuristic freshness (4.2.2): 10% of Date - Last-Modified.
		{"heuristic 200", get, 200, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil, heur(time.Hour)},
		{"heuristic capped at HeuristicMax", get, 200, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-1000*time.Hour))), nil, heur(24 * time.Hour)},
		{"heuristic capped by site policy", get, 200, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))),
			&Policy{HeuristicMax: 30 * time.Minute}, heur(30 * time.Minute)},
		{"heuristic disabled", get, 200, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))),
			&Policy{}, not(ReasonNoFreshness)},
		{"heuristic disabled uses default TTL", get, 200, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))),
			&Policy{DefaultTTL: 7 * time.Second}, heur(7 * time.Second)},
		{"Last-Modified after Date", get, 200, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(time.Hour))), nil, heur(0)},
		{"Last-Modified invalid", get, 200, rfcHeader("Date", date, "Last-Modified", "yesterday"), nil, not(ReasonNoFreshness)},
		{"heuristic not for 201", get, 201, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil, not(ReasonNoFreshness)},
		{"heuristic for public 201", get, 201, rfcHeader("Cache-Control", "public", "Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil, heur(time.Hour)},
		{"201 with max-age", get, 201, rfcHeader("Cache-Control", "max-age=60", "Date", date), nil, stored(time.Minute)},
		{"heuristic for 404", get, 404, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil, heur(time.Hour)},
		{"heuristic not for 302", get, 302, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil, not(ReasonNoFreshness)},
		{"heuristic not for 500", get, 500, rfcHeader("Date", date, "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil, not(ReasonNoFreshness)},
		{"500 with max-age stored", get, 500, rfcHeader("Cache-Control", "max-age=5", "Date", date), nil, stored(5 * time.Second)},

		// Nothing at all: only with the site's default TTL.
		{"no freshness information", get, 200, rfcHeader("Date", date), nil, not(ReasonNoFreshness)},
		{"no freshness, public alone", get, 200, rfcHeader("Cache-Control", "public", "Date", date), nil, not(ReasonNoFreshness)},
		{"no freshness with default TTL", get, 200, rfcHeader("Date", date), &Policy{DefaultTTL: time.Minute, HeuristicMax: time.Hour}, heur(time.Minute)},
		{"default TTL does not beat max-age", get, 200, rfcHeader("Cache-Control", "max-age=5", "Date", date), &Policy{DefaultTTL: time.Minute}, stored(5 * time.Second)},

		// Not stored.
		{"POST", RequestFacts{Method: http.MethodPost, Directives: ParseDirectives("")}, 200, rfcHeader("Cache-Control", "public, max-age=60"), nil, not(ReasonMethod)},
		{"PUT", RequestFacts{Method: http.MethodPut, Directives: ParseDirectives("")}, 200, rfcHeader("Cache-Control", "public, max-age=60"), nil, not(ReasonMethod)},
		{"HEAD stored", RequestFacts{Method: http.MethodHead, Directives: ParseDirectives("")}, 200, rfcHeader("Cache-Control", "max-age=60"), nil, stored(time.Minute)},
		{"206", get, 206, rfcHeader("Cache-Control", "public, max-age=60"), nil, not(ReasonPartial)},
		{"100", get, 100, rfcHeader("Cache-Control", "max-age=60"), nil, not(ReasonStatus)},
		{"304", get, 304, rfcHeader("Cache-Control", "max-age=60"), nil, not(ReasonStatus)},
		{"unknown 299", get, 299, rfcHeader("Cache-Control", "max-age=60"), nil, not(ReasonStatus)},
		{"unknown 999", get, 999, rfcHeader("Cache-Control", "max-age=60"), nil, not(ReasonStatus)},
		{"no-store", get, 200, rfcHeader("Cache-Control", "no-store, max-age=60"), nil, not(ReasonNoStore)},
		{"request no-store", RequestFacts{Method: http.MethodGet, Directives: ParseDirectives("no-store")}, 200, rfcHeader("Cache-Control", "public, max-age=60"), nil, not(ReasonNoStore)},
		{"private", get, 200, rfcHeader("Cache-Control", "private, max-age=60"), nil, not(ReasonPrivate)},
		{"private beats public", get, 200, rfcHeader("Cache-Control", "public, private, max-age=60"), nil, not(ReasonPrivate)},
		{"Authorization", auth, 200, rfcHeader("Cache-Control", "max-age=60"), nil, not(ReasonAuthorization)},
		{"Authorization with proxy-revalidate", auth, 200, rfcHeader("Cache-Control", "max-age=60, proxy-revalidate"), nil, not(ReasonAuthorization)},
		{"Authorization with public", auth, 200, rfcHeader("Cache-Control", "public, max-age=60"), nil, stored(time.Minute)},
		{"Authorization with must-revalidate", auth, 200, rfcHeader("Cache-Control", "must-revalidate, max-age=60"), nil, stored(time.Minute)},
		{"Authorization with s-maxage", auth, 200, rfcHeader("Cache-Control", "s-maxage=60"), nil, stored(time.Minute)},
		{"Authorization with private public", auth, 200, rfcHeader("Cache-Control", "private, public, max-age=60"), nil, not(ReasonPrivate)},
		{"Set-Cookie", get, 200, rfcHeader("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), nil, not(ReasonSetCookie)},
		{"Set-Cookie with public", get, 200, rfcHeader("Cache-Control", "public, max-age=60", "Set-Cookie", "a=b"), nil, not(ReasonSetCookie)},
		{"Vary star", get, 200, rfcHeader("Cache-Control", "max-age=60", "Vary", "*"), nil, not(ReasonVaryStar)},
		{"Vary list with star", get, 200, rfcHeader("Cache-Control", "max-age=60", "Vary", "Accept, *"), nil, not(ReasonVaryStar)},
		{"Vary star on a second line", get, 200, rfcHeader("Cache-Control", "max-age=60", "Vary", "Accept", "Vary", " * "), nil, not(ReasonVaryStar)},
		{"Vary names stored", get, 200, rfcHeader("Cache-Control", "max-age=60", "Vary", "Accept-Language"), nil, stored(time.Minute)},
		{"no-cache is stored", get, 200, rfcHeader("Cache-Control", "no-cache, max-age=60"), nil, stored(time.Minute)},

		// CDN-Cache-Control (RFC 9213) replaces Cache-Control and Expires.
		{"CDN-Cache-Control longer", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "max-age=100", "Date", date), nil,
			want{storable: true, lifetime: 100 * time.Second, targeted: true}},
		{"CDN-Cache-Control shorter", get, 200, rfcHeader("Cache-Control", "max-age=100", "CDN-Cache-Control", "max-age=10", "Date", date), nil,
			want{storable: true, lifetime: 10 * time.Second, targeted: true}},
		{"CDN-Cache-Control no-store", get, 200, rfcHeader("Cache-Control", "public, max-age=100", "CDN-Cache-Control", "no-store"), nil,
			want{reason: ReasonNoStore, targeted: true}},
		{"CDN-Cache-Control private", get, 200, rfcHeader("Cache-Control", "public, max-age=100", "CDN-Cache-Control", "private"), nil,
			want{reason: ReasonPrivate, targeted: true}},
		{"CDN-Cache-Control overrides no-store", get, 200, rfcHeader("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=30"), nil,
			want{storable: true, lifetime: 30 * time.Second, targeted: true}},
		{"CDN-Cache-Control ignores Expires", get, 200,
			rfcHeader("CDN-Cache-Control", "public", "Date", date, "Expires", rfcHTTPDate(rfcT0.Add(2*time.Hour)), "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour))), nil,
			want{storable: true, lifetime: time.Hour, heuristic: true, targeted: true}},
		{"CDN-Cache-Control with parameters", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "max-age=100;foo=1, public"), nil,
			want{storable: true, lifetime: 100 * time.Second, targeted: true}},
		{"CDN-Cache-Control boolean false", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "no-store=?0, max-age=100"), nil,
			want{storable: true, lifetime: 100 * time.Second, targeted: true}},
		{"CDN-Cache-Control boolean true", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "no-store=?1, max-age=100"), nil,
			want{reason: ReasonNoStore, targeted: true}},
		{"CDN-Cache-Control on two lines", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "public", "CDN-Cache-Control", "max-age=100"), nil,
			want{storable: true, lifetime: 100 * time.Second, targeted: true}},
		{"CDN-Cache-Control string value with comma", get, 200,
			rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", `no-cache="set-cookie,x-id", max-age=100`), nil,
			want{storable: true, lifetime: 100 * time.Second, targeted: true}},
		{"CDN-Cache-Control invalid key falls back", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "Max-Age=100"), nil, stored(10 * time.Second)},
		{"CDN-Cache-Control trailing comma falls back", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "max-age=100,"), nil, stored(10 * time.Second)},
		{"CDN-Cache-Control empty falls back", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", ""), nil, stored(10 * time.Second)},
		{"CDN-Cache-Control junk value falls back", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "max-age=100 s"), nil, stored(10 * time.Second)},
		{"CDN-Cache-Control bad item falls back", get, 200, rfcHeader("Cache-Control", "max-age=10", "CDN-Cache-Control", "max-age=@"), nil, stored(10 * time.Second)},
		{"invalid CDN-Cache-Control keeps Expires", get, 200, rfcHeader("CDN-Cache-Control", "max-age=1,,", "Date", date, "Expires", rfcHTTPDate(rfcT0.Add(time.Minute))), nil, stored(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bug, ok := analyzeKnownBugs[tt.name]; ok {
				t.Skip("BUG: " + bug)
			}
			p := tt.p
			if p == nil {
				p = &def
			}
			a := Analyze(tt.req, tt.status, tt.h, p, rfcT0)
			got := want{a.Storable, a.Reason, a.Lifetime, a.Heuristic, a.Targeted}
			if got != tt.want {
				t.Errorf("Analyze(%d, %v) =\n  %+v\nwant\n  %+v", tt.status, tt.h, got, tt.want)
			}
			if a.Storable != (a.Reason == "") {
				t.Errorf("Storable=%v with Reason %q", a.Storable, a.Reason)
			}
		})
	}
}

func TestAnalyzeHeuristicStatuses(t *testing.T) {
	h := func() http.Header {
		return rfcHeader("Date", rfcHTTPDate(rfcT0), "Last-Modified", rfcHTTPDate(rfcT0.Add(-10*time.Hour)))
	}
	p := &Policy{HeuristicMax: 24 * time.Hour}
	get := RequestFacts{Method: http.MethodGet, Directives: ParseDirectives("")}
	for _, code := range []int{200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			a := Analyze(get, code, h(), p, rfcT0)
			if !a.Storable || a.Lifetime != time.Hour || !a.Heuristic {
				t.Errorf("%d: storable=%v reason=%q lifetime=%s heuristic=%v, want heuristically fresh for 1h", code, a.Storable, a.Reason, a.Lifetime, a.Heuristic)
			}
		})
	}
	for _, code := range []int{201, 202, 205, 302, 303, 307, 400, 401, 403, 409, 429, 500, 502, 503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			a := Analyze(get, code, h(), p, rfcT0)
			if a.Storable || a.Reason != ReasonNoFreshness {
				t.Errorf("%d: storable=%v reason=%q, want not stored (%s)", code, a.Storable, a.Reason, ReasonNoFreshness)
			}
			// ... but public makes any of them heuristically cacheable.
			hp := h()
			hp.Set("Cache-Control", "public")
			a = Analyze(get, code, hp, p, rfcT0)
			if !a.Storable || a.Lifetime != time.Hour {
				t.Errorf("public %d: storable=%v reason=%q lifetime=%s, want 1h", code, a.Storable, a.Reason, a.Lifetime)
			}
		})
	}
}

func TestAnalyzeExpiresWithoutDate(t *testing.T) {
	// Without Date, Expires is measured from now (the time of receipt).
	get := RequestFacts{Method: http.MethodGet, Directives: ParseDirectives("")}
	h := rfcHeader("Expires", rfcHTTPDate(rfcT0.Add(time.Hour))) // receipt time is rfcT0
	a := Analyze(get, 200, h, &Policy{}, rfcT0)
	if !a.Storable || a.Lifetime > time.Hour || a.Lifetime < 58*time.Minute {
		t.Errorf("storable=%v lifetime=%s, want about 1h", a.Storable, a.Lifetime)
	}
	if !a.DateValue.IsZero() {
		t.Errorf("DateValue = %s without a Date field", a.DateValue)
	}
}

func TestAnalyzeDateAndAge(t *testing.T) {
	get := RequestFacts{Method: http.MethodGet, Directives: ParseDirectives("")}
	tests := []struct {
		name string
		h    http.Header
		date time.Time
		age  time.Duration
	}{
		{"none", rfcHeader("Cache-Control", "max-age=1"), time.Time{}, 0},
		{"date", rfcHeader("Date", rfcHTTPDate(rfcT0)), rfcT0, 0},
		{"invalid date", rfcHeader("Date", "now"), time.Time{}, 0},
		{"age", rfcHeader("Age", "100"), time.Time{}, 100 * time.Second},
		{"age with spaces", rfcHeader("Age", " 42 "), time.Time{}, 42 * time.Second},
		{"age zero", rfcHeader("Age", "0"), time.Time{}, 0},
		{"age negative", rfcHeader("Age", "-5"), time.Time{}, 0},
		{"age decimal", rfcHeader("Age", "1.5"), time.Time{}, 0},
		{"age letters", rfcHeader("Age", "old"), time.Time{}, 0},
		{"age empty", rfcHeader("Age", ""), time.Time{}, 0},
		{"age overflow", rfcHeader("Age", "99999999999999"), time.Time{}, (1<<31 - 1) * time.Second},
		{"first age line wins", rfcHeader("Age", "7", "Age", "9"), time.Time{}, 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Analyze(get, 200, tt.h, &Policy{}, rfcT0)
			if !a.DateValue.Equal(tt.date) || a.AgeValue != tt.age {
				t.Errorf("DateValue=%s AgeValue=%s, want %s and %s", a.DateValue, a.AgeValue, tt.date, tt.age)
			}
		})
	}
}

func TestAnalyzeVaryAndTags(t *testing.T) {
	get := RequestFacts{Method: http.MethodGet, Directives: ParseDirectives("")}
	many := ""
	var manyWant []string
	for i := range 100 {
		many += fmt.Sprintf("t%03d ", i)
		if i < maxTags {
			manyWant = append(manyWant, fmt.Sprintf("t%03d", i))
		}
	}
	tests := []struct {
		name string
		h    http.Header
		vary []string
		tags []string
	}{
		{"nothing", rfcHeader(), nil, nil},
		{"accept-encoding only", rfcHeader("Vary", "Accept-Encoding"), nil, nil},
		{"accept-encoding left out", rfcHeader("Vary", "accept-encoding, Accept-Language"), []string{"accept-language"}, nil},
		{"lower case sorted deduplicated", rfcHeader("Vary", "User-Agent, Accept", "Vary", "accept,,  X-Device "), []string{"accept", "user-agent", "x-device"}, nil},
		{"surrogate keys", rfcHeader("Surrogate-Key", "  b a\tc  "), nil, []string{"a", "b", "c"}},
		{"cache tags", rfcHeader("Cache-Tag", "x, y,,z "), nil, []string{"x", "y", "z"}},
		{"both deduplicated", rfcHeader("Surrogate-Key", "a b", "Cache-Tag", "b,c", "Cache-Tag", "a"), nil, []string{"a", "b", "c"}},
		{"tags capped", rfcHeader("Surrogate-Key", many), nil, manyWant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.h.Set("Cache-Control", "max-age=60")
			a := Analyze(get, 200, tt.h, &Policy{}, rfcT0)
			if !slices.Equal(a.VaryNames, tt.vary) {
				t.Errorf("VaryNames = %q, want %q", a.VaryNames, tt.vary)
			}
			if !slices.Equal(a.Tags, tt.tags) {
				t.Errorf("Tags = %q, want %q", a.Tags, tt.tags)
			}
			if !a.Storable {
				t.Errorf("not stored: %s", a.Reason)
			}
		})
	}
	// Tags and Vary names are reported for uncacheable responses too.
	a := Analyze(get, 200, rfcHeader("Cache-Control", "private", "Vary", "Cookie", "Cache-Tag", "p"), &Policy{}, rfcT0)
	if a.Storable || !slices.Equal(a.VaryNames, []string{"cookie"}) || !slices.Equal(a.Tags, []string{"p"}) {
		t.Errorf("private: storable=%v vary=%q tags=%q", a.Storable, a.VaryNames, a.Tags)
	}
}

func TestInitialAge(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name      string
		date      time.Time
		age       time.Duration
		req, resp time.Time
		want      time.Duration
	}{
		{"no date no age", time.Time{}, 0, rfcT0, rfcT0, 0},
		{"response delay alone", time.Time{}, 0, rfcT0, rfcT0.Add(2 * sec), 2 * sec},
		{"apparent age", rfcT0, 0, rfcT0.Add(9 * sec), rfcT0.Add(10 * sec), 10 * sec},
		{"age plus delay wins", rfcT0, 100 * sec, rfcT0.Add(8 * sec), rfcT0.Add(10 * sec), 102 * sec},
		{"apparent wins over age", rfcT0, 5 * sec, rfcT0.Add(8 * sec), rfcT0.Add(10 * sec), 10 * sec},
		{"date in the future", rfcT0.Add(time.Hour), 0, rfcT0, rfcT0.Add(sec), sec},
		{"date in the future with age", rfcT0.Add(time.Hour), 30 * sec, rfcT0, rfcT0, 30 * sec},
		{"request after response", time.Time{}, 4 * sec, rfcT0.Add(sec), rfcT0, 4 * sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Analysis{DateValue: tt.date, AgeValue: tt.age}
			if got := a.InitialAge(tt.req, tt.resp); got != tt.want {
				t.Errorf("InitialAge = %s, want %s", got, tt.want)
			}
		})
	}
	// End to end with Analyze: Age: 100 on a response received at once.
	a := Analyze(RequestFacts{Method: "GET", Directives: ParseDirectives("")}, 200,
		rfcHeader("Date", rfcHTTPDate(rfcT0), "Age", "100", "Cache-Control", "max-age=300"), &Policy{}, rfcT0)
	if got := a.InitialAge(rfcT0, rfcT0); got != 100*time.Second {
		t.Errorf("Analyze+InitialAge = %s, want 100s", got)
	}
}

func TestEntryAgeTTL(t *testing.T) {
	e := (&Draft{ResponseTime: rfcT0, CorrectedInitialAge: 10 * time.Second, Lifetime: time.Minute, Directives: ParseDirectives("max-age=60")}).Entry()
	tests := []struct {
		name     string
		now      time.Time
		age, ttl time.Duration
	}{
		{"at receipt", rfcT0, 10 * time.Second, 50 * time.Second},
		{"clock before receipt", rfcT0.Add(-time.Hour), 10 * time.Second, 50 * time.Second},
		{"later", rfcT0.Add(20 * time.Second), 30 * time.Second, 30 * time.Second},
		{"expiry", rfcT0.Add(50 * time.Second), time.Minute, 0},
		{"stale", rfcT0.Add(80 * time.Second), 90 * time.Second, -30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.Age(tt.now); got != tt.age {
				t.Errorf("Age = %s, want %s", got, tt.age)
			}
			if got := e.TTL(tt.now); got != tt.ttl {
				t.Errorf("TTL = %s, want %s", got, tt.ttl)
			}
		})
	}
}

func TestStoreTTL(t *testing.T) {
	now := rfcT0.Add(20 * time.Second) // age 30s: 30s of freshness left
	tests := []struct {
		name string
		cc   string
		sie  time.Duration
		etag string
		lm   string
		keep time.Duration
		want time.Duration
	}{
		{"fresh only", "max-age=60", 0, "", "", time.Hour, 30 * time.Second},
		{"plus stale-if-error", "max-age=60", time.Hour, "", "", 0, 30*time.Second + time.Hour},
		{"plus stale-while-revalidate", "max-age=60, stale-while-revalidate=600", 0, "", "", 0, 30*time.Second + 10*time.Minute},
		{"longest stale window", "max-age=60, stale-while-revalidate=600", 20 * time.Minute, "", "", 0, 30*time.Second + 20*time.Minute},
		{"stale-while-revalidate over stale-if-error", "max-age=60, stale-while-revalidate=7200", time.Hour, "", "", 0, 30*time.Second + 2*time.Hour},
		{"keep with ETag", "max-age=60", time.Minute, `"x"`, "", 2 * time.Hour, 30*time.Second + 2*time.Hour},
		{"keep with Last-Modified", "max-age=60", 0, "", rfcHTTPDate(rfcT0), time.Hour, 30*time.Second + time.Hour},
		{"keep shorter than stale window", "max-age=60", 3 * time.Hour, `"x"`, "", time.Hour, 30*time.Second + 3*time.Hour},
		{"keep ignored without validator", "max-age=60", 0, "", "", 5 * time.Hour, 30 * time.Second},
		{"must-revalidate drops stale windows", "max-age=60, must-revalidate, stale-while-revalidate=600", time.Hour, "", "", time.Hour, 30 * time.Second},
		{"proxy-revalidate drops stale windows", "max-age=60, proxy-revalidate", time.Hour, "", "", 0, 30 * time.Second},
		{"s-maxage drops stale windows", "s-maxage=60, stale-while-revalidate=600", time.Hour, "", "", 0, 30 * time.Second},
		{"must-revalidate keeps keep", "max-age=60, must-revalidate", time.Hour, `"x"`, "", 2 * time.Hour, 30*time.Second + 2*time.Hour},
		{"already stale", "max-age=10", time.Minute, "", "", 0, -20*time.Second + time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ParseDirectives(tt.cc)
			life := time.Duration(d.MaxAge) * time.Second
			if d.SMaxAge != NoValue {
				life = time.Duration(d.SMaxAge) * time.Second
			}
			e := (&Draft{ResponseTime: rfcT0, CorrectedInitialAge: 10 * time.Second, Lifetime: life, Directives: d,
				StaleIfError: tt.sie, ETag: tt.etag, LastModified: tt.lm}).Entry()
			if got := e.StoreTTL(now, tt.keep); got != tt.want {
				t.Errorf("StoreTTL = %s, want %s", got, tt.want)
			}
		})
	}
}
