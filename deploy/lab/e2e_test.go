package lab_test

// End-to-end tests of the real node (cmd/edged) in the lab: BGP
// announcement with ECMP at the router, withdrawal on HTTP and origin
// faults, graceful drain, flap damping and no false withdrawal under
// load. Timings are measured over several trials and logged as a
// min/median/max table; only generous sanity bounds are asserted.
//
// They skip when the lab cannot run here (not root, no BIRD) and when the
// node does not understand the bgp and health config sections yet.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab"
)

const (
	trials = 5
	// fastHealth shortens the hold, drain and lameduck times so that
	// trials are quick; the check interval, rise and fall stay at their
	// defaults (100ms, 5, 3).
	fastHealth     = "health:\n  hold_time: 3s\n  drain_delay: 1s\n  lameduck: 1s\n"
	fastHold       = 3 * time.Second
	fastDrainDelay = time.Second
	fastLameduck   = time.Second
	// defaultHold is the node's default health.hold_time.
	defaultHold = 10 * time.Second
	// routeGoneBound is the sanity bound on any withdrawal.
	routeGoneBound = 5 * time.Second
)

var edgedBuild struct {
	sync.Once
	bin  string
	err  error
	mu   sync.Mutex
	skip string // set once the node was found without bgp support
}

// edged builds cmd/edged (once per test binary) or skips the test.
func edged(t *testing.T) string {
	t.Helper()
	if err := lab.Available(); err != nil {
		t.Skipf("skipping e2e: %v", err)
	}
	if testing.Short() {
		t.Skip("skipping e2e in -short mode")
	}
	edgedBuild.Do(func() { edgedBuild.bin, edgedBuild.err = lab.BuildBinary(lab.EdgedPackage) })
	if edgedBuild.err != nil {
		t.Skipf("skipping e2e: the node does not build: %v", edgedBuild.err)
	}
	edgedBuild.mu.Lock()
	defer edgedBuild.mu.Unlock()
	if edgedBuild.skip != "" {
		t.Skip(edgedBuild.skip)
	}
	return edgedBuild.bin
}

// unknownSection matches a strict decoder's complaint about the bgp or
// health section itself (`bgp (line 9): unknown field "bgp"`).
var unknownSection = regexp.MustCompile(`(?i)unknown (field|key) "?(bgp|health)"?|field (bgp|health) not found`)

// checkSupport runs `edged -check` on the lab's config for edge 1 and
// skips the test if the node rejects the bgp or health section.
func checkSupport(t *testing.T, l *lab.Lab, bin, extra string) {
	t.Helper()
	f := filepath.Join(l.Dir, "check.yaml")
	if err := os.WriteFile(f, []byte(l.EdgeConfig(1, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := l.Exec(l.Edge(1).Namespace, bin, "-check", f)
	if err == nil {
		return
	}
	if unknownSection.MatchString(out) {
		edgedBuild.mu.Lock()
		edgedBuild.skip = "node without bgp support yet: " + strings.TrimSpace(out)
		edgedBuild.mu.Unlock()
		t.Skip(edgedBuild.skip)
	}
	t.Fatalf("edged -check rejects the lab config: %v\n%s", err, l.EdgeConfig(1, extra))
}

// cluster is a lab with the node running in every edge.
type cluster struct {
	*lab.Lab
	bin   string
	extra string
	procs map[int]*lab.Proc
	w     *lab.RouteWatch
	fails *failLog
}

// failLog keeps a test's failure messages to repeat them after the lab's
// process logs, which a failed test prints in its cleanup: CI shows the
// tail of the output, and without the repeat the message itself was
// scrolled out of it.
type failLog struct {
	mu   sync.Mutex
	msgs []string
}

// repeat logs the kept messages; it is registered before the lab's own
// cleanups, so it runs after them.
func (f *failLog) repeat(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Failed() && len(f.msgs) > 0 {
		t.Logf("failures (repeated after the logs):\n  %s", strings.Join(f.msgs, "\n  "))
	}
}

func (f *failLog) add(t *testing.T, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, t.Name()+": "+msg)
}

func (c *cluster) errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	c.fails.add(t, msg)
	t.Error(msg)
}

func (c *cluster) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	c.fails.add(t, msg)
	t.Fatal(msg)
}

func (c *cluster) fatal(t *testing.T, args ...any) {
	t.Helper()
	c.fatalf(t, "%s", fmt.Sprint(args...))
}

