package edge

import (
	"strings"
	"testing"
	"time"
)

// The health machine is pure: these tests drive it with a fake clock.

func testHealthConfig() HealthConfig {
	h := HealthConfig{HoldTime: 10 * time.Second, Warmup: 2 * time.Second}
	d := 2 * time.Second
	h.DrainDelay = &d
	h.setDefaults(true)
	return h
}

type machineRun struct {
	t     *testing.T
	m     *healthMachine
	now   time.Time
	trans []transition
}

func newRun(t *testing.T, c HealthConfig) *machineRun {
	now := time.Unix(1_700_000_000, 0)
	return &machineRun{t: t, m: newHealthMachine(&c, now), now: now}
}

// advance steps the machine every 100ms for d with the given inputs.
func (r *machineRun) advance(d time.Duration, down, drain string) {
	for end := r.now.Add(d); r.now.Before(end); {
		r.now = r.now.Add(100 * time.Millisecond)
		if t, ok := r.m.step(r.now, down, drain); ok {
			r.trans = append(r.trans, t)
		}
	}
}

func (r *machineRun) want(s HealthState) {
	r.t.Helper()
	if r.m.state != s {
		r.t.Fatalf("state %s (reason %q), want %s", r.m.state, r.m.reason, s)
	}
}

func TestMachineWarmup(t *testing.T) {
	r := newRun(t, testHealthConfig())
	r.advance(5*time.Second, "http check down: not run yet", "")
	r.want(StateStarting) // never announce before the checks pass
	// Checks up at 5s: the warm-up (2s from start) is long over.
	r.advance(100*time.Millisecond, "", "")
	r.want(StateHealthy)

	// Checks up at once, but the warm-up is not over.
	r = newRun(t, testHealthConfig())
	r.advance(1900*time.Millisecond, "", "")
	r.want(StateStarting)
	r.advance(200*time.Millisecond, "", "")
	r.want(StateHealthy)
}

func TestMachineDegradeAndRecover(t *testing.T) {
	r := newRun(t, testHealthConfig())
	r.advance(3*time.Second, "", "")
	r.want(StateHealthy)
	// Going down is immediate (the checks' fall count is the delay).
	r.advance(100*time.Millisecond, "origins check down: site a: no origin is up", "")
	r.want(StateDegraded)
	if !strings.Contains(r.m.reason, "origins") {
		t.Errorf("reason %q", r.m.reason)
	}
	// Back up, but not for HoldTime yet.
	r.advance(9800*time.Millisecond, "", "")
	r.want(StateDegraded)
	r.advance(300*time.Millisecond, "", "")
	r.want(StateHealthy)
	if n := len(r.trans); n != 3 { // starting→healthy→degraded→healthy
		t.Errorf("%d transitions: %+v", n, r.trans)
	}
}

// A fault that comes and goes faster than the hold time withdraws once
// and does not announce again until it stays away.
func TestMachineFlappingDoesNotFlap(t *testing.T) {
	r := newRun(t, testHealthConfig())
	r.advance(3*time.Second, "", "")
	r.want(StateHealthy)
	for range 15 { // 30 s of 1 s on, 1 s off
		r.advance(time.Second, "http check down: connection refused", "")
		r.advance(time.Second, "", "")
	}
	r.want(StateDegraded)
	if n := len(r.trans); n != 2 {
		t.Fatalf("%d transitions during the flapping, want 2 (up, then down once): %+v", n, r.trans)
	}
	r.advance(10*time.Second, "", "")
	r.want(StateHealthy)
}

