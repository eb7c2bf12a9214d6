package edge_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

func TestNodeStartStopLeaksNothing(t *testing.T) {
	o := origintest.New(t)
	o.Handle("/a", serveText(text(2048), "public, max-age=60"))
	before := runtime.NumGoroutine()
	for range 3 {
		cfg, err := edge.ParseConfig([]byte(edgetest.SiteConfig(o.URL) + "demo:\n  listen: 127.0.0.1:0\ncache:\n  max_memory: 16MiB\n"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.HTTP.Listen = []string{"127.0.0.1:0"}
		cfg.Admin.Listen = "127.0.0.1:0"
		n, err := edge.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{}
		for _, u := range []string{"http://" + n.HTTPAddrs()[0] + "/a", "http://" + n.AdminAddr() + "/status", "http://" + n.DemoAddr() + "/demo/json"} {
			resp, err := (&http.Client{Transport: tr}).Get(u)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := n.Stop(ctx); err != nil {
			t.Fatal("second Stop:", err)
		}
		cancel()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after three start/stop cycles:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// A reload with a broken config changes nothing while a request loop sees
// no errors; a valid one changes behaviour, also without failed requests.
func TestReload(t *testing.T) {
	o := origintest.New(t)
	o.Handle("/a", serveText(text(1024), "public, max-age=60"))
	base := edgetest.SiteConfig(o.URL)
	n := edgetest.Start(t, base)

	var stop atomic.Bool
	var failures, requests atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000 && !stop.Load(); i++ {
				resp, err := client.Get(n.URL + "/a")
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	waitFor := func(cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(func() bool { return requests.Load() > 50 })

	// parsed returns the running config's twin: the test's YAML with the
	// listeners edgetest moved to kernel-chosen ports.
	parsed := func(yaml string) *edge.Config {
		cfg, err := edge.ParseConfig([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		cfg.HTTP.Listen = n.Config().HTTP.Listen
		cfg.Admin.Listen = n.Config().Admin.Listen
		return cfg
	}
	if _, err := edge.ParseConfig([]byte(base + "    bogus: 1\n")); err == nil {
		t.Error("a config with an unknown key parsed")
	}
	for name, breakIt := range map[string]func(*edge.Config){
		"bad origin":      func(c *edge.Config) { c.Sites[0].Origins[0].URL = "ftp://nowhere" },
		"listener change": func(c *edge.Config) { c.HTTP.Listen = []string{"127.0.0.1:1"} },
		"tiny cache":      func(c *edge.Config) { c.Cache.MaxMemory = 10 },
		"read order":      func(c *edge.Config) { c.HTTP.ReadOrder = edge.ReadOrderRuntime },
	} {
		cfg := parsed(base)
		breakIt(cfg)
		if err := n.Reload(cfg); err == nil {
			t.Errorf("%s: reload accepted", name)
		}
	}
	if gen := n.Status().ConfigGeneration; gen != 1 {
		t.Errorf("generation %d after rejected reloads, want 1", gen)
	}
	if r := n.Get(t, "/a", "Host: www.example.com"); r.Status != 200 {
		t.Fatalf("after rejected reloads: %d", r.Status)
	}

	// A valid reload: the site now answers only www.example.com.
	cfg := parsed(strings.Replace(base, `hosts: ["*"]`, `hosts: ["www.example.com", "127.0.0.1"]`, 1))
	if err := n.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	before := requests.Load()
	waitFor(func() bool { return requests.Load() > before+50 })
	stop.Store(true)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Errorf("%d of %d requests failed across reloads", f, requests.Load())
	}
	if r := n.Get(t, "/a", "Host: other.example"); r.Status != 421 {
		t.Errorf("after reload, unknown host: %d, want 421", r.Status)
	}
	if r := n.Get(t, "/a", "Host: www.example.com"); r.Status != 200 {
		t.Errorf("after reload, configured host: %d", r.Status)
	}
	if gen := n.Status().ConfigGeneration; gen != 2 {
		t.Errorf("generation %d, want 2", gen)
	}
	if v := n.Metric(t, "edge_config_reloads_total", "result", "error"); v != 4 {
		t.Errorf("reload errors counted %v, want 4", v)
	}
}

// The metrics follow Prometheus naming conventions.
func TestMetricsLint(t *testing.T) {
	o := origintest.New(t)
	o.Handle("/a", serveText(text(1024), "public, max-age=60"))
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL))
	n.Get(t, "/a")
	n.Get(t, "/a")
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "edge_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	for _, mf := range mfs {
		if name := mf.GetName(); !strings.HasPrefix(name, "edge_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s outside edge_<subsystem>_", name)
		}
	}
}

// The admin server answers its endpoints.
func TestAdminEndpoints(t *testing.T) {
	o := origintest.New(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL))
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/ready":   "ready",
		"/status":  `"node": "edge-test"`,
		"/config":  "sites:",
		"/metrics": "edge_cache_lookups_total",
	} {
		resp, err := http.Get(n.Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
}

// Go profiles are served on the admin listener only when admin.pprof is
// set.
func TestAdminPprof(t *testing.T) {
	o := origintest.New(t)
	get := func(n *edgetest.Node, path string) (int, string) {
		resp, err := http.Get(n.Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	off := edgetest.Start(t, edgetest.SiteConfig(o.URL))
	if code, _ := get(off, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof off: /debug/pprof/ answered %d, want 404", code)
	}
	on := edgetest.Start(t, "admin:\n  pprof: true\n"+edgetest.SiteConfig(o.URL))
	if code, body := get(on, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof on: /debug/pprof/ answered %d %.80q", code, body)
	}
	if code, body := get(on, "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("pprof on: heap answered %d %.80q", code, body)
	}
}
