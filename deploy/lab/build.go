package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Import paths of the binaries the lab builds.
const (
	LabtoolPackage = "github.com/edgecdn/edgecdn/deploy/lab/cmd/labtool"
	EdgedPackage   = "github.com/edgecdn/edgecdn/cmd/edged"
)

// builds caches `go build` results for the life of the test binary.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]buildResult
}

type buildResult struct {
	path string
	err  error
}

// ModuleRoot returns the directory of the go.mod of the current
// directory's module (`go env GOMOD`).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("lab: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("lab: not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

// BuildBinary builds the main package pkg (an import path of this module)
// with `go build` into a temporary directory and returns the binary's
// path. Each package is built once per test binary; the directory is
// removed by RemoveBuilds (call it from TestMain).
func BuildBinary(pkg string) (string, error) {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if r, ok := builds.bins[pkg]; ok {
		return r.path, r.err
	}
	if builds.bins == nil {
		builds.bins = map[string]buildResult{}
	}
	r := func() buildResult {
		root, err := ModuleRoot()
		if err != nil {
			return buildResult{err: err}
		}
		if builds.dir == "" {
			d, err := os.MkdirTemp("", "edgecdn-lab-bin-")
			if err != nil {
				return buildResult{err: fmt.Errorf("lab: %w", err)}
			}
			builds.dir = d
		}
		out := filepath.Join(builds.dir, path.Base(pkg))
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return buildResult{err: fmt.Errorf("lab: go build %s: %w\n%s", pkg, err, buf.String())}
		}
		return buildResult{path: out}
	}()
	builds.bins[pkg] = r
	return r.path, r.err
}

// RemoveBuilds removes the binaries BuildBinary made. Call it at the end
// of TestMain.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.dir = ""
	builds.bins = nil
}

// Labtool returns the path of a freshly built labtool (cached).
func Labtool(t testing.TB) string {
	t.Helper()
	p, err := BuildBinary(LabtoolPackage)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
