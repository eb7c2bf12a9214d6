package cache

import (
	"errors"
	"testing"
)

func TestAppendKey(t *testing.T) {
	const bad = "<ErrBadTarget>"
	tests := []struct {
		name               string
		scheme, host, path string
		query              string
		hasQuery           bool
		want               string
	}{
		// Scheme and host.
		{"plain", "http", "example.com", "/a", "", false, "http://example.com/a"},
		{"host case", "http", "Example.COM", "/a", "", false, "http://example.com/a"},
		{"scheme case", "HTTP", "example.com", "/a", "", false, "http://example.com/a"},
		{"http default port", "http", "example.com:80", "/", "", false, "http://example.com/"},
		{"https default port", "https", "example.com:443", "/", "", false, "https://example.com/"},
		{"upper scheme default port", "HTTPS", "EXAMPLE.com:443", "/", "", false, "https://example.com/"},
		{"443 is not http's default", "http", "example.com:443", "/", "", false, "http://example.com:443/"},
		{"80 is not https's default", "https", "example.com:80", "/", "", false, "https://example.com:80/"},
		{"other port kept", "http", "example.com:8080", "/", "", false, "http://example.com:8080/"},
		{"empty port", "http", "example.com:", "/", "", false, "http://example.com/"},
		{"trailing dot", "http", "example.com.", "/", "", false, "http://example.com/"},
		{"trailing dot and default port", "http", "Example.COM.:80", "/", "", false, "http://example.com/"},
		{"trailing dot and other port", "http", "example.com.:8080", "/", "", false, "http://example.com:8080/"},
		{"ipv4", "http", "127.0.0.1:80", "/", "", false, "http://127.0.0.1/"},
		{"ipv6", "http", "[FE80::1]", "/", "", false, "http://[fe80::1]/"},
		{"ipv6 default port", "http", "[::1]:80", "/", "", false, "http://[::1]/"},
		{"ipv6 other port", "https", "[::1]:8443", "/", "", false, "https://[::1]:8443/"},

		// Percent-encoding.
		{"unreserved decoded", "http", "h", "/%7e%41%2d%5F%30%7A", "", false, "http://h/~A-_0z"},
		{"reserved kept, hex upper-cased", "http", "h", "/a%2fb%3a%3F%23%25", "", false, "http://h/a%2Fb%3A%3F%23%25"},
		{"upper-case hex kept", "http", "h", "/%2F%C3%A9", "", false, "http://h/%2F%C3%A9"},
		{"no double decoding", "http", "h", "/%2541", "", false, "http://h/%2541"},
		{"encoded percent stays", "http", "h", "/100%25", "", false, "http://h/100%25"},
		{"space encoded", "http", "h", "/a b", "", false, "http://h/a%20b"},
		{"non-ASCII encoded", "http", "h", "/é", "", false, "http://h/%C3%A9"},
		{"non-ASCII and decoded form agree", "http", "h", "/%c3%a9", "", false, "http://h/%C3%A9"},
		{"double quote encoded", "http", "h", `/"x"`, "", false, "http://h/%22x%22"},
		{"unsafe characters encoded", "http", "h", "/<>\\^{|}`", "", false, "http://h/%3C%3E%5C%5E%7B%7C%7D%60"},
		{"controls encoded", "http", "h", "/\x00\x1f\x7f", "", false, "http://h/%00%1F%7F"},
		{"sub-delims kept", "http", "h", "/!$&'()*+,;=:@", "", false, "http://h/!$&'()*+,;=:@"},

		// Dot segments (RFC 3986 5.2.4).
		{"dot-dot", "http", "h", "/a/b/../c", "", false, "http://h/a/c"},
		{"dot", "http", "h", "/a/./b", "", false, "http://h/a/b"},
		{"slash dot slash", "http", "h", "/./", "", false, "http://h/"},
		{"dot-dot at root", "http", "h", "/..", "", false, "http://h/"},
		{"dot-dot above root", "http", "h", "/../../a", "", false, "http://h/a"},
		{"trailing dot", "http", "h", "/a/.", "", false, "http://h/a/"},
		{"trailing dot-dot", "http", "h", "/a/b/..", "", false, "http://h/a/"},
		{"lone dot", "http", "h", "/.", "", false, "http://h/"},
		{"encoded dots", "http", "h", "/a/%2e%2E/b", "", false, "http://h/b"},
		{"encoded dot", "http", "h", "/a/%2E/b", "", false, "http://h/a/b"},
		{"dots in names kept", "http", "h", "/a/..b/c./.d/...", "", false, "http://h/a/..b/c./.d/..."},
		{"empty segments kept", "http", "h", "//a//b/", "", false, "http://h//a//b/"},
		{"empty segment then dot-dot", "http", "h", "/a//../b", "", false, "http://h/a/b"},
		{"dot segments not in query", "http", "h", "/a/./b", "x=/../y", true, "http://h/a/b?x=/../y"},

		// Query.
		{"query order kept", "http", "h", "/p", "b=2&a=1&b=1", true, "http://h/p?b=2&a=1&b=1"},
		{"empty query kept", "http", "h", "/p", "", true, "http://h/p?"},
		{"no query", "http", "h", "/p", "", false, "http://h/p"},
		{"query normalised", "http", "h", "/p", "q=%7e%2f%2B", true, "http://h/p?q=~%2F%2B"},
		{"query space and quotes encoded", "http", "h", "/p", `q=a b"`, true, "http://h/p?q=a%20b%22"},
		{"query may hold ? and /", "http", "h", "/p", "a=?/b?", true, "http://h/p?a=?/b?"},
		{"query plus kept", "http", "h", "/p", "a=b+c", true, "http://h/p?a=b+c"},

		// Errors.
		{"empty path", "http", "h", "", "", false, bad},
		{"relative path", "http", "h", "a/b", "", false, bad},
		{"lone percent", "http", "h", "/a%", "", false, bad},
		{"percent one digit", "http", "h", "/a%4", "", false, bad},
		{"percent non-hex", "http", "h", "/a%zz", "", false, bad},
		{"percent half hex", "http", "h", "/a%4g/b", "", false, bad},
		{"percent percent", "http", "h", "/%%41", "", false, bad},
		{"fragment in path", "http", "h", "/a#b", "", false, bad},
		{"fragment in query", "http", "h", "/a", "b#c", true, bad},
		{"malformed percent in query", "http", "h", "/a", "q=%", true, bad},
		{"malformed percent in query 2", "http", "h", "/a", "q=%2", true, bad},
		{"question mark in path", "http", "h", "/a?b", "", false, bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendKey(nil, tt.scheme, tt.host, tt.path, tt.query, tt.hasQuery)
			if tt.want == bad {
				if !errors.Is(err, ErrBadTarget) {
					t.Errorf("AppendKey(%q, %q, %q, %v) = %q, %v; want ErrBadTarget", tt.host, tt.path, tt.query, tt.hasQuery, got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("AppendKey(%q, %q, %q, %v) = %q, %v; want %q", tt.host, tt.path, tt.query, tt.hasQuery, got, err, tt.want)
			}
			// Appends to dst.
			got2, err := AppendKey([]byte("prefix:"), tt.scheme, tt.host, tt.path, tt.query, tt.hasQuery)
			if err != nil || string(got2) != "prefix:"+tt.want {
				t.Errorf("with prefix: %q, %v", got2, err)
			}
		})
	}
}

func TestAppendTargetAsterisk(t *testing.T) {
	got, err := AppendTarget(nil, "*", "", false)
	if err != nil || string(got) != "*" {
		t.Errorf("AppendTarget(*) = %q, %v", got, err)
	}
	if _, err := AppendTarget(nil, "*", "a", true); !errors.Is(err, ErrBadTarget) {
		t.Errorf("AppendTarget(*?a) err = %v, want ErrBadTarget", err)
	}
}

// TestAppendKeyEquivalentURLs checks that URLs that differ only in ways
// RFC 3986 6.2.2 calls equivalent share a key, and a URL prefix stays a
// key prefix.
func TestAppendKeyEquivalentURLs(t *testing.T) {
	groups := [][]struct{ host, path string }{
		{{"example.com", "/a/b"}, {"EXAMPLE.COM:80", "/a/./b"}, {"example.com.", "/a/c/../b"}, {"Example.com", "/%61/%62"}},
		{{"h", "/%2f"}, {"h", "/%2F"}},
		{{"h", "/%C3%A9"}, {"h", "/%c3%a9"}, {"h", "/é"}},
	}
	for _, g := range groups {
		first, err := AppendKey(nil, "http", g[0].host, g[0].path, "", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range g[1:] {
			k, err := AppendKey(nil, "http", u.host, u.path, "", false)
			if err != nil || string(k) != string(first) {
				t.Errorf("key(%s%s) = %q, %v; want %q", u.host, u.path, k, err, first)
			}
		}
	}
	// Distinct resources keep distinct keys.
	a, _ := AppendKey(nil, "http", "h", "/a%2Fb", "", false)
	b, _ := AppendKey(nil, "http", "h", "/a/b", "", false)
	if string(a) == string(b) {
		t.Errorf("%%2F and / share key %q", a)
	}
	c, _ := AppendKey(nil, "http", "h", "/p", "", true)
	d, _ := AppendKey(nil, "http", "h", "/p", "", false)
	if string(c) == string(d) {
		t.Errorf("/p? and /p share key %q", c)
	}
}