// newCluster builds a lab, starts the node in every edge with the extra
// config, waits until the router has a three-way ECMP route and starts a
// route watch polling every poll.
func newCluster(t *testing.T, extra string, poll time.Duration) *cluster {
	t.Helper()
	c := newIdleCluster(t, extra, poll)
	for i := 1; i <= c.Edges(); i++ {
		c.start(t, i)
	}
	c.waitAll(t)
	return c
}

// newIdleCluster is newCluster without starting the nodes.
func newIdleCluster(t *testing.T, extra string, poll time.Duration) *cluster {
	t.Helper()
	bin := edged(t)
	fails := &failLog{}
	t.Cleanup(func() { fails.repeat(t) })
	l := lab.New(t, lab.Options{})
	checkSupport(t, l, bin, extra)
	c := &cluster{Lab: l, bin: bin, extra: extra, procs: map[int]*lab.Proc{}, fails: fails}
	w, err := l.WatchRoutes(l.VIPPrefix, poll)
	if err != nil {
		c.fatal(t, err)
	}
	t.Cleanup(w.Stop)
	c.w = w
	return c
}

func (c *cluster) start(t *testing.T, i int) *lab.Proc {
	t.Helper()
	c.procs[i] = c.StartEdged(t, i, c.bin, c.EdgeConfig(i, c.extra))
	return c.procs[i]
}

func (c *cluster) nh(i int) string { return c.Edge(i).Addr }

// waitAll waits for all edges in BIRD and in the kernel's ECMP set.
func (c *cluster) waitAll(t *testing.T) {
	t.Helper()
	if err := c.WaitRoutes(c.VIPPrefix, c.Edges(), 30*time.Second); err != nil {
		c.fatal(t, err)
	}
	if err := c.WaitKernelNexthops(c.VIPPrefix, c.Edges(), 5*time.Second); err != nil {
		c.fatal(t, err)
	}
	// The route watch polls on its own: wait until it has seen every edge
	// too, so that its "up" events are older than any trial's start.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		seen := true
		for i := 1; i <= c.Edges(); i++ {
			seen = seen && c.w.Present(lab.SourceBIRD, c.nh(i)) && c.w.Present(lab.SourceKernel, c.nh(i))
		}
		if seen {
			return
		}
		if time.Now().After(deadline) {
			c.fatal(t, "the route watch never saw every edge")
		}
	}
}

// nodeStatus is the part of GET /status the tests read.
type nodeStatus struct {
	Ready  bool `json:"ready"`
	Health struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
		Drain  string `json:"drain"`
	} `json:"health"`
	BGP *struct {
		Mode      string   `json:"mode"`
		Announced []string `json:"announced"`
		Peers     []struct {
			Address string `json:"address"`
			State   string `json:"state"`
			Up      bool   `json:"up"`
		} `json:"peers"`
	} `json:"bgp"`
}

func (c *cluster) admin(i int, method, path string) (*lab.GetResult, error) {
	return c.Request(c.Edge(i).Namespace, method, "http://"+c.AdminAddr+path)
}

func (c *cluster) status(i int) (nodeStatus, error) {
	var s nodeStatus
	r, err := c.admin(i, "GET", "/status")
	if err != nil {
		return s, err
	}
	if r.Status != 200 {
		return s, fmt.Errorf("GET /status: %d %s", r.Status, r.Body)
	}
	err = json.Unmarshal(r.Body, &s)
	return s, err
}

// otherWithdrawals counts BIRD withdrawals of edges other than i since
// from.
func (c *cluster) otherWithdrawals(i int, from time.Time) int {
	n := 0
	for j := 1; j <= c.Edges(); j++ {
		if j != i {
			n += c.w.Count(lab.SourceBIRD, c.nh(j), false, from, time.Time{})
		}
	}
	return n
}

// stats is a table of measurements, logged as min/median/max.
type stats struct {
	order []string
	rows  map[string][]float64
	units map[string]string
}

func newStats() *stats { return &stats{rows: map[string][]float64{}, units: map[string]string{}} }

func (s *stats) dur(name string, d time.Duration) {
	s.add(name, "ms", float64(d.Microseconds())/1000)
}

func (s *stats) add(name, unit string, v float64) {
	if _, ok := s.rows[name]; !ok {
		s.order = append(s.order, name)
		s.units[name] = unit
	}
	s.rows[name] = append(s.rows[name], v)
}

