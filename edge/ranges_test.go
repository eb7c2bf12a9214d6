package edge

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseRanges(t *testing.T) {
	type br = byteRange
	tests := []struct {
		name string
		v    string
		size int64
		want []byteRange
		ok   bool // false: ignore the field (200 with everything)
	}{
		// RFC 9110 14.1.2 examples, 10000-byte representation.
		{"first 500", "bytes=0-499", 10000, []br{{0, 499}}, true},
		{"second 500", "bytes=500-999", 10000, []br{{500, 999}}, true},
		{"final 500 suffix", "bytes=-500", 10000, []br{{9500, 9999}}, true},
		{"final 500 open", "bytes=9500-", 10000, []br{{9500, 9999}}, true},
		{"first and last", "bytes=0-0,-1", 10000, []br{{0, 0}, {9999, 9999}}, true},
		{"second 500 adjacent", "bytes=500-600,601-999", 10000, []br{{500, 999}}, true},
		{"second 500 overlapping", "bytes=500-700,601-999", 10000, []br{{500, 999}}, true},

		// Satisfiable edge cases (RFC 9110 14.1.1, 14.1.2).
		{"last pos clamped", "bytes=9000-20000", 10000, []br{{9000, 9999}}, true},
		{"suffix longer than size", "bytes=-20000", 10000, []br{{0, 9999}}, true},
		{"suffix equal to size", "bytes=-10000", 10000, []br{{0, 9999}}, true},
		{"whole", "bytes=0-", 10000, []br{{0, 9999}}, true},
		{"last byte", "bytes=9999-9999", 10000, []br{{9999, 9999}}, true},
		{"one byte body", "bytes=0-0", 1, []br{{0, 0}}, true},
		{"unit case-insensitive", "BYTES=1-2", 10, []br{{1, 2}}, true},
		{"whitespace around commas", "bytes=1-2 , 5-6", 10, []br{{1, 2}, {5, 6}}, true},
		{"empty list elements", "bytes=,1-2,,", 10, []br{{1, 2}}, true},
		{"sorted", "bytes=8-9,0-1,4-5", 10, []br{{0, 1}, {4, 5}, {8, 9}}, true},
		{"contained", "bytes=0-9,2-3", 10, []br{{0, 9}}, true},
		{"suffix merges with open", "bytes=-3,5-", 10, []br{{5, 9}}, true},
		{"suffix and prefix adjacent", "bytes=0-4,-5", 10, []br{{0, 9}}, true},
		{"unsatisfiable dropped", "bytes=20-30,2-3", 10, []br{{2, 3}}, true},
		{"leading zeros", "bytes=007-008", 10, []br{{7, 8}}, true},

		// Unsatisfiable (416): ok, no ranges.
		{"first pos at size", "bytes=10000-", 10000, nil, true},
		{"first pos past size", "bytes=20000-30000", 10000, nil, true},
		{"suffix zero", "bytes=-0", 10000, nil, true},
		{"empty body", "bytes=0-", 0, nil, true},
		{"empty body suffix", "bytes=-5", 0, nil, true},
		{"all unsatisfiable", "bytes=10-,-0,11-12", 10, nil, true},

		// Ignored (invalid, RFC 9110 14.1.1 / 14.2).
		{"last before first", "bytes=5-2", 10, nil, false},
		{"no dash", "bytes=5", 10, nil, false},
		{"empty set", "bytes=", 10, nil, false},
		{"only commas", "bytes=,,", 10, nil, false},
		{"other unit", "items=0-1", 10, nil, false},
		{"no unit", "0-1", 10, nil, false},
		{"junk", "bytes=a-b", 10, nil, false},
		{"plus sign", "bytes=+1-2", 10, nil, false},
		{"negative first", "bytes=-1-2", 10, nil, false},
		{"hex", "bytes=0x1-2", 10, nil, false},
		{"double dash", "bytes=1--2", 10, nil, false},
		{"one bad among good", "bytes=0-1,x-2", 10, nil, false},
		{"spaces inside number", "bytes=1 0-20", 100, nil, false},
		{"dash only", "bytes=-", 10, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRanges(tc.v, tc.size)
			if ok != tc.ok {
				t.Fatalf("parseRanges(%q, %d): ok=%v, want %v (ranges %v)", tc.v, tc.size, ok, tc.ok, got)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("parseRanges(%q, %d) = %v, want %v", tc.v, tc.size, got, tc.want)
			}
		})
	}
}

func TestParseRangesLimit(t *testing.T) {
	specs := func(n int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("%d-%d", i*10, i*10+1))
		}
		return "bytes=" + strings.Join(s, ",")
	}
	rs, ok := parseRanges(specs(maxRanges), 10000)
	if !ok || len(rs) != maxRanges {
		t.Errorf("%d ranges: ok=%v, %d ranges", maxRanges, ok, len(rs))
	}
	if _, ok := parseRanges(specs(maxRanges+1), 10000); ok {
		t.Errorf("%d ranges accepted; more than maxRanges must be ignored", maxRanges+1)
	}
	// Many overlapping ranges of the whole body: never more than one part.
	rs, ok = parseRanges("bytes="+strings.Repeat("0-,", maxRanges-1)+"0-", 10000)
	if !ok || !slices.Equal(rs, []byteRange{{0, 9999}}) {
		t.Errorf("overlapping: %v %v", rs, ok)
	}
	// Empty list elements do not count against the limit.
	rs, ok = parseRanges("bytes="+strings.Repeat(",", 100)+"0-1", 10)
	if !ok || len(rs) != 1 {
		t.Errorf("empty elements: %v %v", rs, ok)
	}
}

