package edge_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge"
	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

const (
	readToken  = "read-token-0123456789"
	purgeToken = "purge-token-0123456789"
	adminToken = "admin-token-0123456789"
)

// tokensYAML is an admin section with one token per scope.
func tokensYAML(extra ...string) string {
	s := "admin:\n  tokens:\n" +
		"    - {name: dashboard, token: " + readToken + ", scopes: [read]}\n" +
		"    - {name: ci, token: " + purgeToken + ", scopes: [purge]}\n" +
		"    - {name: oncall, token: " + adminToken + ", scopes: [admin]}\n"
	for _, l := range extra {
		s += "  " + l + "\n"
	}
	return s
}

// taggedOrigin serves /t/<n> cacheable with Surrogate-Key "all t<n%2>"
// and counts If-None-Match revalidations.
func taggedOrigin(t *testing.T) (*origintest.Server, *atomic.Int64) {
	o := origintest.New(t)
	var conditional atomic.Int64
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("ETag", `"v1"`)
		var n int
		fmt.Sscanf(r.URL.Path, "/t/%d", &n)
		w.Header().Set("Surrogate-Key", fmt.Sprintf("all t%d", n%2))
		if r.Header.Get("If-None-Match") == `"v1"` {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(text(512))
	})
	return o, &conditional
}

func purge(t *testing.T, n *edgetest.Node, token, body string) (int, map[string]any) {
	t.Helper()
	code, b := n.AdminDo(t, "POST", "/purge", token, body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("POST /purge %s: %d %q: %v", body, code, b, err)
	}
	return code, m
}

func cacheStatus(t *testing.T, n *edgetest.Node, path string) string {
	t.Helper()
	r := n.Get(t, path)
	if r.Status != 200 {
		t.Fatalf("GET %s: %d", path, r.Status)
	}
	return r.CacheStatus()
}

// waitHit requests path until it is a hit (ristretto stores
// asynchronously), so that a purge's count can be checked.
func waitHit(t *testing.T, n *edgetest.Node, path string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if strings.Contains(cacheStatus(t, n, path), "hit") {
			return
		}
	}
	t.Fatalf("%s never became a hit", path)
}

func TestAdminAuth(t *testing.T) {
	o, _ := taggedOrigin(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+tokensYAML())
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/ready", "", 200},
		{"GET", "/status", "", 401},
		{"GET", "/status", "wrong-token-0123456789", 401},
		{"GET", "/status", readToken, 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", readToken, 200},
		{"GET", "/config", purgeToken, 403},
		{"POST", "/purge", readToken, 403},
		{"POST", "/drain", purgeToken, 403},
		{"POST", "/reload", readToken, 403},
		{"PUT", "/log-level", readToken, 403},
		{"GET", "/config", adminToken, 200}, // admin implies read
	} {
		body := ""
		if c.method != "GET" {
			body = `{"all": true}`
		}
		code, b := n.AdminDo(t, c.method, c.path, c.token, body)
		if code != c.want {
			t.Errorf("%s %s with %q: %d %s, want %d", c.method, c.path, c.token, code, b, c.want)
		}
		if code == 401 || code == 403 {
			var e struct{ Error string }
			if json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Errorf("%s %s: error body %q", c.method, c.path, b)
			}
		}
	}
	if got := n.Metric(t, "edge_admin_requests_total", "result", "denied"); got < 8 {
		t.Errorf("%v denied requests counted", got)
	}
	// The config never shows tokens.
	_, cfg := n.AdminDo(t, "GET", "/config", readToken, "")
	if strings.Contains(string(cfg), readToken) || strings.Contains(string(cfg), adminToken) {
		t.Error("GET /config shows a token")
	}
}

