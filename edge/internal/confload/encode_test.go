package confload

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

const fullConfigEncoded = `node:
  id: edge-ams-1
  region: eu-west
http:
  listen:
    - :80
    - '[::]:8080'
  read_header_timeout: 250ms
  max_header_bytes: 64KiB
cache:
  max_memory: 512MiB
  max_ttl: 1h30m
sites:
  - name: static
    hosts:
      - static.example.com
      - cdn.example.com
    origins:
      - url: https://o1.example.com
        host_header: static.example.com
        token: s3cr3t
      - url: https://o2.example.com
        host_header: ""
        token: ""
    default_ttl: 5m
labels:
  team: cdn
  tier.level: "1"
admin:
  listen: 127.0.0.1:9090
  token: admin-token
anycast_prefix: 192.0.2.0/24
debug: true
sample_rate: 0.25
`

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     any
		want    string
		partial bool // want is only part of the output
	}{
		{"full config", fullConfig(), fullConfigEncoded, false},
		{"pointer to config", ptr(fullConfig()), fullConfigEncoded, false},
		{"zero config prints every field", testConfig{}, `node:
  id: ""
  region: ""
http:
  listen: []
  read_header_timeout: 0s
  max_header_bytes: 0
cache:
  max_memory: 0
  max_ttl: 0s
sites: []
labels: {}
admin: null
anycast_prefix: ""
debug: false
sample_rate: 0
`, false},
		{"strings that read as other types are quoted", testConfig{
			Node: nodeConfig{ID: "true", Region: "0123"},
		}, `node:
  id: "true"
  region: "0123"
http:`, true},
		{"keys and values quoted when needed", testConfig{
			Labels: map[string]string{"null": "~", "": "x", "z": "two\nlines", "y": "- dash", "x": "a: b", "w": "#hash"},
		}, `labels:
  "": x
  "null": "~"
  w: '#hash'
  x: 'a: b'
  y: '- dash'
  z: |-
    two
    lines
`, true},
		{"kinds", kindsConfig{
			Base: Base{Version: 2, Owner: "ops"},
			I8:   -1, U64: 18446744073709551615, F32: 0.1, F64: 1e21,
			Pair:    [2]string{"a", "b"},
			Counts:  map[string]int{"b": 2, "a": 1},
			Limits:  map[string]*limits{"eu": {Rate: 1.5, Burst: 3}, "us": nil},
			Buffers: []int64{1024, 1000, 0, 3 << 30},
			Small:   1536,
			Quota:   ptr(uint64(1 << 40)),
			Timeout: ptr(90 * time.Second),
			Addrs:   []netip.Addr{netip.MustParseAddr("2001:db8::1")},
			Nested:  [][]string{{"a"}, nil},
			Tags:    ptr([]string(nil)),
		}, `version: 2
owner: ops
i8: -1
i16: 0
i32: 0
i64: 0
int: 0
u8: 0
u16: 0
u32: 0
u64: 18446744073709551615
uint: 0
f32: 0.1
f64: 1e+21
pair:
  - a
  - b
counts:
  a: 1
  b: 2
limits:
  eu:
    rate: 1.5
    burst: 3
  us: null
buffers:
  - 1KiB
  - 1000
  - 0
  - 3GiB
small: 1536
quota: 1TiB
timeout: 1m30s
name: null
addrs:
  - 2001:db8::1
nested:
  - - a
  - []
tags: []
regions: {}
deep: {}
`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if tc.partial && !strings.Contains(string(got), tc.want) || !tc.partial && string(got) != tc.want {
				t.Fatalf("Encode:\n%s\nwant (partial %v):\n%s", got, tc.partial, tc.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	type withNaN struct {
		F float64 `yaml:"f"`
	}
	for _, tc := range []struct {
		name string
		src  any
		want string
	}{
		{"nil", nil, "confload: Encode needs a struct or a non-nil pointer to one, got <nil>"},
		{"nil pointer", (*testConfig)(nil), "got *confload.testConfig"},
		{"not a struct", 3, "got int"},
		{"NaN", withNaN{F: nanValue()}, "confload: encode f: NaN is not a finite number"},
		{"interface field", withAny{}, "interface type interface {} is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Encode error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  any
		dst  func() any
	}{
		{"full config", fullConfig(), func() any { return new(testConfig) }},
		{"zero config", testConfig{}, func() any { return new(testConfig) }},
		{"awkward strings", testConfig{
			Node:   nodeConfig{ID: " leading space", Region: "trailing space "},
			Sites:  []siteConfig{{Name: "tab\there", Hosts: []string{"", "null", "~", "yes", "1e3", "0x10", "- x", "[a]", "{a: b}", "'q'", `"dq"`, "a #b", "multi\nline\n", "trailing\n\n", "\x00\x01\u2028\ufeff", "é ü 漢字", "<<", "&a", "*a", "!tag", "%x", "@x", "`x"}}},
			Labels: map[string]string{"a.b": "1", "": "", "a b": "c", "x\ny": "z", "<<": "merge", "~": "null key", "bad\xffkey": "bad\xfe\xffvalue"},
			Admin:  &adminConfig{Token: "\xff"},
		}, func() any { return new(testConfig) }},
		{"durations", testConfig{
			HTTP:  httpConfig{ReadHeaderTimeout: time.Hour + 250*time.Millisecond},
			Cache: cacheConfig{MaxTTL: -1<<63 + 0},
			Sites: []siteConfig{{DefaultTTL: 1<<63 - 1}, {DefaultTTL: 1500 * time.Microsecond}, {DefaultTTL: -90 * time.Second}},
		}, func() any { return new(testConfig) }},
		{"sizes", testConfig{HTTP: httpConfig{MaxHeaderBytes: 1<<63 - 1}, Cache: cacheConfig{MaxMemory: 5 << 40}}, func() any { return new(testConfig) }},
		{"kinds", kindsConfig{
			Base: Base{Version: -3},
			I8:   -128, I16: -32768, I32: -1 << 31, I64: -1 << 63, Int: 1<<63 - 1,
			U8: 255, U16: 65535, U32: 1<<32 - 1, U64: 1<<64 - 1, Uint: 1<<64 - 1,
			F32: 3.4028235e38, F64: -1.7976931348623157e308,
			Pair:    [2]string{"", "x"},
			Counts:  map[string]int{"n": -5},
			Limits:  map[string]*limits{"eu": {Rate: 1e-300}, "us": nil},
			Buffers: []int64{0, 1, 1023, 1024, 1 << 40, 1<<63 - 1},
			Small:   65535,
			Quota:   ptr(uint64(1<<63 - 1)),
			Timeout: ptr(time.Duration(0)),
			Name:    ptr(""),
			Addrs:   []netip.Addr{{}, netip.MustParseAddr("::ffff:1.2.3.4")},
			Nested:  [][]string{nil, {"a"}},
			Tags:    ptr([]string{"t"}),
			Regions: map[region]string{"eu": "x"},
			Deep:    map[string]map[string]bool{"a": {"b": true}, "c": nil},
		}, func() any { return new(kindsConfig) }},
		{"tree", treeConfig{Root: tree{Name: "a", Children: []tree{{Name: "b", Next: &tree{Name: "c"}}}}}, func() any { return new(treeConfig) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Encode(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			dst := tc.dst()
			if err := Decode(out, dst); err != nil {
				t.Fatalf("Decode(Encode(x)): %v\nencoded:\n%s", err, out)
			}
			// Decoded values hold nil, never empty, slices and maps.
			want := normalizeEmpty(reflect.ValueOf(tc.src)).Interface()
			if got := reflect.ValueOf(dst).Elem().Interface(); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip changed the value\n got %#v\nwant %#v\nencoded:\n%s", got, want, out)
			}
			again, err := Encode(dst)
			if err != nil || string(again) != string(out) {
				t.Fatalf("second Encode differs (err %v):\n%s\nfirst:\n%s", err, again, out)
			}
		})
	}
}

// normalizeEmpty returns a deep copy of v with empty slices and maps made
// nil, which is how Decode returns them.
func normalizeEmpty(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(normalizeEmpty(v.Elem()))
			out.Set(p)
		}
	case reflect.Slice:
		if v.Len() > 0 {
			s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			for i := range v.Len() {
				s.Index(i).Set(normalizeEmpty(v.Index(i)))
			}
			out.Set(s)
		}
	case reflect.Map:
		if v.Len() > 0 {
			m := reflect.MakeMapWithSize(v.Type(), v.Len())
			for _, k := range v.MapKeys() {
				m.SetMapIndex(k, normalizeEmpty(v.MapIndex(k)))
			}
			out.Set(m)
		}
	case reflect.Array:
		for i := range v.Len() {
			out.Index(i).Set(normalizeEmpty(v.Index(i)))
		}
	case reflect.Struct:
		out.Set(v)
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(normalizeEmpty(v.Field(i)))
			}
		}
	default:
		out.Set(v)
	}
	return out
}

