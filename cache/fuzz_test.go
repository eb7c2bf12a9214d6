package cache

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// fuzzRenderDirectives writes d back as a Cache-Control value (the slow,
// obvious way). DirInvalid has no rendering: an invalid value was already
// taken as 0.
func fuzzRenderDirectives(d Directives) string {
	var parts []string
	flags := []struct {
		f    uint32
		name string
	}{
		{DirNoCache, "no-cache"}, {DirNoStore, "no-store"}, {DirPrivate, "private"}, {DirPublic, "public"},
		{DirMustRevalidate, "must-revalidate"}, {DirProxyRevalidate, "proxy-revalidate"},
		{DirNoTransform, "no-transform"}, {DirMustUnderstand, "must-understand"}, {DirImmutable, "immutable"},
		{DirOnlyIfCached, "only-if-cached"}, {DirMaxStaleAny, "max-stale"},
	}
	for _, f := range flags {
		if d.Flags&f.f != 0 {
			parts = append(parts, f.name)
		}
	}
	nums := []struct {
		v    int32
		name string
	}{
		{d.MaxAge, "max-age"}, {d.SMaxAge, "s-maxage"}, {d.MaxStale, "max-stale"},
		{d.MinFresh, "min-fresh"}, {d.SWR, "stale-while-revalidate"}, {d.SIE, "stale-if-error"},
	}
	for _, n := range nums {
		if n.v != NoValue {
			parts = append(parts, n.name+"="+strconv.Itoa(int(n.v)))
		}
	}
	return strings.Join(parts, ", ")
}

// Crashers and interesting inputs found while fuzzing become rows here
// (none so far) and seeds below.
var fuzzDirectiveSeeds = []string{
	"",
	"public, max-age=60",
	`no-cache="Set-Cookie, X", max-age=5`,
	`private="a\"b,c", s-maxage=7`,
	`max-age="60`,
	"max-age=99999999999999999999, s-maxage=2147483648",
	"max-stale, max-stale=5, min-fresh=x",
	"MAX-AGE = 1 ,, stale-while-revalidate=2,stale-if-error=3",
	"\"\\",
	"=,=,\"=",
	"max-age=\"\\",
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range fuzzDirectiveSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseDirectives(s)
		for _, v := range []int32{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh, d.SWR, d.SIE} {
			if v != NoValue && (v < 0 || v > 1<<31-1) {
				t.Fatalf("ParseDirectives(%q): numeric field %d out of range (%+v)", s, v, d)
			}
		}
		// Parsing a rendering of the result gives the result back.
		r := fuzzRenderDirectives(d)
		d2 := ParseDirectives(r)
		want := d
		want.Flags &^= DirInvalid
		if d2 != want {
			t.Fatalf("ParseDirectives(%q) = %+v\nrendered %q\nparses as %+v", s, d, r, d2)
		}
		if d2.Has(DirInvalid) {
			t.Fatalf("rendering %q is invalid", r)
		}
		// Rendering is a fixed point.
		if r2 := fuzzRenderDirectives(d2); r2 != r {
			t.Fatalf("render not stable: %q then %q", r, r2)
		}
		if d.Empty() != (r == "") {
			t.Fatalf("Empty() = %v but rendered %q", d.Empty(), r)
		}
		// Splitting the input into lines at a comma outside quotes is
		// the same as one joined line (Add merges).
		if i := strings.IndexByte(s, ','); i >= 0 && !strings.ContainsRune(s[:i], '"') {
			d3 := ParseDirectives(s[:i])
			d3.Add(s[i+1:])
			if d3 != d {
				t.Fatalf("split at %d: %+v, joined: %+v", i, d3, d)
			}
		}
	})
}

// fuzzHostOK reports whether host is one the HTTP parser would pass to
// AppendKey (non-empty, host characters only; see edge/internal/h1).
func fuzzHostOK(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(isUnreserved(c) || strings.IndexByte("!$&'()*+,;=%:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// fuzzURIByte reports whether c may appear in a URI (RFC 3986 2: unreserved,
// reserved and '%').
func fuzzURIByte(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":/?#[]@!$&'()*+,;=%", c) >= 0
}

// fuzzFlipHexCase swaps the letter case of the hex digits of every
// percent-escape in s, as the normaliser reads them (left to right).
func fuzzFlipHexCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		if b[i] != '%' {
			continue
		}
		for j := i + 1; j <= i+2 && j < len(b); j++ {
			switch c := b[j]; {
			case 'a' <= c && c <= 'f':
				b[j] = c - 'a' + 'A'
			case 'A' <= c && c <= 'F':
				b[j] = c - 'A' + 'a'
			}
		}
		i += 2
	}
	return string(b)
}

