package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Run runs one command and returns its combined output. stdin may be
// empty.
type Run func(ctx context.Context, stdin string, name string, args ...string) (string, error)

// Exec is the default Run: os/exec with the output attached to the error.
func Exec(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Create builds the lab's namespaces, links, addresses, sysctls and
// (empty) nftables fault chains. Nothing is changed in the calling
// process's own network namespace: every link is created inside the
// router namespace with its peer end moved straight into the other one.
// On error the caller should still call Destroy.
func (t *Topology) Create(ctx context.Context, run Run) error {
	for _, ns := range t.Namespaces() {
		if _, err := run(ctx, "", "ip", "netns", "add", ns); err != nil {
			return fmt.Errorf("netlab: %w", err)
		}
	}
	// The router forwards and hashes multipath routes on the L4 tuple.
	// rp_filter is off: replies from the VIP come back on whichever link
	// ECMP did not pick for the reverse direction.
	if _, err := run(ctx, "", "ip", "netns", "exec", t.Router, "sysctl", "-q", "-w",
		"net.ipv4.ip_forward=1",
		"net.ipv4.fib_multipath_hash_policy=1",
		"net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0",
	); err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	var rb strings.Builder
	rb.WriteString("link set lo up\n")
	link := func(iface, peerNS, addr string) {
		fmt.Fprintf(&rb, "link add %s type veth peer name eth0 netns %s\n", iface, peerNS)
		fmt.Fprintf(&rb, "addr add %s dev %s\n", addr, iface)
		fmt.Fprintf(&rb, "link set %s up\n", iface)
	}
	for _, e := range t.Edges {
		link(e.RouterIface, e.Namespace, e.RouterAddr+"/30")
	}
	link("origin", t.Origin, RouterID+"/30")
	link("client", t.Client, "203.0.113.5/30")
	// Flow pinning (see PinScript): a marked connection is routed by its
	// edge's own table, which holds nothing but the VIP via that edge.
	for _, e := range t.Edges {
		fmt.Fprintf(&rb, "route add %s via %s dev %s table %d\n", VIPPrefix, e.Addr, e.RouterIface, pinTable(e))
		fmt.Fprintf(&rb, "rule add fwmark %d table %d pref %d\n", e.Index, pinTable(e), pinTable(e))
	}
	if err := batch(ctx, run, t.Router, rb.String()); err != nil {
		return err
	}
	if _, err := run(ctx, t.PinScript(true), "ip", "netns", "exec", t.Router, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	leaf := func(ns, addr, gw string, vip bool) error {
		var b strings.Builder
		b.WriteString("link set lo up\n")
		fmt.Fprintf(&b, "addr add %s dev eth0\n", addr)
		b.WriteString("link set eth0 up\n")
		if vip {
			fmt.Fprintf(&b, "addr add %s dev lo\n", VIPPrefix)
		}
		fmt.Fprintf(&b, "route add default via %s\n", gw)
		return batch(ctx, run, ns, b.String())
	}
	if err := leaf(t.Origin, OriginAddr+"/30", RouterID, false); err != nil {
		return err
	}
	if err := leaf(t.Client, ClientAddr+"/30", "203.0.113.5", false); err != nil {
		return err
	}
	for _, e := range t.Edges {
		if err := leaf(e.Namespace, e.Addr+"/30", e.RouterAddr, true); err != nil {
			return err
		}
		if _, err := run(ctx, NFTBase, "ip", "netns", "exec", e.Namespace, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("netlab: %w", err)
		}
	}
	return nil
}

func batch(ctx context.Context, run Run, ns, cmds string) error {
	if _, err := run(ctx, cmds, "ip", "-n", ns, "-batch", "-"); err != nil {
		return fmt.Errorf("netlab: in %s: %w", ns, err)
	}
	return nil
}

// NFTPinTable is the nftables table (family ip) of the router's flow
// pinning.
const NFTPinTable = "edgecdn_lab_pin"

// pinTable is the routing table (and rule preference) that carries edge
// e's pinned connections.
func pinTable(e Edge) int { return 100 + e.Index }

// PinScript returns the nft script that turns the router's flow pinning
// on or off. With it on, the router behaves like a stateful L4 balancer in
// front of the ECMP route: the first packet of a connection to the VIP
// takes the ECMP route (the L4 hash), the edge it went to is kept as the
// connection's conntrack mark, and every later packet of that connection
// is marked and routed by that edge's table, whatever the ECMP set has
// become since. Without it, Linux hashes every packet onto the ECMP set
// of the moment (hash-threshold): each change of the set, an edge leaving
// or coming back, moves about half of the connections in flight to
// another edge, which has no socket for them and resets them. That is a
// property of the router, not of the node; the drain tests measure the
// node with pinning on (TestE2EDrainFlips shows both).
func (t *Topology) PinScript(on bool) string {
	var b strings.Builder
	b.WriteString("table ip " + NFTPinTable + " {\n")
	b.WriteString("\tchain pre {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n\t}\n")
	b.WriteString("\tchain post {\n\t\ttype filter hook postrouting priority mangle; policy accept;\n\t}\n")
	b.WriteString("}\n")
	b.WriteString("flush table ip " + NFTPinTable + "\n")
	if !on {
		return b.String()
	}
	fmt.Fprintf(&b, "add rule ip %s pre ip daddr %s ct mark != 0 meta mark set ct mark\n", NFTPinTable, VIP)
	var m []string
	for _, e := range t.Edges {
		m = append(m, fmt.Sprintf("%q : %d", e.RouterIface, e.Index))
	}
	fmt.Fprintf(&b, "add rule ip %s post ip daddr %s ct state new ct mark set oifname map { %s }\n", NFTPinTable, VIP, strings.Join(m, ", "))
	return b.String()
}

// NFTBase is the nftables script that creates the (empty) fault chains of
// an edge namespace.
const NFTBase = `table inet ` + NFTable + ` {
	chain http_in {
		type filter hook input priority 0; policy accept;
	}
	chain origin_out {
		type filter hook output priority 0; policy accept;
	}
}
`

// NFTRejectHTTP returns the nft script that turns the HTTP fault on or off:
// every incoming TCP segment to port 80 (from the client or from the
// node's own check over lo) is answered with a TCP reset.
func NFTRejectHTTP(on bool) string {
	s := "flush chain inet " + NFTable + " http_in\n"
	if on {
		s += "add rule inet " + NFTable + " http_in tcp dport 80 reject with tcp reset\n"
	}
	return s
}

// NFTRejectOrigin returns the nft script that turns the origin fault on or
// off: every outgoing TCP segment to the origin, of new or existing
// connections, is rejected with a TCP reset.
func NFTRejectOrigin(on bool) string {
	s := "flush chain inet " + NFTable + " origin_out\n"
	if on {
		s += "add rule inet " + NFTable + " origin_out ip daddr " + OriginAddr + " meta l4proto tcp reject with tcp reset\n"
	}
	return s
}

// Destroy kills every process left in the lab's namespaces (each by its
// PID: only the lab's own processes can be in them) and deletes the
// namespaces. Namespaces that do not exist are skipped.
func (t *Topology) Destroy(ctx context.Context, run Run) error {
	var errs []error
	for _, ns := range t.Namespaces() {
		if !NamespaceExists(ns) {
			continue
		}
		if err := KillNamespacePIDs(ctx, run, ns, 3*time.Second); err != nil {
			errs = append(errs, err)
		}
		if _, err := run(ctx, "", "ip", "netns", "del", ns); err != nil && NamespaceExists(ns) {
			errs = append(errs, fmt.Errorf("netlab: %w", err))
		}
	}
	return errors.Join(errs...)
}

// NamespaceExists reports whether /run/netns/ns exists.
func NamespaceExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

// NamespacePIDs lists the PIDs of the processes in namespace ns.
func NamespacePIDs(ctx context.Context, run Run, ns string) ([]int, error) {
	out, err := run(ctx, "", "ip", "netns", "pids", ns)
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// KillNamespacePIDs sends SIGKILL to each process in namespace ns, by PID,
// and waits up to wait for them to be gone.
func KillNamespacePIDs(ctx context.Context, run Run, ns string, wait time.Duration) error {
	pids, err := NamespacePIDs(ctx, run, ns)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(wait)
	for _, pid := range pids {
		for Alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("netlab: pid %d in %s survived SIGKILL", pid, ns)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// Alive reports whether process pid exists and is not a zombie.
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}
