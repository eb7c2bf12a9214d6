package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAdmin is a real HTTP server implementing the admin API contract
// edgectl is written against (the CLI's behaviour is under test, not the
// node's; e2e_test.go runs against real nodes).
type fakeAdmin struct {
	*httptest.Server
	id string
	// tokens maps a bearer token to its scopes; without tokens every
	// request is allowed.
	tokens map[string][]string

	mu           sync.Mutex
	auth         []string // Authorization fields received
	purges       []purgeBody
	seq          uint64
	drain        bool
	generation   uint64
	rejectReload string // non-empty: POST /reload answers 400 with it
}

func newFakeAdmin(t *testing.T, id string, tokens map[string][]string) *fakeAdmin {
	t.Helper()
	f := &fakeAdmin{id: id, tokens: tokens, seq: 16, generation: 1}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /purge", f.guard("purge", f.purge))
	mux.HandleFunc("GET /status", f.guard("read", f.status))
	mux.HandleFunc("GET /config", f.guard("read", f.config))
	mux.HandleFunc("POST /drain", f.guard("admin", f.setDrain(true)))
	mux.HandleFunc("POST /undrain", f.guard("admin", f.setDrain(false)))
	mux.HandleFunc("POST /reload", f.guard("admin", f.reload))
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func apiErr(w http.ResponseWriter, status int, msg, field string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]string{"error": msg}
	if field != "" {
		e["field"] = field
	}
	json.NewEncoder(w).Encode(e)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAdmin) guard(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if f.tokens != nil {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			scopes, known := f.tokens[tok]
			if !ok || !known {
				apiErr(w, http.StatusUnauthorized, "missing or unknown bearer token", "")
				return
			}
			if !slices.Contains(scopes, scope) && !slices.Contains(scopes, "admin") {
				apiErr(w, http.StatusForbidden, "token lacks the "+scope+" scope", "")
				return
			}
		}
		h(w, r)
	}
}

func (f *fakeAdmin) purge(w http.ResponseWriter, r *http.Request) {
	var b purgeBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiErr(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB", "")
			return
		}
		apiErr(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	n := len(b.URLs) + len(b.Prefixes) + len(b.Tags) + len(b.Hosts)
	if n == 0 && !b.All {
		apiErr(w, http.StatusBadRequest, "at least one of urls, prefixes, tags, hosts or all is required", "")
		return
	}
	for i, s := range b.URLs {
		if u, err := url.Parse(s); err != nil || !u.IsAbs() {
			apiErr(w, http.StatusBadRequest, "not an absolute URL", fmt.Sprintf("urls[%d]", i))
			return
		}
	}
	if b.All {
		n = 1234
	}
	f.mu.Lock()
	f.purges = append(f.purges, b)
	f.seq++
	seq := f.seq
	f.mu.Unlock()
	reply(w, map[string]any{"seq": seq, "matched": n, "duration_s": 0.0021})
}

func (f *fakeAdmin) health() map[string]any {
	h := map[string]any{"state": "healthy", "reason": "all checks pass", "since": "2026-01-02T03:04:05Z"}
	if f.drain {
		h = map[string]any{"state": "draining", "reason": "operator drain", "since": "2026-01-02T03:04:05Z", "drain": "operator"}
	}
	return h
}

func (f *fakeAdmin) status(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply(w, map[string]any{
		"node": f.id, "region": "eu-west", "version": "v0.9.0", "ready": !f.drain,
		"uptime_seconds": 12.5, "config_generation": f.generation,
		"health": f.health(),
		"bgp":    map[string]any{"mode": "announce", "announced": []string{"198.18.0.0/24"}, "peers": []any{map[string]any{"address": "198.18.0.1", "state": "established", "up": true}}},
		"cache":  map[string]any{"objects": 42, "stored_bytes": 4096, "max_bytes": 1 << 30, "hit_ratio": 0.875},
		"origins": []any{
			map[string]any{"site": "s", "origin": "http://o1", "up": true, "selected": true, "rtt_ewma_ms": 1.5},
			map[string]any{"site": "s", "origin": "http://o2", "up": false, "selected": false, "rtt_ewma_ms": 0},
		},
	})
}

func (f *fakeAdmin) config(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/yaml")
	fmt.Fprintf(w, "node:\n  id: %s\n", f.id)
}

func (f *fakeAdmin) setDrain(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.drain = on
		reply(w, f.health())
	}
}

func (f *fakeAdmin) reload(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejectReload != "" {
		apiErr(w, http.StatusBadRequest, f.rejectReload, "")
		return
	}
	f.generation++
	reply(w, map[string]any{"generation": f.generation})
}

func (f *fakeAdmin) seen() (auth []string, purges []purgeBody) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.auth), slices.Clone(f.purges)
}