// After POST /purge returns, the next request is a miss (hard) or a
// revalidation (soft).
func TestAdminPurgeHardAndSoft(t *testing.T) {
	o, conditional := taggedOrigin(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+tokensYAML())
	for i := range 4 {
		waitHit(t, n, fmt.Sprintf("/t/%d", i))
	}
	host := strings.TrimPrefix(n.URL, "http://")
	code, ans := purge(t, n, purgeToken, `{"urls": ["http://`+host+`/t/0"]}`)
	if code != 200 || ans["matched"].(float64) != 1 || ans["seq"].(float64) < 1 {
		t.Fatalf("purge url: %d %v", code, ans)
	}
	if cs := cacheStatus(t, n, "/t/0"); !strings.Contains(cs, "fwd=uri-miss") {
		t.Errorf("after a hard purge: %s, want a miss", cs)
	}
	// Soft: the next use revalidates (304 from the origin refreshes it).
	before := conditional.Load()
	code, ans = purge(t, n, purgeToken, `{"tags": ["t1"], "soft": true}`)
	if code != 200 || ans["matched"].(float64) != 2 {
		t.Fatalf("soft purge tag: %d %v", code, ans)
	}
	if cs := cacheStatus(t, n, "/t/1"); !strings.Contains(cs, "fwd=stale") || !strings.Contains(cs, "fwd-status=304") {
		t.Errorf("after a soft purge: %s, want a revalidation", cs)
	}
	if conditional.Load() != before+1 {
		t.Errorf("origin saw %d conditional requests, want 1", conditional.Load()-before)
	}
	if cs := cacheStatus(t, n, "/t/2"); !strings.Contains(cs, "hit") {
		t.Errorf("/t/2 (tag t0) was purged too: %s", cs)
	}
	// Prefix, host and all.
	if code, ans = purge(t, n, adminToken, `{"prefixes": ["https://`+host+`/t/"]}`); code != 200 || ans["matched"].(float64) < 3 {
		t.Errorf("purge prefix: %d %v", code, ans)
	}
	waitHit(t, n, "/t/3")
	if code, ans = purge(t, n, adminToken, `{"hosts": ["`+host+`"]}`); code != 200 || ans["matched"].(float64) != 1 {
		t.Errorf("purge host: %d %v", code, ans)
	}
	waitHit(t, n, "/t/3")
	if code, ans = purge(t, n, adminToken, `{"all": true}`); code != 200 || ans["matched"].(float64) != 1 {
		t.Errorf("purge all: %d %v", code, ans)
	}
}

// A purge that lands while a fill is in flight is not undone when the
// fill completes.
func TestAdminPurgeDuringFill(t *testing.T) {
	o := origintest.New(t)
	release := make(chan struct{})
	var hits atomic.Int64
	o.Handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Write(text(256))
	})
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+tokensYAML())
	host := strings.TrimPrefix(n.URL, "http://")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.Get(t, "/slow")
	}()
	for hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if code, ans := purge(t, n, purgeToken, `{"urls": ["http://`+host+`/slow"]}`); code != 200 {
		t.Fatalf("purge: %d %v", code, ans)
	}
	close(release)
	wg.Wait()
	if cs := cacheStatus(t, n, "/slow"); !strings.Contains(cs, "fwd=uri-miss") {
		t.Errorf("the fill begun before the purge answered after it: %s", cs)
	}
	if hits.Load() != 2 {
		t.Errorf("origin saw %d requests, want 2", hits.Load())
	}
}

// Bad bodies are refused with 400 naming the problem, and purge nothing.
func TestAdminPurgeRejects(t *testing.T) {
	o, _ := taggedOrigin(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+tokensYAML("max_purge_selectors: 3"))
	host := strings.TrimPrefix(n.URL, "http://")
	waitHit(t, n, "/t/0")
	for _, c := range []struct {
		body, field string
		status      int
	}{
		{`not json`, "", 400},
		{``, "", 400},
		{`{"urls": ["http://` + host + `/t/0", "ftp://x/y"]}`, "urls[1]", 400},
		{`{"urls": "http://x/"}`, "urls", 400},
		{`{"prefixes": ["/relative"]}`, "prefixes[0]", 400},
		{`{"tags": ["a b"]}`, "tags[0]", 400},
		{`{"hosts": ["a/b"]}`, "hosts[0]", 400},
		{`{"bogus": 1}`, "bogus", 400},
		{`{}`, "", 400},
		{`{"all": true, "tags": ["x"]}`, "all", 400},
		{`{"tags": ["a", "b", "c", "d"]}`, "", 400},
		{`{"tags": ["a"]} {"tags": ["b"]}`, "", 400},
		{`{"tags": ["` + strings.Repeat("x", 1<<20) + `"]}`, "", 413},
	} {
		code, b := n.AdminDo(t, "POST", "/purge", purgeToken, c.body)
		var e struct{ Error, Field string }
		json.Unmarshal(b, &e)
		if code != c.status || e.Error == "" || e.Field != c.field {
			short := c.body
			if len(short) > 60 {
				short = short[:60]
			}
			t.Errorf("%s: %d %+v, want %d naming %q", short, code, e, c.status, c.field)
		}
	}
	if cs := cacheStatus(t, n, "/t/0"); !strings.Contains(cs, "hit") {
		t.Errorf("a rejected request purged: %s", cs)
	}
	if got := n.Metric(t, "edge_cache_purges_total"); got != 0 {
		t.Errorf("%v purges applied", got)
	}
}

