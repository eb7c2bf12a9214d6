package confload

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeCase is one row of a Decode table. Error rows list the substrings
// the joined error message must contain; the others give the value Decode
// must produce.
type decodeCase[T any] struct {
	name    string
	in      string
	start   T        // dst before Decode: defaults the document may override
	want    T        // the result, when wantErr is empty
	wantErr []string // substrings of err.Error(), all required
	wantN   int      // when > 0, the number of *FieldError in the result
}

func runDecodeCases[T any](t *testing.T, cases []decodeCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.start
			err := Decode([]byte(tc.in), &got)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Decode: unexpected error:\n%v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("Decode:\n got %#v\nwant %#v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode: no error, want one containing %q; decoded %#v", tc.wantErr, got)
			}
			if errors.Is(err, errInternal) {
				t.Fatalf("Decode: internal error: %v", err)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Decode error does not contain %q; error is:\n%v", want, err)
				}
			}
			if tc.wantN > 0 {
				if n := len(fieldErrors(err)); n != tc.wantN {
					t.Errorf("Decode returned %d field errors, want %d:\n%v", n, tc.wantN, err)
				}
			}
		})
	}
}

// fieldErrors flattens the *FieldError values in an errors.Join tree.
func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

func ptr[T any](v T) *T { return &v }

const fullConfigYAML = `# An edge node.
node:
  id: edge-ams-1
  region: eu-west
http:
  listen: [":80", "[::]:8080"]
  read_header_timeout: 250ms
  max_header_bytes: 64KiB
cache:
  max_memory: 512MiB
  max_ttl: 1h30m
sites:
  - name: static
    hosts: [static.example.com, cdn.example.com]
    origins:
      - url: https://o1.example.com
        host_header: static.example.com
        token: s3cr3t
      - url: https://o2.example.com
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

func fullConfig() testConfig {
	return testConfig{
		Node: nodeConfig{ID: "edge-ams-1", Region: "eu-west"},
		HTTP: httpConfig{
			Listen:            []string{":80", "[::]:8080"},
			ReadHeaderTimeout: 250 * time.Millisecond,
			MaxHeaderBytes:    64 << 10,
		},
		Cache: cacheConfig{MaxMemory: 512 << 20, MaxTTL: 90 * time.Minute},
		Sites: []siteConfig{{
			Name:  "static",
			Hosts: []string{"static.example.com", "cdn.example.com"},
			Origins: []originConfig{
				{URL: "https://o1.example.com", HostHeader: "static.example.com", Token: "s3cr3t"},
				{URL: "https://o2.example.com"},
			},
			DefaultTTL: 5 * time.Minute,
		}},
		Labels:     map[string]string{"team": "cdn", "tier.level": "1"},
		Admin:      &adminConfig{Listen: netip.MustParseAddrPort("127.0.0.1:9090"), Token: "admin-token"},
		Anycast:    netip.MustParsePrefix("192.0.2.0/24"),
		Debug:      true,
		SampleRate: 0.25,
	}
}

// defaults stands for what a package's setDefaults would fill in.
func defaults() testConfig {
	return testConfig{
		Node:  nodeConfig{Region: "default-region"},
		HTTP:  httpConfig{Listen: []string{":80"}, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20},
		Cache: cacheConfig{MaxMemory: 1 << 30, MaxTTL: 24 * time.Hour},
	}
}

func withCache(c cacheConfig) testConfig        { return testConfig{Cache: c} }
func withHTTP(h httpConfig) testConfig          { return testConfig{HTTP: h} }
func withSites(s ...siteConfig) testConfig      { return testConfig{Sites: s} }
func withLabels(m map[string]string) testConfig { return testConfig{Labels: m} }

func manyUnknownKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "unknown_%d: x\n", i)
	}
	return b.String()
}

// billionLaughs builds the classic alias bomb: each level is a list of ten
// aliases to the level before, so x8 stands for 10^9 strings. Decode only
// expands what the schema asks for, so it stops at the unknown keys and at
// the first list-instead-of-string mismatch.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*x%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("http: {listen: *x8}\n")
	return b.String()
}

// siteBomb is an alias bomb that fits the schema: a list of sites whose
// origins alias a list of 1000 origins, repeated through aliases.
func siteBomb() string {
	var b strings.Builder
	b.WriteString("sites:\n- &s {name: a, origins: &o [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{url: u}")
	}
	b.WriteString("]}\n")
	for range 1100 {
		b.WriteString("- *s\n")
	}
	return b.String()
}

// mergeChain chains n sites, each merging the one before.
func mergeChain(n int) string {
	var b strings.Builder
	b.WriteString("sites:\n- &s0 {name: a}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "- &s%d {<<: *s%d}\n", i, i-1)
	}
	return b.String()
}

var configCases = []decodeCase[testConfig]{
	// Documents as a whole.
	{name: "full config", in: fullConfigYAML, want: fullConfig()},
	{name: "empty document", in: ""},
	{name: "only comments", in: "# nothing here\n\n# at all\n"},
	{name: "document start marker only", in: "---\n"},
	{name: "document end marker", in: "debug: true\n...\n", want: testConfig{Debug: true}},
	{name: "top level null", in: "~\n"},
	{name: "empty document keeps defaults", in: "", start: defaults(), want: defaults()},
	{name: "two documents", in: "debug: true\n---\ndebug: false\n", wantErr: []string{"confload: line 2: more than one YAML document"}},
	{name: "trailing document marker", in: "debug: true\n---\n", wantErr: []string{"more than one YAML document"}},
	{name: "top level list", in: "- a\n- b\n", wantErr: []string{"confload: line 1: the document must be a mapping of config fields, got a list"}},
	{name: "top level string", in: "hello\n", wantErr: []string{"the document must be a mapping of config fields, got a string"}},
	{name: "syntax error", in: "node:\n  id: a\n  region: [eu\n", wantErr: []string{"confload: yaml: line"}},
	{name: "tab indentation", in: "node:\n\tid: a\n", wantErr: []string{"confload: yaml: line 2"}},

	// Keys.
	{name: "unknown top level field with suggestion", in: "debug: true\nnodes:\n  id: a\n",
		wantErr: []string{`nodes (line 2): unknown field "nodes" (did you mean "node"?)`}},
	{name: "unknown nested field with suggestion", in: "cache:\n  max_memory: 1GiB\n  max_tll: 5m\n",
		wantErr: []string{`cache.max_tll (line 3): unknown field "max_tll" (did you mean "max_ttl"?)`}},
	{name: "unknown field without suggestion", in: "http:\n  compression: gzip\n",
		wantErr: []string{`http.compression (line 2): unknown field "compression"`}, wantN: 1},
	{name: "unknown field in list item", in: "sites:\n- name: a\n  origins:\n  - url: u\n  - url: v\n    tokn: t\n",
		wantErr: []string{`sites[0].origins[1].tokn (line 6): unknown field "tokn" (did you mean "token"?)`}},
	{name: "untagged field is unknown", in: "Loaded: 2024-01-01\n", wantErr: []string{`Loaded (line 1): unknown field "Loaded"`}},
	{name: "unknown key with dot is quoted in path", in: "http:\n  a.b: 1\n", wantErr: []string{`http["a.b"] (line 2): unknown field "a.b"`}},
	{name: "duplicate key", in: "cache:\n  max_ttl: 1m\n  max_ttl: 2m\n",
		wantErr: []string{`cache.max_ttl (line 3): duplicate key "max_ttl" (first on line 2)`}, wantN: 1},
	{name: "duplicate top level key", in: "debug: true\nnode: {id: a}\ndebug: false\n",
		wantErr: []string{`debug (line 3): duplicate key "debug" (first on line 1)`}},
	{name: "duplicate map key", in: "labels:\n  a: x\n  a: y\n", wantErr: []string{`labels.a (line 3): duplicate key "a"`}},
	{name: "list as key", in: "? [a, b]\n: x\n", wantErr: []string{"line 1: mapping keys must be strings, got a list"}},
	{name: "null key", in: "labels:\n  ~: x\n", wantErr: []string{"labels (line 2): mapping keys must be strings, got null"}},
	{name: "key written as number", in: "labels:\n  80: http\n  true: yes\n", want: withLabels(map[string]string{"80": "http", "true": "yes"})},

	// Collecting every error.
	{name: "all errors are reported", in: `node:
  id: a
  region: eu
