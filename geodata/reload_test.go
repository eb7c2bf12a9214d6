package geodata_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// hookRecorder collects reload hook calls.
type hookRecorder struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func newHookRecorder() *hookRecorder { return &hookRecorder{ch: make(chan error, 100)} }

func (h *hookRecorder) hook(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
	h.ch <- err
}

func (h *hookRecorder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.errs)
}

// wait returns the next hook call's error.
func (h *hookRecorder) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s")
		return nil
	}
}

func oneNet(prefix, continent, country string) []geodatatest.Net {
	return []geodatatest.Net{{Prefix: mustPrefix(prefix), Continent: continent, Country: country, NoCoordinates: true}}
}

func startGeo(t *testing.T, cfg geodata.Config, opts ...geodata.Option) *geodata.Geo {
	t.Helper()
	g, err := geodata.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return g
}

func TestWatcherReloads(t *testing.T) {
	dir := t.TempDir()
	cfg := benchConfig(t)
	cfg.CheckInterval = 20 * time.Millisecond
	cfg.Database = filepath.Join(dir, "geo.mmdb")
	cfg.CoverageFile = filepath.Join(dir, "coverage.txt")
	geodatatest.ReplaceFile(t, cfg.Database, oneNet("198.51.100.0/24", "EU", "DE"))
	geodatatest.ReplaceBytes(t, cfg.CoverageFile, []byte("# none yet\n"))
	h := newHookRecorder()
	g := startGeo(t, cfg, geodata.WithReloadHook(h.hook))
	a := mustAddr("198.51.100.7")
	if r := g.Locate(a).Region; r != "eu" {
		t.Fatalf("Locate = %s, want eu", r)
	}

	// A new database, renamed over the old one.
	geodatatest.ReplaceFile(t, cfg.Database, oneNet("198.51.100.0/24", "AS", "JP"))
	if err := h.wait(t); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if r := g.Locate(a).Region; r != "apac" {
		t.Fatalf("after reload Locate = %s, want apac", r)
	}

	// A corrupt file: the old state keeps serving, the hook hears once.
	geodatatest.ReplaceBytes(t, cfg.Database, []byte("garbage"))
	if err := h.wait(t); err == nil || !strings.Contains(err.Error(), "geo.mmdb") {
		t.Fatalf("reload of a corrupt file: %v", err)
	}
	time.Sleep(5 * cfg.CheckInterval)
	if n := h.count(); n != 2 {
		t.Errorf("%d hook calls, want 2: a bad file is not retried until it changes", n)
	}
	if r := g.Locate(a).Region; r != "apac" {
		t.Fatalf("after a failed reload Locate = %s, want apac", r)
	}

	// The wrong schema.
	asn, err := geodatatest.BuildWith(geodatatest.Options{DatabaseType: "GeoLite2-ASN"}, oneNet("198.51.100.0/24", "SA", "BR"))
	if err != nil {
		t.Fatal(err)
	}
	geodatatest.ReplaceBytes(t, cfg.Database, asn)
	if err := h.wait(t); err == nil || !strings.Contains(err.Error(), "not a City or Country database") {
		t.Fatalf("reload of an ASN database: %v", err)
	}

	// A missing file.
	if err := os.Remove(cfg.Database); err != nil {
		t.Fatal(err)
	}
	if err := h.wait(t); err == nil {
		t.Fatal("reload of a missing file succeeded")
	}
	if r := g.Locate(a).Region; r != "apac" {
		t.Fatalf("after a failed reload Locate = %s, want apac", r)
	}

	// A good file again.
	geodatatest.ReplaceFile(t, cfg.Database, oneNet("198.51.100.0/24", "SA", "BR"))
	if err := h.wait(t); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if r := g.Locate(a).Region; r != "sa" {
		t.Fatalf("Locate = %s, want sa", r)
	}

	// The coverage file changes.
	geodatatest.ReplaceBytes(t, cfg.CoverageFile, []byte("198.51.100.0/25 na-west\n"))
	if err := h.wait(t); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if res := g.Locate(a); res.Region != "na-west" || res.Rule != "coverage" {
		t.Fatalf("Locate = %+v, want na-west by coverage", res)
	}
	geodatatest.ReplaceBytes(t, cfg.CoverageFile, []byte("198.51.100.0/25 mars\n"))
	if err := h.wait(t); err == nil || !strings.Contains(err.Error(), "mars") {
		t.Fatalf("reload of a bad coverage file: %v", err)
	}
	if res := g.Locate(a); res.Region != "na-west" {
		t.Fatalf("Locate = %+v, want na-west still", res)
	}

	st := g.Stats()
	if st.Reloads != 3 || st.ReloadFailures != 4 || st.Networks != 1 || st.DatabaseType != "GeoLite2-City" {
		t.Errorf("stats %+v, want 3 reloads, 4 failures, 1 network", st)
	}
}

