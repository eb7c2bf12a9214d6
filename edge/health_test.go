package edge_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// healthYAML is a health section with short timings for tests.
func healthYAML(extra ...string) string {
	s := "health:\n  interval: 20ms\n  rise: 2\n  fall: 2\n  hold_time: 300ms\n"
	for _, l := range extra {
		s += "  " + l + "\n"
	}
	return s
}

func probedOrigin(t *testing.T) *origintest.Server {
	o := origintest.New(t)
	o.Handle(edgetest.ProbePath, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	o.HandleFallback(serveText(text(100), "public, max-age=60"))
	return o
}

func waitHealth(t *testing.T, n *edgetest.Node, want edge.HealthState) edge.HealthStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := n.Health()
		if h.State == want {
			return h
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(h, "", "  ")
			t.Fatalf("health state %s, want %s:\n%s", h.State, want, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func adminStatus(t *testing.T, n *edgetest.Node, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, n.Admin+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The node starts in "starting", turns healthy once every check passed
// rise times, goes degraded (and unready) when its only origin dies, and
// healthy again once the origin is back for the hold time.
func TestHealthFollowsOrigins(t *testing.T) {
	o := probedOrigin(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+healthYAML())
	h := waitHealth(t, n, edge.StateHealthy)
	names := map[string]bool{}
	for _, c := range h.Checks {
		names[c.Name] = c.Up
	}
	for _, c := range []string{"http", "origins", "resources"} {
		if !names[c] {
			t.Errorf("check %s missing or down: %+v", c, h.Checks)
		}
	}
	if _, ok := names["dns"]; ok {
		t.Error("dns check without a dns section")
	}
	if code, _ := adminStatus(t, n, "GET", "/ready"); code != 200 {
		t.Errorf("/ready %d while healthy", code)
	}
	o.Kill()
	h = waitHealth(t, n, edge.StateDegraded)
	if !strings.Contains(h.Reason, "origins") {
		t.Errorf("degraded for %q, want the origins check", h.Reason)
	}
	if code, _ := adminStatus(t, n, "GET", "/ready"); code != 503 {
		t.Errorf("/ready %d while degraded", code)
	}
	o.Revive()
	waitHealth(t, n, edge.StateHealthy)
	if got := n.Metric(t, "edge_health_transitions_total", "from", "healthy", "to", "degraded"); got != 1 {
		t.Errorf("healthy→degraded counted %v times", got)
	}
	if got := n.Metric(t, "edge_health_state", "state", "healthy"); got != 1 {
		t.Errorf("edge_health_state{state=healthy} = %v", got)
	}
	if got := n.Metric(t, "edge_health_check_results_total", "check", "http", "result", "ok"); got < 2 {
		t.Errorf("%v ok http checks", got)
	}
}

// The health path is answered by the node itself on any Host, never sent
// to an origin, and not counted as a site's request.
func TestHealthPath(t *testing.T) {
	o := probedOrigin(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL))
	r := n.Get(t, edge.HealthPath, "Host: unknown.example")
	if r.Status != 200 || string(r.Body) != "ok edge-test\n" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("health path: %d %q %q", r.Status, r.Body, r.Header.Get("Cache-Control"))
	}
	if o.Hits(edge.HealthPath) != 0 {
		t.Error("health path reached the origin")
	}
}

// An operator drain (admin API) and a maintenance file take the node out
// and /ready answers 503; ending them brings it back.
func TestOperatorDrainAndMaintenanceFile(t *testing.T) {
	o := probedOrigin(t)
	maint := filepath.Join(t.TempDir(), "maintenance")
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+healthYAML("maintenance_file: "+maint))
	waitHealth(t, n, edge.StateHealthy)

	code, body := adminStatus(t, n, "POST", "/drain")
	if code != 200 || !strings.Contains(body, `"drain": "operator"`) {
		t.Fatalf("POST /drain: %d %s", code, body)
	}
	waitHealth(t, n, edge.StateWithdrawn) // no bgp: drain_delay 0
	if code, _ := adminStatus(t, n, "GET", "/ready"); code != 503 {
		t.Errorf("/ready %d while drained", code)
	}
	if r := n.Get(t, "/x"); r.Status != 200 {
		t.Errorf("a drained node must keep serving: %d", r.Status)
	}
	if code, _ := adminStatus(t, n, "DELETE", "/drain"); code != 200 {
		t.Fatalf("DELETE /drain: %d", code)
	}
	waitHealth(t, n, edge.StateHealthy)

	if err := os.WriteFile(maint, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := waitHealth(t, n, edge.StateWithdrawn)
	if !strings.Contains(h.Reason, "maintenance") {
		t.Errorf("reason %q", h.Reason)
	}
	os.Remove(maint)
	waitHealth(t, n, edge.StateHealthy)
	if code, _ := adminStatus(t, n, "GET", "/drain"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /drain: %d, want 405", code)
	}
}

// Status carries the health section.
func TestStatusHasHealth(t *testing.T) {
	o := probedOrigin(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+healthYAML())
	waitHealth(t, n, edge.StateHealthy)
	_, body := adminStatus(t, n, "GET", "/status")
	var st struct {
		Health struct {
			State  string `json:"state"`
			Checks []struct {
				Name string `json:"name"`
			} `json:"checks"`
		} `json:"health"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Health.State != "healthy" || len(st.Health.Checks) != 3 {
		t.Errorf("status health: %+v", st.Health)
	}
}

// A node whose origin does not answer at boot never turns healthy (and so
// never announces), though origins start "up" so that it serves at once.
func TestHealthNeedsAnsweringOriginAtStart(t *testing.T) {
	o := origintest.New(t)
	o.HandleFallback(serveText(text(100), "public, max-age=60"))
	o.SetDelay(time.Minute) // accepts connections, never answers
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+healthYAML())
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if s := n.Health().State; s == edge.StateHealthy {
			t.Fatalf("healthy with an origin that never answered: %+v", n.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := n.Metric(t, "edge_health_transitions_total", "to", "healthy"); got != 0 {
		t.Errorf("%v transitions to healthy", got)
	}
	o.SetDelay(0)
	waitHealth(t, n, edge.StateHealthy)
}
