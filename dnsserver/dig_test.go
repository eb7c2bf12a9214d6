package dnsserver_test

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestDigKdig queries the server with the real tools when installed
// (apt-get install -y dnsutils knot-dnsutils).
func TestDigKdig(t *testing.T) {
	srv, _, _ := startTest(t)
	host, port, _ := net.SplitHostPort(srv.Addr)
	tools := []struct {
		name string
		args func(extra ...string) []string
	}{
		{"dig", func(extra ...string) []string {
			return append([]string{"@" + host, "-p", port, "+norecurse", "+time=2", "+tries=1"}, extra...)
		}},
		{"kdig", func(extra ...string) []string {
			return append([]string{"@" + host, "-p", port, "+norecurse", "+time=2", "+retry=0"}, extra...)
		}},
	}
	for _, tool := range tools {
		t.Run(tool.name, func(t *testing.T) {
			path, err := exec.LookPath(tool.name)
			if err != nil {
				t.Skipf("%s not installed (apt-get install -y dnsutils knot-dnsutils)", tool.name)
			}
			run := func(args ...string) string {
				t.Helper()
				out, err := exec.Command(path, tool.args(args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s %v: %v\n%s", tool.name, args, err, out)
				}
				return string(out)
			}
			for _, c := range []struct {
				name  string
				args  []string
				want  []string // regexps that must match
				wantN []string // regexps that must not match
			}{
				{"ECS eu", []string{"www.cdn.demo.test", "A", "+subnet=198.51.100.0/24"},
					[]string{`status: NOERROR`, `(?i)flags: qr aa;`, `www\.cdn\.demo\.test\.\s+60\s+IN\s+A\s+203\.0\.113\.30`,
						`CLIENT-SUBNET: 198\.51\.100\.0/24/22`}, nil},
				{"ECS apac", []string{"www.cdn.demo.test", "A", "+subnet=203.0.113.0/24"},
					[]string{`IN\s+A\s+203\.0\.113\.40`, `CLIENT-SUBNET: 203\.0\.113\.0/24/24`}, nil},
				{"ECS IPv6", []string{"www.cdn.demo.test", "AAAA", "+subnet=2001:db8:8000::/48"},
					[]string{`IN\s+AAAA\s+2001:db8:30::1`, `CLIENT-SUBNET: 2001:db8:8000::/48/34`}, nil},
				{"ECS static scope 0", []string{"static.cdn.demo.test", "A", "+subnet=198.51.100.0/24"},
					[]string{`IN\s+A\s+192\.0\.2\.80`, `CLIENT-SUBNET: 198\.51\.100\.0/24/0`}, nil},
				{"ECS source 0", []string{"www.cdn.demo.test", "A", "+subnet=0.0.0.0/0"},
					[]string{`IN\s+A\s+203\.0\.113\.10`, `CLIENT-SUBNET: 0\.0\.0\.0/0/0`}, nil},
				{"no ECS", []string{"www.cdn.demo.test", "A"},
					[]string{`IN\s+A\s+203\.0\.113\.10`}, []string{`CLIENT-SUBNET`}},
				{"NXDOMAIN", []string{"nope.cdn.demo.test", "A"},
					[]string{`status: NXDOMAIN`, `cdn\.demo\.test\.\s+60\s+IN\s+SOA`}, nil},
				{"NS with glue", []string{"cdn.demo.test", "NS"},
					[]string{`IN\s+NS\s+ns1\.cdn\.demo\.test\.`, `ns1\.cdn\.demo\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.53`}, nil},
				{"ANY", []string{"www.cdn.demo.test", "ANY"},
					[]string{`IN\s+HINFO\s+"RFC8482"`}, nil},
				{"TCP", []string{"+tcp", "big.cdn.demo.test", "TXT"},
					[]string{`IN\s+TXT\s+"bbbb`}, nil},
				{"REFUSED", []string{"www.example.org", "A"},
					[]string{`status: REFUSED`}, nil},
			} {
				t.Run(c.name, func(t *testing.T) {
					out := run(c.args...)
					for _, re := range c.want {
						if !regexp.MustCompile(re).MatchString(out) {
							t.Errorf("no match for %s in\n%s", re, out)
						}
					}
					for _, re := range c.wantN {
						if regexp.MustCompile(re).MatchString(out) {
							t.Errorf("unexpected match for %s in\n%s", re, out)
						}
					}
				})
			}
			// A truncated UDP answer: dig retries over TCP by itself.
			out := run("+bufsize=512", "big.cdn.demo.test", "TXT")
			if !strings.Contains(out, "Truncated, retrying in TCP mode") && !strings.Contains(out, "TC bit") && !strings.Contains(out, "retrying over TCP") {
				t.Logf("%s did not report the TCP retry:\n%s", tool.name, out)
			}
			if !regexp.MustCompile(`IN\s+TXT\s+"bbbb`).MatchString(out) {
				t.Errorf("no full answer after truncation:\n%s", out)
			}
		})
	}
}