// FuzzParseRanges checks the invariants of an accepted range set: within
// the representation, sorted, neither overlapping nor adjacent, at most
// maxRanges, and covering exactly the bytes the specs ask for.
func FuzzParseRanges(f *testing.F) {
	for _, s := range []string{"bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1", "bytes=500-600,601-999",
		"bytes=500-700,601-999", "bytes=5-2", "bytes=,,", "bytes=-0", "items=1-2", "bytes=0-,0-,0-"} {
		f.Add(s, int64(10000))
		f.Add(s, int64(0))
		f.Add(s, int64(1))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size < 0 || size > 1<<40 {
			return
		}
		rs, ok := parseRanges(v, size)
		if !ok {
			if rs != nil {
				t.Fatalf("%q: ignored, yet ranges %v", v, rs)
			}
			return
		}
		if len(rs) > maxRanges {
			t.Fatalf("%q: %d ranges", v, len(rs))
		}
		for i, r := range rs {
			if r.start < 0 || r.end < r.start || r.end >= size {
				t.Fatalf("%q size %d: bad range %v", v, size, r)
			}
			if i > 0 && r.start <= rs[i-1].end+1 {
				t.Fatalf("%q: ranges %v and %v overlap or touch", v, rs[i-1], r)
			}
		}
		// Reference: mark the bytes each spec selects (small sizes only).
		if size > 4096 {
			return
		}
		want := make([]bool, size)
		_, set, _ := strings.Cut(v, "=")
		for _, spec := range strings.Split(set, ",") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			a, b, _ := strings.Cut(spec, "-")
			a, b = strings.TrimSpace(a), strings.TrimSpace(b)
			var first, last int64
			if a == "" {
				n, _ := strconv.ParseInt(b, 10, 64)
				first, last = max(size-n, 0), size-1
				if n == 0 {
					continue
				}
			} else {
				first, _ = strconv.ParseInt(a, 10, 64)
				last = size - 1
				if b != "" {
					last, _ = strconv.ParseInt(b, 10, 64)
					last = min(last, size-1)
				}
			}
			for i := first; i <= last && i < size; i++ {
				want[i] = true
			}
		}
		got := make([]bool, size)
		for _, r := range rs {
			for i := r.start; i <= r.end; i++ {
				got[i] = true
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q size %d: ranges %v do not cover what the specs select", v, size, rs)
		}
	})
}

func TestEtagMatchWeak(t *testing.T) {
	tests := []struct {
		name, header, etag string
		want               bool
	}{
		{"strong equal", `"a"`, `"a"`, true},
		{"weak header, strong stored", `W/"a"`, `"a"`, true},
		{"strong header, weak stored", `"a"`, `W/"a"`, true},
		{"both weak", `W/"a"`, `W/"a"`, true},
		{"different", `"b"`, `"a"`, false},
		{"prefix is not equal", `"ab"`, `"a"`, false},
		{"stored is prefix", `"a"`, `"ab"`, false},
		{"list, last", `"x", "y", "a"`, `"a"`, true},
		{"list, first", `"a", "x"`, `"a"`, true},
		{"list no spaces", `"x","a"`, `"a"`, true},
		{"list weak member", `"x", W/"a"`, `"a"`, true},
		{"list no match", `"x", W/"y", "z"`, `"a"`, false},
		{"star", `*`, `"a"`, true},
		{"star weak stored", `*`, `W/"a"`, true},
		{"comma inside tag", `"a,b"`, `"a,b"`, true},
		{"comma inside tag, no match", `"a,b"`, `"a"`, false},
		{"part of a tag with comma", `"x,"a""`, `"a"`, false},
		{"empty tag", `""`, `""`, true},
		{"empty tag vs other", `""`, `"a"`, false},
		{"lower-case w/ is not weak", `w/"a"`, `"a"`, false},
		{"unquoted", `a`, `"a"`, false},
		{"unterminated", `"a`, `"a"`, false},
		{"junk then match", `junk, "a"`, `"a"`, true},
		{"W/ alone", `W/`, `"a"`, false},
		{"whitespace", "  \t\"a\"  ", `"a"`, true},
		{"empty", ``, `"a"`, false},
		{"case matters", `"A"`, `"a"`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := etagMatchWeak(tc.header, tc.etag); got != tc.want {
				t.Errorf("etagMatchWeak(%q, %q) = %v, want %v", tc.header, tc.etag, got, tc.want)
			}
		})
	}
}

func TestEtagMatchStrong(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`"a"`, `"a"`, true},
		{`W/"a"`, `W/"a"`, false},
		{`"a"`, `W/"a"`, false},
		{`"a"`, `"b"`, false},
		{`a`, `a`, false},
	}
	for _, tc := range tests {
		if got := etagMatchStrong(tc.a, tc.b); got != tc.want {
			t.Errorf("etagMatchStrong(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
