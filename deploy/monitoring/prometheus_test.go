package monitoring

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// promtool accepts the config (its syntax as shipped; in full, with the
// token file present and the rules found next to it), the rules, and the
// rules' unit tests.
func TestPromtool(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	check := func(args ...string) string {
		t.Helper()
		out, err := run(t, 30*time.Second, promtool, args...)
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	check("check", "config", "--syntax-only", promConfigFile)

	// The full check opens credentials_file and the rule files: install
	// the config the way deploy/README.md says, into a temporary /etc.
	dir := t.TempDir()
	token := filepath.Join(dir, "edgecdn-metrics.token")
	writeFile(t, token, []byte("0123456789abcdef0123456789abcdef\n"))
	cfg := strings.ReplaceAll(string(readFile(t, promConfigFile)), "/etc/prometheus/edgecdn-metrics.token", token)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), []byte(cfg))
	writeFile(t, filepath.Join(dir, "rules", filepath.Base(rulesFile)), readFile(t, rulesFile))
	if out := check("check", "config", filepath.Join(dir, "prometheus.yml")); !strings.Contains(out, "rules found") {
		t.Errorf("promtool check config did not find the rules through rule_files:\n%s", out)
	}

	check("check", "rules", rulesFile)
	check("test", "rules", ruleTestsFile)
}

// rulesDoc is a Prometheus rules file.
type rulesDoc struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// The unit tests exercise every alert both firing and quiet, and the
// alerts cover the views issue #7 asks for.
func TestRuleTestsCoverEveryAlert(t *testing.T) {
	var rules rulesDoc
	yamlFile(t, rulesFile, &rules)
	var tests struct {
		Tests []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	yamlFile(t, ruleTestsFile, &tests)
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !firing[r.Alert] {
				t.Errorf("alert %s: no test in %s expects it to fire", r.Alert, ruleTestsFile)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s: no test in %s expects it not to fire", r.Alert, ruleTestsFile)
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("alert %s: severity %q is not critical, warning or info", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: wants a summary and a description", r.Alert)
			}
		}
	}
	// Route withdrawn, origin down, hit ratio low, DNS SERVFAIL rate,
	// latency SLO burn.
	for _, want := range []string{"EdgeRouteWithdrawn", "EdgeOriginDown", "EdgeCacheHitRatioLow", "EdgeDNSServfailRate", "EdgeLatencySLOBurnFast"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// ---------------------------------------------------------------------
// Against a real node.

// startFleetNode starts a real node from deploy/regions/eu-central/edge-1
// with what a test machine cannot have swapped out: the sites point at a
// test origin, the BGP neighbours at closed loopback ports, the drain
// takes no time, the cache is small, and edgetest moves the listeners to
// loopback. The admin API keeps its tokens, so scrapes need the
// prometheus token (whose sandbox path it returns).
func startFleetNode(t *testing.T) (*edgetest.Node, string) {
	t.Helper()
	sb, fleet := loadFleet(t)
	var src *fleetNode
	for _, n := range fleet {
		if n.name() == "eu-central/edge-1" {
			src = n
		}
	}
	if src == nil {
		t.Fatal("no deploy/regions/eu-central/edge-1.yaml")
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(sb.repl.Replace(string(src.raw))), &doc); err != nil {
		t.Fatal(err)
	}
	o := origintest.New(t)
	o.Handle("/cacheable", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		io.WriteString(w, "cacheable")
	})
	doc["sites"] = []any{map[string]any{
		"name":  "www",
		"hosts": []any{"*"},
		"origin_policy": map[string]any{
			"probe": map[string]any{"path": edgetest.ProbePath, "expect_status": "200-499"},
		},
		"origins": []any{map[string]any{"url": o.URL}},
	}}
	closed, err := strconv.Atoi(freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	b := doc["bgp"].(map[string]any)
	b["neighbors"] = []any{
		map[string]any{"address": "127.0.0.1", "port": closed, "asn": 64500, "description": "tor-a"},
		map[string]any{"address": "::1", "port": closed, "asn": 64500, "description": "tor-a-v6"},
	}
	h := doc["health"].(map[string]any)
	h["drain_delay"], h["lameduck"] = "0s", "0s"
	doc["cache"] = map[string]any{"max_memory": "64MiB"}
	delete(doc["geodata"].(map[string]any), "cache_entries")
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := edgetest.Start(t, string(out))
	token := ""
	for _, tok := range n.Config().Admin.Tokens {
		if tok.Name == "prometheus" {
			token = tok.TokenFile
		}
	}
	if token == "" {
		t.Fatal("the config has no prometheus token")
	}

	// Traffic, so that labelled series exist: a miss, a hit, a geo answer.
	for range 2 {
		if r := n.Get(t, "/cacheable", "Host: www.example.com"); r.Status != 200 {
			t.Fatalf("GET /cacheable: %d", r.Status)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("www.cdn.example.com.", dns.TypeA)
	if r, err := dns.Exchange(m, n.DNS); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Fatalf("DNS www.cdn.example.com A: %v %v", r, err)
	}
	return n, token
}

// metricSet is what a node exports: its families (with the label names
// seen) and a probe for registered collectors without series yet.
type metricSet struct {
	reg      *prometheus.Registry
	families map[string]*dto.MetricFamily
	labels   map[string]map[string]bool
}

func newMetricSet(t *testing.T, n *edgetest.Node, token string) *metricSet {
	t.Helper()
	ms := &metricSet{reg: n.Registry(), families: map[string]*dto.MetricFamily{}, labels: map[string]map[string]bool{}}
	// What Prometheus will see, over HTTP with the token.
	req, _ := http.NewRequest(http.MethodGet, n.Admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(readFile(t, token))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics with the prometheus token: %d %s", resp.StatusCode, body)
	}
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		ms.families[mf.GetName()] = mf
		ms.labels[mf.GetName()] = map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				ms.labels[mf.GetName()][l.GetName()] = true
			}
		}
	}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			if ms.families[f[2]] == nil {
				t.Errorf("/metrics has %s, the registry does not", f[2])
			}
		}
	}
	return ms
}