func (s *stats) log(t *testing.T, title string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", title)
	fmt.Fprintf(&b, "  %-52s %3s %10s %10s %10s\n", "measurement", "n", "min", "median", "max")
	for _, name := range s.order {
		v := append([]float64(nil), s.rows[name]...)
		sort.Float64s(v)
		u := s.units[name]
		f := func(x float64) string {
			if u == "ms" {
				return fmt.Sprintf("%.1f ms", x)
			}
			return fmt.Sprintf("%g", x)
		}
		fmt.Fprintf(&b, "  %-52s %3d %10s %10s %10s\n", name, len(v), f(v[0]), f(v[len(v)/2]), f(v[len(v)-1]))
	}
	t.Log(b.String())
}

// (a) BIRD learns the VIP from all three edges and installs a three-way
// ECMP route; new connections spread over all edges.
func TestE2EAnnounce(t *testing.T) {
	c := newIdleCluster(t, fastHealth, 5*time.Millisecond)
	st := newStats()
	for trial := 1; trial <= trials; trial++ {
		t0 := time.Now()
		for i := 1; i <= c.Edges(); i++ {
			c.start(t, i)
		}
		var last time.Time
		for i := 1; i <= c.Edges(); i++ {
			e, err := c.w.WaitFor(lab.SourceBIRD, c.nh(i), true, t0, 30*time.Second)
			if err != nil {
				c.fatalf(t, "trial %d: %v", trial, err)
			}
			st.dur("node start → announced (BIRD has the route)", e.Time.Sub(t0))
			k, err := c.w.WaitFor(lab.SourceKernel, c.nh(i), true, t0, 5*time.Second)
			if err != nil {
				c.fatalf(t, "trial %d: %v", trial, err)
			}
			if k.Time.After(last) {
				last = k.Time
			}
		}
		st.dur("node start → kernel ECMP has all 3", last.Sub(t0))
		hops, err := c.Routes(c.VIPPrefix)
		if err != nil || len(hops) != 3 {
			c.fatalf(t, "trial %d: BIRD next hops %v, %v", trial, hops, err)
		}
		if kh, err := c.KernelNexthops(c.VIPPrefix); err != nil || len(kh) != 3 {
			c.fatalf(t, "trial %d: kernel next hops %v, %v", trial, kh, err)
		}
		for i := 1; i <= c.Edges(); i++ {
			s, err := c.status(i)
			if err != nil {
				c.fatalf(t, "trial %d: edge %d status: %v", trial, i, err)
			}
			if s.Health.State != "healthy" || s.BGP == nil || len(s.BGP.Peers) != 1 || !s.BGP.Peers[0].Up {
				c.errorf(t, "trial %d: edge %d status: %+v", trial, i, s)
			}
		}
		if trial == trials {
			lp, err := c.StartLoop("http://"+c.VIP+"/obj/1024", 100, 2*time.Second)
			if err != nil {
				c.fatal(t, err)
			}
			r, err := lp.Wait()
			if err != nil {
				c.fatal(t, err)
			}
			t.Logf("client loop over the VIP: sent %d, ok %d, per edge %v, latency %+v", r.Sent, r.OK, r.Via, r.Latency)
			if r.Failed != 0 {
				c.errorf(t, "client loop failures: %v %+v", r.Errors, r.Failures)
			}
			for i := 1; i <= c.Edges(); i++ {
				if r.Via[c.Edge(i).NodeID] == 0 {
					c.errorf(t, "ECMP sent nothing to edge %d: %v", i, r.Via)
				}
			}
			break
		}
		// Kill the nodes; the router flushes their routes at once.
		for i := 1; i <= c.Edges(); i++ {
			_ = c.procs[i].Signal(syscall.SIGKILL)
			_ = c.procs[i].Wait(5 * time.Second)
		}
		if err := c.WaitRoutes(c.VIPPrefix, 0, 15*time.Second); err != nil {
			c.fatal(t, err)
		}
	}
	st.log(t, "(a) announcement")
}

