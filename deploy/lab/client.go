package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// Result types printed by labtool (see netlab for their fields).
type (
	GetResult  = netlab.GetResult
	LoopResult = netlab.LoopResult
	LoadResult = netlab.LoadResult
	Failure    = netlab.Failure
	Latency    = netlab.Latency
)

// RejectHTTP turns the HTTP fault of edge i on or off: nftables in the
// edge's namespace answers every incoming TCP segment to port 80 with a
// TCP reset, so new and existing connections fail, the client's and the
// node's own health check over lo alike. The fault is in force when it
// returns.
func (l *Lab) RejectHTTP(i int, on bool) error {
	_, err := l.execIn(context.Background(), l.Edge(i).Namespace, netlab.NFTRejectHTTP(on), "nft", "-f", "-")
	return err
}

// RejectOrigin turns the origin fault of edge i on or off: nftables in the
// edge's namespace rejects every outgoing TCP segment to the origin with a
// TCP reset (existing pooled connections fail on their next write).
func (l *Lab) RejectOrigin(i int, on bool) error {
	_, err := l.execIn(context.Background(), l.Edge(i).Namespace, netlab.NFTRejectOrigin(on), "nft", "-f", "-")
	return err
}

// PinFlows turns the router's flow pinning on (the default of a new lab)
// or off: with it on, a connection stays on the edge its first packet went
// to when the ECMP set changes; with it off, the router rehashes every
// packet onto the set of the moment, as plain Linux multipath routing
// does (see netlab.Topology.PinScript).
func (l *Lab) PinFlows(on bool) error {
	_, err := l.execIn(context.Background(), l.Router, l.topo.PinScript(on), "nft", "-f", "-")
	return err
}

// labtool runs labtool sub inside ns with -netns ns and returns its
// stdout.
func (l *Lab) labtool(ctx context.Context, ns, sub string, args ...string) ([]byte, error) {
	if !l.topo.Owns(ns) {
		return nil, fmt.Errorf("lab: %q is not a namespace of this lab", ns)
	}
	full := append([]string{"netns", "exec", ns, l.Labtool, sub, "-netns", ns}, args...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("lab: labtool %s in %s: %w: %s", sub, ns, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Request sends one request from namespace ns (labtool get, a new
// connection). The node's admin API is at http://127.0.0.1:9090 inside
// each edge namespace. A transport error is returned as err with the
// partial result.
func (l *Lab) Request(ns, method, url string) (*GetResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.labtool(ctx, ns, "get", "-method", method, url)
	var r GetResult
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		return nil, errors.Join(err, fmt.Errorf("lab: labtool get output: %w", jerr))
	}
	if r.Error != "" {
		return &r, fmt.Errorf("lab: %s %s from %s: %s (%s)", method, url, ns, r.Error, r.Kind)
	}
	return &r, nil
}

// Get sends a GET from namespace ns and returns the status and body.
func (l *Lab) Get(ns, url string) (status int, body []byte, err error) {
	r, err := l.Request(ns, "GET", url)
	if r == nil {
		return 0, nil, err
	}
	return r.Status, r.Body, err
}

// Loop is a running `labtool loop` in the client namespace.
type Loop struct {
	p   *Proc
	out string
	// Start is when it was started.
	Start time.Time
}

// StartLoop starts `labtool loop` in the client namespace: rate requests
// per second to url, each on a new connection (so that the router's L4
// ECMP hash spreads them over the edges), for at most max (and at most
// rate × max requests). Stop it to get the result early.
func (l *Lab) StartLoop(url string, rate int, max time.Duration) (*Loop, error) {
	l.mu.Lock()
	l.seq++
	out := filepath.Join(l.Dir, "loop-"+strconv.Itoa(l.seq)+".json")
	l.mu.Unlock()
	p, err := l.start("loop", l.Client, out, l.Labtool, "loop", "-netns", l.Client,
		"-url", url, "-rate", strconv.Itoa(rate), "-duration", max.String())
	if err != nil {
		return nil, err
	}
	return &Loop{p: p, out: out, Start: time.Now()}, nil
}

// Stop ends the loop (SIGINT: requests in flight finish) and returns its
// result.
func (lp *Loop) Stop() (*LoopResult, error) {
	if !lp.p.Exited() {
		_ = lp.p.Signal(syscall.SIGINT)
	}
	return lp.Wait()
}

// Wait waits for the loop to end on its own and returns its result.
func (lp *Loop) Wait() (*LoopResult, error) {
	if err := lp.p.Wait(15 * time.Minute); err != nil {
		return nil, fmt.Errorf("lab: loop: %w: %s", err, lp.p.Log())
	}
	b, err := os.ReadFile(lp.out)
	if err != nil {
		return nil, fmt.Errorf("lab: loop: %w", err)
	}
	var r LoopResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("lab: loop output: %w: %s", err, b)
	}
	return &r, nil
}

// ClientLoop runs a loop (see StartLoop) until ctx is done or max has
// passed, and returns its result.
func (l *Lab) ClientLoop(ctx context.Context, url string, rate int, max time.Duration) (*LoopResult, error) {
	lp, err := l.StartLoop(url, rate, max)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return lp.Stop()
	case <-lp.p.Done():
		return lp.Wait()
	}
}

// Load runs `labtool load` in the client namespace: conns keep-alive
// connections sending requests to url back to back for dur or until
// maxRequests were sent, and returns requests/s, errors and latency.
func (l *Lab) Load(url string, conns int, dur time.Duration, maxRequests int) (*LoadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()
	out, err := l.labtool(ctx, l.Client, "load", "-url", url, "-conns", strconv.Itoa(conns),
		"-duration", dur.String(), "-max", strconv.Itoa(maxRequests))
	if err != nil {
		return nil, err
	}
	var r LoadResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("lab: load output: %w: %s", err, out)
	}
	return &r, nil
}

// Burn starts `labtool burn` in namespace ns: procs busy goroutines for
// dur, to contend the CPU. It sends no traffic.
func (l *Lab) Burn(ns string, procs int, dur time.Duration) (*Proc, error) {
	return l.start("burn", ns, "", l.Labtool, "burn", "-procs", strconv.Itoa(procs), "-duration", dur.String())
}
