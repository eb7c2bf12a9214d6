package edge_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// clientFrom is an HTTP client whose connections come from local.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// Clients on loopback addresses that a generated database places in
// three regions are counted in their region's latency, first-byte and
// TCP RTT histograms; an address the database does not know is
// "unknown".
func TestRegionalMetrics(t *testing.T) {
	o := origintest.New(t)
	o.HandleFallback(serveText(text(2048), "public, max-age=60"))
	db := geodatatest.WriteFile(t, t.TempDir(), []geodatatest.Net{
		{Prefix: netip.MustParsePrefix("127.0.0.21/32"), Continent: "EU", Country: "DE", Latitude: 50.1, Longitude: 8.7},
		{Prefix: netip.MustParsePrefix("127.0.0.22/32"), Continent: "NA", Country: "US", Latitude: 39, Longitude: -77},
		{Prefix: netip.MustParsePrefix("127.0.0.23/32"), Continent: "AS", Country: "SG", Latitude: 1.3, Longitude: 103.8},
	})
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+dnsZone+dnsRegions+"  database: "+db+"\n")
	want := map[string]int{"eu": 3, "na": 2, "apac": 1, "unknown": 1}
	from := map[string]string{"eu": "127.0.0.21", "na": "127.0.0.22", "apac": "127.0.0.23", "unknown": "127.0.0.24"}
	for region, count := range want {
		c := clientFrom(from[region])
		for range count {
			resp, err := c.Get(n.URL + "/r")
			if err != nil {
				t.Fatalf("%s: %v", region, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	for region, count := range want {
		if got := n.Metric(t, "edge_http_client_request_duration_seconds", "region", region); got != float64(count) {
			t.Errorf("%s: %v requests counted, want %d", region, got, count)
		}
		if got := n.Metric(t, "edge_http_client_ttfb_seconds", "region", region); got != float64(count) {
			t.Errorf("%s: %v first-byte samples, want %d", region, got, count)
		}
		// One connection per request (no keep-alive): one RTT sample each.
		if got := n.Metric(t, "edge_http_client_tcp_rtt_seconds", "region", region); got != float64(count) {
			t.Errorf("%s: %v TCP RTT samples, want %d", region, got, count)
		}
	}
}

// GET /dashboard/data reports the same per-region counts as the metrics.
func TestDashboardData(t *testing.T) {
	o := origintest.New(t)
	o.HandleFallback(serveText(text(2048), "public, max-age=60"))
	db := geodatatest.WriteFile(t, t.TempDir(), []geodatatest.Net{
		{Prefix: netip.MustParsePrefix("127.0.0.21/32"), Continent: "EU", Country: "DE", Latitude: 50.1, Longitude: 8.7},
		{Prefix: netip.MustParsePrefix("127.0.0.22/32"), Continent: "NA", Country: "US", Latitude: 39, Longitude: -77},
	})
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+dnsZone+dnsRegions+"  database: "+db+"\n")
	for local, count := range map[string]int{"127.0.0.21": 5, "127.0.0.22": 2} {
		c := clientFrom(local)
		for range count {
			resp, err := c.Get(n.URL + "/d")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	code, b := n.AdminDo(t, "GET", "/dashboard/data", "", "")
	if code != 200 {
		t.Fatalf("GET /dashboard/data: %d %s", code, b)
	}
	var d edge.DashboardData
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Minutes) == 0 || len(d.Regions) != 4 {
		t.Fatalf("minutes %d regions %v", len(d.Minutes), d.Regions)
	}
	for region, want := range map[string]uint64{"eu": 5, "na": 2, "apac": 0} {
		tot := d.Totals.Regions[region]
		if tot.Requests != want {
			t.Errorf("%s: %d requests in totals, want %d", region, tot.Requests, want)
		}
		if got := n.Metric(t, "edge_http_client_request_duration_seconds", "region", region); got != float64(want) {
			t.Errorf("%s: metric %v", region, got)
		}
		if (tot.P99ms == nil) != (want == 0) || (tot.RTTP50ms == nil) != (want == 0) {
			t.Errorf("%s: p99 %v rtt %v", region, tot.P99ms, tot.RTTP50ms)
		}
	}
	cur := d.Minutes[len(d.Minutes)-1]
	if cur.Requests < 7 || cur.Lookups < 7 || cur.Hits < 5 {
		t.Errorf("current minute %+v", cur)
	}
	if len(d.Origins) != 1 || d.Health.State == 0 && d.Health.Reason == "" {
		t.Errorf("origins %+v health %+v", d.Origins, d.Health)
	}
}
