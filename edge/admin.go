package edge

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgecdn/edgecdn/bgp"
	"github.com/edgecdn/edgecdn/origin"
)

// adminHandler serves the admin endpoints of this version: metrics,
// liveness, readiness, status and the effective config. (Purge, drain and
// reload over HTTP, with authentication, come with the admin API issue.)
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !n.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Status())
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) {
		n.Drain(true)
		n.logger.Info("drain requested through the admin API", "addr", r.RemoteAddr)
		writeJSON(w, n.Health())
	})
	mux.HandleFunc("DELETE /drain", func(w http.ResponseWriter, r *http.Request) {
		n.Drain(false)
		n.logger.Info("drain ended through the admin API", "addr", r.RemoteAddr)
		writeJSON(w, n.Health())
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Health())
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		b, err := n.Config().YAML()
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
	if n.Config().Admin.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
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
}

// CacheStatus summarises the cache.
type CacheStatus struct {
	Objects     int64 `json:"objects"`
	StoredBytes int64 `json:"stored_bytes"`
	MaxBytes    int64 `json:"max_bytes"`
	InFlight    int   `json:"fills_in_flight"`
}

// Status returns a snapshot of the node.
func (n *Node) Status() Status {
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
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
