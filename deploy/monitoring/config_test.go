package monitoring

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every node config passes edged -check (the same validation as a start,
// plus opening the geo database), with its host files in a sandbox.
func TestRegionConfigsCheck(t *testing.T) {
	_, fleet := loadFleet(t)
	bin := edged(t)
	for _, n := range fleet {
		t.Run(n.name(), func(t *testing.T) {
			out, err := run(t, 30*time.Second, bin, "-check", n.local)
			if err != nil {
				t.Fatalf("edged -check %s: %v\n%s", n.file, err, out)
			}
		})
	}
}

// The six configs form one consistent fleet: three regions of two nodes,
// the same sites, zone and geodata everywhere, each node serving and
// announcing its own region's VIP and the DNS addresses, and addresses
// only from the documentation ranges.
func TestRegionConfigsFleet(t *testing.T) {
	sb, fleet := loadFleet(t)
	first := fleet[0]
	geoRegions := map[string]bool{}
	for _, r := range first.cfg.Geodata.Regions {
		geoRegions[r.Name] = true
	}
	perRegion := map[string]int{}
	seen := map[string]map[string]string{"node.id": {}, "admin.listen": {}, "bgp.router_id": {}}
	unique := func(n *fleetNode, what, v string) {
		if other, ok := seen[what][v]; ok {
			t.Errorf("%s: %s %q is also %s's", n.file, what, v, other)
		}
		seen[what][v] = n.file
	}
	for _, n := range fleet {
		c := n.cfg
		perRegion[n.region]++
		if c.Node.Region != n.region {
			t.Errorf("%s: node.region %q, but the file is under %s/", n.file, c.Node.Region, n.region)
		}
		if !geoRegions[n.region] {
			t.Errorf("%s: region %q is not one of geodata.regions", n.file, n.region)
		}
		unique(n, "node.id", c.Node.ID)
		unique(n, "admin.listen", c.Admin.Listen)
		if c.BGP == nil {
			t.Fatalf("%s: no bgp section", n.file)
		}
		unique(n, "bgp.router_id", c.BGP.RouterID)

		// Sections that must be the same on every node.
		for _, k := range []string{"sites", "dns", "geodata", "cache", "compression", "health"} {
			if !reflect.DeepEqual(n.doc[k], first.doc[k]) {
				t.Errorf("%s: section %s differs from %s's; it must be the same fleet-wide", n.file, k, first.file)
			}
		}

		// The node serves its region's geo addresses on port 80 and
		// announces them, plus every name server address, and nothing of
		// another region.
		if c.DNS == nil || len(c.DNS.Zones) == 0 {
			t.Fatalf("%s: no dns zone", n.file)
		}
		prefixes := c.BGP.Prefixes
		want := map[string]bool{}
		for _, z := range c.DNS.Zones {
			for _, ns := range z.NS {
				for _, a := range ns.Addresses {
					want[hostPrefix(t, a)] = true
					if !slices.Contains(c.DNS.Listen, net.JoinHostPort(a, "53")) {
						t.Errorf("%s: dns.listen lacks name server address %s:53", n.file, a)
					}
				}
			}
			for _, g := range z.Geo {
				for region, rec := range g.Regions {
					for _, a := range slices.Concat(rec.A, rec.AAAA) {
						p := hostPrefix(t, a)
						if region == n.region {
							want[p] = true
							if !slices.Contains(c.HTTP.Listen, net.JoinHostPort(a, "80")) {
								t.Errorf("%s: http.listen lacks its region's address %s:80 (geo %s)", n.file, a, g.Name)
							}
						} else if slices.Contains(prefixes, p) {
							t.Errorf("%s: announces %s of region %s", n.file, p, region)
						}
					}
				}
			}
		}
		for p := range want {
			if !slices.Contains(prefixes, p) {
				t.Errorf("%s: bgp.prefixes lacks %s", n.file, p)
			}
		}
		// Two routers per address family in use.
		fam := map[bool]int{}
		for _, nb := range c.BGP.Neighbors {
			fam[netip.MustParseAddr(nb.Address).Is4()]++
		}
		if fam[true] < 2 || fam[false] < 2 {
			t.Errorf("%s: want two IPv4 and two IPv6 BGP neighbours (both routers, both families), got %v", n.file, fam)
		}
		// Prometheus scrapes the admin address with a read token.
		if host, _, _ := net.SplitHostPort(c.Admin.Listen); netip.MustParseAddr(host).IsLoopback() {
			t.Errorf("%s: admin.listen %s is loopback: Prometheus cannot scrape it", n.file, c.Admin.Listen)
		}
		readToken := false
		for _, tok := range c.Admin.Tokens {
			readToken = readToken || tok.Name == "prometheus" && slices.Contains(tok.Scopes, "read")
		}
		if !readToken {
			t.Errorf("%s: no admin token named prometheus with scope read", n.file)
		}
		// Every file the node touches lives under the host directories
		// (the sandbox here).
		files := []string{c.Geodata.Database, c.Geodata.CoverageFile, c.Admin.AuditLog, c.Health.MaintenanceFile}
		for _, tok := range c.Admin.Tokens {
			files = append(files, tok.TokenFile)
		}
		for _, f := range files {
			if f != "" && !strings.HasPrefix(f, sb.dir+"/") {
				t.Errorf("%s: %s is outside %v", n.file, f, hostDirs)
			}
		}
		if c.Health.MaintenanceFile == "" {
			t.Errorf("%s: no health.maintenance_file", n.file)
		}
		checkDocAddresses(t, n.file, n.raw)
	}
	for r := range geoRegions {
		if perRegion[r] != 2 {
			t.Errorf("region %s has %d node configs, want 2", r, perRegion[r])
		}
	}
	for r := range perRegion {
		if !geoRegions[r] {
			t.Errorf("deploy/regions/%s is not a region of geodata.regions", r)
		}
	}
}

// hostPrefix returns the /32 or /128 of an address.
func hostPrefix(t *testing.T, a string) string {
	t.Helper()
	ip, err := netip.ParseAddr(a)
	if err != nil {
		t.Fatal(err)
	}
	return netip.PrefixFrom(ip, ip.BitLen()).String()
}

var (
	ipv4RE = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}\b`)
	ipv6RE = regexp.MustCompile(`(?i)\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}`)
	// Documentation ranges (RFC 5737, RFC 3849) minus 192.0.2.0/24, which
	// the project keeps out of examples, plus loopback.
	docRanges = []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("127.0.0.0/8"),
	}
)

// checkDocAddresses fails for every IP address in text outside the
// documentation ranges.
func checkDocAddresses(t *testing.T, file string, text []byte) {
	t.Helper()
	var addrs []string
	addrs = append(addrs, ipv4RE.FindAllString(string(text), -1)...)
	addrs = append(addrs, ipv6RE.FindAllString(string(text), -1)...)
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue // not an address (a time, a community)
		}
		ok := false
		for _, p := range docRanges {
			ok = ok || p.Contains(a)
		}
		if !ok {
			t.Errorf("%s: address %s is not from 198.51.100.0/24, 203.0.113.0/24 or 2001:db8::/32", file, a)
		}
	}
}

// The Prometheus config scrapes exactly the fleet: one target per node
// config, "<node.id>@<admin.listen>", in a group labelled with its region.
func TestPrometheusTargetsMatchFleet(t *testing.T) {
	_, fleet := loadFleet(t)
	want := map[string]bool{}
	for _, n := range fleet {
		want[fmt.Sprintf("%s %s@%s", n.cfg.Node.Region, n.cfg.Node.ID, n.cfg.Admin.Listen)] = true
	}
	var cfg promConfig
	yamlFile(t, promConfigFile, &cfg)
	got := map[string]bool{}
	sc := cfg.job(t, promJob)
	for _, g := range sc.StaticConfigs {
		for _, tg := range g.Targets {
			got[g.Labels["region"]+" "+tg] = true
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s targets of job %s:\n got %v\nwant %v (from %s)", promConfigFile, promJob, keys(got), keys(want), regionsDir)
	}
	checkDocAddresses(t, promConfigFile, readFile(t, promConfigFile))
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// promConfig is the part of prometheus.yml the tests read.
type promConfig struct {
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName       string `yaml:"job_name"`
	StaticConfigs []struct {
		Labels  map[string]string `yaml:"labels"`
		Targets []string          `yaml:"targets"`
	} `yaml:"static_configs"`
	MetricRelabelConfigs []struct {
		SourceLabels []string `yaml:"source_labels"`
		Regex        string   `yaml:"regex"`
		TargetLabel  string   `yaml:"target_label"`
		Action       string   `yaml:"action"`
	} `yaml:"metric_relabel_configs"`
}

func (c *promConfig) job(t *testing.T, name string) *scrapeConfig {
	t.Helper()
	for i := range c.ScrapeConfigs {
		if c.ScrapeConfigs[i].JobName == name {
			return &c.ScrapeConfigs[i]
		}
	}
	t.Fatalf("%s: no scrape config with job_name %s", promConfigFile, name)
	return nil
}

// unit is a parsed systemd unit: section → key → values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	u := unit{}
	sec := ""
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, path)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			sec = strings.Trim(line, "[]")
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("%s: cannot parse %q", path, line)
			}
			u[sec][k] = append(u[sec][k], v)
		}
	}
	return u
}

func (u unit) get(sec, key string) string {
	v := u[sec][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// The unit runs edged as a dedicated user with only the capability to
// bind ports below 1024, in a read-only system, and stops it no sooner
// than the drain of every shipped config takes; systemd-analyze accepts
// it.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, unitFile)
	s := "Service"
	for key, want := range map[string]string{
		"User":                    "edgecdn",
		"Group":                   "edgecdn",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"LimitNOFILE":             "1048576",
		"Restart":                 "on-failure",
		"KillSignal":              "SIGTERM",
		"ExecStart":               "/usr/local/bin/edged -config /etc/edgecdn/edged.yaml -log-format json",
	} {
		if got := u.get(s, key); got != want {
			t.Errorf("[Service] %s=%q, want %q", key, got, want)
		}
	}
	if u.get(s, "DynamicUser") == "yes" {
		t.Error("DynamicUser=yes: the node needs a fixed user that owns its token files")
	}
	if !slices.Contains(u[s]["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter=%v lacks @system-service", u[s]["SystemCallFilter"])
	}
	rw := strings.Fields(strings.Join(u[s]["ReadWritePaths"], " "))
	for _, d := range []string{"/var/lib/edgecdn", "/var/log/edgecdn"} {
		if !slices.Contains(rw, d) {
			t.Errorf("ReadWritePaths=%v lacks %s", rw, d)
		}
	}
	if d, err := time.ParseDuration(u.get(s, "RestartSec")); err != nil || d <= 0 {
		t.Errorf("RestartSec=%q: want a positive duration", u.get(s, "RestartSec"))
	}
	if got, want := u[s]["ExecReload"], []string{"/usr/local/bin/edged -check /etc/edgecdn/edged.yaml", "/bin/kill -HUP $MAINPID"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ExecReload=%q, want %q (validate, then SIGHUP)", got, want)
	}
	if got, want := u.get(s, "ExecStartPre"), "/usr/local/bin/edged -check /etc/edgecdn/edged.yaml"; got != want {
		t.Errorf("ExecStartPre=%q, want %q", got, want)
	}

	// edged gives itself shutdown_grace + drain_delay + lameduck + 5s
	// (cmd/edged); systemd must not kill it before.
	stop, err := time.ParseDuration(u.get(s, "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%q: %v", u.get(s, "TimeoutStopSec"), err)
	}
	_, fleet := loadFleet(t)
	for _, n := range fleet {
		h := n.cfg.Health
		budget := n.cfg.HTTP.ShutdownGrace + *h.DrainDelay + *h.Lameduck + 5*time.Second
		if stop <= budget {
			t.Errorf("%s: shutdown_grace %s + drain_delay %s + lameduck %s + 5s = %s, not below TimeoutStopSec %s",
				n.file, n.cfg.HTTP.ShutdownGrace, *h.DrainDelay, *h.Lameduck, budget, stop)
		}
	}

	t.Run("systemd-analyze", func(t *testing.T) {
		sa := tool(t, "systemd-analyze", "systemd")
		// verify wants the binaries to exist: point the unit at a real edged.
		text := strings.ReplaceAll(string(readFile(t, unitFile)), "/usr/local/bin/edged", edged(t))
		path := filepath.Join(t.TempDir(), "edged.service")
		writeFile(t, path, []byte(text))
		out, err := run(t, 30*time.Second, sa, "verify", path)
		if err != nil || strings.Contains(out, "edged.service") {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		if out != "" {
			t.Logf("systemd-analyze verify (not about the unit):\n%s", out)
		}
		// The exposure score (0 best, 10 worst): 3.0 at most.
		out, err = run(t, 30*time.Second, sa, "security", "--offline=true", "--threshold=30", "--no-pager", path)
		if strings.Contains(out, "unrecognized option") || strings.Contains(out, "Unknown command") {
			t.Logf("systemd-analyze security --offline is not supported here:\n%s", out)
			return
		}
		if err != nil {
			t.Fatalf("systemd-analyze security: exposure above 3.0 (%v):\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		t.Log(lines[len(lines)-1])
	})
}

// The operator notes name every shipped file.
func TestREADMEListsArtefacts(t *testing.T) {
	readme := string(readFile(t, filepath.Join(deployDir, "README.md")))
	for _, f := range []string{"regions/", "edged.service", "prometheus/prometheus.yml", "prometheus/rules/edgecdn.rules.yml", "prometheus/tests/edgecdn.test.yml", "grafana/edgecdn.json"} {
		if !strings.Contains(readme, f) {
			t.Errorf("deploy/README.md does not mention %s", f)
		}
	}
}