// faultTrials runs the HTTP or origin fault trials.
func faultTrials(t *testing.T, name string, fault func(c *cluster, i int, on bool) error) {
	c := newCluster(t, fastHealth, 5*time.Millisecond)
	st := newStats()
	for trial := 0; trial < trials; trial++ {
		i := trial%c.Edges() + 1
		nh := c.nh(i)
		if err := fault(c, i, true); err != nil {
			c.fatal(t, err)
		}
		t0 := time.Now()
		gone, err := c.w.WaitGone(nh, t0, routeGoneBound)
		if err != nil {
			c.fatalf(t, "trial %d (edge %d): %v", trial+1, i, err)
		}
		k, err := c.w.WaitFor(lab.SourceKernel, nh, false, t0, routeGoneBound)
		if err != nil {
			c.fatalf(t, "trial %d (edge %d): %v", trial+1, i, err)
		}
		st.dur(name+" → gone from BIRD", gone.Sub(t0))
		st.dur(name+" → gone from kernel ECMP", k.Time.Sub(t0))
		if s, err := c.status(i); err == nil {
			t.Logf("trial %d: edge %d withdrawn after %s, state %s (%s)", trial+1, i, gone.Sub(t0).Round(time.Millisecond), s.Health.State, s.Health.Reason)
		}
		hops, _ := c.Routes(c.VIPPrefix)
		if len(hops) != c.Edges()-1 {
			c.errorf(t, "trial %d: BIRD next hops %v, want the other %d", trial+1, hops, c.Edges()-1)
		}
		if err := fault(c, i, false); err != nil {
			c.fatal(t, err)
		}
		t1 := time.Now()
		back, err := c.w.WaitBack(nh, t1, fastHold+30*time.Second)
		if err != nil {
			c.fatalf(t, "trial %d (edge %d): %v", trial+1, i, err)
		}
		st.dur("fault removed → back in BIRD", back.Sub(t1))
		st.dur("time withdrawn", back.Sub(gone))
		if back.Sub(t1) < fastHold-50*time.Millisecond {
			c.errorf(t, "trial %d: edge %d back %s after the fault ended, before hold_time %s", trial+1, i, back.Sub(t1), fastHold)
		}
		if n := c.otherWithdrawals(i, t0); n != 0 {
			c.errorf(t, "trial %d: other edges withdrawn %d times", trial+1, n)
		}
		if err := c.WaitKernelNexthops(c.VIPPrefix, c.Edges(), 5*time.Second); err != nil {
			c.fatal(t, err)
		}
	}
	st.log(t, fmt.Sprintf("(%s) hold_time %s, interval 100ms, rise 5, fall 3", name, fastHold))
}

// (b) HTTP fault: the edge's next hop leaves BIRD; the others stay; it
// returns only after the fault is gone for hold_time.
func TestE2EHTTPFault(t *testing.T) {
	faultTrials(t, "HTTP fault", func(c *cluster, i int, on bool) error { return c.RejectHTTP(i, on) })
}

// (c) Origin fault: the same, with the edge cut off from the origin.
func TestE2EOriginFault(t *testing.T) {
	faultTrials(t, "origin fault", func(c *cluster, i int, on bool) error { return c.RejectOrigin(i, on) })
}

// failures formats a loop's failures for an error message.
func failures(r *lab.LoopResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d failed %v:", r.Failed, r.Sent, r.Errors)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  %s (%.1f ms) %s %s", f.Time.Format("15:04:05.000"), f.DurationMS, f.Kind, f.Error)
	}
	return b.String()
}

// changeTimes formats route events as the span in which each happened.
func changeTimes(evs []lab.RouteEvent) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s..%s %s up=%v", e.Prev.Format("15:04:05.000"), e.Time.Format("15:04:05.000"), e.NextHop, e.Up)
	}
	return b.String()
}

