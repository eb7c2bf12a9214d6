package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// Options shape a lab.
type Options struct {
	// Edges is the number of edge namespaces, 1-8. Default 3.
	Edges int
}

// EdgeInfo describes edge namespace i.
type EdgeInfo = netlab.Edge

// Lab is one running lab. Its fields are read-only.
type Lab struct {
	// Prefix starts every namespace name of this lab.
	Prefix string
	// Dir holds configs, logs and the BIRD control socket.
	Dir string
	// VIP is the anycast address every edge has on lo; VIPPrefix its /32.
	VIP, VIPPrefix string
	// RouterASN is the router's AS, EdgeASN the edges'.
	RouterASN, EdgeASN uint32
	// Router, Origin and Client are namespace names.
	Router, Origin, Client string
	// OriginAddr is the origin's address; OriginURL is
	// http://OriginAddr:8080 (labtool origin).
	OriginAddr, OriginURL string
	// ClientAddr is the client namespace's address.
	ClientAddr string
	// AdminAddr is the node's admin address inside each edge namespace.
	AdminAddr string
	// BIRDSocket is the router BIRD's control socket (birdc -s).
	BIRDSocket string
	// Labtool is the path of the labtool binary.
	Labtool string

	t    testing.TB
	topo *netlab.Topology
	bird *netlab.BIRD
	nl   *netlab.Netlink

	mu      sync.Mutex
	procs   []*Proc
	watches []*RouteWatch
	seq     int
}

// Available returns nil if labs can be built here, else why not: they need
// root and the commands ip, bird, birdc and nft.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("lab: needs root (network namespaces)")
	}
	for _, c := range []string{"ip", "bird", "birdc", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("lab: %s not found (apt-get install iproute2 bird2 nftables)", c)
		}
	}
	return nil
}

