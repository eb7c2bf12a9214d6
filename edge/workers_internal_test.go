package edge

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goid returns the calling goroutine's id (tests only).
func goid() int {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.Atoi(string(b))
	return id
}

// waitGoroutines waits until at most n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > n {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, want at most %d:\n%s", got, n, buf[:runtime.Stack(buf, true)])
	}
}

// Fills one after another run on one goroutine, which exits when idle.
func TestFillWorkersReuse(t *testing.T) {
	before := runtime.NumGoroutine()
	ids := map[int]int{}
	var mu sync.Mutex
	done := make(chan struct{})
	w := newFillWorkers(context.Background(), func(*fillJob) {
		mu.Lock()
		ids[goid()]++
		mu.Unlock()
		done <- struct{}{}
	}, 200*time.Millisecond, 8)
	for range 20 {
		w.start(&fillJob{})
		<-done
		time.Sleep(5 * time.Millisecond) // the worker gets back to waiting
	}
	if len(ids) != 1 {
		t.Errorf("20 sequential fills ran on %d goroutines, want 1: %v", len(ids), ids)
	}
	waitGoroutines(t, before) // the idle worker exits
}

// Concurrent fills each get a worker: none waits for another.
func TestFillWorkersConcurrent(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	var running sync.WaitGroup
	running.Add(3)
	w := newFillWorkers(ctx, func(*fillJob) {
		running.Done()
		<-release
	}, time.Hour, 8)
	for range 3 {
		w.start(&fillJob{})
	}
	ch := make(chan struct{})
	go func() { running.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("three fills did not run at once")
	}
	close(release)
	// Idle for an hour, but the node stops: every worker exits.
	cancel()
	waitGoroutines(t, before)
}

// After a burst, at most maxIdle workers stay; the rest exit with their
// fill.
func TestFillWorkersIdleCap(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	var running, finished sync.WaitGroup
	running.Add(6)
	finished.Add(6)
	w := newFillWorkers(ctx, func(*fillJob) {
		running.Done()
		<-release
		finished.Done()
	}, time.Hour, 2)
	for range 6 {
		w.start(&fillJob{})
	}
	running.Wait()
	close(release)
	finished.Wait()
	waitGoroutines(t, before+2)
	if n := w.idleN.Load(); n != 2 {
		t.Errorf("%d idle workers, want 2", n)
	}
	cancel()
	waitGoroutines(t, before)
}

// wait returns only once the fills in progress have finished and the idle
// workers have exited; a fill started after it runs on the caller.
func TestFillWorkersWait(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	started := make(chan struct{})
	var finished atomic.Int32
	w := newFillWorkers(ctx, func(j *fillJob) {
		if j.primary == "held" {
			started <- struct{}{}
			<-release
		}
		finished.Add(1)
	}, time.Hour, 8)
	w.start(&fillJob{primary: "first"}) // its worker then idles
	w.start(&fillJob{primary: "held"})
	<-started
	cancel()
	waited := make(chan error, 1)
	go func() { waited <- w.wait(context.Background()) }()
	for stopping := false; !stopping; {
		w.mu.Lock()
		stopping = w.stopping
		w.mu.Unlock()
		runtime.Gosched()
	}
	w.start(&fillJob{primary: "late"})
	if n := finished.Load(); n != 2 {
		t.Fatalf("%d fills finished after a start during wait, want 2 (the late one on the caller)", n)
	}
	select {
	case err := <-waited:
		t.Fatalf("wait returned (%v) with a fill in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if n := finished.Load(); n != 3 {
		t.Errorf("%d fills finished when wait returned, want 3", n)
	}
	waitGoroutines(t, before)
}

// wait gives up when its context ends, and says so.
func TestFillWorkersWaitTimeout(t *testing.T) {
	before := runtime.NumGoroutine()
	wctx, wcancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	started := make(chan struct{})
	w := newFillWorkers(wctx, func(*fillJob) {
		started <- struct{}{}
		<-release
	}, time.Hour, 8)
	defer func() {
		close(release)
		wcancel()
		waitGoroutines(t, before)
	}()
	w.start(&fillJob{})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.wait(ctx); err != context.Canceled {
		t.Fatalf("wait with a fill held and its context over: %v, want context.Canceled", err)
	}
}