// fuzzSplitTarget splits a normalised target at its first '?'.
func fuzzSplitTarget(t string) (path, query string, hasQuery bool) {
	path, query, hasQuery = strings.Cut(t, "?")
	return
}

var fuzzKeySeeds = []struct {
	host, path, query string
	hasQuery          bool
}{
	{"example.com", "/", "", false},
	{"Example.COM.:80", "/a/b/../c", "b=2&a=1", true},
	{"[::1]:443", "/%7e%2f%C3%a9", "", true},
	{"h", "/./", "q=%2e%2E", true},
	{"h", "/..", "", false},
	{"h", "/a/.", "", false},
	{"h", "/a%2e%2E/%2E", "", false},
	{"h", "/a b\"é", "x y", true},
	{"h", "/a%", "", false},
	{"h", "/a#b", "", false},
	{"h", "*", "", false},
	{"h", "//../a", "", false},
	{"h", "/.%2e/a", "", false},
}

func FuzzAppendKey(f *testing.F) {
	for _, s := range fuzzKeySeeds {
		f.Add(s.host, s.path, s.query, s.hasQuery, false)
	}
	f.Fuzz(func(t *testing.T, host, path, query string, hasQuery, https bool) {
		scheme := "http"
		if https {
			scheme = "https"
		}
		if !fuzzHostOK(host) {
			host = "example.com"
		}
		key, err := AppendKey(nil, scheme, host, path, query, hasQuery)
		target, terr := AppendTarget(nil, path, query, hasQuery)
		if (err == nil) != (terr == nil) {
			t.Fatalf("AppendKey err %v, AppendTarget err %v", err, terr)
		}
		// Inputs differing only in the hex case of escapes share a key.
		fkey, ferr := AppendKey(nil, scheme, host, fuzzFlipHexCase(path), fuzzFlipHexCase(query), hasQuery)
		if (err == nil) != (ferr == nil) || !bytes.Equal(key, fkey) && err == nil {
			t.Fatalf("hex case changes the key: %q (%v) vs %q (%v)", key, err, fkey, ferr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadTarget) {
				t.Fatalf("error %v is not ErrBadTarget", err)
			}
			return
		}
		for i, c := range key {
			if !fuzzURIByte(c) || c == '#' {
				t.Fatalf("key %q has byte %#x at %d outside the URI charset", key, c, i)
			}
		}
		// In the target (the host is the parser's business), every escape
		// is well-formed, upper case and not of an unreserved byte.
		for i, c := range target {
			if c != '%' {
				continue
			}
			if i+2 >= len(target) || !fuzzIsUpperHex(target[i+1]) || !fuzzIsUpperHex(target[i+2]) {
				t.Fatalf("target %q has a malformed escape at %d", target, i)
			}
			hi, _ := unhex(target[i+1])
			lo, _ := unhex(target[i+2])
			if isUnreserved(hi<<4 | lo) {
				t.Fatalf("target %q keeps an escaped unreserved byte at %d", target, i)
			}
		}
		if !bytes.HasSuffix(key, target) {
			t.Fatalf("key %q does not end with the target %q", key, target)
		}
		if string(target) != "*" && (len(target) == 0 || target[0] != '/') {
			t.Fatalf("target %q does not start with /", target)
		}
		p, _, _ := fuzzSplitTarget(string(target))
		if needsDotRemoval([]byte(p)) {
			t.Fatalf("target %q still has dot segments", target)
		}
		// Normalising the normalised target changes nothing.
		p, q, hq := fuzzSplitTarget(string(target))
		again, err := AppendTarget(nil, p, q, hq)
		if err != nil || !bytes.Equal(again, target) {
			t.Fatalf("AppendTarget(AppendTarget(%q, %q, %v) = %q) = %q, %v", path, query, hasQuery, target, again, err)
		}
	})
}

func fuzzIsUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }
