package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgecdn/edgecdn/bgp"
	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/edge/dashboard"
	"github.com/edgecdn/edgecdn/origin"
)

// maxAdminBody bounds a request body of the admin API.
const maxAdminBody = 1 << 20

// adminHandler serves the admin API: see "Admin API" in edge/README.md.
// Every endpoint but /healthz and /ready needs a scope (see authority).
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, h) }
	need := func(pattern, scope string, h func(w http.ResponseWriter, r *http.Request, who string)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			who, err := n.auth.authenticate(r, scope)
			if err != nil {
				n.met.adminRequests.WithLabelValues(pattern, "denied").Inc()
				status := http.StatusUnauthorized
				if errors.Is(err, errForbidden) {
					status = http.StatusForbidden
				} else {
					w.Header().Set("WWW-Authenticate", `Bearer realm="edgecdn"`)
				}
				writeJSONError(w, status, err.Error(), "")
				return
			}
			n.met.adminRequests.WithLabelValues(pattern, "ok").Inc()
			h(w, r, who)
		})
	}
	metrics := promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg})
	need("GET /metrics", scopeRead, func(w http.ResponseWriter, r *http.Request, _ string) { metrics.ServeHTTP(w, r) })
	open("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
	open("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !n.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	need("GET /status", scopeRead, func(w http.ResponseWriter, r *http.Request, _ string) { writeJSON(w, n.Status()) })
	need("GET /health", scopeRead, func(w http.ResponseWriter, r *http.Request, _ string) { writeJSON(w, n.Health()) })
	need("GET /config", scopeRead, func(w http.ResponseWriter, r *http.Request, _ string) {
		b, err := n.Config().YAML()
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
	need("GET /dashboard/data", scopeRead, n.serveDashboardData)
	// The page holds no data (it asks /dashboard/data, with a token when
	// one is configured): open like /healthz.
	open("GET /dashboard", dashboard.Handler().ServeHTTP)
	open("GET /dashboard/", dashboard.Handler().ServeHTTP)
	need("POST /purge", scopePurge, n.servePurge)
	drain := func(on bool) func(http.ResponseWriter, *http.Request, string) {
		return func(w http.ResponseWriter, r *http.Request, who string) {
			n.Drain(on)
			action := "undrain"
			if on {
				action = "drain"
			}
			n.audit(who, r, action, nil, "ok", nil)
			writeJSON(w, n.Health())
		}
	}
	need("POST /drain", scopeAdmin, drain(true))
	need("POST /undrain", scopeAdmin, drain(false))
	need("DELETE /drain", scopeAdmin, drain(false))
	need("POST /reload", scopeAdmin, n.serveReload)
	need("PUT /log-level", scopeAdmin, n.serveLogLevel)
	need("GET /log-level", scopeRead, func(w http.ResponseWriter, r *http.Request, _ string) {
		if n.level == nil {
			writeJSONError(w, http.StatusNotImplemented, "this node has no adjustable log level", "")
			return
		}
		writeJSON(w, map[string]string{"level": strings.ToLower(n.level.Level().String())})
	})
	if n.Config().Admin.Pprof {
		wrap := func(h http.HandlerFunc) func(http.ResponseWriter, *http.Request, string) {
			return func(w http.ResponseWriter, r *http.Request, _ string) { h(w, r) }
		}
		need("GET /debug/pprof/", scopeAdmin, wrap(pprof.Index))
		need("GET /debug/pprof/cmdline", scopeAdmin, wrap(pprof.Cmdline))
		need("GET /debug/pprof/profile", scopeAdmin, wrap(pprof.Profile))
		need("GET /debug/pprof/symbol", scopeAdmin, wrap(pprof.Symbol))
		need("GET /debug/pprof/trace", scopeAdmin, wrap(pprof.Trace))
	}
	return mux
}

// PurgeBody is the JSON body of POST /purge.
type PurgeBody struct {
	URLs     []string `json:"urls"`
	Prefixes []string `json:"prefixes"`
	Tags     []string `json:"tags"`
	Hosts    []string `json:"hosts"`
	All      bool     `json:"all"`
	Soft     bool     `json:"soft"`
}

// PurgeAnswer is the answer to POST /purge.
type PurgeAnswer struct {
	Seq       uint64  `json:"seq"`
	Matched   int     `json:"matched"`
	DurationS float64 `json:"duration_s"`
}

// fieldError is a request problem naming its JSON field.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// servePurge applies a purge and answers once it is in effect.
func (n *Node) servePurge(w http.ResponseWriter, r *http.Request, who string) {
	cfg := n.Config()
	body, err := readJSONBody[PurgeBody](w, r)
	if err != nil {
		n.met.purgeRejected.WithLabelValues("body").Inc()
		writeRequestError(w, err)
		return
	}
	req, err := purgeRequest(&body, cfg.Admin.MaxPurgeSelectors)
	if err != nil {
		n.met.purgeRejected.WithLabelValues("invalid").Inc()
		writeRequestError(w, err)
		n.audit(who, r, "purge", body, "rejected: "+err.Error(), nil)
		return
	}
	if ok, wait := n.purgeLim.allow(time.Now()); !ok {
		n.met.purgeRejected.WithLabelValues("rate").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		writeJSONError(w, http.StatusTooManyRequests, fmt.Sprintf("more than %g purges a second", cfg.Admin.PurgeRate), "")
		n.audit(who, r, "purge", body, "rejected: rate limited", nil)
		return
	}
	start := time.Now()
	res := n.store.Purge(req)
	ans := PurgeAnswer{Seq: res.Seq, Matched: res.Matched, DurationS: time.Since(start).Seconds()}
	n.audit(who, r, "purge", body, "ok", ans)
	writeJSON(w, ans)
}

// purgeRequest checks a purge body and turns it into cache terms.
func purgeRequest(b *PurgeBody, maxSelectors int) (cache.PurgeRequest, error) {
	var req cache.PurgeRequest
	if total := len(b.URLs) + len(b.Prefixes) + len(b.Tags) + len(b.Hosts); total > maxSelectors {
		return req, &fieldError{"", fmt.Sprintf("%d selectors, at most %d in one request", total, maxSelectors)}
	} else if total == 0 && !b.All {
		return req, &fieldError{"", "nothing to purge: give urls, prefixes, tags, hosts or all: true"}
	}
	if b.All && len(b.URLs)+len(b.Prefixes)+len(b.Tags)+len(b.Hosts) > 0 {
		return req, &fieldError{"all", "all: true purges everything; do not combine it with selectors"}
	}
	for i, u := range b.URLs {
		k, err := purgeKey(u, false)
		if err != nil {
			return req, &fieldError{fmt.Sprintf("urls[%d]", i), err.Error()}
		}
		req.Keys = append(req.Keys, k)
	}
	for i, u := range b.Prefixes {
		k, err := purgeKey(u, true)
		if err != nil {
			return req, &fieldError{fmt.Sprintf("prefixes[%d]", i), err.Error()}
		}
		req.Prefixes = append(req.Prefixes, k)
	}
	for i, t := range b.Tags {
		if t == "" || len(t) > 1024 || strings.ContainsAny(t, " \t\r\n,") {
			return req, &fieldError{fmt.Sprintf("tags[%d]", i), fmt.Sprintf("%q is not a surrogate key (1-1024 characters, no spaces or commas)", t)}
		}
		req.Tags = append(req.Tags, t)
	}
	for i, h := range b.Hosts {
		if h == "" || len(h) > 255 || strings.ContainsAny(h, "/ \t\r\n@?#") {
			return req, &fieldError{fmt.Sprintf("hosts[%d]", i), fmt.Sprintf("%q is not a host", h)}
		}
		req.Hosts = append(req.Hosts, string(cache.AppendHost(nil, h, "http")))
	}
	req.All, req.Soft = b.All, b.Soft
	return req, nil
}

// purgeKey turns an absolute http(s) URL into the node's cache key (the
// node keys by Host and target; both schemes map to the same object). A
// prefix keeps its path as given, only normalised.
func purgeKey(raw string, prefix bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an absolute http or https URL (scheme://host/path)", raw)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if prefix && u.RawQuery != "" {
		return "", fmt.Errorf("%q: a prefix has no query", raw)
	}
	k, err := cache.AppendKey(nil, "http", u.Host, path, u.RawQuery, u.ForceQuery || u.RawQuery != "")
	if err != nil {
		return "", fmt.Errorf("%q: %v", raw, err)
	}
	return string(k), nil
}

// serveReload re-reads the config source and applies it.
func (n *Node) serveReload(w http.ResponseWriter, r *http.Request, who string) {
	if n.source == nil {
		writeJSONError(w, http.StatusConflict, "this node runs an embedded or in-memory config: there is no file to re-read", "")
		return
	}
	cfg, err := n.source()
	if err == nil {
		err = n.Reload(cfg)
	}
	if err != nil {
		n.audit(who, r, "reload", nil, "rejected", nil)
		writeJSONError(w, http.StatusBadRequest, "reload rejected; the running config stays: "+err.Error(), "")
		return
	}
	n.mu.Lock()
	gen := n.genID
	n.mu.Unlock()
	n.audit(who, r, "reload", nil, "ok", map[string]uint64{"generation": gen})
	writeJSON(w, map[string]uint64{"generation": gen})
}

// serveLogLevel sets the log level: {"level": "debug|info|warn|error"}.
func (n *Node) serveLogLevel(w http.ResponseWriter, r *http.Request, who string) {
	if n.level == nil {
		writeJSONError(w, http.StatusNotImplemented, "this node has no adjustable log level", "")
		return
	}
	body, err := readJSONBody[struct {
		Level string `json:"level"`
	}](w, r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(body.Level)); err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("%q is not debug, info, warn or error", body.Level), "level")
		return
	}
	n.level.Set(lv)
	n.audit(who, r, "log-level", body, "ok", nil)
	writeJSON(w, map[string]string{"level": strings.ToLower(lv.String())})
}

// readJSONBody decodes a JSON body strictly (unknown fields are errors)
// of at most maxAdminBody bytes.
func readJSONBody[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return v, &statusError{http.StatusUnsupportedMediaType, "the body must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return v, &statusError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", maxAdminBody)}
		case errors.As(err, &ute):
			return v, &fieldError{ute.Field, fmt.Sprintf("must be %s, got %s", ute.Type, ute.Value)}
		case errors.Is(err, io.EOF):
			return v, &fieldError{"", "empty body: a JSON object is required"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return v, &fieldError{f, "unknown field"}
		}
		return v, &fieldError{"", "malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return v, &fieldError{"", "one JSON object expected, found more"}
	}
	return v, nil
}

