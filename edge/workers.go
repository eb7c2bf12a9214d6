package edge

import (
	"context"
	"sync"
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
// ends (the node stops). wait lets the node's Stop wait for the fills in
// progress: a fill answers its clients before it compresses and stores
// the body, so the last client can be gone while its fill still writes to
// the store.
type fillWorkers struct {
	ctx     context.Context
	jobs    chan *fillJob // unbuffered: a send succeeds only into an idle worker
	run     func(*fillJob)
	idle    time.Duration
	maxIdle int32
	idleN   atomic.Int32 // workers waiting for a fill

	mu       sync.Mutex
	stopping bool           // wait was called: no new workers
	running  sync.WaitGroup // workers, busy or idle
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

// start runs j on an idle worker, or on a new one when none is idle. Once
// the workers are stopping it runs j on the caller's goroutine (ctx is
// done by then, so the fill fails at once).
func (w *fillWorkers) start(j *fillJob) {
	select {
	case w.jobs <- j:
		return
	default:
	}
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		w.run(j)
		return
	}
	w.running.Add(1)
	w.mu.Unlock()
	go w.loop(j)
}

// wait waits, until ctx ends, for every worker to exit: the fills in
// progress to finish and the idle workers to see the workers' ctx end
// (cancel it first).
func (w *fillWorkers) wait(ctx context.Context) error {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *fillWorkers) loop(j *fillJob) {
	defer w.running.Done()
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
