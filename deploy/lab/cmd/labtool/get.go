package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

func cmdGet(args []string) int {
	fs := flag.NewFlagSet("labtool get", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace this must run in (required)")
	method := fs.String("method", http.MethodGet, "request method")
	timeout := fs.Duration("timeout", 5*time.Second, "request timeout (at most 1m)")
	maxBody := fs.Int64("max-body", 16<<20, "read at most this many body bytes")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if rc := requireNetns("get", *netns); rc != exitOK {
		return rc
	}
	if fs.NArg() != 1 || *timeout <= 0 || *timeout > time.Minute {
		fmt.Fprintln(os.Stderr, "usage: labtool get -netns NAME [-method M] [-timeout D] URL")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res := netlab.GetResult{}
	start := time.Now()
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, *method, fs.Arg(0), nil)
		if err != nil {
			return err
		}
		c := &http.Client{
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		res.Status = resp.StatusCode
		res.Proto = resp.Proto
		res.Header = resp.Header
		res.Body, err = io.ReadAll(io.LimitReader(resp.Body, *maxBody))
		return err
	}()
	res.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		res.Error = err.Error()
		res.Kind = netlab.Classify(err)
	}
	printJSON(res)
	if err != nil {
		return exitFail
	}
	return exitOK
}
