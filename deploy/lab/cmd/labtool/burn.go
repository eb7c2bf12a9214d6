package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// cmdBurn keeps -procs CPUs busy for -duration (to contend the edges'
// CPU in a load test). It sends no traffic.
func cmdBurn(args []string) int {
	fs := flag.NewFlagSet("labtool burn", flag.ContinueOnError)
	duration := fs.Duration("duration", 10*time.Second, "stop after this long (at most 10m)")
	procs := fs.Int("procs", runtime.NumCPU(), "busy goroutines (1-64)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if rc := checkBounds("burn", *duration, 1); rc != exitOK {
		return rc
	}
	if *procs < 1 || *procs > 64 {
		fmt.Fprintln(os.Stderr, "labtool burn: -procs must be 1-64")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range *procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, x := 0, uint64(1)
			for ctx.Err() == nil {
				for range 100_000 {
					x = x*6364136223846793005 + 1442695040888963407
				}
				n++
			}
			mu.Lock()
			total += n + int(x&1)
			mu.Unlock()
		}()
	}
	wg.Wait()
	printJSON(map[string]any{"procs": *procs, "duration_s": time.Since(start).Seconds(), "rounds": total})
	return exitOK
}