// statusError is a request problem with its own status.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func writeRequestError(w http.ResponseWriter, err error) {
	var se *statusError
	var fe *fieldError
	switch {
	case errors.As(err, &se):
		writeJSONError(w, se.status, se.msg, "")
	case errors.As(err, &fe):
		msg := fe.msg
		if fe.field != "" {
			msg = fe.field + ": " + fe.msg
		}
		writeJSONError(w, http.StatusBadRequest, msg, fe.field)
	default:
		writeJSONError(w, http.StatusBadRequest, err.Error(), "")
	}
}

// auditLog writes the admin audit trail.
type auditLog struct {
	mu     sync.Mutex
	f      *os.File // nil: logger
	logger *slog.Logger
}

type auditRecord struct {
	Time    time.Time `json:"time"`
	Who     string    `json:"who"`
	Remote  string    `json:"remote"`
	Action  string    `json:"action"`
	Request any       `json:"request,omitempty"`
	Outcome string    `json:"outcome"`
	Result  any       `json:"result,omitempty"`
}

// audit records an operator action.
func (n *Node) audit(who string, r *http.Request, action string, req any, outcome string, result any) {
	a := n.auditor
	if a == nil {
		return
	}
	rec := auditRecord{Time: time.Now().UTC(), Who: who, Remote: r.RemoteAddr, Action: action, Request: req, Outcome: outcome, Result: result}
	if a.f == nil {
		a.logger.Info("admin action", "who", rec.Who, "remote", rec.Remote, "action", action, "request", req, "outcome", outcome, "result", result)
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		a.logger.Error("writing the audit log", "err", err)
	}
}

