package h1

import (
	"strings"
	"testing"
)

func parseString(t testing.TB, s string) (*Request, *parseError) {
	t.Helper()
	b := []byte(s)
	end, _ := findHeaderEnd(b, 0)
	if end < 0 {
		t.Fatalf("no header end in %q", s)
	}
	r := &Request{}
	lim := &limits{maxURI: DefaultMaxURIBytes, maxFields: DefaultMaxHeaderFields, maxHeader: DefaultMaxHeaderBytes}
	return r, parseRequest(b[:end], r, nil, lim)
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		status    int // 0: accepted
		reason    string
		method    string
		target    string
		path      string
		query     string
		host      string
		clen      int64
		close     bool
		continue_ bool
	}{
		{name: "simple get", in: "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
			method: "GET", target: "/a?b=1", path: "/a", query: "b=1", host: "example.com"},
		{name: "bare LF line endings", in: "GET / HTTP/1.1\nHost: h\n\n",
			method: "GET", target: "/", path: "/", host: "h"},
		{name: "host with port", in: "GET / HTTP/1.1\r\nHost: h.example:8080\r\n\r\n",
			method: "GET", target: "/", path: "/", host: "h.example:8080"},
		{name: "ipv6 host", in: "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
			method: "GET", target: "/", path: "/", host: "[::1]:80"},
		{name: "absolute form overrides host", in: "GET http://other.example/x?y HTTP/1.1\r\nHost: h\r\n\r\n",
			method: "GET", target: "/x?y", path: "/x", query: "y", host: "other.example"},
		{name: "absolute form without path", in: "GET http://other.example HTTP/1.1\r\nHost: h\r\n\r\n",
			method: "GET", target: "/", path: "/", host: "other.example"},
		{name: "options asterisk", in: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
			method: "OPTIONS", target: "*", path: "*", host: "h"},
		{name: "http/1.0 without host closes", in: "GET / HTTP/1.0\r\n\r\n",
			method: "GET", target: "/", path: "/", close: true},
		{name: "http/1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			method: "GET", target: "/", path: "/"},
		{name: "connection close", in: "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n",
			method: "GET", target: "/", path: "/", host: "h", close: true},
		{name: "content length", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n",
			method: "POST", target: "/", path: "/", host: "h", clen: 12},
		{name: "repeated equal content length", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n",
			method: "POST", target: "/", path: "/", host: "h", clen: 5},
		{name: "chunked", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n",
			method: "POST", target: "/", path: "/", host: "h", clen: -1},
		{name: "expect continue", in: "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
			method: "PUT", target: "/", path: "/", host: "h", clen: 1, continue_: true},
		{name: "unknown method passes", in: "FOO / HTTP/1.1\r\nHost: h\r\n\r\n",
			method: "FOO", target: "/", path: "/", host: "h"},
		{name: "empty value", in: "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n",
			method: "GET", target: "/", path: "/", host: "h"},

		{name: "missing host", in: "GET / HTTP/1.1\r\n\r\n", status: 400, reason: ReasonHost},
		{name: "two hosts", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, reason: ReasonHost},
		{name: "empty host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n", status: 400, reason: ReasonHost},
		{name: "host with slash", in: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400, reason: ReasonHost},
		{name: "host bad port", in: "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", status: 400, reason: ReasonHost},
		{name: "absolute with userinfo", in: "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonTarget},
		{name: "absolute other scheme", in: "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonTarget},
		{name: "relative target", in: "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonTarget},
		{name: "asterisk with get", in: "GET * HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonTarget},
		{name: "connect", in: "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", status: 501, reason: ReasonMethod},
		{name: "http/2.0", in: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", status: 505, reason: ReasonVersion},
		{name: "garbage version", in: "GET / HTTX/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonVersion},
		{name: "lowercase version", in: "GET / http/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonVersion},
		{name: "double space", in: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonRequestLine},
		{name: "no version", in: "GET /\r\nHost: h\r\n\r\n", status: 400, reason: ReasonRequestLine},
		{name: "method with slash", in: "G/T / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonMethod},
		{name: "control byte in target", in: "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", status: 400, reason: ReasonTarget},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : h\r\n\r\n", status: 400, reason: ReasonHeader},
		{name: "no colon", in: "GET / HTTP/1.1\r\nHost h\r\n\r\n", status: 400, reason: ReasonHeader},
		{name: "obs fold", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", status: 400, reason: ReasonHeader},
		{name: "bare CR in value", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", status: 400, reason: ReasonHeader},
		{name: "NUL in value", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", status: 400, reason: ReasonHeader},
		{name: "conflicting lengths", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400, reason: ReasonLength},
		{name: "length list differs", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", status: 400, reason: ReasonLength},
		{name: "negative length", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", status: 400, reason: ReasonLength},
		{name: "plus length", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", status: 400, reason: ReasonLength},
		{name: "huge length", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", status: 400, reason: ReasonLength},
		{name: "length and chunked", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, reason: ReasonTE},
		{name: "gzip transfer coding", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501, reason: ReasonTE},
		{name: "two transfer encodings", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501, reason: ReasonTE},
		{name: "chunked in http/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, reason: ReasonTE},
		{name: "other expectation", in: "GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", status: 417, reason: ReasonExpect},
		{name: "uri too long", in: "GET /" + strings.Repeat("a", DefaultMaxURIBytes) + " HTTP/1.1\r\nHost: h\r\n\r\n", status: 414, reason: ReasonURITooLong},
		{name: "too many fields", in: "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X: y\r\n", DefaultMaxHeaderFields) + "\r\n", status: 431, reason: ReasonHeaderTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, pe := parseString(t, tt.in)
			if tt.status != 0 {
				if pe == nil {
					t.Fatalf("accepted, want %d %s", tt.status, tt.reason)
				}
				if pe.status != tt.status || pe.reason != tt.reason {
					t.Fatalf("got %d %s (%s), want %d %s", pe.status, pe.reason, pe.msg, tt.status, tt.reason)
				}
				return
			}
			if pe != nil {
				t.Fatalf("rejected: %d %s (%s)", pe.status, pe.reason, pe.msg)
			}
			if r.Method != tt.method || r.Target != tt.target || r.Path != tt.path || r.Query != tt.query || r.Host != tt.host {
				t.Errorf("got method=%q target=%q path=%q query=%q host=%q", r.Method, r.Target, r.Path, r.Query, r.Host)
			}
			if r.ContentLength != tt.clen {
				t.Errorf("content length %d, want %d", r.ContentLength, tt.clen)
			}
			if r.Close != tt.close {
				t.Errorf("close %v, want %v", r.Close, tt.close)
			}
			if r.ExpectContinue != tt.continue_ {
				t.Errorf("expect continue %v, want %v", r.ExpectContinue, tt.continue_)
			}
		})
	}
}

func TestHeaderLookup(t *testing.T) {
	r, pe := parseString(t, "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding:  gzip, br \t\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
	if pe != nil {
		t.Fatal(pe)
	}
	if got := r.Header.Get("accept-encoding"); got != "gzip, br" {
		t.Errorf("Get = %q", got)
	}
	var all []string
	r.Header.Values("X-A", func(v string) { all = append(all, v) })
	if strings.Join(all, ",") != "1,2" {
		t.Errorf("Values = %v", all)
	}
	if r.Header.Has("X-Missing") {
		t.Error("Has(X-Missing)")
	}
}

func TestEqualFold(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"Host", "host", true}, {"HOST", "host", true}, {"Hosts", "host", false},
		{"", "", true}, {"a-b", "A-B", true}, {"[", "{", false},
	} {
		if got := EqualFold(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
