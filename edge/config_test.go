package edge

import (
	"os"
	"strings"
	"testing"
	"time"
)

const minimalSite = `
sites:
  - name: s
    hosts: ["*"]
    origins:
      - url: http://127.0.0.1:1
`

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings the error must contain (field paths)
	}{
		{"unknown key", "http:\n  lisen: [x]\n" + minimalSite, []string{`http.lisen (line 2): unknown field "lisen"`, `did you mean "listen"`}},
		{"bad duration", "http:\n  idle_timeout: 30\n" + minimalSite, []string{"http.idle_timeout", "duration"}},
		{"bad size", "cache:\n  max_memory: 1G\n" + minimalSite, []string{"cache.max_memory"}},
		{"no sites", "node:\n  id: x\n", []string{"sites: at least one site is required"}},
		{"two problems at once", "http:\n  max_header_bytes: 10\ncompression:\n  gzip_level: 12\n" + minimalSite,
			[]string{"http.max_header_bytes", "compression.gzip_level"}},
		{"bad origin url", "sites:\n  - name: s\n    hosts: [a.example]\n    origins:\n      - url: ftp://x\n", []string{"sites[0].origins[0].url", "scheme must be http or https"}},
		{"origin path", "sites:\n  - name: s\n    hosts: [a.example]\n    origins:\n      - url: http://x/base\n", []string{"sites[0].origins[0].url"}},
		{"only backups", "sites:\n  - name: s\n    hosts: [a.example]\n    origins:\n      - url: http://x\n        backup: true\n", []string{"sites[0].origins: every origin is a backup"}},
		{"origin twice", "sites:\n  - name: s\n    hosts: [a.example]\n    origins:\n      - url: http://x\n      - url: http://x\n", []string{"sites[0].origins[1].url: http://x is listed twice"}},
		{"bad policy", "sites:\n  - name: s\n    hosts: [a.example]\n    origins: [{url: http://x}]\n    origin_policy:\n      selection: random\n      probe: {rise: 0, jitter: 0.9, expect_status: 99-700}\n", []string{`sites[0].origin_policy.selection: "random"`, "sites[0].origin_policy.probe.jitter", "sites[0].origin_policy.probe.expect_status"}},
		{"tls on http", "sites:\n  - name: s\n    hosts: [a.example]\n    origins:\n      - url: http://x\n        tls: {server_name: x}\n", []string{"sites[0].origins[0].tls: set for"}},
		{"missing ca file", "sites:\n  - name: s\n    hosts: [a.example]\n    origins:\n      - url: https://x\n        tls: {ca_file: /nonexistent/ca.pem}\n", []string{"sites[0].origins[0].tls.ca_file: open /nonexistent/ca.pem"}},
		{"duplicate host", "sites:\n  - name: a\n    hosts: [x.example]\n    origins: [{url: http://x}]\n  - name: b\n    hosts: [X.example]\n    origins: [{url: http://y}]\n", []string{`sites[1].hosts[0]: "X.example" is already served by site "a"`}},
		{"duplicate name", "sites:\n  - name: a\n    hosts: [x.example]\n    origins: [{url: http://x}]\n  - name: a\n    hosts: [y.example]\n    origins: [{url: http://y}]\n", []string{"sites[1].name"}},
		{"bad host pattern", "sites:\n  - name: a\n    hosts: [\"a.*.example\"]\n    origins: [{url: http://x}]\n", []string{"sites[0].hosts[0]"}},
		{"bad site name", "sites:\n  - name: \"a b\"\n    hosts: [a.example]\n    origins: [{url: http://x}]\n", []string{"sites[0].name"}},
		{"public admin", "admin:\n  listen: 0.0.0.0:9090\n" + minimalSite, []string{"admin.listen", "loopback"}},
		{"public demo", "demo:\n  listen: 0.0.0.0:8081\n" + minimalSite, []string{"demo.listen"}},
		{"bad encoding", "compression:\n  encodings: [deflate]\n" + minimalSite, []string{"compression.encodings[0]"}},
		{"bad type", "compression:\n  types: [\"text\"]\n" + minimalSite, []string{"compression.types[0]"}},
		{"negative ttl", "sites:\n  - name: a\n    hosts: [a.example]\n    origins: [{url: http://x}]\n    default_ttl: -1s\n", []string{"sites[0].default_ttl"}},
		{"cache object too large", "cache:\n  max_memory: 16MiB\n  max_object_size: 10MiB\n" + minimalSite, []string{"cache.max_object_size"}},
		{"origin timeout", "sites:\n  - name: a\n    hosts: [a.example]\n    origins: [{url: http://x, connect_timeout: 0.5ms}]\n", []string{"sites[0].origins[0].connect_timeout"}},
		{"node id with semicolon", "node:\n  id: \"a;b\"\n" + minimalSite, []string{"node.id"}},
		{"listen twice", "http:\n  listen: [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n" + minimalSite, []string{"http.listen[1]"}},
		{"bad read order", "http:\n  read_order: lifo\n" + minimalSite, []string{`http.read_order: must be "arrival" or "runtime", got "lifo"`}},
		{"second document", minimalSite + "---\nnode: {}\n", []string{"document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(minimalSite))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen[0] != DefaultListen || c.Admin.Listen != DefaultAdminListen {
		t.Errorf("listen defaults: %v %v", c.HTTP.Listen, c.Admin.Listen)
	}
	if *c.Sites[0].StaleIfError != DefaultStaleIfError || *c.Sites[0].Keep != DefaultKeep {
		t.Error("site defaults not filled")
	}
	if c.Sites[0].Origins[0].ConnectTimeout != 3*time.Second {
		t.Error("origin defaults not filled")
	}
	// "0s" is not the same as absent.
	c, err = ParseConfig([]byte(minimalSite + "    stale_if_error: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *c.Sites[0].StaleIfError != 0 {
		t.Error("explicit 0s stale_if_error replaced by the default")
	}
}

// The effective config printed by -print-config and GET /config must parse
// back to the same config.
func TestConfigRoundTrip(t *testing.T) {
	for name, data := range map[string][]byte{"embedded default": DefaultYAML, "deploy example": mustRead(t, "../deploy/edged.example.yaml")} {
		t.Run(name, func(t *testing.T) {
			c, err := ParseConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			c2, err := ParseConfig(out)
			if err != nil {
				t.Fatalf("effective config does not parse: %v\n%s", err, out)
			}
			out2, _ := c2.YAML()
			if string(out) != string(out2) {
				t.Errorf("round trip changed the config:\n%s\n---\n%s", out, out2)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The BGP neighbour password never leaves the node through GET /config.
func TestConfigRedactsBGPPassword(t *testing.T) {
	c, err := ParseConfig(mustRead(t, "../deploy/edged.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "change-me") || !strings.Contains(string(b), "<redacted>") {
		t.Errorf("password not redacted:\n%s", b)
	}
}