// (d) Planned drain, by SIGTERM and through the admin API, under a
// bounded client loop (50 req/s, a new connection each): no client
// request fails.
func TestE2EDrain(t *testing.T) {
	c := newCluster(t, fastHealth, 5*time.Millisecond)
	url := "http://" + c.VIP + "/obj/1024"
	st := newStats()
	for trial := 0; trial < trials; trial++ {
		i := trial%c.Edges() + 1
		nh := c.nh(i)
		lp, err := c.StartLoop(url, 50, time.Minute)
		if err != nil {
			c.fatal(t, err)
		}
		time.Sleep(300 * time.Millisecond)
		p := c.procs[i]
		t0 := time.Now()
		if err := p.Signal(syscall.SIGTERM); err != nil {
			c.fatal(t, err)
		}
		k, err := c.w.WaitFor(lab.SourceKernel, nh, false, t0, routeGoneBound)
		if err != nil {
			c.fatalf(t, "SIGTERM trial %d (edge %d): %v", trial+1, i, err)
		}
		gone, err := c.w.WaitGone(nh, t0, routeGoneBound)
		if err != nil {
			c.fatalf(t, "SIGTERM trial %d (edge %d): %v", trial+1, i, err)
		}
		if err := p.Wait(30 * time.Second); err != nil {
			c.errorf(t, "SIGTERM trial %d: edge %d exit: %v", trial+1, i, err)
		}
		time.Sleep(300 * time.Millisecond)
		r, err := lp.Stop()
		if err != nil {
			c.fatal(t, err)
		}
		st.dur("SIGTERM → out of kernel ECMP (drain announced)", k.Time.Sub(t0))
		st.dur("SIGTERM → withdrawn (gone from BIRD)", gone.Sub(t0))
		st.dur("SIGTERM → process exit", p.ExitedAt().Sub(t0))
		st.add("SIGTERM: failed client requests", "", float64(r.Failed))
		if r.Failed != 0 {
			c.errorf(t, "SIGTERM trial %d (edge %d): %s", trial+1, i, failures(r))
		}
		if d := p.ExitedAt().Sub(t0); d < fastDrainDelay+fastLameduck {
			c.errorf(t, "SIGTERM trial %d: exited after %s, before drain_delay+lameduck", trial+1, d)
		}
		if d := gone.Sub(t0); d < fastDrainDelay-50*time.Millisecond {
			c.errorf(t, "SIGTERM trial %d: withdrawn after %s, before drain_delay", trial+1, d)
		}
		if n := c.otherWithdrawals(i, t0); n != 0 {
			c.errorf(t, "SIGTERM trial %d: other edges withdrawn %d times", trial+1, n)
		}
		t1 := time.Now()
		c.start(t, i)
		back, err := c.w.WaitBack(nh, t1, 30*time.Second)
		if err != nil {
			c.fatal(t, err)
		}
		st.dur("restart → announced again", back.Sub(t1))
		c.waitAll(t)
	}
	for trial := 0; trial < trials; trial++ {
		i := trial%c.Edges() + 1
		nh := c.nh(i)
		lp, err := c.StartLoop(url, 50, time.Minute)
		if err != nil {
			c.fatal(t, err)
		}
		time.Sleep(300 * time.Millisecond)
		t0 := time.Now()
		if r, err := c.admin(i, "POST", "/drain"); err != nil || r.Status/100 != 2 {
			c.fatalf(t, "POST /drain: %+v, %v", r, err)
		}
		k, err := c.w.WaitFor(lab.SourceKernel, nh, false, t0, routeGoneBound)
		if err != nil {
			c.fatalf(t, "drain trial %d (edge %d): %v", trial+1, i, err)
		}
		gone, err := c.w.WaitGone(nh, t0, routeGoneBound)
		if err != nil {
			c.fatalf(t, "drain trial %d (edge %d): %v", trial+1, i, err)
		}
		if s, err := c.status(i); err != nil || s.Health.State != "draining" && s.Health.State != "withdrawn" {
			c.errorf(t, "drain trial %d: state after POST /drain: %+v, %v", trial+1, s.Health, err)
		}
		time.Sleep(300 * time.Millisecond)
		t1 := time.Now()
		if r, err := c.admin(i, "DELETE", "/drain"); err != nil || r.Status/100 != 2 {
			c.fatalf(t, "DELETE /drain: %+v, %v", r, err)
		}
		back, err := c.w.WaitBack(nh, t1, fastHold+30*time.Second)
		if err != nil {
			c.fatalf(t, "undrain trial %d (edge %d): %v", trial+1, i, err)
		}
		if err := c.WaitKernelNexthops(c.VIPPrefix, c.Edges(), 5*time.Second); err != nil {
			c.fatal(t, err)
		}
		time.Sleep(200 * time.Millisecond)
		r, err := lp.Stop()
		if err != nil {
			c.fatal(t, err)
		}
		st.dur("POST /drain → out of kernel ECMP", k.Time.Sub(t0))
		st.dur("POST /drain → withdrawn (gone from BIRD)", gone.Sub(t0))
		st.dur("DELETE /drain → announced again", back.Sub(t1))
		st.add("admin drain + undrain: failed client requests", "", float64(r.Failed))
		if r.Failed != 0 {
			c.errorf(t, "admin drain trial %d (edge %d): %s", trial+1, i, failures(r))
		}
		if n := c.otherWithdrawals(i, t0); n != 0 {
			c.errorf(t, "drain trial %d: other edges withdrawn %d times", trial+1, n)
		}
	}
	st.log(t, fmt.Sprintf("(d) planned drain, 50 req/s, drain_delay %s, lameduck %s", fastDrainDelay, fastLameduck))
}