// downURL is the base URL of a closed loopback port.
func downURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func tokenFile(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// edgectl runs the command line and returns its exit status and output.
func edgectl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func nodeArgs(urls ...string) []string {
	var a []string
	for _, u := range urls {
		a = append(a, "--node", u)
	}
	return a
}

// tableRow returns the stdout line of node's row.
func tableRow(t *testing.T, stdout, node string) []string {
	t.Helper()
	for line := range strings.Lines(stdout) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == node {
			return f
		}
	}
	t.Fatalf("no row for %s in:\n%s", node, stdout)
	return nil
}

const (
	purgeToken    = "purge-token-0123456789"
	readOnlyToken = "read-token-0123456789"
	adminToken    = "admin-token-0123456789"
)

var fleetTokens = map[string][]string{
	purgeToken:    {"purge"},
	readOnlyToken: {"read"},
	adminToken:    {"admin"},
}

func TestPurgeFanOut(t *testing.T) {
	t.Parallel()
	a, b := newFakeAdmin(t, "edge-a", fleetTokens), newFakeAdmin(t, "edge-b", fleetTokens)
	down := downURL(t)
	args := append(nodeArgs(a.URL, b.URL, down), "--token-file", tokenFile(t, purgeToken),
		"purge", "url", "https://www.example.com/a", "https://www.example.com/b", "--soft")
	code, stdout, stderr := edgectl(t, args...)
	if code != 1 {
		t.Errorf("exit %d, want 1 (one node is down)", code)
	}
	for _, f := range []*fakeAdmin{a, b} {
		auth, purges := f.seen()
		if want := []string{"Bearer " + purgeToken}; !slices.Equal(auth, want) {
			t.Errorf("%s: Authorization = %q, want %q", f.id, auth, want)
		}
		want := purgeBody{URLs: []string{"https://www.example.com/a", "https://www.example.com/b"}, Soft: true}
		if len(purges) != 1 || !slices.Equal(purges[0].URLs, want.URLs) || !purges[0].Soft {
			t.Errorf("%s: purges = %+v, want [%+v]", f.id, purges, want)
		}
		row := tableRow(t, stdout, f.URL)
		if row[1] != "ok" || row[2] != "2" || row[3] != "17" || !strings.HasSuffix(row[4], "ms") {
			t.Errorf("%s: row %q, want ok, 2 matched, seq 17, a latency", f.id, row)
		}
	}
	if row := tableRow(t, stdout, down); row[1] != "FAILED" || row[2] != "-" {
		t.Errorf("down node: row %q", row)
	}
	if !strings.HasPrefix(stdout, "NODE ") {
		t.Errorf("no table header:\n%s", stdout)
	}
	wantErr := "edgectl: node " + down + ": connection refused\nedgectl: 1 of 3 nodes failed\n"
	if stderr != wantErr {
		t.Errorf("stderr = %q, want %q", stderr, wantErr)
	}
	if strings.Contains(stdout+stderr, purgeToken) {
		t.Error("the token was printed")
	}
}

func TestPurgeJSON(t *testing.T) {
	t.Parallel()
	a, b := newFakeAdmin(t, "edge-a", nil), newFakeAdmin(t, "edge-b", nil)
	down := downURL(t)
	code, stdout, _ := edgectl(t, append(nodeArgs(a.URL, down, b.URL), "--json", "--yes", "purge", "all")...)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var got []result
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout)
	}
	if len(got) != 3 || got[0].Node != a.URL || got[1].Node != down || got[2].Node != b.URL {
		t.Fatalf("results not in node order: %+v", got)
	}
	for _, r := range []result{got[0], got[2]} {
		if !r.OK || r.Status != 200 || r.Error != "" || r.Matched == nil || *r.Matched != 1234 ||
			r.Seq == nil || *r.Seq != 17 || r.LatencyS <= 0 || !json.Valid(r.Response) {
			t.Errorf("%s: %+v", r.Node, r)
		}
	}
	if r := got[1]; r.OK || r.Status != 0 || r.Error != "connection refused" || r.Matched != nil {
		t.Errorf("down node: %+v", r)
	}
	// The JSON keys scripts rely on.
	var raw []map[string]any
	json.Unmarshal([]byte(stdout), &raw)
	for _, k := range []string{"node", "ok", "status", "latency_s", "matched", "seq", "response"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("key %q missing from %v", k, raw[0])
		}
	}
	if _, purges := a.seen(); len(purges) != 1 || !purges[0].All {
		t.Errorf("purges = %+v, want one with all", purges)
	}
}