func TestMachineDrain(t *testing.T) {
	r := newRun(t, testHealthConfig())
	r.advance(3*time.Second, "", "")
	r.want(StateHealthy)
	r.advance(100*time.Millisecond, "", drainOperator)
	r.want(StateDraining)
	r.advance(1800*time.Millisecond, "", drainOperator)
	r.want(StateDraining)
	r.advance(200*time.Millisecond, "", drainOperator)
	r.want(StateWithdrawn)
	// A fault while drained changes nothing.
	r.advance(time.Second, "http check down: x", drainOperator)
	r.want(StateWithdrawn)
	// The drain ends while a check is down: degraded, then healthy after
	// the hold time.
	r.advance(100*time.Millisecond, "http check down: x", "")
	r.want(StateDegraded)
	r.advance(10100*time.Millisecond, "", "")
	r.want(StateHealthy)

	// A drain ended with every check long up announces at once.
	r.advance(100*time.Millisecond, "", drainOperator)
	r.advance(3*time.Second, "", drainOperator)
	r.want(StateWithdrawn)
	r.advance(100*time.Millisecond, "", "")
	r.want(StateHealthy)

	// Cancelled while draining: healthy again.
	r.advance(100*time.Millisecond, "", drainMaintenance)
	r.want(StateDraining)
	r.advance(100*time.Millisecond, "", "")
	r.want(StateHealthy)
}

// Nothing announced, nothing to drain: straight to withdrawn.
func TestMachineDrainWhenNotAnnounced(t *testing.T) {
	r := newRun(t, testHealthConfig())
	r.advance(100*time.Millisecond, "", drainShutdown)
	r.want(StateWithdrawn)

	r = newRun(t, testHealthConfig())
	r.advance(3*time.Second, "", "")
	r.advance(100*time.Millisecond, "dns check down: x", "")
	r.want(StateDegraded)
	r.advance(100*time.Millisecond, "dns check down: x", drainShutdown)
	r.want(StateWithdrawn)
}

func TestCheckTracker(t *testing.T) {
	now := time.Unix(0, 0)
	c := &checkTracker{name: "http", rise: 3, fall: 2}
	ok, fail, slow := checkResult{ok: true}, checkResult{detail: "refused"}, checkResult{slow: true}
	steps := []struct {
		r       checkResult
		up      bool
		changed bool
	}{
		{ok, false, false}, {ok, false, false},
		{slow, false, false}, // no verdict, and the run of successes starts over
		{ok, false, false}, {ok, false, false}, {ok, true, true},
		{fail, true, false},
		{slow, true, false}, // no verdict: the failure run stands
		{fail, false, true},
		{fail, false, false}, {ok, false, false},
	}
	for i, s := range steps {
		if changed := c.record(s.r, now); changed != s.changed || c.up != s.up {
			t.Fatalf("step %d: changed %v up %v, want %v %v", i, changed, c.up, s.changed, s.up)
		}
	}
	if c.lastErr != "refused" || c.slow != 2 {
		t.Errorf("lastErr %q slow %d", c.lastErr, c.slow)
	}
	if !c.inQuestion() {
		t.Error("a success while down should put the check in question")
	}
}

func TestHealthConfigValidate(t *testing.T) {
	var h HealthConfig
	h.setDefaults(false)
	if errs := h.validate(); len(errs) != 0 {
		t.Fatalf("defaults: %v", errs)
	}
	if *h.DrainDelay != 0 || *h.Lameduck != 0 {
		t.Errorf("without bgp: drain_delay %v lameduck %v, want 0", *h.DrainDelay, *h.Lameduck)
	}
	var hb HealthConfig
	hb.setDefaults(true)
	if *hb.DrainDelay != DefaultDrainDelay || *hb.Lameduck != DefaultLameduck {
		t.Errorf("with bgp: drain_delay %v lameduck %v", *hb.DrainDelay, *hb.Lameduck)
	}
	neg := -time.Second
	bad := HealthConfig{Interval: time.Millisecond, FastInterval: time.Hour, Timeout: time.Hour, Rise: -1, Fall: 1000,
		HoldTime: -1, Warmup: -1, DrainDelay: &neg, Lameduck: &neg, MaxFDRatio: 2, MaxMemory: -1}
	errs := bad.validate()
	for _, f := range []string{"interval", "fast_interval", "timeout", "rise", "fall", "hold_time", "warmup",
		"drain_delay", "lameduck", "max_fd_ratio", "max_memory"} {
		found := false
		for _, e := range errs {
			if strings.HasPrefix(e.Error(), "health."+f+":") {
				found = true
			}
		}
		if !found {
			t.Errorf("no error for health.%s in %v", f, errs)
		}
	}
}
