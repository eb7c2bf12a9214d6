package edge

import (
	"context"
	"time"
)

// fillWorkers runs fills on goroutines that outlive one fill. A fill goes
// deep (origin round trip through net/http, compression), and a fresh
// goroutine grows its stack by copying, more than once, on every fill; a
// worker keeps its grown stack for the next fill. There is no cap: a fill
// that finds no idle worker starts a new one, as many as fills run at
// once. Idle workers exit after idle, and all of them once ctx ends (the
// node stops).
type fillWorkers struct {
	ctx  context.Context
	jobs chan *fillJob // unbuffered: a send succeeds only into an idle worker
	run  func(*fillJob)
	idle time.Duration
}

// fillWorkerIdle is how long a worker waits for the next fill.
const fillWorkerIdle = 5 * time.Second

func newFillWorkers(ctx context.Context, run func(*fillJob), idle time.Duration) *fillWorkers {
	return &fillWorkers{ctx: ctx, jobs: make(chan *fillJob), run: run, idle: idle}
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
	for {
		select {
		case j = <-w.jobs:
		case <-t.C:
			return
		case <-w.ctx.Done():
			return
		}
		w.run(j)
		// A timer that fired during the fill delivers nothing after Reset
		// (Go 1.23 timer semantics).
		t.Reset(w.idle)
	}
}
