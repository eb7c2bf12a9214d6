package edge

import (
	"context"
	"sync/atomic"
	"time"
)

// fillWorkers runs fills on goroutines that outlive one fill. A fill goes
// deep (origin round trip through net/http, compression), and a fresh
// goroutine grows its stack by copying, more than once, on every fill; a
// worker keeps its grown stack for the next fill. The number of fills is
// not capped: a fill that finds no idle worker starts a new one, as many as
// fills run at once. Idle workers are bounded: at most maxIdle wait for
// work (the others exit after their fill, so a burst of fills does not
// leave its stacks behind), each for at most idle, and all exit once ctx
// ends (the node stops).
type fillWorkers struct {
	ctx     context.Context
	jobs    chan *fillJob // unbuffered: a send succeeds only into an idle worker
	run     func(*fillJob)
	idle    time.Duration
	maxIdle int32
	idleN   atomic.Int32 // workers waiting for a fill
}

const (
	// fillWorkerIdle is how long a worker waits for the next fill.
	fillWorkerIdle = 5 * time.Second
	// fillWorkersIdleMax bounds the idle workers, and so the grown stacks
	// they keep (tens of KiB each).
	fillWorkersIdleMax = 256
)

func newFillWorkers(ctx context.Context, run func(*fillJob), idle time.Duration, maxIdle int32) *fillWorkers {
	return &fillWorkers{ctx: ctx, jobs: make(chan *fillJob), run: run, idle: idle, maxIdle: maxIdle}
}

// start runs j on an idle worker, or on a new one when none is idle.
func (w *fillWorkers) start(j *fillJob) {
	select {
	case w.jobs <- j:
	default:
		go w.loop(j)
	}
}

func (w *fillWorkers) loop(j *fillJob) {
	w.run(j)
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for w.idleN.Add(1) <= w.maxIdle {
		select {
		case j = <-w.jobs:
			w.idleN.Add(-1)
			w.run(j)
			// A timer that fired during the fill delivers nothing after
			// Reset (Go 1.23 timer semantics).
			t.Reset(w.idle)
			continue
		case <-t.C:
		case <-w.ctx.Done():
		}
		break
	}
	w.idleN.Add(-1)
}