func TestForbiddenAndUnauthorized(t *testing.T) {
	t.Parallel()
	a, b := newFakeAdmin(t, "edge-a", fleetTokens), newFakeAdmin(t, "edge-b", fleetTokens)

	code, stdout, stderr := edgectl(t, append(nodeArgs(a.URL, b.URL), "--token-file", tokenFile(t, readOnlyToken), "purge", "tag", "t1")...)
	if code != 1 {
		t.Errorf("read token purging: exit %d, want 1", code)
	}
	for _, f := range []*fakeAdmin{a, b} {
		want := "edgectl: node " + f.URL + ": 403: token lacks the purge scope\n"
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
		if row := tableRow(t, stdout, f.URL); row[1] != "FAILED" {
			t.Errorf("row %q", row)
		}
		if _, purges := f.seen(); len(purges) != 0 {
			t.Errorf("%s purged: %+v", f.id, purges)
		}
	}
	if !strings.Contains(stderr, "2 of 2 nodes failed") {
		t.Errorf("no summary:\n%s", stderr)
	}

	code, _, stderr = edgectl(t, append(nodeArgs(a.URL), "status")...)
	want := "edgectl: node " + a.URL + ": 401: missing or unknown bearer token (no token given: use --token-file or EDGECTL_TOKEN)\n"
	if code != 1 || stderr != want {
		t.Errorf("no token: exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
	if auth, _ := a.seen(); auth[len(auth)-1] != "" {
		t.Errorf("sent Authorization %q without a token", auth[len(auth)-1])
	}

	code, _, stderr = edgectl(t, append(nodeArgs(a.URL), "--token-file", tokenFile(t, "wrong-token-0123456789"), "status")...)
	if want := ": 401: missing or unknown bearer token\n"; code != 1 || !strings.HasSuffix(stderr, want) {
		t.Errorf("wrong token: exit %d, stderr %q", code, stderr)
	}
}

func TestTokenFromEnv(t *testing.T) { // not parallel: Setenv
	a := newFakeAdmin(t, "edge-a", fleetTokens)
	t.Setenv("EDGECTL_TOKEN", adminToken)
	if code, _, stderr := edgectl(t, append(nodeArgs(a.URL), "reload")...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if auth, _ := a.seen(); !slices.Equal(auth, []string{"Bearer " + adminToken}) {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	a, b := newFakeAdmin(t, "edge-a", nil), newFakeAdmin(t, "edge-b", nil)
	code, stdout, stderr := edgectl(t, append(nodeArgs(a.URL, b.URL), "status")...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, f := range []*fakeAdmin{a, b} {
		row := tableRow(t, stdout, f.URL)
		want := []string{f.URL, "ok", f.id, "eu-west", "yes", "healthy", "announce", "42", "87.5%", "1/2", "up"}
		if len(row) < len(want) || !slices.Equal(row[:len(want)], want) {
			t.Errorf("row %q, want it to start with %q", row, want)
		}
		if !strings.HasSuffix(strings.Join(row, " "), "all checks pass") {
			t.Errorf("row %q lacks the health reason", row)
		}
	}
	header := strings.Fields(strings.SplitN(stdout, "\n", 2)[0])
	if want := []string{"NODE", "RESULT", "ID", "REGION", "READY", "HEALTH", "BGP", "OBJECTS", "HIT", "ORIGINS", "LATENCY", "REASON"}; !slices.Equal(header, want) {
		t.Errorf("header %q, want %q", header, want)
	}
}

func TestDrainUndrain(t *testing.T) {
	t.Parallel()
	a, b := newFakeAdmin(t, "edge-a", fleetTokens), newFakeAdmin(t, "edge-b", fleetTokens)
	down := downURL(t)
	tf := tokenFile(t, adminToken)
	nodes := nodeArgs(a.URL, b.URL, down)

	code, stdout, stderr := edgectl(t, append(nodes, "--token-file", tf, "drain")...)
	if code != 1 || !strings.Contains(stderr, "node "+down+": connection refused") {
		t.Errorf("drain: exit %d, stderr %q", code, stderr)
	}
	for _, f := range []*fakeAdmin{a, b} {
		if row := tableRow(t, stdout, f.URL); !slices.Equal(row[1:4], []string{"ok", "draining", "(drain)"}) {
			t.Errorf("drain: row %q", row)
		}
	}
	code, stdout, _ = edgectl(t, append(nodes, "--token-file", tf, "--json", "undrain")...)
	var got []result
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != 1 {
		t.Fatalf("undrain: exit %d, %v:\n%s", code, err, stdout)
	}
	for _, r := range got[:2] {
		var h healthView
		if err := json.Unmarshal(r.Response, &h); err != nil || h.State != "healthy" || h.label() != "healthy" {
			t.Errorf("undrain %s: %s", r.Node, r.Response)
		}
	}
	// A read token may not drain.
	code, _, stderr = edgectl(t, append(nodeArgs(a.URL), "--token-file", tokenFile(t, readOnlyToken), "drain")...)
	if code != 1 || !strings.Contains(stderr, "403: token lacks the admin scope") {
		t.Errorf("drain with a read token: exit %d, stderr %q", code, stderr)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	a, b := newFakeAdmin(t, "edge-a", nil), newFakeAdmin(t, "edge-b", nil)
	b.rejectReload = `sites[0].origins[0].url: "ftp://x" is not http or https`
	code, stdout, stderr := edgectl(t, append(nodeArgs(a.URL, b.URL), "reload")...)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if row := tableRow(t, stdout, a.URL); row[1] != "ok" || row[2] != "2" {
		t.Errorf("row %q, want ok, generation 2", row)
	}
	want := "edgectl: node " + b.URL + `: 400: sites[0].origins[0].url: "ftp://x" is not http or https` + "\n"
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr, want)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	a, b := newFakeAdmin(t, "edge-a", nil), newFakeAdmin(t, "edge-b", nil)
	code, stdout, stderr := edgectl(t, append(nodeArgs(a.URL), "config")...)
	if code != 0 || stdout != "node:\n  id: edge-a\n" || stderr != "" {
		t.Errorf("one node: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	down := downURL(t)
	code, stdout, stderr = edgectl(t, append(nodeArgs(a.URL, down, b.URL), "config")...)
	want := "# node " + a.URL + "\nnode:\n  id: edge-a\n\n# node " + b.URL + "\nnode:\n  id: edge-b\n"
	if code != 1 || stdout != want || !strings.Contains(stderr, down+": connection refused") {
		t.Errorf("three nodes: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	code, stdout, _ = edgectl(t, append(nodeArgs(a.URL), "config", "--json")...)
	var got []result
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != 0 || got[0].Config != "node:\n  id: edge-a\n" {
		t.Errorf("--json: exit %d, %v, %+v", code, err, got)
	}
}

// Answers that are not what the contract promises are failures with a
// message that says what came back.
func TestOddAnswers(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /old/undrain", func(w http.ResponseWriter, r *http.Request) {}) // a method edgectl does not use
	mux.HandleFunc("GET /html/status", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>\n<body>proxy login</body>"))
	})
	mux.HandleFunc("POST /busy/purge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		apiErr(w, http.StatusTooManyRequests, "purge rate exceeded", "")
	})
	mux.HandleFunc("POST /field/purge", func(w http.ResponseWriter, r *http.Request) {
		apiErr(w, http.StatusBadRequest, "not normalisable", "urls[1]")
	})
	mux.HandleFunc("GET /plain/status", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /redirect/status", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/status", http.StatusFound)
	})
	mux.HandleFunc("GET /slow/status", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name, node string
		args       []string
		want       string
	}{
		{"older node", "/old", []string{"undrain"}, "405: Method Not Allowed (the node does not serve POST /undrain: is its edged older than edgectl?)"},
		{"missing endpoint", "/old", []string{"reload"}, "404: 404 page not found (the node does not serve POST /reload"},
		{"not JSON", "/html", []string{"status"}, "200, but the answer is not JSON: <html>"},
		{"rate limited", "/busy", []string{"purge", "host", "a.test"}, "429: purge rate exceeded (retry after 2s)"},
		{"field named", "/field", []string{"purge", "url", "http://a/", "http://b/"}, "400: urls[1]: not normalisable"},
		{"empty error body", "/plain", []string{"status"}, "503: service unavailable"},
		{"redirect not followed", "/redirect", []string{"status"}, "302: "},
		{"timeout", "/slow", []string{"--timeout", "200ms", "status"}, "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			node := srv.URL + tt.node
			code, _, stderr := edgectl(t, append(nodeArgs(node), tt.args...)...)
			if want := "edgectl: node " + node + ": " + tt.want; code != 1 || !strings.HasPrefix(stderr, want) {
				t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr, want)
			}
		})
	}
}

// Many nodes are asked in parallel, but never more than maxParallel at
// once.
func TestFanOutBounded(t *testing.T) {
	t.Parallel()
	var inflight, peak atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(50 * time.Millisecond)
		inflight.Add(-1)
		reply(w, map[string]any{"seq": 1, "matched": 0})
	})
	var args []string
	for range maxParallel + 8 {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		args = append(args, "--node", s.URL)
	}
	start := time.Now()
	code, stdout, stderr := edgectl(t, append(args, "purge", "host", "a.test")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if p := peak.Load(); p < 2 || p > maxParallel {
		t.Errorf("peak concurrency %d, want 2..%d", p, maxParallel)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v: not parallel", d)
	}
	if n := strings.Count(stdout, "\n"); n != maxParallel+8+1 {
		t.Errorf("%d lines, want a header and %d rows", n, maxParallel+8)
	}
}
