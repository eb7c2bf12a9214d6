package origin

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/origin/origintest"
)

// After a failed probe the next ones come every fast_interval until fall
// decides: an origin that dies is down long before fall whole intervals.
func TestFastIntervalConfirmsQuickly(t *testing.T) {
	a := startOrigin(t, 0)
	pol := probePolicy(2 * time.Second)
	pol.Probe.Fall, pol.Probe.Rise = 3, 3
	pol.Probe.FastInterval = 20 * time.Millisecond
	pol.Probe.Jitter = ptr(0.0)
	p := newTestPool(t, pol, cfgsOf(a))
	p.Start(context.Background())
	waitProbes(t, p, 1)
	a.Kill()
	killed := time.Now()
	waitUp(t, p, a.URL, false)
	// Without fast_interval, three failures take at least two more whole
	// intervals (4 s) after the first; with it, one interval at most plus
	// two fast ones.
	if el := time.Since(killed); el > 3500*time.Millisecond {
		t.Errorf("down %v after the kill: fast_interval not used", el)
	}
	if s := stateOf(p, a.URL); s.ProbesFail != 3 {
		t.Errorf("%d failed probes, want exactly fall=3", s.ProbesFail)
	}
	a.Revive()
	revived := time.Now()
	waitUp(t, p, a.URL, true)
	if el := time.Since(revived); el > 3500*time.Millisecond {
		t.Errorf("up %v after the revival: fast_interval not used", el)
	}
}

// A probe that times out while real requests to the origin are answered
// gives no verdict: a slow origin under load is not taken out.
func TestSlowProbeWhileTrafficAnswered(t *testing.T) {
	s := origintest.New(t)
	release := make(chan struct{})
	s.Handle("/probe", func(w http.ResponseWriter, r *http.Request) {
		select { // the health path hangs past the probe timeout
		case <-release:
		case <-r.Context().Done():
		}
	})
	s.HandleFallback(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	defer close(release)
	reg, m := newMetrics(t)
	pol := probePolicy(100 * time.Millisecond)
	pol.Probe.Fall = 2
	p := newTestPool(t, pol, cfgsOf(s), WithMetrics(m))
	p.Start(context.Background())
	// Real traffic keeps being answered for a dozen probe timeouts.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if code, err := doGet(p, "/obj", ""); err != nil || code != 200 {
			t.Fatalf("request: %d %v", code, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !stateOf(p, s.URL).Up {
		t.Fatal("origin marked down by slow probes while its traffic was answered")
	}
	if got := metricValue(t, reg, "edge_origin_probes_total", "result", "slow"); got < 3 {
		t.Errorf("%v probes counted slow, want several", got)
	}
	// Without traffic the same timeouts are failures.
	waitUp(t, p, s.URL, false)
}

// Origins start up (Ready) but are Confirmed only once one answered a
// probe; without probes, Ready is enough.
func TestConfirmed(t *testing.T) {
	a := startOrigin(t, 0)
	a.Kill()
	p := newTestPool(t, probePolicy(time.Hour), cfgsOf(a))
	if !p.Ready() || p.Confirmed() {
		t.Fatalf("before probes: ready %v confirmed %v, want true false", p.Ready(), p.Confirmed())
	}
	a.Revive()
	p.Start(context.Background())
	waitProbes(t, p, 1)
	if !p.Confirmed() {
		t.Error("not confirmed after a successful probe")
	}
	q := newTestPool(t, noProbes(), cfgsOf(a))
	if !q.Confirmed() {
		t.Error("without probes, a ready pool is confirmed")
	}
}