// Status is the node's state for GET /status.
type Status struct {
	Node             string         `json:"node"`
	Region           string         `json:"region"`
	Version          string         `json:"version"`
	Ready            bool           `json:"ready"`
	StartedAt        time.Time      `json:"started_at"`
	UptimeSeconds    float64        `json:"uptime_seconds"`
	ConfigGeneration uint64         `json:"config_generation"`
	Cache            CacheStatus    `json:"cache"`
	Origins          []origin.State `json:"origins"`
	Health           HealthStatus   `json:"health"`
	BGP              *bgp.Snapshot  `json:"bgp,omitempty"`
	DNS              *DNSStatus     `json:"dns,omitempty"`
}

// CacheStatus summarises the cache.
type CacheStatus struct {
	Objects     int64 `json:"objects"`
	StoredBytes int64 `json:"stored_bytes"`
	MaxBytes    int64 `json:"max_bytes"`
	InFlight    int   `json:"fills_in_flight"`
	// Lookups and Hits count client GET/HEAD lookups since start; a hit is
	// a fresh or stale-served stored response.
	Lookups  uint64  `json:"lookups"`
	Hits     uint64  `json:"hits"`
	HitRatio float64 `json:"hit_ratio"`
}

// DNSStatus counts DNS traffic since start.
type DNSStatus struct {
	Queries   uint64            `json:"queries"`
	Responses map[string]uint64 `json:"responses_by_rcode"`
}