// TestWatcherInPlaceWrite: a file rewritten in place (cp over it) is
// also picked up, and a half-written state is at worst a failed reload
// followed by a good one.
func TestWatcherInPlaceWrite(t *testing.T) {
	dir := t.TempDir()
	cfg := benchConfig(t)
	cfg.CheckInterval = 20 * time.Millisecond
	cfg.Database = geodatatest.WriteFile(t, dir, oneNet("198.51.100.0/24", "EU", "DE"))
	h := newHookRecorder()
	g := startGeo(t, cfg, geodata.WithReloadHook(h.hook))
	b := build(t, append(oneNet("198.51.100.0/24", "AS", "JP"), oneNet("203.0.113.0/24", "SA", "BR")...))
	time.Sleep(30 * time.Millisecond) // a new modification time on coarse clocks
	if err := os.WriteFile(cfg.Database, b, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.Locate(mustAddr("198.51.100.1")).Region != "apac" {
		if time.Now().After(deadline) {
			t.Fatalf("not reloaded; %d hook calls", h.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReloadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := benchConfig(t)
	cfg.Database = geodatatest.WriteFile(t, dir, geodatatest.Demo())
	h := newHookRecorder()
	g, err := geodata.New(cfg, geodata.WithReloadHook(h.hook))
	if err != nil {
		t.Fatal(err)
	}
	a := mustAddr("198.51.100.1") // DE
	if r := g.Locate(a); r.Region != "eu" || r.Rule != "continent" {
		t.Fatalf("Locate = %+v", r)
	}
	// New regions: Germany gets its own. The cached answer goes with the
	// old state.
	next := cfg
	next.Regions = append(append([]geodata.Region(nil), cfg.Regions...), geodata.Region{Name: "de", Latitude: 50.1, Longitude: 8.7, Countries: []string{"DE"}})
	if err := g.Reload(next); err != nil {
		t.Fatal(err)
	}
	if r := g.Locate(a); r.Region != "de" || r.Rule != "country" {
		t.Fatalf("after Reload Locate = %+v, want de by country", r)
	}
	if got := g.Regions(); len(got) != 6 || got[5] != "de" {
		t.Errorf("Regions = %v", got)
	}
	// An invalid config and a missing file change nothing.
	bad := next
	bad.Regions = nil
	if err := g.Reload(bad); err == nil || !strings.Contains(err.Error(), "regions:") {
		t.Errorf("Reload(no regions): %v", err)
	}
	bad = next
	bad.Database = filepath.Join(dir, "missing.mmdb")
	bad.Regions = cfg.Regions
	if err := g.Reload(bad); err == nil || !strings.Contains(err.Error(), "missing.mmdb") {
		t.Errorf("Reload(missing database): %v", err)
	}
	if r := g.Locate(a); r.Region != "de" {
		t.Fatalf("after failed Reloads Locate = %+v, want de", r)
	}
	if c := g.Config(); len(c.Regions) != 6 || c.CheckInterval != 30*time.Second {
		t.Errorf("Config = %+v", c)
	}
	st := g.Stats()
	if st.Reloads != 1 || st.ReloadFailures != 2 || h.count() != 3 {
		t.Errorf("stats %+v, %d hook calls", st, h.count())
	}
	// Back to the database bytes of an option when Database is "".
	g2, err := geodata.New(geodata.Config{Regions: cfg.Regions}, geodata.WithDatabaseBytes(build(t, oneNet("198.51.100.0/24", "SA", "BR"))))
	if err != nil {
		t.Fatal(err)
	}
	if r := g2.Locate(a); r.Region != "sa" {
		t.Fatalf("Locate = %+v", r)
	}
	if err := g2.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if r := g2.Locate(a); r.Region != "eu" {
		t.Fatalf("Locate = %+v", r)
	}
	if _, err := geodata.New(geodata.Config{Regions: cfg.Regions}); err == nil || !strings.Contains(err.Error(), "database: required") {
		t.Errorf("New without a database: %v", err)
	}
}

func TestStartStop(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := benchConfig(t)
	cfg.CheckInterval = 10 * time.Millisecond
	cfg.Database = geodatatest.WriteFile(t, t.TempDir(), geodatatest.Demo())
	for range 5 {
		g, err := geodata.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Stop(context.Background()); err != nil { // before Start: harmless
			t.Fatal(err)
		}
		if err := g.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := g.Start(context.Background()); err == nil {
			t.Error("second Start: nil error")
		}
		time.Sleep(25 * time.Millisecond)
		if err := g.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := g.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