// (d') Drain flips: edge 1 is drained and undrained up to flipCycles
// times under two clients at once: a loop of 1000 new connections a
// second, so that each change of the ECMP set finds connections in
// flight, and flipConns keep-alive connections sending back to back,
// which each change of the set finds mid-connection. With the router
// pinning connections to their edge (the lab's default), no request
// fails. Without (plain Linux hash-threshold ECMP), the router itself
// moves connections to an edge that resets them; each failed loop request
// must have started just before a change of the ECMP set, so that none is
// the node's doing. Reopened keep-alive connections are reported.
//
// The router's hash decides which edge each keep-alive connection opens
// on, so flipConns is large enough that some land on edge 1: with 8, none
// did in about 1 run in 25 ((2/3)^8); with 24 that is (2/3)^24, 6e-5.
func TestE2EDrainFlips(t *testing.T) {
	const (
		flipCycles = 3
		flipConns  = 24
		loadFor    = 5 * time.Second
	)
	c := newCluster(t, fastHealth, 5*time.Millisecond)
	url := "http://" + c.VIP + "/obj/1024"
	for _, pinned := range []bool{true, false} {
		name := "pinned"
		if !pinned {
			name = "rehashing"
		}
		t.Run(name, func(t *testing.T) {
			if err := c.PinFlows(pinned); err != nil {
				c.fatal(t, err)
			}
			t.Cleanup(func() { _ = c.PinFlows(true) })
			c.waitAll(t)
			t0 := time.Now()
			lp, err := c.StartLoop(url, 1000, time.Minute)
			if err != nil {
				c.fatal(t, err)
			}
			type loadOut struct {
				r   *lab.LoadResult
				err error
			}
			done := make(chan loadOut, 1)
			go func() {
				r, err := c.Load(url, flipConns, loadFor, 5_000_000)
				done <- loadOut{r, err}
			}()
			time.Sleep(300 * time.Millisecond)
			flips := 0
			for ; flips < flipCycles && time.Since(t0) < loadFor-2*time.Second; flips++ {
				if r, err := c.admin(1, "POST", "/drain"); err != nil || r.Status/100 != 2 {
					c.fatalf(t, "POST /drain: %+v, %v", r, err)
				}
				if _, err := c.w.WaitGone(c.nh(1), time.Now(), routeGoneBound); err != nil {
					c.fatal(t, err)
				}
				if r, err := c.admin(1, "DELETE", "/drain"); err != nil || r.Status/100 != 2 {
					c.fatalf(t, "DELETE /drain: %+v, %v", r, err)
				}
				if err := c.WaitKernelNexthops(c.VIPPrefix, c.Edges(), 5*time.Second); err != nil {
					c.fatal(t, err)
				}
				time.Sleep(300 * time.Millisecond)
			}
			lo := <-done
			r, err := lp.Stop()
			if err != nil {
				c.fatal(t, err)
			}
			if lo.err != nil {
				c.fatal(t, lo.err)
			}
			ld := lo.r
			var changes []lab.RouteEvent
			for _, e := range c.w.Events() {
				if e.Source == lab.SourceKernel && e.Time.After(t0) {
					changes = append(changes, e)
				}
			}
			t.Logf("%d flips, %d changes of the ECMP set; loop: %d requests (%v), %d failed; keep-alive: %d requests (%v) on %d connections, %d opened, %d failed %v",
				flips, len(changes), r.Sent, r.Via, r.Failed, ld.Requests, ld.Via, ld.Conns, ld.Dials, ld.Failed, ld.Errors)
			if flips == 0 || len(changes) < 2*flips {
				c.fatalf(t, "%d flips, %d changes of the ECMP set: nothing to measure", flips, len(changes))
			}
			if r.Via["edge1"] == 0 || ld.Via["edge1"] == 0 {
				c.errorf(t, "edge 1 served no loop (%v) or keep-alive (%v) request", r.Via, ld.Via)
			}
			if pinned {
				if r.Failed != 0 {
					c.errorf(t, "loop: %s", failures(r))
				}
				// Dials is reported, not asserted: the client may reopen
				// a connection the node closed cleanly (seen once in CI).
				if ld.Failed != 0 {
					c.errorf(t, "keep-alive: %d failed %v", ld.Failed, ld.Errors)
				}
				return
			}
			if r.Failed != len(r.Failures) {
				c.fatalf(t, "%d failures, %d recorded", r.Failed, len(r.Failures))
			}
			// A change moved a request if it happened while the request
			// was in flight: the change lies between the poll before it
			// (Prev) and the poll that saw it (Time), the request between
			// its start and its failure; 20ms covers the two processes'
			// clock reads. (This used to assume no request takes over
			// 100ms; under CI's load one can.)
			for _, f := range r.Failures {
				moved := false
				for _, e := range changes {
					if !e.Time.Before(f.Time.Add(-20*time.Millisecond)) && !e.Prev.After(f.End().Add(20*time.Millisecond)) {
						moved = true
					}
				}
				if !moved || f.Kind != "reset" {
					c.errorf(t, "failure not explained by a change of the ECMP set: %s (%.1f ms) %s %s; changes: %s",
						f.Time.Format("15:04:05.000"), f.DurationMS, f.Kind, f.Error, changeTimes(changes))
				}
			}
		})
	}
}