func TestAdminPurgeRateLimitAndAudit(t *testing.T) {
	o, _ := taggedOrigin(t)
	audit := filepath.Join(t.TempDir(), "audit.log")
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+tokensYAML("purge_rate: 1", "audit_log: "+audit))
	ok, limited := 0, 0
	for range 5 {
		code, _ := n.AdminDo(t, "POST", "/purge", purgeToken, `{"tags": ["x"]}`)
		switch code {
		case 200:
			ok++
		case 429:
			limited++
		}
	}
	if ok != 2 || limited != 3 { // a burst of twice the rate
		t.Errorf("%d allowed, %d limited; want 2 and 3", ok, limited)
	}
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d audit lines, want 5:\n%s", len(lines), b)
	}
	var rec struct {
		Who, Action, Outcome, Remote string
		Request                      struct{ Tags []string }
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Who != "ci" || rec.Action != "purge" || rec.Outcome != "ok" || rec.Remote == "" || len(rec.Request.Tags) != 1 {
		t.Errorf("audit record %+v", rec)
	}
	if strings.Contains(string(b), purgeToken) {
		t.Error("the audit log holds a token")
	}
}

// POST /reload: a broken file changes nothing while requests keep being
// answered; a valid one changes behaviour, also with no failed request.
func TestAdminReload(t *testing.T) {
	o, _ := taggedOrigin(t)
	file := filepath.Join(t.TempDir(), "edged.yaml")
	good := edgetest.SiteConfig(o.URL) + tokensYAML()
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	n := edgetest.StartFile(t, file)
	var stop atomic.Bool
	var failures, requests atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 100000; i++ {
				resp, err := http.Get(n.URL + fmt.Sprintf("/t/%d", i%8))
				requests.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
					continue
				}
				resp.Body.Close()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	os.WriteFile(file, []byte(good+"sites: oops\n"), 0o644)
	code, b := n.AdminDo(t, "POST", "/reload", adminToken, "")
	if code != 400 || !strings.Contains(string(b), "running config stays") {
		t.Errorf("broken reload: %d %s", code, b)
	}
	if g := n.Status().ConfigGeneration; g != 1 {
		t.Errorf("generation %d after a broken reload", g)
	}
	// Valid: a second host-only site changes behaviour (unknown hosts 421).
	changed := strings.Replace(good, `hosts: ["*"]`, `hosts: ["127.0.0.1"]`, 1)
	os.WriteFile(file, []byte(changed), 0o644)
	code, b = n.AdminDo(t, "POST", "/reload", adminToken, "")
	if code != 200 || !strings.Contains(string(b), `"generation": 2`) {
		t.Errorf("reload: %d %s", code, b)
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if f := failures.Load(); f != 0 || requests.Load() < 10 {
		t.Errorf("%d of %d requests failed across the reloads", f, requests.Load())
	}
	if r := n.Get(t, "/t/1", "Host: other.example"); r.Status != 421 {
		t.Errorf("after the reload another host gets %d, want 421", r.Status)
	}
}

func TestAdminLogLevelAndDrain(t *testing.T) {
	o, _ := taggedOrigin(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+tokensYAML())
	if code, b := n.AdminDo(t, "PUT", "/log-level", adminToken, `{"level": "debug"}`); code != 501 {
		t.Errorf("log level without a LevelVar: %d %s", code, b)
	}
	code, b := n.AdminDo(t, "POST", "/drain", adminToken, "")
	if code != 200 || !strings.Contains(string(b), `"drain": "operator"`) {
		t.Errorf("drain: %d %s", code, b)
	}
	if code, b = n.AdminDo(t, "POST", "/undrain", adminToken, ""); code != 200 || strings.Contains(string(b), `"drain": "operator"`) {
		t.Errorf("undrain: %d %s", code, b)
	}
	_, st := n.AdminDo(t, "GET", "/status", readToken, "")
	var s edge.Status
	if err := json.Unmarshal(st, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Health.Recent) == 0 {
		t.Errorf("no recent transitions in status: %+v", s.Health)
	}
}

// Listening beyond loopback needs authentication configured.
func TestAdminListenNeedsAuth(t *testing.T) {
	_, err := edge.ParseConfig([]byte(edgetest.SiteConfig("http://127.0.0.1:1") + "admin:\n  listen: 0.0.0.0:9090\n"))
	if err == nil || !strings.Contains(err.Error(), "admin.listen") {
		t.Errorf("err = %v", err)
	}
	if _, err := edge.ParseConfig([]byte(edgetest.SiteConfig("http://127.0.0.1:1") + tokensYAML("listen: 0.0.0.0:9090"))); err != nil {
		t.Errorf("with tokens: %v", err)
	}
	_, err = edge.ParseConfig([]byte(edgetest.SiteConfig("http://127.0.0.1:1") +
		"admin:\n  tokens: [{name: a, token: short, scopes: [root]}]\n"))
	for _, f := range []string{"admin.tokens[0].token", "admin.tokens[0].scopes[0]"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("err = %v, want %s", err, f)
		}
	}
}
