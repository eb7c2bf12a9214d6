// Command labtool is the traffic and origin tool of the edgecdn
// network-namespace lab (see deploy/lab/README.md).
//
//	labtool origin -listen ADDR [-netns NAME]          HTTP origin
//	labtool get    -netns NAME [-method M] URL         one request, JSON result
//	labtool loop   -netns NAME -url URL -rate R -duration D   new connection per request
//	labtool load   -netns NAME -url URL -conns C -duration D  keep-alive load
//	labtool burn   -duration D [-procs N]              bounded CPU burner
//	labtool up     -state DIR [-edges N]               bring a lab up (lab.sh)
//	labtool down   -state DIR                          remove it
//	labtool status -state DIR                          show it
//	labtool config -edge N                             print edge N's node config
//
// get, loop and load send traffic: they refuse to run (exit status 3)
// unless they run inside the network namespace named by -netns (started
// with `ip netns exec NAME labtool ...`) and that namespace is not the
// host's. Every loop is bounded in time and in count. Results are JSON on
// standard output.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFail    = 1
	exitUsage   = 2
	exitRefused = 3
)

// Bounds of every traffic loop.
const (
	maxDuration = 10 * time.Minute
	maxRequests = 50_000_000
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return exitUsage
	}
	cmds := map[string]func([]string) int{
		"origin": cmdOrigin,
		"get":    cmdGet,
		"loop":   cmdLoop,
		"load":   cmdLoad,
		"burn":   cmdBurn,
		"up":     cmdUp,
		"down":   cmdDown,
		"status": cmdStatus,
		"config": cmdConfig,
	}
	f, ok := cmds[args[0]]
	if !ok {
		usage()
		return exitUsage
	}
	return f(args[1:])
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: labtool origin|get|loop|load|burn|up|down|status|config [flags] (see -h of each)")
}

// requireNetns is the refusal rule of every command that sends traffic.
func requireNetns(cmd, name string) int {
	if err := netlab.CheckNetns(name); err != nil {
		fmt.Fprintf(os.Stderr, "labtool %s: %v\n", cmd, err)
		return exitRefused
	}
	return exitOK
}

func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func checkBounds(cmd string, d time.Duration, max int) int {
	if d <= 0 || d > maxDuration {
		fmt.Fprintf(os.Stderr, "labtool %s: -duration must be in (0, %s], got %s\n", cmd, maxDuration, d)
		return exitUsage
	}
	if max <= 0 || max > maxRequests {
		fmt.Fprintf(os.Stderr, "labtool %s: -max must be 1-%d, got %d\n", cmd, maxRequests, max)
		return exitUsage
	}
	return exitOK
}
