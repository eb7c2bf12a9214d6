package dashboard_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/dashboard"
	"github.com/edgecdn/edgecdn/edge/dashboard/dashboardtest"
)

// fixture is an answer of GET /dashboard/data from a busy node: 45
// minutes of traffic from four regions (one of them without requests in
// some minutes, so with null quantiles), three origins, BGP with two
// peers, and health transitions.
func fixture(now time.Time) map[string]any {
	regions := []string{"eu", "na", "apac", "unknown"}
	base := map[string]float64{"eu": 4, "na": 18, "apac": 42, "unknown": 9}
	rate := map[string]float64{"eu": 900, "na": 420, "apac": 160, "unknown": 12}
	start := now.Truncate(time.Minute).Add(-44 * time.Minute)
	var minutes []map[string]any
	for i := range 45 {
		rs := map[string]any{}
		var reqs float64
		for _, r := range regions {
			n := math.Round(rate[r] * (1 + 0.3*math.Sin(float64(i)/5)))
			if r == "unknown" && i%7 == 3 {
				rs[r] = map[string]any{"requests": 0, "p50_ms": nil, "p95_ms": nil, "p99_ms": nil, "ttfb_p50_ms": nil, "rtt_p50_ms": nil, "rtt_samples": 0}
				continue
			}
			reqs += n
			b := base[r] * (1 + 0.2*math.Cos(float64(i)/3))
			rs[r] = map[string]any{"requests": n, "p50_ms": b, "p95_ms": b * 2.5, "p99_ms": b * 6, "ttfb_p50_ms": b * 0.6, "rtt_p50_ms": base[r] / 3, "rtt_samples": n / 10}
		}
		secs := 60.0
		if i == 44 {
			secs = 23
		}
		minutes = append(minutes, map[string]any{
			"start": start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "seconds": secs,
			"requests": reqs, "bytes": reqs * 48000, "hits": math.Round(reqs * 0.9), "lookups": reqs,
			"regions": rs,
			"dns":     map[string]any{"eu": 30 + i, "na": 12, "apac": 5},
		})
	}
	return map[string]any{
		"node": "edge-fra-1", "region": "eu", "version": "v1.4.0", "generated_at": now.Format(time.RFC3339),
		"regions": regions,
		"minutes": minutes,
		"totals": map[string]any{"regions": map[string]any{
			"eu":      map[string]any{"requests": 40512, "p50_ms": 3.9812, "p95_ms": 10.04, "p99_ms": 24.61, "ttfb_p50_ms": 2.3, "rtt_p50_ms": 1.334},
			"na":      map[string]any{"requests": 18877, "p50_ms": 17.7, "p95_ms": 44.9, "p99_ms": 108.3, "ttfb_p50_ms": 10.6, "rtt_p50_ms": 6.05},
			"apac":    map[string]any{"requests": 7203, "p50_ms": 41.2, "p95_ms": 103.5, "p99_ms": 1250.75, "ttfb_p50_ms": 24.9, "rtt_p50_ms": 14.1},
			"unknown": map[string]any{"requests": 0, "p50_ms": nil, "p95_ms": nil, "p99_ms": nil, "rtt_p50_ms": nil},
		}},
		"origins": []any{
			map[string]any{"site": "static", "origin": "http://10.0.0.1:8080", "up": true, "selected": true, "rtt_ewma_ms": 3.2, "rtt_last_ms": 2.9, "breaker": "closed"},
			map[string]any{"site": "static", "origin": "http://10.0.0.2:8080", "up": false, "selected": false, "rtt_ewma_ms": nil, "rtt_last_ms": nil, "breaker": "open"},
			map[string]any{"site": "video", "origin": "https://origin.example.net", "up": true, "selected": true, "rtt_ewma_ms": 88.4, "rtt_last_ms": 91, "breaker": "half-open"},
		},
		"health": map[string]any{
			"state": "healthy", "since": now.Add(-40 * time.Minute).Format(time.RFC3339), "reason": "all checks pass", "drain": "",
			"bgp_mode": "announce",
			"checks": []any{
				map[string]any{"name": "origins", "up": true, "ok_in_a_row": 812, "failed_in_a_row": 0, "last_ok": true},
				map[string]any{"name": "disk", "up": false, "ok_in_a_row": 0, "failed_in_a_row": 3, "last_ok": false, "last_error": "cache dir not writable"},
			},
			"recent_transitions": []any{
				map[string]any{"from": "starting", "to": "healthy", "reason": "all checks pass", "at": now.Add(-40 * time.Minute).Format(time.RFC3339)},
				map[string]any{"from": "healthy", "to": "unhealthy", "reason": "origin static: no healthy origin", "at": now.Add(-42 * time.Minute).Format(time.RFC3339)},
				map[string]any{"from": "", "to": "starting", "reason": "start", "at": now.Add(-45 * time.Minute).Format(time.RFC3339)},
			},
		},
		"bgp": map[string]any{"asn": 64512, "router_id": "192.0.2.10", "mode": "announce", "announced": []any{"198.51.100.80/32", "2001:db8::80/128"}, "peers": []any{
			map[string]any{"address": "192.0.2.1", "asn": 65000, "description": "tor-a", "state": "established", "up": true, "established_at": now.Add(-2534 * time.Second).Format(time.RFC3339), "uptime_seconds": 2534.2, "transitions": 2, "prefixes_sent": 2},
			map[string]any{"address": "192.0.2.2", "asn": 65001, "state": "active", "up": false, "uptime_seconds": 0, "transitions": 5, "prefixes_sent": 0},
		}},
	}
}