sites:
  - name: a
    hosts: [a.example.com]
    default_ttl: 1m
    origins:
      - url: https://o1
        token: t
      - host_header: x
        url: [not, a, string]
  - name: b
    hosts: b.example.com
    default_ttl: 30
cache: {max_memory: 512M, max_tll: 1h}
debug: on
`, wantErr: []string{
		"sites[0].origins[1].url (line 12): want a string, got a list",
		"sites[1].hosts (line 14): want a list, got a string",
		`sites[1].default_ttl (line 15): want a duration such as "30s"`,
		`cache.max_memory (line 16): invalid size "512M"`,
		`cache.max_tll (line 16): unknown field "max_tll" (did you mean "max_ttl"?)`,
		`debug (line 17): want true or false, got "on"`,
	}, wantN: 6},
	{name: "too many errors", in: manyUnknownKeys(maxErrors + 50), wantErr: []string{"confload: too many errors; stopped after 1000"}, wantN: maxErrors},

	// Kinds of value.
	{name: "scalar where list expected", in: "node:\n  id: a\nhttp:\n  listen: []\nsites:\n  - name: a\n    hosts: a.example.com\n",
		wantErr: []string{"sites[0].hosts (line 7): want a list, got a string"}},
	{name: "list where mapping expected", in: "cache: [1, 2]\n", wantErr: []string{"cache (line 1): want a mapping, got a list"}},
	{name: "mapping where string expected", in: "node:\n  id: {a: b}\n", wantErr: []string{"node.id (line 2): want a string, got a mapping"}},
	{name: "string takes any scalar as written", in: "node:\n  id: 0123\n  region: true\nsites:\n- name: 1.10\n",
		want: testConfig{Node: nodeConfig{ID: "0123", Region: "true"}, Sites: []siteConfig{{Name: "1.10"}}}},
	{name: "quoted and block strings", in: "node:\n  id: 'it''s'\n  region: |\n    two\n    lines\n",
		want: testConfig{Node: nodeConfig{ID: "it's", Region: "two\nlines\n"}}},
	{name: "binary string", in: "node:\n  id: !!binary aGVsbG8=\n", want: testConfig{Node: nodeConfig{ID: "hello"}}},
	{name: "bad binary string", in: "node:\n  id: !!binary '%%%'\n", wantErr: []string{"node.id (line 2): invalid !!binary value"}},
	{name: "bool true", in: "debug: true\n", want: testConfig{Debug: true}},
	{name: "bool True", in: "debug: True\n", want: testConfig{Debug: true}},
	{name: "bool FALSE over default", in: "debug: FALSE\n", start: testConfig{Debug: true}},
	{name: "bool yes", in: "debug: yes\n", wantErr: []string{`debug (line 1): want true or false, got "yes" (YAML 1.1 booleans`}},
	{name: "bool off", in: "debug: off\n", wantErr: []string{`want true or false, got "off" (YAML 1.1 booleans`}},
	{name: "bool quoted", in: "debug: \"true\"\n", wantErr: []string{`debug (line 1): want true or false, got a string "true"`}},
	{name: "bool number", in: "debug: 1\n", wantErr: []string{`want true or false, got an integer "1"`}},
	{name: "float from integer", in: "sample_rate: 1\n", want: testConfig{SampleRate: 1}},
	{name: "float exponent", in: "sample_rate: 1e-3\n", want: testConfig{SampleRate: 0.001}},
	{name: "float nan", in: "sample_rate: .nan\n", wantErr: []string{"sample_rate (line 1): want a finite number, got .nan"}},
	{name: "float inf", in: "sample_rate: -.inf\n", wantErr: []string{"want a finite number, got -.inf"}},
	{name: "float string", in: "sample_rate: \"0.5\"\n", wantErr: []string{`sample_rate (line 1): want a number, got a string "0.5"`}},

	// Durations.
	{name: "durations", in: "http:\n  read_header_timeout: 1h30m\ncache:\n  max_ttl: 250ms\nsites:\n- default_ttl: -5s\n- default_ttl: 1.5h\n",
		want: testConfig{
			HTTP:  httpConfig{ReadHeaderTimeout: 90 * time.Minute},
			Cache: cacheConfig{MaxTTL: 250 * time.Millisecond},
			Sites: []siteConfig{{DefaultTTL: -5 * time.Second}, {DefaultTTL: 90 * time.Minute}},
		}},
	{name: "duration zero", in: "cache:\n  max_ttl: 0\n", start: withCache(cacheConfig{MaxTTL: time.Hour}), want: testConfig{}},
	{name: "duration quoted zero", in: "cache:\n  max_ttl: \"0\"\n", start: withCache(cacheConfig{MaxTTL: time.Hour}), want: testConfig{}},
	{name: "duration 0s", in: "cache:\n  max_ttl: 0s\n", start: withCache(cacheConfig{MaxTTL: time.Hour}), want: testConfig{}},
	{name: "duration bare integer", in: "cache:\n  max_ttl: 30\n",
		wantErr: []string{`cache.max_ttl (line 2): want a duration such as "30s", got the bare number 30`}},
	{name: "duration bare float", in: "cache:\n  max_ttl: 1.5\n", wantErr: []string{`want a duration such as "30s", got the bare number 1.5`}},
	{name: "duration quoted integer", in: "cache:\n  max_ttl: \"30\"\n", wantErr: []string{`cache.max_ttl (line 2): invalid duration "30"`}},
	{name: "duration unknown unit", in: "cache:\n  max_ttl: 5d\n", wantErr: []string{`invalid duration "5d": want a number and a unit`}},
	{name: "duration list", in: "cache:\n  max_ttl: [5s]\n", wantErr: []string{`cache.max_ttl (line 2): want a duration such as "30s", got a list`}},
	{name: "duration bool", in: "cache:\n  max_ttl: true\n", wantErr: []string{`want a duration such as "30s", got a bool "true"`}},

	// Sizes.
	{name: "size MiB", in: "cache: {max_memory: 512MiB}\n", want: withCache(cacheConfig{MaxMemory: 512 << 20})},
	{name: "size KiB", in: "cache: {max_memory: 64KiB}\n", want: withCache(cacheConfig{MaxMemory: 64 << 10})},
	{name: "size GiB", in: "cache: {max_memory: 1GiB}\n", want: withCache(cacheConfig{MaxMemory: 1 << 30})},
	{name: "size TiB", in: "cache: {max_memory: 2TiB}\n", want: withCache(cacheConfig{MaxMemory: 2 << 40})},
	{name: "size fraction", in: "cache: {max_memory: 1.5GiB}\n", want: withCache(cacheConfig{MaxMemory: 3 << 29})},
	{name: "size MB", in: "cache: {max_memory: 10MB}\n", want: withCache(cacheConfig{MaxMemory: 10_000_000})},
	{name: "size kB", in: "cache: {max_memory: 1kB}\n", want: withCache(cacheConfig{MaxMemory: 1000})},
	{name: "size GB", in: "cache: {max_memory: 1GB}\n", want: withCache(cacheConfig{MaxMemory: 1_000_000_000})},
	{name: "size YAML integer", in: "cache: {max_memory: 4096}\n", want: withCache(cacheConfig{MaxMemory: 4096})},
	{name: "size quoted integer", in: "cache: {max_memory: \"4096\"}\n", want: withCache(cacheConfig{MaxMemory: 4096})},
	{name: "size bytes suffix", in: "cache: {max_memory: 4096B}\n", want: withCache(cacheConfig{MaxMemory: 4096})},
	{name: "size hex integer", in: "cache: {max_memory: 0x400}\n", want: withCache(cacheConfig{MaxMemory: 1024})},
	{name: "size with space", in: "cache: {max_memory: 512 MiB}\n", want: withCache(cacheConfig{MaxMemory: 512 << 20})},
	{name: "size ambiguous M", in: "cache: {max_memory: 512M}\n",
		wantErr: []string{`cache.max_memory (line 1): invalid size "512M": unit "M" is ambiguous; write MiB for powers of 1024 or MB for powers of 1000`}},
	{name: "size ambiguous k", in: "cache: {max_memory: 64k}\n", wantErr: []string{`unit "k" is ambiguous; write KiB for powers of 1024 or kB for powers of 1000`}},
	{name: "size ambiguous KB", in: "cache: {max_memory: 64KB}\n", wantErr: []string{`unit "KB" is ambiguous`}},
	{name: "size ambiguous G", in: "cache: {max_memory: 1G}\n", wantErr: []string{`unit "G" is ambiguous`}},
	{name: "size lower case unit", in: "cache: {max_memory: 1gib}\n", wantErr: []string{`unit "gib" is ambiguous`}},
	{name: "size unknown unit", in: "cache: {max_memory: 5X}\n",
		wantErr: []string{`invalid size "5X": unknown unit "X"; want B, KiB, MiB, GiB, TiB (powers of 1024) or kB, MB, GB, TB (powers of 1000)`}},
	{name: "size negative integer", in: "cache: {max_memory: -1}\n", wantErr: []string{"cache.max_memory (line 1): size -1 must not be negative"}},
	{name: "size negative string", in: "cache: {max_memory: -1MiB}\n", wantErr: []string{`invalid size "-1MiB": must not be negative`}},
	{name: "size not whole bytes", in: "cache: {max_memory: 1.3B}\n", wantErr: []string{`invalid size "1.3B": not a whole number of bytes`}},
	{name: "size plain float", in: "cache: {max_memory: 1.5}\n", wantErr: []string{`invalid size "1.5": not a whole number of bytes`}},
	{name: "size too large", in: "cache: {max_memory: 9000000TiB}\n", wantErr: []string{`invalid size "9000000TiB": too large`}},
	{name: "size integer too large", in: "cache: {max_memory: 99999999999999999999}\n", wantErr: []string{"invalid size"}},
	{name: "size list", in: "cache: {max_memory: [1]}\n", wantErr: []string{`cache.max_memory (line 1): want a size such as "512MiB", got a list`}},

	// Null.
	{name: "null keeps defaults", in: "node:\n  region: ~\nhttp:\n  listen: null\n  read_header_timeout:\ncache: ~\n", start: defaults(), want: defaults()},
	{name: "null pointer stays nil", in: "admin: null\n"},
	{name: "value overrides default", in: "http:\n  max_header_bytes: 8KiB\n", start: defaults(),
		want: func() testConfig { c := defaults(); c.HTTP.MaxHeaderBytes = 8 << 10; return c }()},

	// Collections.
	{name: "empty list gives nil", in: "http:\n  listen: []\n", start: defaults(),
		want: func() testConfig { c := defaults(); c.HTTP.Listen = nil; return c }()},
	{name: "list replaces default", in: "http:\n  listen: [\":8080\", \":8443\"]\n", start: withHTTP(httpConfig{Listen: []string{":80"}}),
		want: withHTTP(httpConfig{Listen: []string{":8080", ":8443"}})},
	{name: "empty map gives nil", in: "labels: {}\n", start: withLabels(map[string]string{"a": "b"})},
	{name: "map replaces default", in: "labels: {b: y}\n", start: withLabels(map[string]string{"a": "x"}), want: withLabels(map[string]string{"b": "y"})},
	{name: "map null value", in: "labels: {a: ~, b: ''}\n", want: withLabels(map[string]string{"a": "", "b": ""})},
	{name: "map key with dot in path", in: "labels:\n  example.com: [x]\n", wantErr: []string{`labels["example.com"] (line 2): want a string, got a list`}},
	{name: "map key with space in path", in: "labels:\n  'a b': {}\n", wantErr: []string{`labels["a b"] (line 2): want a string, got a mapping`}},
	{name: "pointer allocated", in: "admin:\n  token: t\n", want: testConfig{Admin: &adminConfig{Token: "t"}}},
	{name: "pointer allocated for empty mapping", in: "admin: {}\n", want: testConfig{Admin: &adminConfig{}}},
	{name: "text unmarshaler", in: "anycast_prefix: 2001:db8::/32\nadmin: {listen: '[::1]:9090'}\n",
		want: testConfig{Anycast: netip.MustParsePrefix("2001:db8::/32"), Admin: &adminConfig{Listen: netip.MustParseAddrPort("[::1]:9090")}}},
	{name: "text unmarshaler error", in: "anycast_prefix: 192.0.2.0\n",
		wantErr: []string{`anycast_prefix (line 1): invalid netip.Prefix "192.0.2.0": netip.ParsePrefix("192.0.2.0"): no '/'`}},
	{name: "text unmarshaler wants scalar", in: "anycast_prefix: [192.0.2.0/24]\n", wantErr: []string{"anycast_prefix (line 1): want a string, got a list"}},
	{name: "flow and block styles mix", in: "sites: [{name: a, hosts: [x, y]}, {name: b}]\n",
		want: withSites(siteConfig{Name: "a", Hosts: []string{"x", "y"}}, siteConfig{Name: "b"})},

	// Anchors, aliases, merge keys.
	{name: "alias reuses a list", in: "sites:\n- name: a\n  origins: &o [{url: https://o1}]\n- name: b\n  origins: *o\n",
		want: withSites(
			siteConfig{Name: "a", Origins: []originConfig{{URL: "https://o1"}}},
			siteConfig{Name: "b", Origins: []originConfig{{URL: "https://o1"}}})},
	{name: "alias scalar", in: "node: {id: &id edge-1}\nsites: [{name: *id}]\n",
		want: testConfig{Node: nodeConfig{ID: "edge-1"}, Sites: []siteConfig{{Name: "edge-1"}}}},
	{name: "alias as key", in: "node: {id: &k region}\nlabels: {*k : x}\n",
		want: testConfig{Node: nodeConfig{ID: "region"}, Labels: map[string]string{"region": "x"}}},
	{name: "error inside alias names each use", in: "sites:\n- name: a\n  origins: &o [{url: [x]}]\n- name: b\n  origins: *o\n",
		wantErr: []string{"sites[0].origins[0].url (line 3): want a string, got a list", "sites[1].origins[0].url (line 3): want a string, got a list"}, wantN: 2},
	{name: "merge key", in: "sites:\n- &base {name: a, default_ttl: 5m, hosts: [x]}\n- <<: *base\n  name: b\n",
		want: withSites(
			siteConfig{Name: "a", DefaultTTL: 5 * time.Minute, Hosts: []string{"x"}},
			siteConfig{Name: "b", DefaultTTL: 5 * time.Minute, Hosts: []string{"x"}})},
	{name: "merge key list earlier wins", in: "sites:\n- &a {name: a, default_ttl: 1m}\n- &b {name: b, hosts: [h]}\n- {<<: [*a, *b]}\n",
		want: withSites(
			siteConfig{Name: "a", DefaultTTL: time.Minute},
			siteConfig{Name: "b", Hosts: []string{"h"}},
			siteConfig{Name: "a", DefaultTTL: time.Minute, Hosts: []string{"h"}})},
	{name: "merge key inline mapping", in: "cache: {<<: {max_ttl: 1m}, max_memory: 1KiB}\n", want: withCache(cacheConfig{MaxTTL: time.Minute, MaxMemory: 1024})},
	{name: "merge key unknown field", in: "sites:\n- &a {name: a}\n- {<<: {nmae: x}}\n", wantErr: []string{`sites[1].nmae (line 3): unknown field "nmae" (did you mean "name"?)`}},
	{name: "merge key scalar", in: "cache: {<<: 5}\n", wantErr: []string{"cache (line 1): merge key << wants a mapping or a list of mappings, got an integer"}},
	{name: "merge key list of scalars", in: "cache: {<<: [5]}\n", wantErr: []string{"merge key << wants a mapping or a list of mappings, got an integer"}},
	{name: "quoted merge key is a plain key", in: "cache: {'<<': {max_ttl: 1m}}\n", wantErr: []string{`cache.<< (line 1): unknown field "<<"`}},
	{name: "merge cycle", in: "cache: &c {<<: *c}\n", wantErr: []string{"alias *c refers to a value that contains the alias"}},
	{name: "merge chain deeper than the alias limit", in: mergeChain(maxAliasDepth + 5), wantErr: []string{"aliases nested more than 64 deep"}},
	{name: "merge chain within the alias limit", in: mergeChain(10),
		want: withSites(slicesRepeat(siteConfig{Name: "a"}, 10)...)},
	{name: "alias bomb", in: siteBomb(), wantErr: []string{"confload: document too large: more than 1000000 nodes"}},
	{name: "billion laughs", in: billionLaughs(), wantErr: []string{`x8 (line 9): unknown field "x8"`, "http.listen[9] (line 8): want a string, got a list"}, wantN: 19},

	// Tags.
	{name: "unknown local tag", in: "node:\n  id: !foo bar\n", wantErr: []string{`node.id (line 2): unsupported YAML tag "!foo"`}},
	{name: "set tag", in: "labels: !!set {a, b}\n", wantErr: []string{`labels (line 1): unsupported YAML tag "!!set"`}},
	{name: "explicit str tag on number", in: "node:\n  id: !!str 12\n", want: testConfig{Node: nodeConfig{ID: "12"}}},
	{name: "explicit int tag on word", in: "cache: {max_memory: !!int lots}\n", wantErr: []string{`cache.max_memory (line 1): invalid size "lots"`}},
}

func slicesRepeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestDecodeConfig(t *testing.T) {
	runDecodeCases(t, configCases)
}

var kindsCases = []decodeCase[kindsConfig]{
	{name: "integer bounds", in: "i8: -128\ni16: 32767\ni32: -2147483648\ni64: 9223372036854775807\nint: -1\nu8: 255\nu16: 65535\nu32: 4294967295\nu64: 18446744073709551615\nuint: 0\n",
		want: kindsConfig{I8: -128, I16: 32767, I32: -2147483648, I64: 9223372036854775807, Int: -1, U8: 255, U16: 65535, U32: 4294967295, U64: 18446744073709551615}},
	{name: "integer prefixes and separators", in: "i32: 0x1F\ni16: 0o17\ni8: 0b101\ni64: 1_000_000\nu8: +7\nuint: -0\n",
		want: kindsConfig{I32: 31, I16: 15, I8: 5, I64: 1_000_000, U8: 7}},
	{name: "int8 overflow", in: "i8: 128\n", wantErr: []string{"i8 (line 1): 128 is out of range for int8 (-128 to 127)"}},
	{name: "int16 underflow", in: "i16: -32769\n", wantErr: []string{"i16 (line 1): -32769 is out of range for int16 (-32768 to 32767)"}},
	{name: "int32 overflow", in: "i32: 2147483648\n", wantErr: []string{"2147483648 is out of range for int32"}},
	{name: "int64 overflow", in: "i64: 9223372036854775808\n", wantErr: []string{"9223372036854775808 is out of range for int64"}},
	{name: "int64 far overflow", in: "i64: 123456789012345678901234567890\n", wantErr: []string{"123456789012345678901234567890 is out of range for int64"}},
	{name: "uint8 overflow", in: "u8: 256\n", wantErr: []string{"u8 (line 1): 256 is out of range for uint8 (0 to 255)"}},
	{name: "uint negative", in: "uint: -1\n", wantErr: []string{"uint (line 1): -1 is out of range for uint"}},
	{name: "uint64 overflow", in: "u64: 18446744073709551616\n", wantErr: []string{"18446744073709551616 is out of range for uint64"}},
	{name: "integer from float", in: "int: 1.5\n", wantErr: []string{"int (line 1): want a whole number, got 1.5"}},
	{name: "integer from quoted string", in: "int: \"12\"\n", wantErr: []string{`int (line 1): want an integer, got a string "12"`}},
	{name: "integer from bool", in: "int: true\n", wantErr: []string{`want an integer, got a bool "true"`}},
	{name: "integer from list", in: "int: [1]\n", wantErr: []string{"int (line 1): want an integer, got a list"}},
	{name: "float32", in: "f32: 0.1\nf64: 1e300\n", want: kindsConfig{F32: 0.1, F64: 1e300}},
	{name: "float32 overflow", in: "f32: 1e39\n", wantErr: []string{"f32 (line 1): 1e39 is out of range for float32"}},
	{name: "float64 overflow", in: "f64: 1e400\n", wantErr: []string{"f64 (line 1): 1e400 is out of range for float64"}},
	{name: "float from hex integer", in: "f64: 0x10\n", want: kindsConfig{F64: 16}},
	{name: "array", in: "pair: [a, b]\n", want: kindsConfig{Pair: [2]string{"a", "b"}}},
	{name: "array too short", in: "pair: [a]\n", wantErr: []string{"pair (line 1): want a list of exactly 2 items, got 1"}},
	{name: "array too long", in: "pair: [a, b, c]\n", wantErr: []string{"want a list of exactly 2 items, got 3"}},
	{name: "array from scalar", in: "pair: a\n", wantErr: []string{"pair (line 1): want a list, got a string"}},
	{name: "map of ints", in: "counts: {a: 1, b: 2}\n", want: kindsConfig{Counts: map[string]int{"a": 1, "b": 2}}},
	{name: "map value error", in: "counts:\n  a: 1\n  b: x\n", wantErr: []string{`counts.b (line 3): want an integer, got a string "x"`}},
	{name: "map of pointers to structs", in: "limits:\n  eu: {rate: 1.5, burst: 10}\n  us: ~\n",
		want: kindsConfig{Limits: map[string]*limits{"eu": {Rate: 1.5, Burst: 10}, "us": nil}}},
	{name: "map of structs unknown field", in: "limits:\n  eu: {rat: 1}\n", wantErr: []string{`limits.eu.rat (line 2): unknown field "rat" (did you mean "rate"?)`}},
	{name: "map of maps", in: "deep:\n  a: {x: true}\n  b.c: {y: false}\n", want: kindsConfig{Deep: map[string]map[string]bool{"a": {"x": true}, "b.c": {"y": false}}}},
	{name: "map of maps error path", in: "deep:\n  b.c: {y: 1}\n", wantErr: []string{`deep["b.c"].y (line 2): want true or false, got an integer "1"`}},
	{name: "map with named string key", in: "regions: {eu: west}\n", want: kindsConfig{Regions: map[region]string{"eu": "west"}}},
	{name: "map from list", in: "counts: [a]\n", wantErr: []string{"counts (line 1): want a mapping, got a list"}},
	{name: "sizes in a list", in: "buffers: [1KiB, 2048, 1MB]\n", want: kindsConfig{Buffers: []int64{1024, 2048, 1_000_000}}},
	{name: "size error in a list", in: "buffers: [1KiB, 2M]\n", wantErr: []string{`buffers[1] (line 1): invalid size "2M": unit "M" is ambiguous`}},
	{name: "size too large for field", in: "small: 64KiB\n", wantErr: []string{"small (line 1): size 64KiB is too large for uint16 (0 to 65535)"}},
	{name: "size fits field", in: "small: 63KiB\n", want: kindsConfig{Small: 63 << 10}},
	{name: "size through pointer", in: "quota: 1TiB\n", want: kindsConfig{Quota: ptr(uint64(1 << 40))}},
	{name: "duration through pointer", in: "timeout: 1m\n", want: kindsConfig{Timeout: ptr(time.Minute)}},
	{name: "pointer to empty string", in: "name: ''\n", want: kindsConfig{Name: ptr("")}},
	{name: "pointer null stays nil", in: "name: ~\ntimeout:\n"},
	{name: "list of addresses", in: "addrs: [192.0.2.1, '2001:db8::1']\n", want: kindsConfig{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}}},
	{name: "address error path", in: "addrs:\n- 192.0.2.1\n- 300.1.1.1\n", wantErr: []string{`addrs[1] (line 3): invalid netip.Addr "300.1.1.1"`}},
	{name: "alias cycle", in: "nested: &n [[a], *n]\n", wantErr: []string{"nested[1][1] (line 1): alias *n refers to a value that contains the alias"}},
	{name: "nested lists", in: "nested: [[a], [], [b, c]]\n", want: kindsConfig{Nested: [][]string{{"a"}, nil, {"b", "c"}}}},
	{name: "nested list error path", in: "nested:\n- [a]\n- [b, [c]]\n", wantErr: []string{"nested[1][1] (line 3): want a string, got a list"}},
	{name: "pointer to empty list", in: "tags: []\n", want: kindsConfig{Tags: ptr([]string(nil))}},
	{name: "pointer to list", in: "tags: [a]\n", want: kindsConfig{Tags: ptr([]string{"a"})}},
	{name: "inline fields", in: "version: 3\nowner: ops\ni8: 1\n", want: kindsConfig{Base: Base{Version: 3, Owner: "ops"}, I8: 1}},
	{name: "inline struct name is not a key", in: "base: {version: 3}\n", wantErr: []string{`base (line 1): unknown field "base"`}},
	{name: "dash tagged field is unknown", in: "Ignored: x\n", wantErr: []string{`Ignored (line 1): unknown field "Ignored"`}},
	{name: "dash key is unknown", in: "'-': x\n", wantErr: []string{`- (line 1): unknown field "-"`}},
}

func TestDecodeKinds(t *testing.T) {
	runDecodeCases(t, kindsCases)
}

var treeCases = []decodeCase[treeConfig]{
	{name: "recursive type", in: "root: {name: a, children: [{name: b}, {name: c, children: [{name: d}]}]}\n",
		want: treeConfig{Root: tree{Name: "a", Children: []tree{{Name: "b"}, {Name: "c", Children: []tree{{Name: "d"}}}}}}},
	{name: "alias reuses a subtree", in: "root: {name: a, children: [&b {name: b}, *b]}\n",
		want: treeConfig{Root: tree{Name: "a", Children: []tree{{Name: "b"}, {Name: "b"}}}}},
	{name: "alias cycle", in: "root: &t {name: a, children: [*t]}\n",
		wantErr: []string{"root.children[0].children[0] (line 1): alias *t refers to a value that contains the alias"}, wantN: 1},
	{name: "pointer cycle", in: "root: {next: &n {name: a, next: *n}}\n",
		wantErr: []string{"root.next.next.next (line 1): alias *n refers to a value that contains the alias"}, wantN: 1},
}

func TestDecodeRecursiveType(t *testing.T) {
	runDecodeCases(t, treeCases)
}

// TestDecodeDoesNotWriteThroughDefaults checks that pointers, maps and
// slices held by dst before Decode are replaced, not modified, so defaults
// shared between configs stay intact.
func TestDecodeDoesNotWriteThroughDefaults(t *testing.T) {
	sharedAdmin := &adminConfig{Token: "default"}
	sharedLabels := map[string]string{"a": "x"}
	sharedListen := []string{":80", ":443"}
	sharedNested := []siteConfig{{Name: "default", Hosts: []string{"h"}}}
	dst := testConfig{
		Admin:  sharedAdmin,
		Labels: sharedLabels,
		HTTP:   httpConfig{Listen: sharedListen},
		Sites:  sharedNested,
	}
	in := "admin: {token: new}\nlabels: {a: y, b: z}\nhttp: {listen: [':8080', ':8443']}\nsites: [{name: s, hosts: [n]}]\n"
	if err := Decode([]byte(in), &dst); err != nil {
		t.Fatal(err)
	}
	if sharedAdmin.Token != "default" {
		t.Errorf("Decode wrote through the admin pointer: %q", sharedAdmin.Token)
	}
	if dst.Admin == sharedAdmin || dst.Admin.Token != "new" {
		t.Errorf("dst.Admin = %p %+v, want a new pointer with token new", dst.Admin, dst.Admin)
	}
	if !reflect.DeepEqual(sharedLabels, map[string]string{"a": "x"}) {
		t.Errorf("Decode modified the default map: %v", sharedLabels)
	}
	if !reflect.DeepEqual(sharedListen, []string{":80", ":443"}) {
		t.Errorf("Decode modified the default slice: %v", sharedListen)
	}
	if !reflect.DeepEqual(sharedNested, []siteConfig{{Name: "default", Hosts: []string{"h"}}}) {
		t.Errorf("Decode modified the default sites: %v", sharedNested)
	}

	// Pointer fields merge into a copy of the old pointee.
	dst = testConfig{Admin: sharedAdmin}
	if err := Decode([]byte("admin: {listen: '127.0.0.1:1'}\n"), &dst); err != nil {
		t.Fatal(err)
	}
	if dst.Admin == sharedAdmin || dst.Admin.Token != "default" || dst.Admin.Listen.Port() != 1 {
		t.Errorf("dst.Admin = %p %+v, want a copy keeping the default token", dst.Admin, dst.Admin)
	}
	if sharedAdmin.Listen.IsValid() {
		t.Errorf("Decode wrote through the admin pointer: %+v", sharedAdmin)
	}
}

func TestDecodeUnexportedFieldsUntouched(t *testing.T) {
	k := kindsConfig{skipped: 7, Ignored: "keep"}
	if err := Decode([]byte("version: 1\n"), &k); err != nil {
		t.Fatal(err)
	}
	if k.skipped != 7 || k.Ignored != "keep" || k.Version != 1 {
		t.Errorf("got %+v", k)
	}
}

func TestDecodeFieldErrorDetails(t *testing.T) {
	var c testConfig
	err := Decode([]byte("node:\n  id: a\ncache:\n  max_ttl: 30\n"), &c)
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(%v, *FieldError) = false", err)
	}
	if fe.Path != "cache.max_ttl" || fe.Line != 4 {
		t.Errorf("FieldError = {Path: %q, Line: %d}, want {cache.max_ttl, 4}", fe.Path, fe.Line)
	}

	// The error of a TextUnmarshaler stays reachable.
	err = Decode([]byte("anycast_prefix: x\n"), &c)
	var target interface{ Unwrap() error }
	if !errors.As(err, &fe) || !errors.As(fe.Err, &target) {
		t.Errorf("the UnmarshalText error is not wrapped: %v", err)
	}
}

// Types that Decode and Encode refuse, whatever the input.
type (
	withAny struct {
		Extra any `yaml:"extra"`
	}
	withAnyMap struct {
		Extra map[string]any `yaml:"extra"`
	}
	withIntKeys struct {
		M map[int]string `yaml:"m"`
	}
	withUnitOnString struct {
		S string `yaml:"s" unit:"bytes"`
	}
	withUnitOnDuration struct {
		D time.Duration `yaml:"d" unit:"bytes"`
	}
	withBadUnit struct {
		N int `yaml:"n" unit:"seconds"`
	}
	withUnexported struct {
		n int `yaml:"n"`
	}
	withInlinePointer struct {
		*Base `yaml:",inline"`
	}
	withDuplicate struct {
		Base    `yaml:",inline"`
		Version string `yaml:"version"`
	}
	withChan struct {
		C chan int `yaml:"c"`
	}
	withBadSecret struct {
		S string `yaml:"s" secret:"yes"`
	}
	withNestedAny struct {
		Inner struct {
			List []any `yaml:"list"`
		} `yaml:"inner"`
	}
)

func TestUnsupportedTypes(t *testing.T) {
	_ = withUnexported{n: 0}.n
	for _, tc := range []struct {
		name string
		dst  any
		want string
	}{
		{"interface field", &withAny{}, `confload: unsupported config type confload.withAny: confload.withAny.Extra (yaml "extra"): interface type interface {} is not allowed; config fields must have a concrete type`},
		{"map of interfaces", &withAnyMap{}, "interface type interface {} is not allowed"},
		{"nested list of interfaces", &withNestedAny{}, `Inner (yaml "inner").List (yaml "list")[]: interface type`},
		{"int map keys", &withIntKeys{}, "map key type int is not allowed; map keys must be strings"},
		{"unit on string", &withUnitOnString{}, `unit:"bytes" needs an integer type, not string`},
		{"unit on duration", &withUnitOnDuration{}, `unit:"bytes" needs an integer type, not time.Duration`},
		{"unknown unit", &withBadUnit{}, `field N: unknown unit tag "seconds"`},
		{"unexported tagged field", &withUnexported{}, `field n has yaml tag "n" but is unexported`},
		{"inline pointer", &withInlinePointer{}, "yaml inline needs a struct"},
		{"duplicate key", &withDuplicate{}, `fields Base.Version and Version both use the YAML key "version"`},
		{"chan field", &withChan{}, "type chan int (kind chan) is not supported"},
		{"bad secret tag", &withBadSecret{}, `secret tag must be "true" or "false"`},
		{"nil dst", nil, "confload: Decode needs a non-nil pointer to a struct, got <nil>"},
		{"non-pointer dst", testConfig{}, "confload: Decode needs a non-nil pointer to a struct, got confload.testConfig"},
		{"nil pointer dst", (*testConfig)(nil), "got *confload.testConfig"},
		{"pointer to int", ptr(1), "got *int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Decode([]byte("{}"), tc.dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %v, want it to contain %q", err, tc.want)
			}
			if _, ok := tc.dst.(*withAny); ok {
				if _, err := Encode(tc.dst); err == nil || !strings.Contains(err.Error(), "interface type") {
					t.Errorf("Encode error = %v, want an interface type error", err)
				}
			}
		})
	}
}
