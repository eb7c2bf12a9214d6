package origin

import (
	"math"
	"time"
)

// State is a snapshot of one origin, for the admin API and dashboards.
type State struct {
	Site   string `json:"site"`
	Origin string `json:"origin"`
	Backup bool   `json:"backup,omitempty"`
	Weight int    `json:"weight"`
	// Up is the probe verdict (always true with probes disabled).
	Up bool `json:"up"`
	// Selected: lowest-latency sends new requests to this origin.
	Selected bool `json:"selected"`
	// Breaker is closed, half-open or open.
	Breaker string `json:"breaker"`
	// RTT estimates from probes (connect + time to first byte), in
	// milliseconds; zero before the first successful probe.
	RTTEWMAms   float64 `json:"rtt_ewma_ms"`
	RTTStdDevMs float64 `json:"rtt_stddev_ms"`
	LastRTTms   float64 `json:"last_rtt_ms"`
	// Loss is the EWMA of failed probes (0-1).
	Loss       float64   `json:"probe_loss"`
	ProbesOK   int64     `json:"probes_ok"`
	ProbesFail int64     `json:"probes_failed"`
	LastProbe  time.Time `json:"last_probe,omitzero"`
	LastError  string    `json:"last_error,omitempty"`

	ConnectionsOpen   int64 `json:"connections_open"`
	ConnectionsOpened int64 `json:"connections_opened"`
	InFlight          int64 `json:"requests_in_flight"`
}

func (p *Pool) state(o *Origin) State {
	o.mu.Lock()
	s := State{
		Site: p.site, Origin: o.name, Backup: o.cfg.Backup, Weight: o.cfg.Weight,
		Loss: o.loss, ProbesOK: o.probesOK, ProbesFail: o.probesFail,
		LastProbe: o.lastProbe, LastError: o.lastErr,
	}
	if o.samples > 0 {
		s.RTTEWMAms = o.ewma * 1000
		s.RTTStdDevMs = math.Sqrt(o.variance) * 1000
		s.LastRTTms = float64(o.lastRTT) / float64(time.Millisecond)
	}
	o.mu.Unlock()
	s.Up = o.up.Load()
	s.Breaker = breakerNames[o.br.state.Load()]
	s.ConnectionsOpen, s.ConnectionsOpened, s.InFlight = o.open.Load(), o.opened.Load(), o.inflight.Load()
	return s
}

// Snapshot returns the state of every origin of the pool, in
// configuration order.
func (p *Pool) Snapshot() []State {
	// Held throughout: an origin's up/down state changes under p.mu
	// together with the ranking (probe.go), so a snapshot never shows a
	// state that selection does not act on yet.
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.current
	out := make([]State, 0, len(p.origins))
	for _, o := range p.origins {
		s := p.state(o)
		s.Selected = o == cur && p.policy.Selection == LowestLatency
		out = append(out, s)
	}
	return out
}

// Site returns the name of the pool's site.
func (p *Pool) Site() string { return p.site }
