package dnsserver_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/dnsserver"
)

func TestConfigDefaults(t *testing.T) {
	c := decodeConfig(t, `
listen: ["127.0.0.1:53"]
zones:
  - name: Example.COM.
    ns: [{name: ns1, addresses: [192.0.2.1]}]
    geo: [{name: www, regions: {eu: {a: [192.0.2.2]}}}]
`)
	c.SetDefaults()
	if c.UDPSockets != runtime.GOMAXPROCS(0) || c.TCPIdleTimeout != 10*time.Second || c.TCPMaxConns != 1000 || c.AllDown != dnsserver.FailOpen {
		t.Errorf("server defaults: %+v", c)
	}
	want := dnsserver.RRLConfig{ResponsesPerSecond: 100, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56, Window: time.Second}
	if c.RRL != want {
		t.Errorf("rrl defaults %+v, want %+v", c.RRL, want)
	}
	z := c.Zones[0]
	if z.TTL != 300*time.Second || z.SOA.MName != "ns1" || z.SOA.RName != "hostmaster.Example.COM" ||
		z.SOA.Refresh != time.Hour || z.SOA.Retry != 10*time.Minute || z.SOA.Expire != 7*24*time.Hour || z.SOA.Minimum != time.Minute {
		t.Errorf("zone defaults: %+v", z)
	}
	if z.Geo[0].TTL != time.Minute {
		t.Errorf("geo ttl default %s", z.Geo[0].TTL)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second SetDefaults changes nothing (the node and New
	// both call it).
	d := c
	d.SetDefaults()
	if d.RRL != c.RRL || d.Zones[0].SOA != c.Zones[0].SOA {
		t.Error("SetDefaults is not idempotent")
	}
	// slip -1 stays "always drop".
	c.RRL.Slip = -1
	c.SetDefaults()
	if c.RRL.Slip != -1 || c.Validate() != nil {
		t.Errorf("slip -1: %d %v", c.RRL.Slip, c.Validate())
	}
}

// TestConfigErrors: every problem is reported with its field path.
func TestConfigErrors(t *testing.T) {
	base := `
listen: ["127.0.0.1:8053"]
zones:
  - name: cdn.example.com
    ns: [{name: ns1, addresses: [192.0.2.1]}]
`
	rows := []struct {
		name string
		yaml string
		want []string
	}{
		{"no listen, no zones", `{}`, []string{"listen: at least one", "zones: at least one"}},
		{"bad listen", `{listen: ["localhost:53", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:53", "127.0.0.1:53"], zones: []}`,
			[]string{"listen[0]: \"localhost:53\": host must be an IP", "listen[1]:", "listen[2]: \"127.0.0.1:99999\": bad port", "listen[4]: \"127.0.0.1:53\" repeats listen[3]"}},
		{"server knobs", `{listen: [":53"], udp_sockets: 5000, tcp_idle_timeout: -1s, tcp_max_conns: -2, all_down: maybe}`,
			[]string{"udp_sockets: must be 1-1024", "tcp_idle_timeout: must be at least 1ms", "tcp_max_conns: must be at least 1", `all_down: must be "fail-open" or "fail-closed"`}},
		{"rrl", `{listen: [":53"], rrl: {responses_per_second: -1, slip: 11, ipv4_prefix: 33, ipv6_prefix: 129, window: 10ms}}`,
			[]string{"rrl.responses_per_second: must be 1-1000000", "rrl.slip: must be -1", "rrl.ipv4_prefix: must be 1-32", "rrl.ipv6_prefix: must be 1-128", "rrl.window: must be 100ms-1h"}},
		{"zone names", base + `
  - name: cdn.example.com.
    ns: [{name: ns1, addresses: [192.0.2.1]}]
  - name: sub.cdn.example.com
    ns: [{name: ns1, addresses: [192.0.2.1]}]
  - name: "."
  - name: ""
`, []string{`zones[1].name: "cdn.example.com." repeats zones[0]`, "zones[2].name: \"sub.cdn.example.com\" and zones[0] (cdn.example.com.) nest",
			"zones[3].name: the root zone is not supported", "zones[4].name: required"}},
		{"ns", `
listen: [":53"]
zones:
  - name: z.test
    ttl: 1.5s
    ns:
      - {name: ns1}
      - {name: ns1, addresses: [192.0.2.1]}
      - {name: ns.other.test., addresses: [192.0.2.1]}
      - {name: ns2, addresses: [nope]}
  - name: y.test
`, []string{"zones[0].ttl: must be whole seconds", "zones[0].ns[0].addresses: required for a name server inside the zone",
			`zones[0].ns[1].name: "ns1" repeats ns[0]`, "zones[0].ns[2].addresses: ns.other.test. is outside the zone",
			`zones[0].ns[3].addresses[0]: "nope" is not an IP address`, "zones[1].ns: at least one name server", "zones[1].soa.mname: required"}},
		{"soa", base + `    soa: {rname: "me@example.com", refresh: -1s, minimum: 1h1ms}
`, []string{"zones[0].soa.rname: \"me@example.com\": write the mailbox as a name", "zones[0].soa.refresh: must not be negative", "zones[0].soa.minimum: must be whole seconds"}},
		{"records", base + `    records:
      - {name: www.other.test., type: A, values: [192.0.2.1]}
      - {name: x, type: SRV, values: ["1 1 1 x"]}
      - {name: a, type: A, values: ["2001:db8::1"]}
      - {name: a6, type: AAAA, values: ["192.0.2.1"]}
      - {name: e, type: TXT}
      - {name: c, type: CNAME, values: [x, y]}
      - {name: mx, type: MX, values: ["mail.example.com."]}
      - {name: caa, type: CAA, values: ["issue letsencrypt"]}
      - {name: "*.wild", type: A, values: [192.0.2.1]}
      - {name: ttl, type: A, ttl: 60s, values: [192.0.2.1]}
      - {name: ttl, type: A, ttl: 30s, values: [192.0.2.2]}
      - {name: dup, type: A, values: [192.0.2.1, 192.0.2.1]}
      - {name: self, type: CNAME, values: [self]}
      - {name: "bad..name", type: A, values: [192.0.2.1]}
`, []string{`zones[0].records[0].name: "www.other.test." is not inside zone cdn.example.com.`,
			`zones[0].records[1].type: "SRV" is not one of`, `zones[0].records[2].values[0]: "2001:db8::1" is not an IPv4 address`,
			`zones[0].records[3].values[0]: "192.0.2.1" is not an IPv6 address`, "zones[0].records[4].values: at least one value",
			"zones[0].records[5].values: a CNAME has exactly one value, got 2", `zones[0].records[6].values[0]: "mail.example.com.": want "PREFERENCE NAME"`,
			"zones[0].records[7].values[0]:", "zones[0].records[8].name: \"*.wild\": wildcards are not supported",
			"zones[0].records[10]: TTL 30s differs from 60s", "zones[0].records[11]: duplicate A record", "zones[0].records[12].values[0]: a CNAME cannot point to itself",
			`zones[0].records[13].name: "bad..name" is not a domain name`}},
		{"conflicts", base + `    records:
      - {name: c, type: CNAME, values: [x]}
      - {name: c, type: TXT, values: [x]}
      - {name: "@", type: CNAME, values: [x]}
      - {name: g, type: A, values: [192.0.2.1]}
      - {name: ns1, type: A, values: [192.0.2.9]}
    geo:
      - {name: g, regions: {eu: {a: [192.0.2.2]}}}
      - {name: g, regions: {eu: {a: [192.0.2.2]}}}
      - {name: ns1, regions: {eu: {a: [192.0.2.2]}}}
`, []string{"zones[0].records[0]: c.cdn.example.com. has a CNAME and other data", "zones[0].records[2]: cdn.example.com. has a CNAME and the zone's SOA and NS",
			"zones[0].records[3]: g.cdn.example.com. is a geo name (zones[0].geo[0]); it cannot also have static A records",
			"zones[0].records[4]: A addresses of ns1.cdn.example.com. come from zones[0].ns[0].addresses",
			"zones[0].geo[1].name: g.cdn.example.com. is already a geo name in zones[0].geo[0]",
			"zones[0].geo[2].name: ns1.cdn.example.com. is a name server (zones[0].ns[0])"}},
		{"geo", base + `    geo:
      - {name: www, ttl: -5s, regions: {}}
      - name: w2
        regions:
          eu: {a: [192.0.2.1, "2001:db8::1", 192.0.2.1, x], aaaa: [192.0.2.5]}
          "bad region": {a: [192.0.2.1]}
          empty: {}
`, []string{"zones[0].geo[0].ttl: must not be negative", "zones[0].geo[0].regions: at least one region",
			`zones[0].geo[1].regions.eu.a[1]: "2001:db8::1" is not an IPv4 address`, "zones[0].geo[1].regions.eu.a[2]: duplicate address 192.0.2.1",
			`zones[0].geo[1].regions.eu.a[3]: "x" is not an IP address`, `zones[0].geo[1].regions.eu.aaaa[0]: "192.0.2.5" is not an IPv6 address`,
			"zones[0].geo[1].regions.bad region: region name must be", "zones[0].geo[1].regions.empty: needs at least one address"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c := decodeConfig(t, row.yaml)
			c.SetDefaults()
			err := c.Validate()
			if err == nil {
				t.Fatal("valid")
			}
			for _, w := range row.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
			// New refuses the same config.
			if _, nerr := dnsserver.New(c, testLocator(), nil); nerr == nil {
				t.Error("New accepted it")
			}
		})
	}
}

// TestNewNeedsLocator: geo names need a Locator; static zones do not.
func TestNewNeedsLocator(t *testing.T) {
	c := testConfig(t)
	c.Listen = []string{"127.0.0.1:0"}
	if _, err := dnsserver.New(c, nil, nil); err == nil || !strings.Contains(err.Error(), "Locator") {
		t.Errorf("geo zone without a Locator: %v", err)
	}
	c.Zones = c.Zones[1:]
	if _, err := dnsserver.New(c, nil, nil); err != nil {
		t.Errorf("static zone without a Locator: %v", err)
	}
}