func TestEncodeRedacted(t *testing.T) {
	c := fullConfig()
	out, err := EncodeRedacted(&c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, secret := range []string{"s3cr3t", "admin-token"} {
		if strings.Contains(s, secret) {
			t.Errorf("EncodeRedacted leaks %q:\n%s", secret, s)
		}
	}
	for _, want := range []string{
		"        token: <redacted>\n      - url: https://o2.example.com\n        host_header: \"\"\n        token: \"\"\n",
		"admin:\n  listen: 127.0.0.1:9090\n  token: <redacted>\n",
		"url: https://o1.example.com\n", // non-secret fields stay
	} {
		if !strings.Contains(s, want) {
			t.Errorf("EncodeRedacted output lacks %q:\n%s", want, s)
		}
	}
	if c.Admin.Token != "admin-token" || c.Sites[0].Origins[0].Token != "s3cr3t" {
		t.Errorf("EncodeRedacted modified its input: %+v", c)
	}
	// Apart from secrets, the output is Encode's.
	plain, _ := Encode(&c)
	redacted := strings.ReplaceAll(strings.ReplaceAll(string(plain), "s3cr3t", "<redacted>"), "admin-token", "<redacted>")
	if redacted != s {
		t.Errorf("EncodeRedacted differs from Encode beyond the secrets:\n%s\nvs\n%s", s, redacted)
	}
}

// TestEncodeRoundTripRandomStrings feeds the YAML emitter strings built from
// the characters that most often need quoting or escaping, as values and as
// map keys.
func TestEncodeRoundTripRandomStrings(t *testing.T) {
	awkward := []rune{'a', 'Z', '0', '9', ' ', ' ', '\t', '\n', '\r', ':', '#', '-', '?', '[', ']', '{', '}', ',', '&', '*', '!', '|', '>',
		'\'', '"', '%', '@', '`', '~', '.', '<', '\\', '/', 0, 1, 0x1b, 0x7f, 0x85, 0xa0, 0xfeff, 0x2028, 0x2029, 'é', '漢', 0x1f600, 0xfffd, 0xffff}
	// Mostly text and line breaks, to exercise literal blocks.
	text := []rune{'a', 'b', ' ', ' ', '\n', '\n', '#', ':', '-', '|', '>', '\'', '"', 'é'}
	rng := rand.New(rand.NewPCG(3, 4))
	n := 4000 // 400,000 ran clean once; raise it when touching stringNode
	if testing.Short() {
		n = 500
	}
	for i := range n {
		alphabet := awkward
		if i%2 == 1 {
			alphabet = text
		}
		randString := func() string {
			r := make([]rune, rng.IntN(12))
			for i := range r {
				r[i] = alphabet[rng.IntN(len(alphabet))]
			}
			return string(r)
		}
		src := testConfig{
			Node:   nodeConfig{ID: randString(), Region: randString()},
			HTTP:   httpConfig{Listen: []string{randString(), randString()}},
			Labels: map[string]string{randString(): randString(), randString(): randString()},
		}
		out, err := Encode(src)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", src, err)
		}
		var got testConfig
		if err := Decode(out, &got); err != nil {
			t.Fatalf("Decode(Encode(%#v)): %v\nencoded:\n%s", src, err, out)
		}
		if want := normalizeEmpty(reflect.ValueOf(src)).Interface(); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the value\n got %#v\nwant %#v\nencoded:\n%s", got, want, out)
		}
	}
}