// (e) Abrupt HTTP fault under the client loop: how many requests fail
// before the route is gone (reported, not asserted).
func TestE2EAbruptFault(t *testing.T) {
	c := newCluster(t, fastHealth, 5*time.Millisecond)
	url := "http://" + c.VIP + "/obj/1024"
	st := newStats()
	for trial := 0; trial < trials; trial++ {
		i := trial%c.Edges() + 1
		nh := c.nh(i)
		lp, err := c.StartLoop(url, 50, time.Minute)
		if err != nil {
			c.fatal(t, err)
		}
		time.Sleep(500 * time.Millisecond)
		if err := c.RejectHTTP(i, true); err != nil {
			c.fatal(t, err)
		}
		t0 := time.Now()
		gone, err := c.w.WaitGone(nh, t0, routeGoneBound)
		if err != nil {
			c.fatalf(t, "trial %d (edge %d): %v", trial+1, i, err)
		}
		time.Sleep(300 * time.Millisecond)
		r, err := lp.Stop()
		if err != nil {
			c.fatal(t, err)
		}
		late := 0
		for _, f := range r.Failures {
			if f.Time.After(gone.Add(20 * time.Millisecond)) {
				late++
			}
		}
		st.dur("HTTP fault → gone from BIRD", gone.Sub(t0))
		st.add("failed client requests (of ~50/s)", "", float64(r.Failed))
		st.add("failed requests started after the route was gone", "", float64(late))
		t.Logf("trial %d (edge %d): %s", trial+1, i, failures(r))
		if err := c.RejectHTTP(i, false); err != nil {
			c.fatal(t, err)
		}
		if _, err := c.w.WaitBack(nh, time.Now(), fastHold+30*time.Second); err != nil {
			c.fatal(t, err)
		}
		if err := c.WaitKernelNexthops(c.VIPPrefix, c.Edges(), 5*time.Second); err != nil {
			c.fatal(t, err)
		}
	}
	st.log(t, "(e) abrupt HTTP fault under a 50 req/s client loop")
}

