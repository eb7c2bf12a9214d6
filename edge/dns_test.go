package edge_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// dnsRegions are three regions keyed by continent, as in the demo config.
const dnsRegions = `geodata:
  check_interval: 20ms
  regions:
    - {name: eu, latitude: 50.11, longitude: 8.68, continents: [EU, AF]}
    - {name: na, latitude: 39.04, longitude: -77.49, continents: [NA, SA]}
    - {name: apac, latitude: 1.35, longitude: 103.82, continents: [AS, OC]}
`

// dnsZone is the demo zone with a geo name over the three regions.
const dnsZone = `dns:
  listen: ["127.0.0.1:8053"]
  zones:
    - name: cdn.demo.test
      ns:
        - name: ns1.cdn.demo.test
          addresses: ["127.0.0.1"]
      records:
        - {name: static, type: A, values: ["127.0.0.1"]}
      geo:
        - name: www
          ttl: 60s
          regions:
            eu: {a: ["127.0.0.11"]}
            na: {a: ["127.0.0.12"]}
            apac: {a: ["127.0.0.13"]}
`

// query sends one A query for name over net ("udp" or "tcp"), with an
// ECS option for subnet unless it is the zero prefix.
func query(t *testing.T, server, network, name string, subnet netip.Prefix) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	if subnet.IsValid() {
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(subnet.Bits()), Address: subnet.Addr().AsSlice()}
		if subnet.Addr().Is6() {
			e.Family = 2
		}
		o := m.IsEdns0()
		o.Option = append(o.Option, e)
	}
	c := &dns.Client{Net: network, Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, subnet, err)
	}
	return r
}

