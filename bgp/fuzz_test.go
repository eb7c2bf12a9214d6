package bgp

import (
	"bytes"
	"math/big"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.yaml.in/yaml/v3"
)

// refCommunityNames is the slow reference for well-known names: GoBGP's
// own table (IANA values) less the names we do not take, plus our two
// aliases.
func refCommunityNames() map[string]uint32 {
	out := map[string]uint32{"graceful-shutdown": 0xFFFF0000, "local-as": 0xFFFFFF03}
	for name, v := range gobgp.WellKnownCommunityValueMap {
		if name == "internet" || strings.HasPrefix(name, "route-filter") {
			continue
		}
		out[name] = uint32(v)
	}
	return out
}

var refNumbers = regexp.MustCompile(`^([0-9]+):([0-9]+)$`)

// refParseCommunity is the slow reference: a regexp and big numbers.
func refParseCommunity(names map[string]uint32, s string) (uint32, bool) {
	if v, ok := names[s]; ok {
		return v, true
	}
	m := refNumbers.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	limit := big.NewInt(65535)
	a, _ := new(big.Int).SetString(m[1], 10)
	b, _ := new(big.Int).SetString(m[2], 10)
	if a.Cmp(limit) > 0 || b.Cmp(limit) > 0 {
		return 0, false
	}
	return uint32(a.Uint64()<<16 | b.Uint64()), true
}

func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"65000:100", "0:0", "65535:65535", "65536:0", "1:65536", "no-export", "graceful-shutdown",
		"planned-shut", "NO-EXPORT", "internet", ":1", "1:", "1:2:3", "+1:2", "-1:2", " 1:2", "0x10:1", "1_0:1", "٣:1",
		"00065000:0100", "blackhole", ""} {
		f.Add(s)
	}
	names := refCommunityNames()
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseCommunity(s)
		want, ok := refParseCommunity(names, s)
		if (err == nil) != ok || got != want {
			t.Fatalf("parseCommunity(%q) = %#x, %v; reference %#x, %v", s, got, err, want, ok)
		}
		if err != nil {
			return
		}
		// The canonical form parses back to the same value.
		if back, err := parseCommunity(formatCommunity(got)); err != nil || back != got {
			t.Fatalf("%q -> %s -> %#x, %v", s, formatCommunity(got), back, err)
		}
	})
}

var refLarge = regexp.MustCompile(`^([0-9]+):([0-9]+):([0-9]+)$`)

func FuzzParseLargeCommunity(f *testing.F) {
	for _, s := range []string{"65000:1:2", "0:0:0", "4294967295:4294967295:4294967295", "4294967296:0:0", "1:2",
		"1:2:3:4", "a:b:c", "1::2", "-1:0:0", " 1:2:3", "01:02:03", ""} {
		f.Add(s)
	}
	limit := big.NewInt(4294967295)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseLargeCommunity(s)
		var want largeCommunity
		ok := false
		if m := refLarge.FindStringSubmatch(s); m != nil {
			ok = true
			var v [3]uint32
			for i, d := range m[1:] {
				n, _ := new(big.Int).SetString(d, 10)
				if n.Cmp(limit) > 0 {
					ok = false
					break
				}
				v[i] = uint32(n.Uint64())
			}
			want = largeCommunity{v[0], v[1], v[2]}
		}
		if (err == nil) != ok || ok && got != want {
			t.Fatalf("parseLargeCommunity(%q) = %v, %v; reference %v, %v", s, got, err, want, ok)
		}
		if err == nil {
			if back, err := parseLargeCommunity(got.String()); err != nil || back != got {
				t.Fatalf("%q -> %s -> %v, %v", s, got, back, err)
			}
		}
	})
}

// FuzzConfig decodes a bgp section strictly, as the node does: nothing
// panics, and a config that validates announces nothing but its own
// prefixes in any mode.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(readmeSection(f)))
	f.Add([]byte("asn: 65001\nrouter_id: 10.0.0.1\nneighbors: [{address: 198.18.0.1, asn: 65000}]\nprefixes: [198.51.100.0/24]\n"))
	f.Add([]byte("asn: 65001\nrouter_id: 10.0.0.1\nlisten: ':179'\nneighbors: [{address: '2001:db8::1', asn: 65000, passive: true}]\n" +
		"prefixes: ['2001:db8:1::/48']\ndegraded: {prepend: 2, med: 10}\ndrain: {prepend: 0}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg Config
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return
		}
		cfg.SetDefaults()
		if cfg.Validate() != nil {
			return
		}
		if _, err := New(cfg); err != nil {
			t.Fatalf("validated config refused by New: %v", err)
		}
		own := map[netip.Prefix]bool{}
		for _, s := range cfg.Prefixes {
			own[netip.MustParsePrefix(s)] = true
		}
		for m := ModeWithdrawn; m <= ModeDraining; m++ {
			for p, a := range desired(&cfg, m) {
				if !own[p] {
					t.Fatalf("mode %s announces %s, not configured", m, p)
				}
				if _, err := newPath(p, cfg.ASN, a); err != nil {
					t.Fatalf("mode %s: path for %s: %v", m, p, err)
				}
			}
		}
	})
}
