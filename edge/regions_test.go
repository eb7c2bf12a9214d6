package edge_test

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

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
