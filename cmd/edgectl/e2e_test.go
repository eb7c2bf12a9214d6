package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// TestRealNodes drives two real nodes and a down one: status, purge url,
// drain and undrain. It skips itself while the node has no POST /purge.
func TestRealNodes(t *testing.T) {
	t.Parallel()
	o := origintest.New(t)
	o.Handle("/a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write([]byte("hello"))
	})
	n1 := edgetest.Start(t, edgetest.SiteConfig(o.URL))
	n2 := edgetest.Start(t, edgetest.SiteConfig(o.URL))
	skipWithoutPurge(t, n1.Admin)
	down := downURL(t)
	nodes := nodeArgs(n1.Admin, n2.Admin, down)

	// jsonRun runs a command against the three nodes and checks the
	// shape every command shares: the real nodes succeed, the down one
	// fails, the exit status is 1.
	jsonRun := func(args ...string) []result {
		t.Helper()
		code, stdout, stderr := edgectl(t, append(append(nodes, "--json"), args...)...)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1 (one node is down)", args, code)
		}
		var got []result
		if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got) != 3 {
			t.Fatalf("%q: %v:\n%s", args, err, stdout)
		}
		for i, r := range got[:2] {
			if !r.OK || r.Status != http.StatusOK || r.Node != []string{n1.Admin, n2.Admin}[i] {
				t.Errorf("%q: node %d: %+v", args, i+1, r)
			}
		}
		if r := got[2]; r.OK || r.Node != down || r.Error != "connection refused" {
			t.Errorf("%q: down node: %+v", args, r)
		}
		if want := "edgectl: node " + down + ": connection refused\n"; !strings.Contains(stderr, want) {
			t.Errorf("%q: stderr lacks %q:\n%s", args, want, stderr)
		}
		return got
	}

	for _, r := range jsonRun("status")[:2] {
		var s statusView
		if err := json.Unmarshal(r.Response, &s); err != nil || s.Node != "edge-test" || s.Health.State == "" {
			t.Errorf("status of %s: %v: %s", r.Node, err, r.Response)
		}
	}

	for _, n := range []*edgetest.Node{n1, n2} {
		cached(t, n, "/a", "Host: www.example.com")
	}
	for _, r := range jsonRun("purge", "url", "http://www.example.com/a")[:2] {
		if r.Matched == nil || *r.Matched != 1 || r.Seq == nil {
			t.Errorf("purge on %s: matched %v, seq %v, want 1 and a seq: %s", r.Node, r.Matched, r.Seq, r.Response)
		}
	}
	hits := o.Hits("/a")
	for _, n := range []*edgetest.Node{n1, n2} {
		n.Get(t, "/a", "Host: www.example.com")
	}
	if got := o.Hits("/a"); got != hits+2 {
		t.Errorf("origin hits after the purge: %d, want %d (each node refetches)", got, hits+2)
	}

	for _, r := range jsonRun("drain")[:2] {
		var h healthView
		if err := json.Unmarshal(r.Response, &h); err != nil || !strings.HasSuffix(h.label(), "(drain)") && h.State != "draining" {
			t.Errorf("drain on %s: %v: %s", r.Node, err, r.Response)
		}
	}
	for _, r := range jsonRun("undrain")[:2] {
		var h healthView
		if err := json.Unmarshal(r.Response, &h); err != nil || strings.HasSuffix(h.label(), "(drain)") {
			t.Errorf("undrain on %s: %v: %s", r.Node, err, r.Response)
		}
	}

	// The table names both real nodes as ok.
	code, stdout, _ := edgectl(t, append(nodes, "status")...)
	if code != 1 {
		t.Errorf("status table: exit %d", code)
	}
	for _, n := range []string{n1.Admin, n2.Admin} {
		if row := tableRow(t, stdout, n); row[1] != "ok" || row[2] != "edge-test" {
			t.Errorf("status row %q", row)
		}
	}
}

// skipWithoutPurge skips the test if the node's admin API has no POST
// /purge yet.
func skipWithoutPurge(t *testing.T, admin string) {
	t.Helper()
	resp, err := http.Post(admin+"/purge", "application/json", strings.NewReader(`{"hosts":["edgectl-probe.invalid"]}`))
	if err != nil {
		t.Fatalf("probing POST /purge: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		t.Skipf("the node answers POST /purge with %d: the admin API has not landed", resp.StatusCode)
	}
}

// cached fetches path through n until the node answers it from its cache
// (a fill is stored asynchronously).
func cached(t *testing.T, n *edgetest.Node, path string, fields ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := n.Get(t, path, fields...)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, r.Status)
		}
		if strings.Contains(r.CacheStatus(), "; hit") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: never a cache hit (Cache-Status %q)", path, r.CacheStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
