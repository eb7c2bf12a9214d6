// Package monitoring tests the deployment artefacts in deploy/: the
// per-region node configs (deploy/regions), the systemd unit, the
// Prometheus config and rules (deploy/prometheus) and the Grafana
// dashboard (deploy/grafana), against a real node and, where they are
// installed, the real tools: edged -check, promtool, prometheus and
// systemd-analyze (Debian packages prometheus and systemd). A missing tool
// skips its test, or fails it when EDGECDN_REQUIRE_TOOLS is set (for CI).
package monitoring

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgecdn/edgecdn/deploy/lab"
	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// Paths of the artefacts, relative to this package's directory.
const (
	deployDir       = ".."
	regionsDir      = "../regions"
	unitFile        = "../edged.service"
	promConfigFile  = "../prometheus/prometheus.yml"
	rulesFile       = "../prometheus/rules/edgecdn.rules.yml"
	ruleTestsFile   = "../prometheus/tests/edgecdn.test.yml"
	dashboardFile   = "../grafana/edgecdn.json"
	promJob         = "edgecdn"
	requireToolsEnv = "EDGECDN_REQUIRE_TOOLS"
)

func TestMain(m *testing.M) {
	code := m.Run()
	lab.RemoveBuilds()
	os.Exit(code)
}

// tool returns the path of an external program, or skips the test (fails
// it with EDGECDN_REQUIRE_TOOLS set) when it is not installed.
func tool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (Debian: apt-get install %s)", name, debianPackage)
	if os.Getenv(requireToolsEnv) != "" {
		t.Fatalf("%s, and %s is set", msg, requireToolsEnv)
	}
	t.Skip(msg)
	return ""
}

// run runs a program with a deadline and returns its combined output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: no result within %s: %w", filepath.Base(name), timeout, ctx.Err())
	}
	return string(out), err
}

// edged builds cmd/edged once per test binary.
func edged(t *testing.T) string {
	t.Helper()
	p, err := lab.BuildBinary(lab.EdgedPackage)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func yamlFile(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// waitFor polls cond every 200ms until it reports true or timeout passes;
// then it fails with cond's last explanation.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ---------------------------------------------------------------------
// The fleet: deploy/regions/<region>/<node>.yaml with its host files.

// hostDirs are where the node configs keep files. Tests copy a config
// with these prefixes moved into a temporary directory that holds the
// files edged -check opens.
var hostDirs = []string{"/etc/edgecdn/", "/var/lib/edgecdn/", "/var/log/edgecdn/"}

var hostPathRE = regexp.MustCompile(`(?:/etc/edgecdn|/var/lib/edgecdn|/var/log/edgecdn)/[A-Za-z0-9._-]+`)

// sandbox is a temporary stand-in for a node's host directories.
type sandbox struct {
	dir  string
	repl *strings.Replacer
	geo  []byte // the geo database written for every .mmdb path
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	var pairs []string
	for _, d := range hostDirs {
		pairs = append(pairs, d, filepath.Join(dir, d)+"/")
	}
	db, err := geodatatest.Build(geodatatest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	return &sandbox{dir: dir, repl: strings.NewReplacer(pairs...), geo: db}
}

// local returns the sandbox path of a host path.
func (s *sandbox) local(hostPath string) string { return s.repl.Replace(hostPath) }

// hostPaths returns the string values of a decoded YAML document that
// are paths under hostDirs (comments are not values).
func hostPaths(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		if hostPathRE.FindString(v) == v {
			out = append(out, v)
		}
	case []any:
		for _, e := range v {
			out = append(out, hostPaths(e)...)
		}
	case map[string]any:
		for _, e := range v {
			out = append(out, hostPaths(e)...)
		}
	}
	return out
}

// provide creates the files a config document refers to: token files (a
// random token, read by the config's validation), geo databases (a small
// generated one). Log files and the maintenance flag are not created:
// the node writes the one, and the other must not exist.
func (s *sandbox) provide(t *testing.T, doc map[string]any) {
	t.Helper()
	for _, p := range hostPaths(doc) {
		dst := s.local(p)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		switch {
		case strings.HasSuffix(p, ".token"):
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dst, []byte(hex.EncodeToString(b)+"\n"))
		case strings.HasSuffix(p, ".mmdb"):
			writeFile(t, dst, s.geo)
		case strings.HasSuffix(p, ".log"), strings.HasSuffix(p, "/maintenance"):
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: the test does not know what file to provide for it", p)
		}
	}
}

// fleetNode is one node config of deploy/regions.
type fleetNode struct {
	file   string         // path relative to this package
	region string         // its directory
	raw    []byte         // as shipped
	doc    map[string]any // raw, decoded
	local  string         // the sandboxed copy
	cfg    *edge.Config   // the sandboxed copy, parsed (defaults filled in)
}

func (n *fleetNode) name() string {
	return n.region + "/" + strings.TrimSuffix(filepath.Base(n.file), ".yaml")
}

// loadFleet reads every node config, writes its sandboxed copy and parses
// it with the node's own config loader.
func loadFleet(t *testing.T) (*sandbox, []*fleetNode) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(regionsDir, "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no node configs under %s", regionsDir)
	}
	sb := newSandbox(t)
	var fleet []*fleetNode
	for _, f := range files {
		n := &fleetNode{file: f, region: filepath.Base(filepath.Dir(f)), raw: readFile(t, f)}
		if err := yaml.Unmarshal(n.raw, &n.doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sb.provide(t, n.doc)
		n.local = filepath.Join(sb.dir, "configs", n.region, filepath.Base(f))
		writeFile(t, n.local, []byte(sb.repl.Replace(string(n.raw))))
		if n.cfg, err = edge.LoadConfig(n.local); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		fleet = append(fleet, n)
	}
	return sb, fleet
}
