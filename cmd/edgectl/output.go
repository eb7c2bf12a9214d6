package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// writeJSON prints the results as one JSON array.
func writeJSON(w io.Writer, results []result) error {
	if results == nil {
		results = []result{}
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeHuman prints the results for a person: the YAML for config, a
// table with one row per node otherwise.
func writeHuman(w io.Writer, cmd command, results []result) error {
	if cmd.name == "config" {
		return writeConfigs(w, results)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	switch cmd.name {
	case "purge":
		row("NODE", "RESULT", "MATCHED", "SEQ", "LATENCY")
		for _, r := range results {
			matched, seq := "-", "-"
			if r.Matched != nil {
				matched = strconv.FormatInt(*r.Matched, 10)
			}
			if r.Seq != nil {
				seq = strconv.FormatUint(*r.Seq, 10)
			}
			row(r.Node, outcome(r), matched, seq, fmtLatency(r))
		}
	case "status":
		row("NODE", "RESULT", "ID", "REGION", "READY", "HEALTH", "BGP", "OBJECTS", "HIT", "ORIGINS", "LATENCY", "REASON")
		for _, r := range results {
			var s statusView
			if !decode(r, &s) {
				row(r.Node, outcome(r), "-", "-", "-", "-", "-", "-", "-", "-", fmtLatency(r), "-")
				continue
			}
			bgpMode := "-"
			if s.BGP != nil {
				bgpMode = dash(s.BGP.Mode)
			}
			hit := "-"
			if s.Cache.HitRatio != nil {
				hit = fmt.Sprintf("%.1f%%", *s.Cache.HitRatio*100)
			}
			up := 0
			for _, o := range s.Origins {
				if o.Up {
					up++
				}
			}
			row(r.Node, outcome(r), dash(s.Node), dash(s.Region), yesNo(s.Ready), s.Health.label(),
				bgpMode, strconv.FormatInt(s.Cache.Objects, 10), hit,
				fmt.Sprintf("%d/%d up", up, len(s.Origins)), fmtLatency(r), dash(s.Health.Reason))
		}
	case "drain", "undrain":
		row("NODE", "RESULT", "HEALTH", "LATENCY", "REASON")
		for _, r := range results {
			var h healthView
			if !decode(r, &h) {
				row(r.Node, outcome(r), "-", fmtLatency(r), "-")
				continue
			}
			row(r.Node, outcome(r), h.label(), fmtLatency(r), dash(h.Reason))
		}
	case "reload":
		row("NODE", "RESULT", "GENERATION", "LATENCY")
		for _, r := range results {
			var g struct {
				Generation *uint64 `json:"generation"`
			}
			gen := "-"
			if decode(r, &g) && g.Generation != nil {
				gen = strconv.FormatUint(*g.Generation, 10)
			}
			row(r.Node, outcome(r), gen, fmtLatency(r))
		}
	default:
		return fmt.Errorf("no output format for %q", cmd.name)
	}
	return tw.Flush()
}

// writeConfigs prints the YAML of one node as it is, and of several each
// under a "# node URL" header. Failed nodes are left to reportFailures.
func writeConfigs(w io.Writer, results []result) error {
	for i, r := range results {
		if !r.OK {
			continue
		}
		if len(results) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "# node %s\n", r.Node)
		}
		io.WriteString(w, r.Config)
		if r.Config != "" && !strings.HasSuffix(r.Config, "\n") {
			io.WriteString(w, "\n")
		}
	}
	return nil
}

// reportFailures writes one line per failed node and, with several
// nodes, a summary; it returns how many failed.
func reportFailures(w io.Writer, results []result) int {
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
			fmt.Fprintf(w, "edgectl: node %s: %s\n", r.Node, r.Error)
		}
	}
	if failed > 0 && len(results) > 1 {
		fmt.Fprintf(w, "edgectl: %d of %d nodes failed\n", failed, len(results))
	}
	return failed
}

// statusView is the part of GET /status the table shows.
type statusView struct {
	Node   string     `json:"node"`
	Region string     `json:"region"`
	Ready  bool       `json:"ready"`
	Health healthView `json:"health"`
	BGP    *struct {
		Mode string `json:"mode"`
	} `json:"bgp"`
	Cache struct {
		Objects  int64    `json:"objects"`
		HitRatio *float64 `json:"hit_ratio"`
	} `json:"cache"`
	Origins []struct {
		Up bool `json:"up"`
	} `json:"origins"`
}

// healthView is the health JSON of /status, /drain and /undrain.
type healthView struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	// Drain is why the node drains (a string) or whether it does (a
	// bool); the table only needs to know if it does.
	Drain json.RawMessage `json:"drain"`
}

// label is the state, marked when an operator drain is on.
func (h healthView) label() string {
	s := dash(h.State)
	switch d := strings.TrimSpace(string(h.Drain)); d {
	case "", "null", "false", `""`:
	default:
		s += " (drain)"
	}
	return s
}

// decode unmarshals a successful result's JSON answer into v.
func decode(r result, v any) bool {
	return r.OK && json.Unmarshal(r.Response, v) == nil
}

func outcome(r result) string {
	if r.OK {
		return "ok"
	}
	return "FAILED"
}

// fmtLatency rounds to a readable precision; "-" if nothing was sent.
func fmtLatency(r result) string {
	d := r.latency()
	switch {
	case r.LatencyS == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", r.LatencyS*1e3)
	case d < time.Second:
		return fmt.Sprintf("%.0fms", r.LatencyS*1e3)
	}
	return fmt.Sprintf("%.2fs", r.LatencyS)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
