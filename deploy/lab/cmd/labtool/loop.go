package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// outcome is one finished request.
type outcome struct {
	start  time.Time
	dur    time.Duration
	status int
	via    string
	bytes  int64
	err    error
	kind   string
}

// doRequest sends one GET with c and reads the whole body. A request
// fails on a transport error, a non-2xx status or a short body.
func doRequest(ctx context.Context, c *http.Client, url string) (o outcome) {
	o.start = time.Now()
	defer func() { o.dur = time.Since(o.start) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		o.err, o.kind = err, netlab.KindOther
		return o
	}
	resp, err := c.Do(req)
	if err != nil {
		o.err, o.kind = err, netlab.Classify(err)
		return o
	}
	defer resp.Body.Close()
	o.status = resp.StatusCode
	o.via = netlab.ResponseNode(resp.Header.Get("Via"), resp.Header.Get("Cache-Status"))
	o.bytes, err = io.Copy(io.Discard, resp.Body)
	switch {
	case err != nil:
		o.err, o.kind = err, netlab.Classify(err)
		if o.kind == netlab.KindOther {
			o.kind = netlab.KindBody
		}
	case resp.ContentLength >= 0 && o.bytes != resp.ContentLength:
		o.err, o.kind = fmt.Errorf("short body: %d of %d bytes", o.bytes, resp.ContentLength), netlab.KindBody
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		o.err, o.kind = fmt.Errorf("status %d", resp.StatusCode), netlab.KindStatus
	}
	return o
}

func newTransport(timeout time.Duration, keepAlive bool) *http.Transport {
	d := &net.Dialer{Timeout: timeout}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		DisableKeepAlives:   !keepAlive,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
	}
}

func cmdLoop(args []string) int {
	fs := flag.NewFlagSet("labtool loop", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace this must run in (required)")
	url := fs.String("url", "", "URL to request (required)")
	rate := fs.Int("rate", 50, "requests per second (1-5000), each on a new connection")
	duration := fs.Duration("duration", 10*time.Second, "stop after this long (at most 10m)")
	max := fs.Int("max", 0, "stop after this many requests (default rate × duration)")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout of one request")
	inflight := fs.Int("inflight", 256, "skip a tick while this many requests are in flight")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if rc := requireNetns("loop", *netns); rc != exitOK {
		return rc
	}
	if *max == 0 {
		*max = int(float64(*rate)*duration.Seconds()) + 1
	}
	if rc := checkBounds("loop", *duration, *max); rc != exitOK {
		return rc
	}
	if *url == "" || *rate < 1 || *rate > 5000 || *timeout <= 0 || *timeout > time.Minute || *inflight < 1 {
		fmt.Fprintln(os.Stderr, "usage: labtool loop -netns NAME -url URL [-rate R] [-duration D] [-max N] [-timeout D]")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &http.Client{Transport: newTransport(*timeout, false), Timeout: *timeout}
	res := &netlab.LoopResult{URL: *url, Rate: *rate, Errors: map[string]int{}, Via: map[string]int{}, Start: time.Now()}
	var (
		mu   sync.Mutex
		lat  []float64
		wg   sync.WaitGroup
		busy int
	)
	record := func(o outcome) {
		mu.Lock()
		defer mu.Unlock()
		busy--
		if o.err == nil {
			res.OK++
			res.Via[o.via]++
			lat = append(lat, float64(o.dur.Microseconds())/1000)
			return
		}
		res.Failed++
		res.Errors[o.kind]++
		if len(res.Failures) < netlab.MaxFailures {
			res.Failures = append(res.Failures, netlab.Failure{Time: o.start, DurationMS: float64(o.dur.Microseconds()) / 1000, Kind: o.kind, Error: o.err.Error(), Status: o.status, Via: o.via})
		} else {
			res.FailuresDropped++
		}
	}
	// Requests get their own context: stopping the loop does not cancel
	// requests in flight (they end within -timeout). Each tick sends what
	// is due by then, so the rate holds on average when ticks come late
	// (a busy machine).
	reqCtx := context.Background()
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	end := time.NewTimer(*duration)
	defer end.Stop()
	res.Stopped = "duration"
loop:
	for {
		select {
		case <-ctx.Done():
			res.Stopped = "signal"
			break loop
		case <-end.C:
			break loop
		case <-tick.C:
		}
		due := min(*max, int(time.Since(res.Start).Seconds()*float64(*rate))+1)
		for res.Sent+res.Skipped < due {
			mu.Lock()
			if busy >= *inflight {
				res.Skipped++
				mu.Unlock()
				continue
			}
			busy++
			mu.Unlock()
			res.Sent++
			wg.Add(1)
			go func() {
				defer wg.Done()
				record(doRequest(reqCtx, c, *url))
			}()
		}
		if res.Sent+res.Skipped >= *max {
			res.Stopped = "max"
			break
		}
	}
	wg.Wait()
	res.End = time.Now()
	sort.Slice(res.Failures, func(i, j int) bool { return res.Failures[i].Time.Before(res.Failures[j].Time) })
	res.Latency = netlab.Summarize(lat)
	printJSON(res)
	return exitOK
}