// registered reports whether the node registered a metric of that name,
// also when it has no series yet (a vector without children): registering
// a collector with the same name fails then.
func (ms *metricSet) registered(name string) bool {
	if ms.families[name] != nil {
		return true
	}
	p := probeCollector{prometheus.NewDesc(name, "deploy/monitoring probe", nil, nil)}
	if err := ms.reg.Register(p); err != nil {
		return true
	}
	ms.reg.Unregister(p)
	return false
}

type probeCollector struct{ d *prometheus.Desc }

func (p probeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.d }
func (p probeCollector) Collect(chan<- prometheus.Metric)    {}

// exists resolves a series name as PromQL sees it: a metric, or the
// _bucket, _sum or _count series of a histogram.
func (ms *metricSet) exists(name string) (family string, ok bool) {
	if ms.registered(name) {
		return name, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suf)
		if !found || !ms.registered(base) {
			continue
		}
		if mf := ms.families[base]; mf != nil && mf.GetType() != dto.MetricType_HISTOGRAM && mf.GetType() != dto.MetricType_SUMMARY {
			return "", false
		}
		return base, true
	}
	return "", false
}

var (
	// edge_ names, and recording rule names (level:metric:operations).
	nameRE     = regexp.MustCompile(`[a-zA-Z_:]*\bedge_[a-z0-9_:]*[a-z0-9_]`)
	quotedRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	selectorRE = regexp.MustCompile(`\b(edge_[a-z0-9_]+)\s*\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
)

// targetLabels are the labels prometheus.yml adds to every series; the
// renamed ones replace a series' own region label.
var (
	targetLabels  = []string{"job", "instance", "node", "region"}
	renamedLabels = map[string]string{"edge_dns_": "answer_region", "edge_http_client_": "client_region"}
)

// checkExpr checks the names and label matchers of one PromQL expression
// (or annotation text, with prose=true: no label matchers then).
func (ms *metricSet) checkExpr(t *testing.T, where, expr string, records map[string]bool, prose bool) {
	t.Helper()
	text := expr
	if !prose {
		text = quotedRE.ReplaceAllString(expr, `""`)
	}
	for _, name := range nameRE.FindAllString(text, -1) {
		if strings.Contains(name, ":") {
			if !records[name] {
				t.Errorf("%s: %s is no recording rule of %s", where, name, rulesFile)
			}
			continue
		}
		if _, ok := ms.exists(name); !ok {
			t.Errorf("%s: %s is not a series the node exports", where, name)
		}
	}
	if prose {
		return
	}
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		family, ok := ms.exists(m[1])
		if !ok || ms.families[family] == nil || len(ms.families[family].GetMetric()) == 0 {
			continue // reported above, or no series to learn its labels from
		}
		for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			l := lm[1]
			switch {
			case ms.labels[family][l], slices.Contains(targetLabels, l), l == "le" && family != m[1]:
			case renamedFor(family) == l:
			default:
				t.Errorf("%s: %s has no label %s (it has %v, plus %v)", where, m[1], l, keys(ms.labels[family]), targetLabels)
			}
		}
	}
}

func renamedFor(family string) string {
	for prefix, l := range renamedLabels {
		if strings.HasPrefix(family, prefix) {
			return l
		}
	}
	return ""
}

// dashboard is the part of the Grafana JSON the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                   `json:"id"`
	Type       string                `json:"type"`
	Title      string                `json:"title"`
	Datasource *struct{ UID string } `json:"datasource"`
	Targets    []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) (*dashboard, []panel) {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return &d, all
}

func loadRecords(t *testing.T) (rulesDoc, map[string]bool) {
	t.Helper()
	var rules rulesDoc
	yamlFile(t, rulesFile, &rules)
	records := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records[r.Record] = true
			}
		}
	}
	return rules, records
}

// The dashboard and the rules use only series a real node exports (and
// the rules' own recordings), with labels those series have; no series
// label collides with the target labels prometheus.yml adds, except the
// region labels its metric_relabel_configs rename. Then the Debian
// Prometheus server scrapes the node with the shipped config.
func TestNodeMetrics(t *testing.T) {
	n, token := startFleetNode(t)
	ms := newMetricSet(t, n, token)
	rules, records := loadRecords(t)

	t.Run("rules", func(t *testing.T) {
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				where := fmt.Sprintf("%s: %s%s", rulesFile, r.Record, r.Alert)
				ms.checkExpr(t, where, r.Expr, records, false)
				for k, v := range r.Annotations {
					ms.checkExpr(t, where+" annotation "+k, v, records, true)
				}
			}
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		d, panels := loadDashboard(t)
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: wants a uid and a title", dashboardFile)
		}
		ids := map[int]bool{}
		exprs := 0
		for _, p := range panels {
			where := fmt.Sprintf("%s: panel %d %q", dashboardFile, p.ID, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: id used twice", where)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource is not the ${datasource} variable", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, tg := range p.Targets {
				exprs++
				ms.checkExpr(t, where, tg.Expr, records, false)
			}
		}
		for _, v := range d.Templating.List {
			if v.Definition != "" {
				ms.checkExpr(t, dashboardFile+": variable "+v.Name, v.Definition, records, false)
			}
		}
		if exprs < 20 {
			t.Errorf("%s: only %d queries", dashboardFile, exprs)
		}
	})

	t.Run("label collisions", func(t *testing.T) {
		for name, labels := range ms.labels {
			for _, l := range targetLabels {
				if !labels[l] {
					continue
				}
				if l == "region" && renamedFor(name) != "" {
					continue
				}
				t.Errorf("%s has its own %s label: prometheus.yml would rename it exported_%s", name, l, l)
			}
		}
	})

	t.Run("prometheus", func(t *testing.T) {
		scrapeWithPrometheus(t, n, token, ms)
	})
}

// promServer is a Prometheus server run by a test.
type promServer struct {
	url  string
	out  *lockedBuffer
	done chan error
}

// startPrometheus runs the Debian prometheus with config on a free
// loopback port and its data in dir, and stops it (by its PID) when the
// test ends.
func startPrometheus(t *testing.T, bin, dir, config string) *promServer {
	t.Helper()
	port := freePort(t)
	ps := &promServer{url: "http://127.0.0.1:" + port, out: &lockedBuffer{}, done: make(chan error, 1)}
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+port,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = ps.out, ps.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { ps.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-ps.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-ps.done
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", ps.out)
		}
	})
	return ps
}

// exited reports whether the server has ended (then err says how).
func (ps *promServer) exited() (bool, error) {
	select {
	case err := <-ps.done:
		ps.done <- err
		return true, err
	default:
		return false, nil
	}
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// api GETs an /api/v1 path and decodes its data.
func (ps *promServer) api(path string, params url.Values, data any) error {
	resp, err := http.Get(ps.url + "/api/v1/" + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %d: %w", path, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s", path, r.Error)
	}
	if data == nil {
		return nil
	}
	return json.Unmarshal(r.Data, data)
}

func (ps *promServer) query(q string) ([]sample, error) {
	var d struct {
		Result []sample `json:"result"`
	}
	err := ps.api("query", url.Values{"query": {q}}, &d)
	return d.Result, err
}

// scrapeWithPrometheus runs the Debian Prometheus with the shipped
// prometheus.yml and rules, changed only where a test must: the node's
// address (in the shipped "<node>@<address>" form), the token file, the
// rule path, 1s intervals, no Alertmanager. Relabelling is as shipped.
func scrapeWithPrometheus(t *testing.T, n *edgetest.Node, token string, ms *metricSet) {
	bin := tool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	var cfg map[string]any
	yamlFile(t, promConfigFile, &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
	abs, err := filepath.Abs(filepath.Dir(rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []any{filepath.Join(abs, "*.rules.yml")}
	delete(cfg, "alerting")
	var job map[string]any
	for _, sc := range cfg["scrape_configs"].([]any) {
		if sc := sc.(map[string]any); sc["job_name"] == promJob {
			job = sc
		}
	}
	if job == nil {
		t.Fatalf("%s: no job %s", promConfigFile, promJob)
	}
	if job["relabel_configs"] == nil || job["metric_relabel_configs"] == nil {
		t.Fatalf("%s: job %s lost its relabelling", promConfigFile, promJob)
	}
	node, region := n.Config().Node.ID, n.Config().Node.Region
	job["static_configs"] = []any{map[string]any{
		"labels":  map[string]any{"region": region},
		"targets": []any{node + "@" + strings.TrimPrefix(n.Admin, "http://")},
	}}
	job["authorization"].(map[string]any)["credentials_file"] = token
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	writeFile(t, config, b)

	ps := startPrometheus(t, bin, dir, config)
	const wait = 30 * time.Second
	waitFor(t, wait, "prometheus ready", func() (bool, string) {
		if done, err := ps.exited(); done {
			t.Fatalf("prometheus exited: %v\n%s", err, ps.out)
		}
		resp, err := http.Get(ps.url + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})

	// The target is up under the node's name, with node and region.
	want := map[string]string{"job": promJob, "instance": node, "node": node, "region": region}
	hasLabels := func(s sample) bool {
		for k, v := range want {
			if s.Metric[k] != v {
				return false
			}
		}
		return true
	}
	waitFor(t, wait, "up == 1 for the node", func() (bool, string) {
		res, err := ps.query(`up{job="edgecdn"}`)
		if err != nil {
			return false, err.Error()
		}
		return len(res) == 1 && hasLabels(res[0]) && res[0].Value[1] == "1", fmt.Sprint(res)
	})
	res, err := ps.query(`edge_health_state`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Errorf("edge_health_state: want 5 series (one per state), got %v", res)
	}
	for _, s := range res {
		if !hasLabels(s) {
			t.Errorf("edge_health_state series %v lacks %v", s.Metric, want)
		}
	}

	// No exported_* label anywhere; the renamed ones are there.
	var labelNames []string
	if err := ps.api("labels", nil, &labelNames); err != nil {
		t.Fatal(err)
	}
	for _, l := range labelNames {
		if strings.HasPrefix(l, "exported_") {
			t.Errorf("label %s: a series label collides with a target label", l)
		}
	}
	renamed := map[string]string{`edge_dns_responses_total{answer_region="eu-central"}`: "edge_dns_responses_total"}
	if ms.registered("edge_http_client_request_duration_seconds") {
		renamed[`edge_http_client_request_duration_seconds_count{client_region!=""}`] = "edge_http_client_request_duration_seconds"
	}
	for q := range renamed {
		if res, err := ps.query(q); err != nil || len(res) == 0 {
			t.Errorf("%s: no series (%v)", q, err)
		}
	}

	// The dashboard's variables find the node, and every panel query is
	// valid PromQL for this Prometheus.
	var values []string
	if err := ps.api("label/region/values", url.Values{"match[]": {`up{job="edgecdn"}`}}, &values); err != nil || !slices.Contains(values, region) {
		t.Errorf("label_values(up{job=\"edgecdn\"}, region): %v %v", values, err)
	}
	if err := ps.api("label/node/values", url.Values{"match[]": {`up{job="edgecdn", region=~"` + region + `"}`}}, &values); err != nil || !slices.Contains(values, node) {
		t.Errorf("label_values(up, node): %v %v", values, err)
	}
	vars := strings.NewReplacer("$region", ".*", "$node", ".*", "$__rate_interval", "1m")
	_, panels := loadDashboard(t)
	for _, p := range panels {
		for _, tg := range p.Targets {
			if _, err := ps.query(vars.Replace(tg.Expr)); err != nil {
				t.Errorf("%s: panel %q: %s: %v", dashboardFile, p.Title, tg.Expr, err)
			}
		}
	}

	// Every rule has been evaluated without an error, and the recording
	// rules produce series for the node's region.
	waitFor(t, wait, "every rule evaluated", func() (bool, string) {
		var d struct {
			Groups []struct {
				Rules []struct {
					Name           string `json:"name"`
					Health         string `json:"health"`
					LastError      string `json:"lastError"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := ps.api("rules", nil, &d); err != nil {
			return false, err.Error()
		}
		var pending []string
		total := 0
		for _, g := range d.Groups {
			for _, r := range g.Rules {
				total++
				if r.Health == "err" {
					t.Fatalf("rule %s: %s", r.Name, r.LastError)
				}
				if r.Health != "ok" {
					pending = append(pending, r.Name)
				}
			}
		}
		return total > 0 && len(pending) == 0, fmt.Sprintf("%d rules, not yet evaluated: %v", total, pending)
	})
	for _, q := range []string{`region:edge_cache_hit_ratio:rate15m{region="eu-central"}`, `node:edge_dns_responses:rate5m{node="edge-fra-1"}`} {
		waitFor(t, wait, q, func() (bool, string) {
			res, err := ps.query(q)
			if err != nil {
				return false, err.Error()
			}
			return len(res) == 1, fmt.Sprint(res)
		})
	}
	if done, err := ps.exited(); done {
		t.Errorf("prometheus exited early: %v", err)
	}
}