// New builds a lab: namespaces, links, addresses, BIRD in the router
// namespace and the origin. It skips the test when Available fails, and
// fails it on any other error. t.Cleanup stops every process the lab
// started (by PID) and deletes the namespaces.
func New(t testing.TB, opt Options) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping network-namespace lab: %v", err)
	}
	if opt.Edges == 0 {
		opt.Edges = 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if reaped, err := netlab.ReapStale(ctx, netlab.Exec); len(reaped) > 0 || err != nil {
		t.Logf("lab: removed stale labs %v (err %v)", reaped, err)
	}
	labtool := Labtool(t)
	var topo *netlab.Topology
	for {
		var err error
		if topo, err = netlab.NewTopology(netlab.NewPrefix(), opt.Edges); err != nil {
			t.Fatal(err)
		}
		if !netlab.NamespaceExists(topo.Router) {
			break
		}
	}
	// A short directory: the BIRD socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "edgecdn-lab-")
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{
		Prefix:     topo.Prefix,
		Dir:        dir,
		VIP:        netlab.VIP,
		VIPPrefix:  netlab.VIPPrefix,
		RouterASN:  netlab.RouterASN,
		EdgeASN:    netlab.EdgeASN,
		Router:     topo.Router,
		Origin:     topo.Origin,
		Client:     topo.Client,
		OriginAddr: netlab.OriginAddr,
		OriginURL:  topo.OriginURL(),
		ClientAddr: netlab.ClientAddr,
		AdminAddr:  netlab.AdminAddr,
		BIRDSocket: filepath.Join(dir, "bird.ctl"),
		Labtool:    labtool,
		t:          t,
		topo:       topo,
	}
	if err := netlab.Register(topo, dir, false); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	start := time.Now()
	if err := topo.Create(ctx, netlab.Exec); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(netlab.RouterBIRDConfig(topo, filepath.Join(dir, "bird.log"))), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Start(t, "bird-router", l.Router, "bird", "-f", "-c", conf, "-s", l.BIRDSocket)
	l.Start(t, "origin", l.Origin, labtool, "origin", "-netns", l.Origin,
		"-listen", fmt.Sprintf("%s:%d", netlab.OriginAddr, netlab.OriginPort))
	if l.bird, err = dialBIRD(l.BIRDSocket, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if l.nl, err = netlab.OpenNetlink(l.Router); err != nil {
		t.Fatal(err)
	}
	if err := netlab.WaitFile(filepath.Join(dir, "origin.log"), "listening", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("lab %s up in %s (dir %s)", l.Prefix, time.Since(start).Round(time.Millisecond), dir)
	return l
}

// dialBIRD retries until BIRD has created its socket.
func dialBIRD(sock string, timeout time.Duration) (*netlab.BIRD, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := netlab.DialBIRD(sock, time.Second)
		if err == nil {
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lab: BIRD did not come up: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// close is the lab's cleanup: watchers, processes (by PID), namespaces,
// files. It reports what it could not remove as test errors.
func (l *Lab) close() {
	l.mu.Lock()
	watches, procs := l.watches, l.procs
	l.mu.Unlock()
	for _, w := range watches {
		w.Stop()
	}
	for _, p := range procs {
		p.kill()
	}
	if l.t.Failed() {
		for _, f := range []string{"bird.log", "origin.log"} {
			l.t.Logf("lab: %s:\n%s", f, tail(filepath.Join(l.Dir, f), 4000))
		}
	}
	if l.bird != nil {
		l.bird.Close()
	}
	if l.nl != nil {
		l.nl.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.topo.Destroy(ctx, netlab.Exec); err != nil {
		l.t.Errorf("lab cleanup: %v", err)
	}
	for _, ns := range l.topo.Namespaces() {
		if netlab.NamespaceExists(ns) {
			l.t.Errorf("lab cleanup: namespace %s still exists", ns)
		}
	}
	for _, p := range procs {
		if netlab.Alive(p.PID()) {
			l.t.Errorf("lab cleanup: %s (pid %d) still running", p.Name, p.PID())
		}
	}
	netlab.Unregister(l.Prefix)
	_ = os.RemoveAll(l.Dir)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = append([]byte("..."), b[len(b)-n:]...)
	}
	return string(b)
}

// Namespaces lists every namespace of the lab.
func (l *Lab) Namespaces() []string { return l.topo.Namespaces() }

// Edges returns the number of edges.
func (l *Lab) Edges() int { return len(l.topo.Edges) }

// Edge returns edge i, 1-based: its namespace, its link address (its BGP
// router_id), the router's address on that link (its BGP neighbour) and
// its AS. It panics on an index out of range.
func (l *Lab) Edge(i int) EdgeInfo {
	if i < 1 || i > len(l.topo.Edges) {
		panic(fmt.Sprintf("lab: edge %d of %d", i, len(l.topo.Edges)))
	}
	return l.topo.Edges[i-1]
}

// EdgeByNextHop returns the index of the edge whose link address is
// addr, or 0.
func (l *Lab) EdgeByNextHop(addr string) int {
	if e, ok := l.topo.EdgeByAddr(addr); ok {
		return e.Index
	}
	return 0
}

// PIDs lists the PIDs of every process the lab started that still runs.
func (l *Lab) PIDs() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var pids []int
	for _, p := range l.procs {
		if !p.Exited() {
			pids = append(pids, p.PID())
		}
	}
	return pids
}

// Exec runs a command inside one of the lab's namespaces (ip netns exec)
// and returns its combined output.
func (l *Lab) Exec(ns string, args ...string) (string, error) {
	return l.execIn(context.Background(), ns, "", args...)
}

func (l *Lab) execIn(ctx context.Context, ns, stdin string, args ...string) (string, error) {
	if !l.topo.Owns(ns) {
		return "", fmt.Errorf("lab: %q is not a namespace of this lab", ns)
	}
	if len(args) == 0 {
		return "", errors.New("lab: Exec: no command")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return netlab.Exec(ctx, stdin, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// Protocol is one line of BIRD's `show protocols`.
type Protocol = netlab.Protocol

// Protocols returns the router BIRD's protocols (show protocols).
func (l *Lab) Protocols() ([]Protocol, error) { return l.bird.Protocols() }

// BIRD runs one birdc command against the router's BIRD and returns the
// reply text.
func (l *Lab) BIRD(cmd string) (string, error) {
	lines, err := l.bird.Command(cmd)
	return strings.Join(lines, "\n"), err
}

// mustPrefix parses a prefix or a bare IPv4 address (taken as /32).
func mustPrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		s += "/32"
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("lab: %w", err)
	}
	return p, nil
}