// (f) Flapping: the HTTP fault toggles every second for 12 s, faster
// than the default hold_time (10s). The route is withdrawn once, is not
// announced again during the flapping, and comes back only once the
// checks have stayed up for hold_time after the fault's last end.
// Trials on different edges overlap (each starts 12.5 s after the
// previous one) to keep the test short.
func TestE2EFlap(t *testing.T) {
	c := newCluster(t, "", 5*time.Millisecond)
	const (
		flapFor = 12 * time.Second
		toggle  = time.Second
		stagger = flapFor + 500*time.Millisecond
	)
	st := newStats()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	start := time.Now()
	for trial := 0; trial < trials; trial++ {
		i := trial%c.Edges() + 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(time.Duration(trial) * stagger)))
			nh := c.nh(i)
			t0 := time.Now()
			var lastOff time.Time
			on := false
			for k := 0; time.Since(t0) < flapFor; k++ {
				on = k%2 == 0
				if err := c.RejectHTTP(i, on); err != nil {
					c.errorf(t, "%v", err)
					return
				}
				if !on {
					lastOff = time.Now()
				}
				time.Sleep(time.Until(t0.Add(time.Duration(k+1) * toggle)))
			}
			if on {
				if err := c.RejectHTTP(i, false); err != nil {
					c.errorf(t, "%v", err)
					return
				}
				lastOff = time.Now()
			}
			tEnd := time.Now()
			back, err := c.w.WaitBack(nh, t0, flapFor+defaultHold+30*time.Second)
			if err != nil {
				c.errorf(t, "trial %d (edge %d): %v", trial+1, i, err)
				return
			}
			downs := c.w.Count(lab.SourceBIRD, nh, false, t0, back)
			ups := c.w.Count(lab.SourceBIRD, nh, true, t0, back.Add(time.Millisecond))
			gone, _ := c.w.WaitGone(nh, t0, 0)
			mu.Lock()
			defer mu.Unlock()
			st.dur("flapping starts → withdrawn", gone.Sub(t0))
			st.dur("fault last removed → announced again", back.Sub(lastOff))
			st.add("withdrawals during the flapping", "", float64(downs))
			st.add("announcements until stable", "", float64(ups))
			if downs != 1 || ups != 1 {
				c.errorf(t, "trial %d (edge %d): route flapped: %d withdrawals, %d announcements", trial+1, i, downs, ups)
			}
			if back.Before(tEnd) {
				c.errorf(t, "trial %d (edge %d): announced again %s after the withdrawal, during the flapping", trial+1, i, back.Sub(gone))
			}
			if back.Sub(lastOff) < defaultHold-50*time.Millisecond {
				c.errorf(t, "trial %d (edge %d): announced again %s after the fault ended, before hold_time", trial+1, i, back.Sub(lastOff))
			}
		}()
	}
	wg.Wait()
	st.log(t, fmt.Sprintf("(f) HTTP fault toggled every %s for %s, default hold_time %s", toggle, flapFor, defaultHold))
}

// (g) No false withdrawal: all edges saturated by a 60 s keep-alive load
// (5 back-to-back runs of 12 s) with their CPU contended by a burner;
// the router's routes are polled every 20 ms and no edge may be
// withdrawn or leave the ECMP set.
func TestE2ENoFalseWithdraw(t *testing.T) {
	c := newCluster(t, "", 20*time.Millisecond)
	const run = 12 * time.Second
	t0 := time.Now()
	for i := 1; i <= c.Edges(); i++ {
		if _, err := c.Burn(c.Edge(i).Namespace, 1, trials*run+5*time.Second); err != nil {
			c.fatal(t, err)
		}
	}
	st := newStats()
	for trial := 0; trial < trials; trial++ {
		r, err := c.Load("http://"+c.VIP+"/obj/1024", 64, run, 5_000_000)
		if err != nil {
			c.fatal(t, err)
		}
		st.add("requests/s", "", float64(int(r.RPS)))
		st.add("failed requests", "", float64(r.Failed))
		st.add("p99 latency", "ms", r.Latency.P99)
		t.Logf("load run %d: %d requests, %.0f/s, per edge %v, errors %v, latency %+v", trial+1, r.Requests, r.RPS, r.Via, r.Errors, r.Latency)
	}
	for i := 1; i <= c.Edges(); i++ {
		down := c.w.Count(lab.SourceBIRD, c.nh(i), false, t0, time.Time{})
		kdown := c.w.Count(lab.SourceKernel, c.nh(i), false, t0, time.Time{})
		st.add("withdrawals per edge (BIRD)", "", float64(down))
		if down != 0 || kdown != 0 {
			c.errorf(t, "edge %d withdrawn under load: %d times from BIRD, %d from the kernel", i, down, kdown)
		}
		if s, err := c.status(i); err == nil {
			t.Logf("edge %d after load: state %s (%s)", i, s.Health.State, s.Health.Reason)
		}
		if c.procs[i].Exited() {
			c.errorf(t, "edge %d exited under load", i)
		}
	}
	if err := c.w.Err(); err != nil {
		c.fatal(t, err)
	}
	t.Logf("route polls during the load: %d", c.w.Polls())
	st.log(t, fmt.Sprintf("(g) %d × %s of keep-alive load (64 connections) with the edges' CPU contended", trials, run))
}
