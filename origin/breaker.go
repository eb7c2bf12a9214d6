package origin

import (
	"sync"
	"sync/atomic"
	"time"
)

// Breaker states.
const (
	breakerClosed int32 = iota
	breakerHalfOpen
	breakerOpen
)

var breakerNames = [...]string{"closed", "half-open", "open"}

// breaker is a circuit breaker fed by real traffic: Failures failures in
// a row open it; after OpenFor it lets Trials requests through at once
// (half-open); a trial's success closes it, a trial's failure opens it
// again. The closed state is read without locking; every transition and
// the trial accounting happen under mu.
type breaker struct {
	cfg      *BreakerConfig
	onChange func(from, to int32, early bool)

	state atomic.Int32
	fails atomic.Int32

	mu        sync.Mutex
	until     time.Time // end of the open period
	trials    int       // trial requests in flight
	lastEarly time.Time // the last early trial
}

func (b *breaker) init(cfg *BreakerConfig, onChange func(from, to int32, early bool)) {
	b.cfg, b.onChange = cfg, onChange
}

// allow reports whether a request may go to the origin now and whether it
// is a half-open trial.
func (b *breaker) allow(now time.Time) (ok, trial bool) {
	if b.cfg.Failures < 0 || b.state.Load() == breakerClosed {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.trialLocked(now, false)
}

// earlyTrial is allow for a request that no origin would take otherwise:
// it starts a half-open period before OpenFor has passed, at most once per
// tenth of OpenFor, so that a recovered site is back within that time
// while a dead one gets a trickle of trials, not all its traffic.
func (b *breaker) earlyTrial(now time.Time) (ok, trial bool) {
	if b.cfg.Failures < 0 || b.state.Load() == breakerClosed {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.trialLocked(now, true)
}

func (b *breaker) trialLocked(now time.Time, early bool) (ok, trial bool) {
	switch b.state.Load() {
	case breakerClosed:
		return true, false
	case breakerOpen:
		if now.Before(b.until) {
			if !early || now.Sub(b.lastEarly) < b.cfg.OpenFor/10 {
				return false, false
			}
			b.lastEarly = now
		} else {
			early = false
		}
		b.state.Store(breakerHalfOpen)
		b.trials = 0
		b.onChange(breakerOpen, breakerHalfOpen, early)
	}
	if b.trials < b.cfg.Trials {
		b.trials++
		return true, true
	}
	return false, false
}

// success records a good answer.
func (b *breaker) success(trial bool) {
	b.fails.Store(0)
	if !trial {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trials = max(b.trials-1, 0)
	if b.state.Load() == breakerHalfOpen {
		b.state.Store(breakerClosed)
		b.onChange(breakerHalfOpen, breakerClosed, false)
	}
}

// failure records a connect error, timeout, stalled body or 5xx.
func (b *breaker) failure(trial bool, now time.Time) {
	if b.cfg.Failures < 0 {
		return
	}
	if trial {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.trials = max(b.trials-1, 0)
		if b.state.Load() == breakerHalfOpen {
			b.until = now.Add(b.cfg.OpenFor)
			b.state.Store(breakerOpen)
			b.onChange(breakerHalfOpen, breakerOpen, false)
		}
		return
	}
	if b.fails.Add(1) < int32(b.cfg.Failures) || b.state.Load() != breakerClosed {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state.Load() == breakerClosed {
		b.until = now.Add(b.cfg.OpenFor)
		b.state.Store(breakerOpen)
		b.fails.Store(0)
		b.onChange(breakerClosed, breakerOpen, false)
	}
}

// release ends a trial that neither succeeded nor failed (the caller gave
// up), or one picked but not sent.
func (b *breaker) release(trial bool) {
	if trial {
		b.mu.Lock()
		b.trials = max(b.trials-1, 0)
		b.mu.Unlock()
	}
}
