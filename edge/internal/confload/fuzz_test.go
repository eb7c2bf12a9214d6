package confload

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzDecode decodes arbitrary input into the test config types. Decode
// must not panic or fail internally; every error must carry a path or the
// "confload: " prefix; and whatever decodes must survive Encode and decode
// again to an equal value, which encodes to the same bytes.
//
// The seeds are the inputs of the Decode tables, except the few generated
// ones above maxSeedLen (the alias bomb, 1000+ unknown keys): mutations of
// those spend seconds per run near the node limit, and the limits they
// test are covered by their table rows. Small alias bombs are still within
// the fuzzer's reach (see "billion laughs").
func FuzzDecode(f *testing.F) {
	const maxSeedLen = 8 << 10
	add := func(in string) {
		if len(in) <= maxSeedLen {
			f.Add([]byte(in))
		}
	}
	for _, tc := range configCases {
		add(tc.in)
	}
	for _, tc := range kindsCases {
		add(tc.in)
	}
	for _, tc := range treeCases {
		add(tc.in)
	}
	for _, tc := range fuzzRegressions {
		add(tc.in)
	}
	add(fullConfigEncoded)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeRoundTrip[testConfig](t, data)
		checkDecodeRoundTrip[kindsConfig](t, data)
		checkDecodeRoundTrip[treeConfig](t, data)
	})
}

func checkDecodeRoundTrip[T any](t *testing.T, data []byte) {
	t.Helper()
	var v T
	err := Decode(data, &v)
	if err != nil {
		checkErrorShape(t, err, data)
		return
	}
	out, err := Encode(&v)
	if err != nil {
		t.Fatalf("Encode after a successful Decode: %v\ninput: %q", err, data)
	}
	var back T
	if err := Decode(out, &back); err != nil {
		t.Fatalf("Decode(Encode(Decode(input))): %v\ninput: %q\nencoded:\n%s", err, data, out)
	}
	if !reflect.DeepEqual(v, back) {
		t.Fatalf("round trip changed the value\ninput: %q\nencoded:\n%s\nfirst:  %#v\nsecond: %#v", data, out, v, back)
	}
	if again, err := Encode(&back); err != nil || !bytes.Equal(again, out) {
		t.Fatalf("Encode is not stable (err %v)\ninput: %q\nfirst:\n%s\nsecond:\n%s", err, data, out, again)
	}
}

// checkErrorShape checks that err is a tree of *FieldError values with a
// path or line, and of "confload: " errors, and not an internal error.
func checkErrorShape(t *testing.T, err error, data []byte) {
	t.Helper()
	if errors.Is(err, errInternal) {
		t.Fatalf("internal error: %v\ninput: %q", err, data)
	}
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			if fe.Line <= 0 || fe.Err == nil {
				t.Fatalf("FieldError without line or cause: %#v\ninput: %q", fe, data)
			}
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "confload: ") {
			t.Fatalf("error is neither a FieldError nor prefixed: %q\ninput: %q", err, data)
		}
	}
	walk(err)
}

// fuzzRegressions are inputs that broke a property FuzzDecode checks; each
// stays here as a named row (and seeds the fuzzer). The first was found by
// TestEncodeRoundTripRandomStrings, not the fuzzer: the YAML emitter wrote
// the string as a literal block that its own parser rejects. The others
// guard the neighbouring cases of the same fix (see stringNode).
var fuzzRegressions = []decodeCase[testConfig]{
	{name: "multi-line string starting with a tab", in: "node:\n  id: \"\\tx\\ny\"\n",
		want: testConfig{Node: nodeConfig{ID: "\tx\ny"}}},
	{name: "multi-line string with carriage return", in: "node:\n  id: \"a\\r\\nb\"\n",
		want: testConfig{Node: nodeConfig{ID: "a\r\nb"}}},
	{name: "multi-line string with trailing spaces", in: "node:\n  id: \"a  \\n  b\\n\\n\"\n",
		want: testConfig{Node: nodeConfig{ID: "a  \n  b\n\n"}}},
	{name: "multi-line string with line separator", in: "node:\n  id: \"a\\Lb\\nc\"\n",
		want: testConfig{Node: nodeConfig{ID: "a\u2028b\nc"}}},
}

func TestFuzzRegressions(t *testing.T) {
	t.Run("decode", func(t *testing.T) { runDecodeCases(t, fuzzRegressions) })
	t.Run("round trip", func(t *testing.T) {
		for _, tc := range fuzzRegressions {
			t.Run(tc.name, func(t *testing.T) {
				checkDecodeRoundTrip[testConfig](t, []byte(tc.in))
				checkDecodeRoundTrip[kindsConfig](t, []byte(tc.in))
				checkDecodeRoundTrip[treeConfig](t, []byte(tc.in))
			})
		}
	})
}

// FuzzParseSize checks that ParseSize never panics, never returns a
// negative size, and that FormatSize and ParseSize are inverses.
func FuzzParseSize(f *testing.F) {
	for _, tc := range parseSizeCases {
		f.Add(tc.in, tc.want)
	}
	f.Add("1", int64(math.MaxInt64))
	f.Add("1", int64(math.MinInt64))
	f.Add("1", int64(3<<40))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		if v, err := ParseSize(s); err == nil {
			if v < 0 {
				t.Fatalf("ParseSize(%q) = %d, negative", s, v)
			}
			if back, err := ParseSize(FormatSize(v)); err != nil || back != v {
				t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v", v, back, err)
			}
		} else if !strings.HasPrefix(err.Error(), "invalid size ") {
			t.Fatalf("ParseSize(%q) error %q lacks the prefix", s, err)
		}
		back, err := ParseSize(FormatSize(n))
		switch {
		case n >= 0 && (err != nil || back != n):
			t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v (%q)", n, back, err, FormatSize(n))
		case n < 0 && err == nil:
			t.Fatalf("ParseSize(FormatSize(%d)) = %d, want an error", n, back)
		}
	})
}

var durationComponent = regexp.MustCompile(`([0-9.]+)(h|ms|m|s|µs|ns)`)

// FuzzFormatDuration checks that time.ParseDuration reads every
// FormatDuration result back, and that the result is compact.
func FuzzFormatDuration(f *testing.F) {
	for _, d := range []int64{0, 1, -1, int64(time.Hour + 250*time.Millisecond), math.MaxInt64, math.MinInt64} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		s := FormatDuration(time.Duration(n))
		if back, err := time.ParseDuration(s); err != nil || back != time.Duration(n) {
			t.Fatalf("ParseDuration(FormatDuration(%d)) = %v, %v (%q)", n, back, err, s)
		}
		if s == "0s" {
			return
		}
		// Compact: no zero or zero-padded components, no trailing zeros
		// in a fraction ("1h0m0s", "01m", "1.50s").
		for _, c := range durationComponent.FindAllStringSubmatch(s, -1) {
			num := c[1]
			if strings.HasPrefix(num, "0") || strings.Contains(num, ".") && strings.HasSuffix(num, "0") {
				t.Fatalf("FormatDuration(%d) = %q is not compact (component %q)", n, s, c[0])
			}
		}
	})
}