// number is v as a float64, 0 for nil.
func number(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// serve serves the page as the node mounts it, with data as the answer
// of /dashboard/data.
func serve(t *testing.T, status int, data any) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /dashboard", dashboard.Handler())
	mux.Handle("GET /dashboard/", dashboard.Handler())
	mux.HandleFunc("GET "+dashboard.DataPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(data)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// checkClean fails the test when the page reported an error of its own
// or left anything on the browser console.
func checkClean(t *testing.T, p *dashboardtest.Page) {
	t.Helper()
	if v, _ := p.RootAttr("data-page-errors"); v != "0" {
		t.Errorf("page counted %s errors", v)
	}
	for _, m := range p.Console() {
		t.Errorf("console: %s", m)
	}
}

// Every value the data holds for a region is shown, with its unit, in
// the cell marked with its region and field, whether the page is opened
// at /dashboard or /dashboard/.
func TestBrowserShowsData(t *testing.T) {
	dashboardtest.Chromium(t)
	d := fixture(time.Now().UTC())
	s := serve(t, 200, d)
	for _, path := range []string{"/dashboard/", "/dashboard"} {
		t.Run(path, func(t *testing.T) {
			shot := dashboardtest.ArtefactPath(t, map[string]string{"/dashboard/": "dashboard-fixture.png", "/dashboard": "dashboard-fixture-noslash.png"}[path])
			p := dashboardtest.Load(t, s.URL+path, shot, dashboardtest.Options{Height: 2000})
			t.Logf("screenshot: %s", shot)
			checkClean(t, p)
			if !strings.Contains(p.DOM, `data-state="ready"`) {
				t.Fatal("the page never rendered data")
			}
			cells := p.Cells()
			units := map[string]string{"requests": " req", "p50_ms": " ms", "p95_ms": " ms", "p99_ms": " ms", "ttfb_p50_ms": " ms", "rtt_p50_ms": " ms"}
			for r, v := range d["totals"].(map[string]any)["regions"].(map[string]any) {
				for field, unit := range units {
					shown, ok := cells[r][field]
					if !ok {
						t.Errorf("%s %s: no cell", r, field)
						continue
					}
					want := number(v.(map[string]any)[field])
					if want == 0 && field != "requests" {
						if shown != "—" {
							t.Errorf("%s %s: %q for no data, want —", r, field, shown)
						}
						continue
					}
					got, tol, ok := dashboardtest.Number(shown)
					if !ok || math.Abs(got-want) > tol+1e-9 || !strings.HasSuffix(shown, unit) {
						t.Errorf("%s %s: shown %q, want %v%s", r, field, shown, want, unit)
					}
					// At least three significant digits (or the whole integer).
					if ok && want != 0 && tol/math.Abs(want) > 0.005 && tol > 0.5 {
						t.Errorf("%s %s: %q is too coarse for %v", r, field, shown, want)
					}
				}
			}
			// DNS answers: the last complete minute and the window.
			ms := d["minutes"].([]map[string]any)
			for r, want := range map[string][2]int{"eu": {30 + 43, 0}, "na": {12, 12 * 45}, "apac": {5, 5 * 45}} {
				if want[1] == 0 {
					for i := range 45 {
						want[1] += ms[i]["dns"].(map[string]any)["eu"].(int)
					}
				}
				for i, field := range []string{"dns_minute", "dns_window"} {
					if got, _, _ := dashboardtest.Number(cells[r][field]); got != float64(want[i]) {
						t.Errorf("%s %s: %q, want %d", r, field, cells[r][field], want[i])
					}
				}
			}
			for _, want := range []string{"edge-fra-1", "v1.4.0", "192.0.2.1", "AS65001", "198.51.100.80/32", "origin static: no healthy origin", "half-open", "42 min", "tor-a", "5 down", "42 min", "established", "cache dir not writable", "AS64512"} {
				if !strings.Contains(p.DOM, want) {
					t.Errorf("page does not show %q", want)
				}
			}
			for _, f := range p.Fields() {
				if f.Name == "health_state" && f.Text != "healthy" {
					t.Errorf("health badge %q", f.Text)
				}
			}
		})
	}
}

// A node that has just started (no minutes yet, no BGP, no origins
// answering yet) gives a page without errors.
func TestBrowserEmptyNode(t *testing.T) {
	dashboardtest.Chromium(t)
	now := time.Now().UTC()
	s := serve(t, 200, map[string]any{
		"node": "edge-1", "region": "eu", "version": "dev", "generated_at": now.Format(time.RFC3339),
		"regions": []string{"eu", "na", "apac", "unknown"}, "minutes": []any{},
		"totals": map[string]any{"regions": map[string]any{}}, "origins": []any{},
		"health": map[string]any{"state": "starting", "since": now.Format(time.RFC3339), "reason": "origins not probed yet", "recent_transitions": nil},
		"bgp":    nil,
	})
	shot := dashboardtest.ArtefactPath(t, "dashboard-empty.png")
	p := dashboardtest.Load(t, s.URL+"/dashboard/", shot, dashboardtest.Options{})
	checkClean(t, p)
	if !strings.Contains(p.DOM, `data-state="ready"`) {
		t.Fatal("the page never rendered data")
	}
	for _, want := range []string{"BGP is not configured", "No requests yet", "origins not probed yet"} {
		if !strings.Contains(p.DOM, want) {
			t.Errorf("page does not show %q", want)
		}
	}
	if got := p.Cells()["na"]["requests"]; got != "0 req" {
		t.Errorf("na requests %q, want 0 req", got)
	}
}

// Behind admin tokens, the page asks for one instead of failing.
func TestBrowserNeedsToken(t *testing.T) {
	dashboardtest.Chromium(t)
	s := serve(t, 401, map[string]any{"error": "missing bearer token"})
	p := dashboardtest.Load(t, s.URL+"/dashboard/", dashboardtest.ArtefactPath(t, "dashboard-401.png"), dashboardtest.Options{})
	if v, _ := p.RootAttr("data-page-errors"); v != "0" {
		t.Errorf("page counted %s errors", v)
	}
	if !strings.Contains(p.DOM, `<form id="auth">`) || !strings.Contains(p.DOM, "answered 401") {
		t.Errorf("no token form shown:\n%s", p.DOM)
	}
	// The browser itself notes the refused fetch on the console; nothing else.
	for _, m := range p.Console() {
		if !strings.Contains(m, "401") {
			t.Errorf("console: %s", m)
		}
	}
}
