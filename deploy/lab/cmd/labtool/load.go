package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// maxSamples bounds the latency samples one load run keeps.
const maxSamples = 1 << 21

func cmdLoad(args []string) int {
	fs := flag.NewFlagSet("labtool load", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace this must run in (required)")
	url := fs.String("url", "", "URL to request (required)")
	conns := fs.Int("conns", 32, "keep-alive connections (1-1024), each sending requests back to back")
	duration := fs.Duration("duration", 10*time.Second, "stop after this long (at most 10m)")
	max := fs.Int("max", 10_000_000, "stop after this many requests")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if rc := requireNetns("load", *netns); rc != exitOK {
		return rc
	}
	if rc := checkBounds("load", *duration, *max); rc != exitOK {
		return rc
	}
	if *url == "" || *conns < 1 || *conns > 1024 || *timeout <= 0 || *timeout > time.Minute {
		fmt.Fprintln(os.Stderr, "usage: labtool load -netns NAME -url URL [-conns C] [-duration D] [-max N] [-timeout D]")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	res := &netlab.LoadResult{URL: *url, Conns: *conns, Errors: map[string]int{}, Via: map[string]int{}}
	var (
		issued atomic.Int64
		dials  atomic.Int64
		mu     sync.Mutex
		lat    []float64
		wg     sync.WaitGroup
	)
	res.Start = time.Now()
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := newTransport(*timeout, true)
			dial := tr.DialContext
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return dial(ctx, network, addr)
			}
			c := &http.Client{Transport: tr, Timeout: *timeout}
			defer c.CloseIdleConnections()
			var (
				ok, failed int
				bytes      int64
				errs       = map[string]int{}
				via        = map[string]int{}
				mine       []float64
			)
			for ctx.Err() == nil && issued.Add(1) <= int64(*max) {
				o := doRequest(context.Background(), c, *url)
				if o.err != nil {
					failed++
					errs[o.kind]++
					continue
				}
				ok++
				bytes += o.bytes
				via[o.via]++
				if len(mine) < maxSamples / *conns {
					mine = append(mine, float64(o.dur.Microseconds())/1000)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.OK += ok
			res.Failed += failed
			res.Bytes += bytes
			for k, v := range errs {
				res.Errors[k] += v
			}
			for k, v := range via {
				res.Via[k] += v
			}
			lat = append(lat, mine...)
		}()
	}
	wg.Wait()
	res.End = time.Now()
	res.Requests = res.OK + res.Failed
	res.Dials = int(dials.Load())
	switch {
	case issued.Load() > int64(*max):
		res.Stopped = "max"
	case ctx.Err() == context.DeadlineExceeded:
		res.Stopped = "duration"
	default:
		res.Stopped = "signal"
	}
	if s := res.End.Sub(res.Start).Seconds(); s > 0 {
		res.RPS = float64(res.Requests) / s
	}
	res.Latency = netlab.Summarize(lat)
	printJSON(res)
	return exitOK
}