func answerA(r *dns.Msg) string {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

func ecsOf(r *dns.Msg) *dns.EDNS0_SUBNET {
	if o := r.IsEdns0(); o != nil {
		for _, op := range o.Option {
			if e, ok := op.(*dns.EDNS0_SUBNET); ok {
				return e
			}
		}
	}
	return nil
}

// The demo node answers geo DNS over UDP and TCP from its generated
// database: each documentation subnet lands in its continent's region,
// the ECS scope is the one geodata computes for it, and a query without
// ECS is routed by the resolver's address and gets no ECS back.
func TestDNSDemoNode(t *testing.T) {
	o := origintest.New(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+"demo:\n  listen: 127.0.0.1:0\n"+dnsZone+dnsRegions)
	// The same database and regions, for the expected scopes.
	b, err := geodatatest.Build(geodatatest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := edge.ParseConfig([]byte(edgetest.SiteConfig(o.URL) + "demo:\n  listen: 127.0.0.1:0\n" + dnsZone + dnsRegions))
	if err != nil {
		t.Fatal(err)
	}
	geo, err := geodata.New(*cfg.Geodata, geodata.WithDatabaseBytes(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		subnet string
		want   string
	}{
		{"198.51.100.0/24", "127.0.0.11"},    // DE, FR, GB: EU
		{"203.0.113.0/24", "127.0.0.13"},     // SG, JP, AU
		{"198.19.7.0/24", "127.0.0.12"},      // BR: SA
		{"198.18.1.0/24", "127.0.0.12"},      // US-CA: NA
		{"2001:db8:8000::/48", "127.0.0.11"}, // DE
		{"2001:db8:c000::/48", "127.0.0.13"}, // SG
		{"2001:db8::/48", "127.0.0.12"},      // US-VA
	} {
		p := netip.MustParsePrefix(c.subnet)
		for _, network := range []string{"udp", "tcp"} {
			r := query(t, n.DNS, network, "www.cdn.demo.test", p)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || answerA(r) != c.want {
				t.Errorf("%s %s: rcode %d aa %v answer %q, want %s", network, c.subnet, r.Rcode, r.Authoritative, answerA(r), c.want)
				continue
			}
			e := ecsOf(r)
			want := geo.Locate(p.Addr()).Scope.Bits()
			if e == nil || e.SourceNetmask != uint8(p.Bits()) || int(e.SourceScope) != want {
				t.Errorf("%s %s: ECS %v, want source /%d scope /%d", network, c.subnet, e, p.Bits(), want)
			}
		}
	}
	// Static records are the same everywhere: scope 0.
	r := query(t, n.DNS, "udp", "static.cdn.demo.test", netip.MustParsePrefix("198.51.100.0/24"))
	if answerA(r) != "127.0.0.1" || ecsOf(r) == nil || ecsOf(r).SourceScope != 0 {
		t.Errorf("static: answer %q ECS %v, want 127.0.0.1 with scope 0", answerA(r), ecsOf(r))
	}
	// No ECS: routed by the resolver's address (127.0.0.1: no location,
	// the default region, eu), no ECS in the answer.
	r = query(t, n.DNS, "udp", "www.cdn.demo.test", netip.Prefix{})
	if answerA(r) != "127.0.0.11" || ecsOf(r) != nil {
		t.Errorf("no ECS: answer %q ECS %v, want 127.0.0.11 without ECS", answerA(r), ecsOf(r))
	}
	// Outside the zone: REFUSED.
	if r := query(t, n.DNS, "udp", "www.example.org", netip.Prefix{}); r.Rcode != dns.RcodeRefused {
		t.Errorf("outside the zone: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if got := n.Metric(t, "edge_dns_geodata_lookups_total"); got < 1 {
		t.Errorf("edge_dns_geodata_lookups_total = %v", got)
	}
	// The IPv4 subnets above were answered from the /24 block table.
	if got := n.Metric(t, "edge_dns_geodata_table_hits_total"); got < 1 {
		t.Errorf("edge_dns_geodata_table_hits_total = %v", got)
	}
	if got := n.Metric(t, "edge_dns_geodata_ipv4_table_blocks"); got < 1<<23 {
		t.Errorf("edge_dns_geodata_ipv4_table_blocks = %v, want most of 16777216", got)
	}
}

// A node on a database file follows the file (the watcher reloads it) and
// a config reload (new zone addresses), and counts the reloads.
func TestDNSFileDatabaseAndReload(t *testing.T) {
	o := origintest.New(t)
	dir := t.TempDir()
	p := netip.MustParsePrefix
	nets := []geodatatest.Net{{Prefix: p("198.51.100.0/24"), Continent: "EU", Country: "DE", Latitude: 50.11, Longitude: 8.68}}
	path := geodatatest.WriteFile(t, dir, nets)
	yaml := edgetest.SiteConfig(o.URL) + dnsZone + strings.Replace(dnsRegions, "geodata:\n", "geodata:\n  database: "+path+"\n", 1)
	n := edgetest.Start(t, yaml)
	subnet := p("198.51.100.0/24")
	if got := answerA(query(t, n.DNS, "udp", "www.cdn.demo.test", subnet)); got != "127.0.0.11" {
		t.Fatalf("before: %s, want eu's 127.0.0.11", got)
	}
	// The operator's database update moves the subnet to Japan.
	nets[0].Continent, nets[0].Country, nets[0].Latitude, nets[0].Longitude = "AS", "JP", 35.68, 139.69
	geodatatest.ReplaceFile(t, path, nets)
	deadline := time.Now().Add(5 * time.Second)
	for answerA(query(t, n.DNS, "udp", "www.cdn.demo.test", subnet)) != "127.0.0.13" {
		if time.Now().After(deadline) {
			t.Fatal("the database change was not picked up within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := n.Metric(t, "edge_dns_geodata_reloads_total", "result", "ok"); got < 1 {
		t.Errorf("edge_dns_geodata_reloads_total{result=ok} = %v", got)
	}
	// A config reload with new addresses for apac is served at once.
	cfg, err := edge.ParseConfig([]byte(strings.Replace(yaml, "127.0.0.13", "127.0.0.23", 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = n.Config().HTTP.Listen
	cfg.Admin.Listen = n.Config().Admin.Listen
	cfg.DNS.Listen = n.Config().DNS.Listen
	if err := n.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := answerA(query(t, n.DNS, "udp", "www.cdn.demo.test", subnet)); got != "127.0.0.23" {
		t.Errorf("after reload: %s, want 127.0.0.23", got)
	}
	// A bad reload (a region the geodata does not know) changes nothing.
	bad, err := edge.ParseConfig([]byte(strings.Replace(yaml, "apac: {a:", "mars: {a:", 1)))
	if err == nil {
		t.Fatalf("config with an unknown region accepted: %+v", bad.DNS)
	}
	if !strings.Contains(err.Error(), "dns.zones[0].geo[0].regions.mars") {
		t.Errorf("error %q does not name dns.zones[0].geo[0].regions.mars", err)
	}
	if got := answerA(query(t, n.DNS, "udp", "www.cdn.demo.test", subnet)); got != "127.0.0.23" {
		t.Errorf("after the refused reload: %s, want 127.0.0.23", got)
	}
}

// The dns and geodata sections are checked together.
func TestDNSConfigErrors(t *testing.T) {
	site := edgetest.SiteConfig("http://127.0.0.1:1")
	for _, c := range []struct{ name, yaml, want string }{
		{"dns without geodata", site + dnsZone, "geodata: required with a dns section"},
		{"geodata without dns", site + dnsRegions, "geodata: set without a dns section"},
		{"no database without demo", site + dnsZone + dnsRegions, "geodata.database: required"},
		{"bad region", site + "demo:\n  listen: 127.0.0.1:0\n" + strings.Replace(dnsZone, "na: {a:", "nowhere: {a:", 1) + dnsRegions, "dns.zones[0].geo[0].regions.nowhere: no such region"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := edge.ParseConfig([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// dig, as the README shows it, against the demo node: subnets from
// different continents get different regions, and the CLIENT-SUBNET line
// carries the scope.
func TestDNSWithDig(t *testing.T) {
	digPath, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (apt-get install dnsutils); .ci/run installs it")
	}
	o := origintest.New(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+"demo:\n  listen: 127.0.0.1:0\n"+dnsZone+dnsRegions)
	host, port, _ := net.SplitHostPort(n.DNS)
	for subnet, want := range map[string]string{"198.51.100.0/24": "127.0.0.11", "203.0.113.0/24": "127.0.0.13"} {
		for _, transport := range []string{"+notcp", "+tcp"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			out, err := exec.CommandContext(ctx, digPath, "@"+host, "-p", port, "www.cdn.demo.test", "A", "+subnet="+subnet, transport, "+tries=1", "+time=3").CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("dig: %v\n%s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "status: NOERROR") || !strings.Contains(s, "\t"+want+"\n") || !strings.Contains(s, "CLIENT-SUBNET: "+subnet+"/") || !strings.Contains(s, " aa ") {
				t.Errorf("dig %s %s: want NOERROR, aa, %s and the CLIENT-SUBNET echo:\n%s", subnet, transport, want, s)
			}
		}
	}
	if kdig, err := exec.LookPath("kdig"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, kdig, "@"+host, "-p", port, "www.cdn.demo.test", "A", "+subnet=203.0.113.0/24", "+retry=0", "+time=3").CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "127.0.0.13") || !strings.Contains(string(out), "CLIENT-SUBNET: 203.0.113.0/24/") {
			t.Errorf("kdig: %v\n%s", err, out)
		}
	}
}

// CheckFiles (edged -check) opens the geodata files Validate leaves alone.
func TestDNSCheckFiles(t *testing.T) {
	dir := t.TempDir()
	good := geodatatest.WriteFile(t, dir, geodatatest.Demo())
	cov := filepath.Join(dir, "coverage.txt")
	for _, c := range []struct {
		name, db, cov, content, want string
	}{
		{"good", good, "", "", ""},
		{"missing database", filepath.Join(dir, "nope.mmdb"), "", "", "geodata.database: "},
		{"not a database", cov, "", "hello\n", "geodata.database: "},
		{"bad coverage", good, cov, "10.0.0.0/33 eu\n", "geodata.coverage_file: "},
		{"missing coverage", good, filepath.Join(dir, "none.txt"), "", "geodata.coverage_file: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.content != "" {
				if err := os.WriteFile(cov, []byte(c.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			yaml := edgetest.SiteConfig("http://127.0.0.1:1") + dnsZone +
				strings.Replace(dnsRegions, "geodata:\n", "geodata:\n  database: "+c.db+"\n", 1)
			if c.cov != "" {
				yaml = strings.Replace(yaml, "geodata:\n", "geodata:\n  coverage_file: "+c.cov+"\n", 1)
			}
			cfg, err := edge.ParseConfig([]byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = edge.CheckFiles(cfg)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// With a dns section the health machine queries the node's own DNS
// listener; the check is up once the server answers.
func TestDNSHealthCheck(t *testing.T) {
	o := origintest.New(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+"demo:\n  listen: 127.0.0.1:0\n"+dnsZone+dnsRegions+
		"health:\n  interval: 20ms\n  rise: 2\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := n.Health()
		var dnsUp, found bool
		for _, c := range h.Checks {
			if c.Name == "dns" {
				found, dnsUp = true, c.Up
			}
		}
		if !found {
			t.Fatalf("no dns check: %+v", h.Checks)
		}
		if dnsUp && h.State == edge.StateHealthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dns check not up: %+v", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := n.Metric(t, "edge_health_check_results_total", "check", "dns", "result", "ok"); got < 2 {
		t.Errorf("%v ok dns checks", got)
	}
}
