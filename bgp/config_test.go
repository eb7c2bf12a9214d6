package bgp

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// validConfig is a minimal valid section.
func validConfig() Config {
	return Config{
		ASN: 65001, RouterID: "10.0.0.1",
		Neighbors: []NeighborConfig{{Address: "198.18.0.1", ASN: 65000}, {Address: "2001:db8::1", ASN: 65000}},
		Prefixes:  []string{"198.51.100.0/24", "2001:db8:100::/48"},
	}
}

func TestSetDefaults(t *testing.T) {
	c := validConfig()
	c.Neighbors[1].HoldTime = 10 * time.Second
	c.Degraded = &Attributes{}
	c.SetDefaults()
	n := c.Neighbors[0]
	if n.Port != 179 || n.HoldTime != 9*time.Second || n.Keepalive != 3*time.Second || n.ConnectRetry != 5*time.Second {
		t.Errorf("neighbour defaults %+v", n)
	}
	if k := c.Neighbors[1].Keepalive; k != 3*time.Second {
		t.Errorf("keepalive for hold 10s: %s, want whole seconds (3s)", k)
	}
	if *c.Announce.Prepend != 0 || *c.Drain.Prepend != 3 || *c.Degraded.Prepend != 0 {
		t.Errorf("prepend defaults: announce %d drain %d degraded %d", *c.Announce.Prepend, *c.Drain.Prepend, *c.Degraded.Prepend)
	}
	// An explicit 0 stays 0.
	c2 := validConfig()
	c2.Drain.Prepend = ptr(0)
	c2.SetDefaults()
	if *c2.Drain.Prepend != 0 {
		t.Errorf("drain.prepend: 0 became %d", *c2.Drain.Prepend)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// Defaults are idempotent.
	c3 := c
	c3.SetDefaults()
	if !reflect.DeepEqual(c, c3) {
		t.Error("SetDefaults twice changed the config")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no asn", func(c *Config) { c.ASN = 0 }, "asn: required"},
		{"as_trans", func(c *Config) { c.ASN = 23456 }, "asn: 23456 is AS_TRANS"},
		{"reserved asn", func(c *Config) { c.ASN = 4294967295 }, "asn: 4294967295 is reserved"},
		{"no router id", func(c *Config) { c.RouterID = "" }, "router_id: required"},
		{"router id v6", func(c *Config) { c.RouterID = "::1" }, `router_id: "::1" is not an IPv4 address`},
		{"router id zero", func(c *Config) { c.RouterID = "0.0.0.0" }, "router_id: \"0.0.0.0\" is not an IPv4 address other than 0.0.0.0"},
		{"router id short", func(c *Config) { c.RouterID = "10.1" }, "router_id:"},
		{"listen no port", func(c *Config) { c.Listen = "1179" }, `listen: "1179" is not addr:port`},
		{"listen port 0", func(c *Config) { c.Listen = ":0" }, `listen: port "0" is not 1-65535`},
		{"listen name", func(c *Config) { c.Listen = "localhost:179" }, `listen: "localhost" is not an IP address`},
		{"listen all", func(c *Config) { c.Listen = ":1179" }, ""},
		{"no neighbours", func(c *Config) { c.Neighbors = nil }, "neighbors: at least one required"},
		{"no address", func(c *Config) { c.Neighbors[1].Address = "" }, "neighbors[1].address: required"},
		{"bad address", func(c *Config) { c.Neighbors[0].Address = "router1" }, `neighbors[0].address: "router1" is not an IPv4 or IPv6 address`},
		{"multicast address", func(c *Config) { c.Neighbors[0].Address = "224.0.0.5" }, "neighbors[0].address: 224.0.0.5 is not a unicast address"},
		{"zone", func(c *Config) { c.Neighbors[1].Address = "fe80::1%eth0" }, "neighbors[1].address: \"fe80::1%eth0\": a zone"},
		{"duplicate", func(c *Config) { c.Neighbors[1].Address = "198.18.0.1" }, "neighbors[1].address: 198.18.0.1 is also neighbors[0]"},
		{"duplicate spelled otherwise", func(c *Config) {
			c.Neighbors = append(c.Neighbors, NeighborConfig{Address: "2001:DB8:0::1", ASN: 1})
		}, "neighbors[2].address: 2001:DB8:0::1 is also neighbors[1]"},
		{"no neighbour asn", func(c *Config) { c.Neighbors[1].ASN = 0 }, "neighbors[1].asn: required"},
		{"port", func(c *Config) { c.Neighbors[0].Port = 70000 }, "neighbors[0].port: must be 1-65535, got 70000"},
		{"local address", func(c *Config) { c.Neighbors[0].LocalAddress = "x" }, `neighbors[0].local_address: "x" is not an IP address`},
		{"local address family", func(c *Config) { c.Neighbors[0].LocalAddress = "2001:db8::2" }, "neighbors[0].local_address: 2001:db8::2 is not of the family of 198.18.0.1"},
		{"hold time short", func(c *Config) { c.Neighbors[0].HoldTime = 2 * time.Second }, "neighbors[0].hold_time: must be 3s-65535s, got 2s"},
		{"hold time fraction", func(c *Config) { c.Neighbors[0].HoldTime = 4500 * time.Millisecond }, "neighbors[0].hold_time: must be whole seconds, got 4.5s"},
		{"keepalive fraction", func(c *Config) { c.Neighbors[0].Keepalive = 500 * time.Millisecond }, "neighbors[0].keepalive: must be whole seconds"},
		{"keepalive too long", func(c *Config) { c.Neighbors[0].Keepalive = 9 * time.Second }, "neighbors[0].keepalive: must be less than hold_time (9s), got 9s"},
		{"connect retry", func(c *Config) { c.Neighbors[0].ConnectRetry = -time.Second }, "neighbors[0].connect_retry: must be 1s-65535s"},
		{"password", func(c *Config) { c.Neighbors[0].Password = strings.Repeat("x", 81) }, "neighbors[0].password: at most 80 bytes"},
		{"multihop", func(c *Config) { c.Neighbors[0].Multihop = 256 }, "neighbors[0].multihop: must be 0-255, got 256"},
		{"ttl security", func(c *Config) { c.Neighbors[0].TTLSecurity = 255 }, "neighbors[0].ttl_security: must be 0-254, got 255"},
		{"multihop and gtsm", func(c *Config) { c.Neighbors[0].Multihop, c.Neighbors[0].TTLSecurity = 2, 1 }, "neighbors[0].ttl_security: cannot be combined with multihop"},
		{"multihop ibgp", func(c *Config) { c.Neighbors[0].ASN, c.Neighbors[0].Multihop = 65001, 2 }, "neighbors[0].multihop: only for eBGP"},
		{"ibgp", func(c *Config) { c.Neighbors[0].ASN = 65001 }, ""},
		{"passive without listen", func(c *Config) { c.Neighbors[0].Passive = true }, "neighbors[0].passive: needs listen"},
		{"passive other family", func(c *Config) { c.Listen, c.Neighbors[1].Passive = "127.0.0.1:1179", true }, `neighbors[1].passive: listen "127.0.0.1:1179" does not accept 2001:db8::1`},
		{"passive", func(c *Config) { c.Listen, c.Neighbors[0].Passive = "127.0.0.1:1179", true }, ""},
		{"no prefixes", func(c *Config) { c.Prefixes = nil }, "prefixes: at least one required"},
		{"not a prefix", func(c *Config) { c.Prefixes[0] = "10.0.0.0/33" }, `prefixes[0]: "10.0.0.0/33" is not a prefix`},
		{"no length", func(c *Config) { c.Prefixes[0] = "10.0.0.0" }, `prefixes[0]: "10.0.0.0" is not a prefix`},
		{"host bits", func(c *Config) { c.Prefixes[0] = "10.0.0.1/24" }, `prefixes[0]: "10.0.0.1/24" has host bits set (did you mean 10.0.0.0/24?)`},
		{"duplicate prefix", func(c *Config) { c.Prefixes = append(c.Prefixes, "198.51.100.0/24") }, "prefixes[2]: 198.51.100.0/24 is also prefixes[0]"},
		{"no neighbour of the family", func(c *Config) { c.Neighbors = c.Neighbors[:1] }, "prefixes[1]: 2001:db8:100::/48 would never be announced: no neighbour of its family"},
		{"community", func(c *Config) { c.Announce.Communities = []string{"65000:1", "65536:1"} }, `announce.communities[1]: "65536:1" is not a community`},
		{"community name", func(c *Config) { c.Drain.Communities = []string{"NO_EXPORT"} }, `drain.communities[0]: "NO_EXPORT" is not a community`},
		{"large community", func(c *Config) { c.Announce.LargeCommunities = []string{"1:2:3", "1:2"} }, `announce.large_communities[1]: "1:2" is not a large community`},
		{"degraded prepend", func(c *Config) { c.Degraded = &Attributes{Prepend: ptr(-1)} }, "degraded.prepend: must be 0-10, got -1"},
		{"drain prepend", func(c *Config) { c.Drain.Prepend = ptr(11) }, "drain.prepend: must be 0-10, got 11"},
		{"attributes", func(c *Config) {
			c.Announce = Attributes{Communities: []string{"no-export", "65000:0"}, LargeCommunities: []string{"4294967295:0:1"}, MED: ptr(uint32(7)), Prepend: ptr(10)}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			c.SetDefaults()
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("no error, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

// Validate reports every problem at once.
func TestValidateAll(t *testing.T) {
	c := Config{Neighbors: []NeighborConfig{{}}, Prefixes: []string{"x"}}
	c.SetDefaults()
	err := c.Validate()
	for _, want := range []string{"asn: required", "router_id: required", "neighbors[0].address: required",
		"neighbors[0].asn: required", `prefixes[0]: "x" is not a prefix`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestParseCommunity(t *testing.T) {
	for s, want := range map[string]uint32{
		"65000:100": 65000<<16 | 100, "0:0": 0, "65535:65535": 0xFFFFFFFF,
		"graceful-shutdown": 0xFFFF0000, "planned-shut": 0xFFFF0000, "no-export": 0xFFFFFF01,
		"no-advertise": 0xFFFFFF02, "no-export-subconfed": 0xFFFFFF03, "local-as": 0xFFFFFF03,
		"no-peer": 0xFFFFFF04, "blackhole": 0xFFFF029A, "accept-own": 0xFFFF0001,
	} {
		if got, err := parseCommunity(s); err != nil || got != want {
			t.Errorf("parseCommunity(%q) = %#x, %v; want %#x", s, got, err, want)
		}
	}
	for _, s := range []string{"", "65536:0", "1", "1:2:3", "-1:2", "+1:2", " 1:2", "No-Export", "internet"} {
		if _, err := parseCommunity(s); err == nil {
			t.Errorf("parseCommunity(%q) accepted", s)
		}
	}
}

// resolve sorts, dedupes and adds graceful shutdown once.
func TestResolve(t *testing.T) {
	a := Attributes{Communities: []string{"65000:2", "graceful-shutdown", "65000:1", "65000:2"},
		LargeCommunities: []string{"2:0:0", "1:5:0", "1:2:3", "2:0:0"}, Prepend: ptr(3)}
	p := a.resolve(CommunityGracefulShutdown)
	if want := []uint32{65000<<16 | 1, 65000<<16 | 2, CommunityGracefulShutdown}; !reflect.DeepEqual(p.communities, want) {
		t.Errorf("communities %#x, want %#x", p.communities, want)
	}
	if want := []largeCommunity{{1, 2, 3}, {1, 5, 0}, {2, 0, 0}}; !reflect.DeepEqual(p.large, want) {
		t.Errorf("large %v, want %v", p.large, want)
	}
	if p.prepend != 3 || p.med != nil {
		t.Errorf("resolved %+v", p)
	}
}

// readmeSection returns the example bgp section of README.md, without
// the "bgp:" line.
func readmeSection(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "## Configuration")
	_, rest, _ = strings.Cut(rest, "```yaml\nbgp:\n")
	block, _, _ := strings.Cut(rest, "```")
	var out []string
	for _, l := range strings.Split(block, "\n") {
		out = append(out, strings.TrimPrefix(l, "  "))
	}
	return strings.Join(out, "\n")
}

// The README's configuration example decodes strictly, validates, and
// shows the defaults.
func TestReadmeConfig(t *testing.T) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(readmeSection(t))))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	d := c
	d.Neighbors = append([]NeighborConfig(nil), c.Neighbors...)
	d.SetDefaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	// The first neighbour spells out every default.
	if !reflect.DeepEqual(c.Neighbors[0], d.Neighbors[0]) {
		t.Errorf("README neighbour %+v is not the defaults %+v", c.Neighbors[0], d.Neighbors[0])
	}
	if c.Drain.Prepend == nil || *c.Drain.Prepend != DefaultDrainPrepend || *c.Announce.Prepend != 0 {
		t.Error("README shows other prepend defaults")
	}
	if got := c.Announce.Communities; len(got) != 1 || got[0] != "65001:100" {
		t.Errorf("communities decoded as %q", got)
	}
}
