package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// probeLoop probes one origin until the pool closes: the first probe at
// once, then every Interval, spread by Jitter.
func (p *Pool) probeLoop(o *Origin) {
	defer p.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.probe(o)
		t.Reset(p.nextInterval(o))
	}
}

// nextInterval is the wait before o's next probe: FastInterval while its
// state is in question, else Interval, both spread by Jitter.
func (p *Pool) nextInterval(o *Origin) time.Duration {
	pc := &p.policy.Probe
	d := pc.Interval
	o.mu.Lock()
	if up := o.up.Load(); (up && o.failRun > 0) || (!up && o.okRun > 0) {
		d = pc.FastInterval
	}
	o.mu.Unlock()
	f := 1 + *pc.Jitter*(2*p.rand()-1)
	return time.Duration(float64(d) * f)
}

// errProbeBusy cancels a probe that found every connection of the
// origin's pool busy for a whole interval.
var errProbeBusy = errors.New("no free connection")

// errProbeTimeout cancels a probe that took longer than its timeout.
var errProbeTimeout = errors.New("probe timeout")

// probe sends one probe over the origin's own pool and records it. The
// probe's timeout starts once it has a connection: when every connection
// the pool may open is busy with requests, the probe waits for one (up to
// an interval, then gives no verdict) instead of failing an origin that
// is merely busy.
func (p *Pool) probe(o *Origin) {
	pc := &p.policy.Probe
	ctx, cancel := context.WithCancelCause(p.ctx)
	defer cancel(nil)
	var (
		mu                  sync.Mutex
		connStart, connDone time.Time
		gotConn, firstByte  time.Time
		deadline            *time.Timer
	)
	wait := time.AfterFunc(pc.Interval, func() { cancel(errProbeBusy) })
	defer wait.Stop()
	// stamp records when a phase happened; a dial or a pooled connection
	// also starts the probe's timeout (once).
	stamp := func(at *time.Time, startTimeout bool) {
		mu.Lock()
		defer mu.Unlock()
		*at = time.Now()
		if startTimeout && deadline == nil {
			wait.Stop()
			deadline = time.AfterFunc(pc.Timeout, func() { cancel(errProbeTimeout) })
		}
	}
	trace := &httptrace.ClientTrace{
		ConnectStart:         func(string, string) { stamp(&connStart, true) },
		ConnectDone:          func(string, string, error) { stamp(&connDone, false) },
		GotConn:              func(httptrace.GotConnInfo) { stamp(&gotConn, true) },
		GotFirstResponseByte: func() { stamp(&firstByte, false) },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, o.base.Scheme+"://"+o.base.Host+pc.Path, nil)
	if err != nil { // validated paths make this unreachable
		p.logger.Error("probe request", "origin", o.name, "err", err)
		return
	}
	req.Host = o.probeHost
	req.Header.Set("User-Agent", "edgecdn-probe")
	req.Header.Set("Cache-Control", "no-cache")
	answered := o.answered.Load()
	start := time.Now()
	resp, err := o.tr.RoundTrip(req)
	ok, why := false, ""
	if err != nil {
		why = err.Error()
		switch context.Cause(ctx) {
		case errProbeBusy:
			return // busy, not broken: no verdict
		case errProbeTimeout:
			if o.answered.Load() != answered {
				// Real requests got answers meanwhile: slow, not gone.
				o.probeSlow.Inc()
				return
			}
			why = fmt.Sprintf("no answer within %s", pc.Timeout)
		}
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		ok = resp.StatusCode >= p.expectLo && resp.StatusCode <= p.expectHi
		if !ok {
			why = fmt.Sprintf("status %d, want %s", resp.StatusCode, pc.ExpectStatus)
		}
	}
	mu.Lock()
	if deadline != nil {
		deadline.Stop()
	}
	// The round trip: connect when a connection was opened, plus the time
	// from having a connection to the first response byte (waiting for a
	// free pooled connection is not the origin's latency).
	rtt := time.Since(start)
	if !gotConn.IsZero() && !firstByte.IsZero() {
		rtt = firstByte.Sub(gotConn)
		if !connStart.IsZero() && !connDone.IsZero() {
			rtt += connDone.Sub(connStart)
		}
	}
	mu.Unlock()
	if p.ctx.Err() != nil {
		return // the pool is closing: not the origin's fault
	}
	if ok {
		o.probeOK.Inc()
		o.probeRTT.Observe(rtt.Seconds())
	} else {
		o.probeFail.Inc()
	}
	// The up/down change and the ranking that follows from it are made
	// under p.mu together: whoever sees the new state (Snapshot, the hook)
	// also sees selection acting on it.
	p.mu.Lock()
	changed := o.record(ok, rtt, why, pc, time.Now())
	p.rebalanceLocked(o)
	p.mu.Unlock()
	if changed {
		up := o.up.Load()
		lvl, msg := slog.LevelWarn, "origin down"
		if up {
			lvl, msg = slog.LevelInfo, "origin up"
		}
		p.logger.Log(context.Background(), lvl, msg, "origin", o.name, "rtt", rtt, "reason", why)
		if p.hook != nil {
			p.hook(p.state(o))
		}
	}
}

// record adds a probe result to the origin's statistics and reports
// whether it changed the origin's up/down state.
func (o *Origin) record(ok bool, rtt time.Duration, why string, pc *ProbeConfig, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := pc.Alpha
	o.lastProbe, o.lastErr = now, why
	if ok {
		x := rtt.Seconds()
		if o.samples == 0 {
			o.ewma, o.variance = x, 0
		} else {
			d := x - o.ewma
			o.ewma += a * d
			o.variance = (1 - a) * (o.variance + a*d*d)
		}
		o.samples++
		o.lastRTT = rtt
		o.loss *= 1 - a
		o.okRun++
		o.failRun = 0
		o.probesOK++
	} else {
		o.loss = (1-a)*o.loss + a
		o.failRun++
		o.okRun = 0
		o.probesFail++
	}
	up := o.up.Load()
	switch {
	case !up && o.okRun >= pc.Rise:
		o.up.Store(true)
		return true
	case up && o.failRun >= pc.Fall:
		o.up.Store(false)
		return true
	}
	return false
}