// Status returns a snapshot of the node.
func (n *Node) Status() Status { return n.status(n.snapshot(time.Now())) }

// status builds Status with the counters of snap.
func (n *Node) status(snap *metricSnap) Status {
	n.mu.Lock()
	gen, started, pools := n.genID, n.started, n.pools
	n.mu.Unlock()
	cfg := n.Config()
	st := n.store.Stats()
	s := Status{
		Node: cfg.Node.ID, Region: cfg.Node.Region, Version: Version, Ready: n.Ready(),
		StartedAt: started, ConfigGeneration: gen,
		Cache: CacheStatus{Objects: st.Objects, StoredBytes: st.Bytes, MaxBytes: st.MaxBytes, InFlight: n.store.InFlight()},
	}
	if !started.IsZero() {
		s.UptimeSeconds = n.now().Sub(started).Seconds()
	}
	for _, p := range pools {
		s.Origins = append(s.Origins, p.Snapshot()...)
	}
	s.Health = n.hc.status()
	if n.speaker != nil {
		b := n.speaker.Snapshot()
		s.BGP = &b
	}
	n.countersInto(&s, snap)
	return s
}

// countersInto adds the counters status shows, from a snapshot of the
// registry (the one the dashboard's summaries use).
func (n *Node) countersInto(s *Status, snap *metricSnap) {
	s.Cache.Lookups, s.Cache.Hits = uint64(snap.lookups), uint64(snap.hits)
	if s.Cache.Lookups > 0 {
		s.Cache.HitRatio = float64(s.Cache.Hits) / float64(s.Cache.Lookups)
	}
	if n.dns != nil {
		s.DNS = &DNSStatus{Queries: uint64(snap.dnsQueries), Responses: map[string]uint64{}}
		for rcode, v := range snap.dnsByRcode {
			s.DNS.Responses[rcode] = uint64(v)
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg, field string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	e := map[string]string{"error": msg}
	if field != "" {
		e["field"] = field
	}
	json.NewEncoder(w).Encode(e)
}
