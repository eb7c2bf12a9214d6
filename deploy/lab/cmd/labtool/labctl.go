package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// defaultState is where lab.sh keeps its lab's state.
const defaultState = netlab.RegistryDir + "/manual"

// labState is DIR/lab.json of a lab brought up by hand.
type labState struct {
	Topology   *netlab.Topology `json:"topology"`
	Dir        string           `json:"dir"`
	BIRDSocket string           `json:"bird_socket"`
	BIRDPID    string           `json:"bird_pid_file"`
	OriginPID  int              `json:"origin_pid"`
	Labtool    string           `json:"labtool"`
}

func needRoot(cmd string) int {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "labtool %s: refusing to run: must be root (network namespaces)\n", cmd)
		return exitRefused
	}
	for _, tool := range []string{"ip", "bird", "birdc", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "labtool %s: %s not found in PATH\n", cmd, tool)
			return exitFail
		}
	}
	return exitOK
}

func cmdUp(args []string) int {
	fs := flag.NewFlagSet("labtool up", flag.ContinueOnError)
	dir := fs.String("state", defaultState, "state directory (configs, logs, BIRD socket)")
	edges := fs.Int("edges", 3, "number of edge namespaces")
	prefix := fs.String("prefix", "", "namespace prefix (default: ecl and random hex)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if rc := needRoot("up"); rc != exitOK {
		return rc
	}
	if *prefix == "" {
		*prefix = netlab.NewPrefix()
	}
	topo, err := netlab.NewTopology(*prefix, *edges)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtool up: %v\n", err)
		return exitUsage
	}
	d, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtool up: %v\n", err)
		return exitFail
	}
	statePath := filepath.Join(d, "lab.json")
	if _, err := os.Stat(statePath); err == nil {
		fmt.Fprintf(os.Stderr, "labtool up: a lab is already up (%s); run lab.sh down first\n", statePath)
		return exitFail
	}
	for _, ns := range topo.Namespaces() {
		if netlab.NamespaceExists(ns) {
			fmt.Fprintf(os.Stderr, "labtool up: namespace %s exists already\n", ns)
			return exitFail
		}
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "labtool up: %v\n", err)
		return exitFail
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "labtool up: %v\nremoving what was created\n", err)
		if derr := topo.Destroy(context.Background(), netlab.Exec); derr != nil {
			fmt.Fprintf(os.Stderr, "labtool up: cleanup: %v\n", derr)
		}
		netlab.Unregister(topo.Prefix)
		return exitFail
	}
	if err := netlab.Register(topo, d, true); err != nil {
		return fail(err)
	}
	if err := topo.Create(ctx, netlab.Exec); err != nil {
		return fail(err)
	}
	st := labState{
		Topology:   topo,
		Dir:        d,
		BIRDSocket: filepath.Join(d, "bird.ctl"),
		BIRDPID:    filepath.Join(d, "bird.pid"),
	}
	conf := filepath.Join(d, "bird.conf")
	if err := os.WriteFile(conf, []byte(netlab.RouterBIRDConfig(topo, filepath.Join(d, "bird.log"))), 0o644); err != nil {
		return fail(err)
	}
	if _, err := netlab.Exec(ctx, "", "ip", "netns", "exec", topo.Router, "bird", "-c", conf, "-s", st.BIRDSocket, "-P", st.BIRDPID); err != nil {
		return fail(err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	st.Labtool = self
	logf, err := os.Create(filepath.Join(d, "origin.log"))
	if err != nil {
		return fail(err)
	}
	cmd := exec.Command("ip", "netns", "exec", topo.Origin, self, "origin", "-netns", topo.Origin,
		"-listen", fmt.Sprintf("%s:%d", netlab.OriginAddr, netlab.OriginPort))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fail(err)
	}
	logf.Close()
	st.OriginPID = cmd.Process.Pid
	_ = cmd.Process.Release()
	if err := netlab.WaitFile(filepath.Join(d, "origin.log"), "listening", 5*time.Second); err != nil {
		return fail(err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(statePath, b, 0o644); err != nil {
		return fail(err)
	}
	printSummary(st)
	return exitOK
}

func printSummary(st labState) {
	t := st.Topology
	fmt.Printf("lab %s is up (state in %s)\n", t.Prefix, st.Dir)
	fmt.Printf("  router  %-22s BIRD AS%d, socket %s (birdc -s %s show route)\n", t.Router, netlab.RouterASN, st.BIRDSocket, st.BIRDSocket)
	fmt.Printf("  origin  %-22s %s\n", t.Origin, t.OriginURL())
	fmt.Printf("  client  %-22s %s\n", t.Client, netlab.ClientAddr)
	for _, e := range t.Edges {
		fmt.Printf("  %-7s %-22s %s (router %s, AS%d), VIP %s on lo\n", e.NodeID, e.Namespace, e.Addr, e.RouterAddr, e.ASN, netlab.VIP)
	}
	fmt.Printf("try: ip netns exec %s %s get -netns %s %s/obj/100\n", t.Client, st.Labtool, t.Client, t.OriginURL())
}

func readState(dir string) (labState, error) {
	var st labState
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	if st.Topology == nil || !netlab.ValidPrefix(st.Topology.Prefix) {
		return st, errors.New("lab.json: no valid topology")
	}
	return st, nil
}

func cmdDown(args []string) int {
	fs := flag.NewFlagSet("labtool down", flag.ContinueOnError)
	dir := fs.String("state", defaultState, "state directory of labtool up")
	prefix := fs.String("prefix", "", "without a state directory: remove the namespaces of this prefix")
	edges := fs.Int("edges", netlab.MaxEdges, "with -prefix: how many edges the lab had")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if rc := needRoot("down"); rc != exitOK {
		return rc
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var topo *netlab.Topology
	st, err := readState(*dir)
	switch {
	case err == nil:
		topo = st.Topology
	case *prefix != "":
		if topo, err = netlab.NewTopology(*prefix, *edges); err != nil {
			fmt.Fprintf(os.Stderr, "labtool down: %v\n", err)
			return exitUsage
		}
	default:
		fmt.Fprintf(os.Stderr, "labtool down: %v (give -prefix to remove namespaces by prefix)\n", err)
		return exitFail
	}
	// BIRD first, politely, so that it removes its kernel routes; then
	// everything left in the namespaces.
	if st.BIRDPID != "" {
		if b, err := os.ReadFile(st.BIRDPID); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && inNamespace(pid, topo.Router) {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				for i := 0; i < 100 && netlab.Alive(pid); i++ {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}
	}
	rc := exitOK
	if err := topo.Destroy(ctx, netlab.Exec); err != nil {
		fmt.Fprintf(os.Stderr, "labtool down: %v\n", err)
		rc = exitFail
	}
	netlab.Unregister(topo.Prefix)
	if st.Dir != "" {
		for _, f := range []string{"lab.json", "bird.conf", "bird.log", "bird.ctl", "bird.pid", "origin.log", "labtool"} {
			_ = os.Remove(filepath.Join(st.Dir, f))
		}
		_ = os.Remove(st.Dir)
	}
	if rc == exitOK {
		fmt.Printf("lab %s is down\n", topo.Prefix)
	}
	return rc
}

// inNamespace reports whether process pid is in network namespace ns.
func inNamespace(pid int, ns string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a) != nil || syscall.Stat("/run/netns/"+ns, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func cmdStatus(args []string) int {
	fs := flag.NewFlagSet("labtool status", flag.ContinueOnError)
	dir := fs.String("state", defaultState, "state directory of labtool up")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if rc := needRoot("status"); rc != exitOK {
		return rc
	}
	st, err := readState(*dir)
	if err != nil {
		fmt.Printf("no lab up in %s (%v)\n", *dir, err)
		for _, e := range netlab.Entries() {
			fmt.Printf("registered lab %s (owner pid %d, dir %s, stale %v)\n", e.Prefix, e.PID, e.Dir, e.Stale())
		}
		return exitFail
	}
	t := st.Topology
	fmt.Printf("lab %s (state in %s)\n", t.Prefix, st.Dir)
	for _, ns := range t.Namespaces() {
		fmt.Printf("  namespace %-22s exists=%v\n", ns, netlab.NamespaceExists(ns))
	}
	fmt.Printf("  origin pid %d alive=%v\n", st.OriginPID, netlab.Alive(st.OriginPID))
	b, err := netlab.DialBIRD(st.BIRDSocket, 2*time.Second)
	if err != nil {
		fmt.Printf("  BIRD: %v\n", err)
		return exitFail
	}
	defer b.Close()
	protos, err := b.Protocols()
	if err != nil {
		fmt.Printf("  BIRD: %v\n", err)
		return exitFail
	}
	for _, p := range protos {
		fmt.Printf("  bird %-8s %-7s %-5s %s %s\n", p.Name, p.Proto, p.State, p.Since, p.Info)
	}
	routes, err := b.Routes(netlab.VIPPrefix)
	if err != nil {
		fmt.Printf("  BIRD routes: %v\n", err)
		return exitFail
	}
	fmt.Printf("  BIRD routes for %s: %d\n", netlab.VIPPrefix, len(routes))
	for _, r := range routes {
		fmt.Printf("    %s via %v as_path=%q local_pref=%d primary=%v\n", r.Proto, r.NextHops, r.ASPath, r.LocalPref, r.Primary)
	}
	nl, err := netlab.OpenNetlink(t.Router)
	if err != nil {
		fmt.Printf("  kernel: %v\n", err)
		return exitFail
	}
	defer nl.Close()
	hops, err := nl.Nexthops(netip.MustParsePrefix(netlab.VIPPrefix))
	if err != nil {
		fmt.Printf("  kernel: %v\n", err)
		return exitFail
	}
	fmt.Printf("  kernel next hops for %s in %s: %v\n", netlab.VIPPrefix, t.Router, hops)
	return exitOK
}

// cmdConfig prints the node config of one edge (the addresses do not
// depend on the lab's prefix).
func cmdConfig(args []string) int {
	fs := flag.NewFlagSet("labtool config", flag.ContinueOnError)
	edge := fs.Int("edge", 1, "edge number")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	topo, err := netlab.NewTopology("ecl0", netlab.MaxEdges)
	if err != nil || *edge < 1 || *edge > netlab.MaxEdges {
		fmt.Fprintf(os.Stderr, "labtool config: -edge must be 1-%d\n", netlab.MaxEdges)
		return exitUsage
	}
	fmt.Print(netlab.EdgeConfig(topo.Edges[*edge-1], ""))
	return exitOK
}
