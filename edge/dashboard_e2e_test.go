package edge_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/dashboard/dashboardtest"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// dashboardData is the part of GET /dashboard/data the test compares.
type dashboardData struct {
	Totals struct {
		Regions map[string]map[string]*float64 `json:"regions"`
	} `json:"totals"`
	Minutes []struct {
		DNS map[string]float64 `json:"dns"`
	} `json:"minutes"`
}

// Headless Chromium loads the dashboard of a node that served a bounded
// mix of requests from clients in three regions (loopback addresses a
// generated database places in EU, NA and Asia) and one it cannot place.
// Each region's row shows the requests the node's own histograms counted
// and the quantiles GET /dashboard/data reports, the page logs nothing to
// the console, and the screenshot is kept (in EDGECDN_ARTEFACTS when set).
func TestDashboardRegions(t *testing.T) {
	dashboardtest.Chromium(t)
	o := origintest.New(t)
	o.HandleFallback(serveText(text(2048), "public, max-age=60"))
	// Uncacheable answers that take a while, so that the regions'
	// latencies differ: na's take 3 ms at the origin, apac's 15 ms.
	slow := func(d time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(d)
			w.Header().Set("Cache-Control", "no-store")
			w.Write(text(8192))
		}
	}
	o.Handle("/na", slow(3*time.Millisecond))
	o.Handle("/apac", slow(15*time.Millisecond))
	db := geodatatest.WriteFile(t, t.TempDir(), []geodatatest.Net{
		{Prefix: netip.MustParsePrefix("127.0.0.21/32"), Continent: "EU", Country: "DE", Latitude: 50.1, Longitude: 8.7},
		{Prefix: netip.MustParsePrefix("127.0.0.22/32"), Continent: "NA", Country: "US", Latitude: 39, Longitude: -77},
		{Prefix: netip.MustParsePrefix("127.0.0.23/32"), Continent: "AS", Country: "SG", Latitude: 1.3, Longitude: 103.8},
		// Resolver subnets for the DNS answers.
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Continent: "EU", Country: "DE", Latitude: 50.1, Longitude: 8.7},
		{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Continent: "NA", Country: "US", Latitude: 39, Longitude: -77},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Continent: "AS", Country: "SG", Latitude: 1.3, Longitude: 103.8},
	})
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+dnsZone+dnsRegions+"  database: "+db+"\n")
	// Until the admin server mounts the page and its data, there is
	// nothing to load; the test turns on by itself once both answer.
	for _, path := range []string{"/dashboard/data", "/dashboard/"} {
		if status, body := n.AdminDo(t, "GET", path, "", ""); status == http.StatusNotFound {
			t.Skipf("the admin server does not serve GET %s yet (404: %s)", path, bytes.TrimSpace(body))
		}
	}

	mix := []struct {
		region, from string
		count        int
		path         func(i int) string
	}{
		{"eu", "127.0.0.21", 30, func(i int) string { return "/static/" + strconv.Itoa(i%5) }},
		{"na", "127.0.0.22", 20, func(int) string { return "/na" }},
		{"apac", "127.0.0.23", 10, func(int) string { return "/apac" }},
		{"unknown", "127.0.0.24", 5, func(i int) string { return "/static/" + strconv.Itoa(i) }},
	}
	for _, m := range mix {
		c := clientFrom(m.from)
		for i := range m.count {
			resp, err := c.Get(n.URL + m.path(i))
			if err != nil {
				t.Fatalf("%s: %v", m.region, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %d", m.region, m.path(i), resp.StatusCode)
			}
		}
	}
	for subnet, count := range map[string]int{"198.51.100.0/24": 6, "198.18.1.0/24": 4, "203.0.113.0/24": 2} {
		for range count {
			query(t, n.DNS, "udp", "www.cdn.demo.test", netip.MustParsePrefix(subnet))
		}
	}
	// The duration is observed as the response ends: wait for the last.
	deadline := time.Now().Add(5 * time.Second)
	for _, m := range mix {
		for n.Metric(t, "edge_http_client_request_duration_seconds", "region", m.region) != float64(m.count) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}

	shot := dashboardtest.ArtefactPath(t, "dashboard.png")
	p := dashboardtest.Load(t, n.Admin+"/dashboard/", shot, dashboardtest.Options{Width: 1366, Height: 900})
	t.Logf("screenshot (1366×900): %s", shot)
	full := dashboardtest.ArtefactPath(t, "dashboard-full.png")
	dashboardtest.Load(t, n.Admin+"/dashboard", full, dashboardtest.Options{Width: 1366, Height: 1800})
	t.Logf("screenshot (1366×1800, page at /dashboard): %s", full)

	if v, _ := p.RootAttr("data-page-errors"); v != "0" {
		t.Errorf("the page counted %s errors", v)
	}
	for _, m := range p.Console() {
		t.Errorf("console: %s", m)
	}
	status, body := n.AdminDo(t, "GET", "/dashboard/data", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /dashboard/data: %d %s", status, body)
	}
	var d dashboardData
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("GET /dashboard/data: %v\n%s", err, body)
	}
	cells := p.Cells()
	if len(cells) == 0 {
		t.Fatalf("the page shows no region (did it load its data?)\n%s", p.DOM)
	}
	for _, m := range mix {
		row := cells[m.region]
		// Requests: the node's own histogram count.
		counted := n.Metric(t, "edge_http_client_request_duration_seconds", "region", m.region)
		if counted != float64(m.count) {
			t.Errorf("%s: the node counted %v requests, want %d", m.region, counted, m.count)
		}
		if got, _, ok := dashboardtest.Number(row["requests"]); !ok || got != counted {
			t.Errorf("%s: the page shows %q requests, the node counted %v", m.region, row["requests"], counted)
		}
		// Quantiles: what the data endpoint reports, to the display's rounding.
		for _, field := range []string{"p50_ms", "p95_ms", "p99_ms", "rtt_p50_ms"} {
			want := d.Totals.Regions[m.region][field]
			shown, present := row[field]
			switch got, tol, ok := dashboardtest.Number(shown); {
			case !present:
				t.Errorf("%s %s: no cell", m.region, field)
			case want == nil:
				if ok {
					t.Errorf("%s %s: the page shows %q, the node reports none", m.region, field, shown)
				}
			case !ok || math.Abs(got-*want) > tol+1e-9:
				t.Errorf("%s %s: the page shows %q, the node reports %v", m.region, field, shown, *want)
			}
		}
		if d.Totals.Regions[m.region]["p99_ms"] == nil {
			t.Errorf("%s: no p99 in /dashboard/data after %d requests", m.region, m.count)
		}
	}
	t.Logf("shown: eu %v; na %v; apac %v; unknown %v", cells["eu"], cells["na"], cells["apac"], cells["unknown"])
	// DNS answers by region over the window, as the data has them.
	for region := range map[string]bool{"eu": true, "na": true, "apac": true} {
		var want float64
		for _, m := range d.Minutes {
			want += m.DNS[region]
		}
		if want == 0 {
			continue
		}
		if got, _, ok := dashboardtest.Number(cells[region]["dns_window"]); !ok || got != want {
			t.Errorf("%s: the page shows %q DNS answers, the data has %v", region, cells[region]["dns_window"], want)
		}
	}
}
