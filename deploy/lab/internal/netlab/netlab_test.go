package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNewTopology(t *testing.T) {
	allowed := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")}
	inAllowed := func(s string) bool {
		a := netip.MustParseAddr(s)
		for _, p := range allowed {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	topo, err := NewTopology("ecl12ab", MaxEdges)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	addrs := []string{VIP, RouterID, OriginAddr, ClientAddr, "203.0.113.5"}
	for _, e := range topo.Edges {
		addrs = append(addrs, e.Addr, e.RouterAddr)
		if len(e.RouterIface) > 15 {
			t.Errorf("interface name %q too long", e.RouterIface)
		}
		if !strings.HasPrefix(e.Namespace, "ecl12ab-") {
			t.Errorf("namespace %q", e.Namespace)
		}
	}
	for _, a := range addrs {
		if !inAllowed(a) {
			t.Errorf("address %s outside the documentation prefixes", a)
		}
		if seen[a] {
			t.Errorf("address %s used twice", a)
		}
		seen[a] = true
	}
	// Each edge's link /30 must not contain the VIP.
	for _, e := range topo.Edges {
		if netip.PrefixFrom(netip.MustParseAddr(e.Addr), 30).Masked().Contains(netip.MustParseAddr(VIP)) {
			t.Errorf("edge %d link contains the VIP", e.Index)
		}
	}
	for _, bad := range []struct {
		prefix string
		edges  int
	}{{"ecl12ab", 0}, {"ecl12ab", MaxEdges + 1}, {"lab", 3}, {"ecl/x", 3}, {"eclABC", 3}, {"ecl123456789", 3}} {
		if _, err := NewTopology(bad.prefix, bad.edges); err == nil {
			t.Errorf("NewTopology(%q, %d) accepted", bad.prefix, bad.edges)
		}
	}
	if p := NewPrefix(); !ValidPrefix(p) {
		t.Errorf("NewPrefix() = %q is not valid", p)
	}
}

func TestCheckNetnsRefuses(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// "self" is a namespace whose file is this process's own namespace;
	// "file" is some unrelated file.
	if err := os.Symlink("/proc/self/ns/net", filepath.Join(dir, "self")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const self = "/proc/self/ns/net"
	cases := []struct {
		name, ns string
		hostRefs []string
		want     string // "" = allowed
	}{
		{"inside, host elsewhere", "self", []string{other}, ""},
		{"inside the host namespace", "self", []string{self}, "host's network namespace"},
		{"host unknown fails closed", "self", []string{filepath.Join(dir, "missing")}, "cannot identify"},
		{"not inside", "file", []string{other}, "not inside"},
		{"named namespace is the host's", "file", []string{filepath.Join(dir, "file")}, "is the host's"},
		{"no name", "", []string{other}, "-netns is required"},
		{"path in name", "../self", []string{other}, "bad namespace name"},
		{"missing namespace", "missing", []string{other}, "namespace \"missing\""},
	}
	for _, c := range cases {
		err := checkNetns(c.ns, dir, self, c.hostRefs)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !errors.Is(err, ErrWrongNamespace) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want a refusal with %q", c.name, err, c.want)
		}
	}
	// The real check refuses a namespace that does not exist, and (in the
	// host's namespace) any other.
	if err := CheckNetns("ecl-does-not-exist"); err == nil {
		t.Error("CheckNetns accepted a missing namespace")
	}
}

// birdShowRoute is `show route 198.51.100.80/32 all` as BIRD 2.0.12 sends
// it on the control socket, with one draining edge (RFC 8326).
const birdShowRoute = "1007-Table master4:\n" +
	" 198.51.100.80/32     unicast [edge2 18:21:09.922] * (100) [AS65001i]\n" +
	" \tvia 198.51.100.10 on e2\n" +
	"1008-\tType: BGP univ\n" +
	"1012-\tBGP.origin: IGP\n" +
	" \tBGP.as_path: 65001\n" +
	" \tBGP.next_hop: 198.51.100.10\n" +
	" \tBGP.local_pref: 100\n" +
	"1007-                     unicast [edge1 18:21:15.053] (100) [AS65001i]\n" +
	" \tvia 198.51.100.6 on e1\n" +
	"1008-\tType: BGP univ\n" +
	"1012-\tBGP.origin: IGP\n" +
	" \tBGP.as_path: 65001 65001\n" +
	" \tBGP.next_hop: 198.51.100.6\n" +
	" \tBGP.local_pref: 0\n" +
	" \tBGP.community: (65535,0)\n" +
	"0000 \n"

func fakeBIRD(t *testing.T, replies map[string]string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bird.ctl")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "0001 BIRD 2.0.12 ready.\n")
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					reply, ok := replies[strings.TrimSpace(l)]
					if !ok {
						reply = "9001 syntax error\n"
					}
					io.WriteString(c, reply)
				}
			}()
		}
	}()
	return sock
}

func TestBIRDRoutes(t *testing.T) {
	sock := fakeBIRD(t, map[string]string{
		"show route 198.51.100.80/32 all": birdShowRoute,
		"show route 198.51.100.81/32 all": "8001 Network not found\n",
		"show protocols": "2002-Name       Proto      Table      State  Since         Info\n" +
			"1002-device1    Device     ---        up     18:21:09.030  \n" +
			" edge1      BGP        ---        start  18:21:09.880  Active        Socket: Connection refused\n" +
			" edge2      BGP        ---        up     18:21:09.914  Established   \n" +
			"0000 \n",
	})
	b, err := DialBIRD(sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rs, err := b.Routes("198.51.100.80/32")
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Net: "198.51.100.80/32", Type: "unicast", Proto: "edge2", Since: "18:21:09.922", Primary: true, Pref: 100,
			NextHops: []string{"198.51.100.10"}, ASPath: "65001", LocalPref: 100},
		{Net: "198.51.100.80/32", Type: "unicast", Proto: "edge1", Since: "18:21:15.053", Pref: 100,
			NextHops: []string{"198.51.100.6"}, ASPath: "65001 65001", LocalPref: 0, Communities: []string{"(65535,0)"}},
	}
	if fmt.Sprintf("%+v", rs) != fmt.Sprintf("%+v", want) {
		t.Errorf("routes\n got %+v\nwant %+v", rs, want)
	}
	if rs, err := b.Routes("198.51.100.81/32"); err != nil || len(rs) != 0 {
		t.Errorf("missing network: %v, %v", rs, err)
	}
	var be *BIRDError
	if _, err := b.Command("bogus"); !errors.As(err, &be) || be.Code != 9001 {
		t.Errorf("bogus command: %v", err)
	}
	ps, err := b.Protocols()
	if err != nil || len(ps) != 3 || ps[1].Name != "edge1" || ps[1].State != "start" || ps[1].Info != "Active Socket: Connection refused" || ps[2].Info != "Established" {
		t.Errorf("protocols %+v, %v", ps, err)
	}
}

func TestParseRoutesMultipath(t *testing.T) {
	rs := ParseRoutes([]string{
		"Table master4:",
		"198.51.100.80/32     unicast [static1 2026-11-21 18:21:09] * (200)",
		"\tvia 198.51.100.6 on e1 weight 1",
		"\tvia 198.51.100.10 on e2 weight 1",
	})
	if len(rs) != 1 || rs[0].Proto != "static1" || len(rs[0].NextHops) != 2 || rs[0].Pref != 200 || !rs[0].Primary {
		t.Fatalf("%+v", rs)
	}
}

func TestClassify(t *testing.T) {
	cases := map[string]error{
		"":              nil,
		KindRefused:     &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		KindReset:       &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
		KindUnreachable: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)},
		KindTimeout:     context.DeadlineExceeded,
		KindEOF:         fmt.Errorf("get: %w", io.ErrUnexpectedEOF),
		KindOther:       errors.New("something else"),
	}
	for want, err := range cases {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestViaNode(t *testing.T) {
	for in, want := range map[string]string{
		"1.1 edge1":                "edge1",
		"1.0 fred, 1.1 edge2":      "edge2",
		"HTTP/1.1 edge3 (edgecdn)": "edge3",
		"":                         "",
		"1.1":                      "",
	} {
		if got := ViaNode(in); got != want {
			t.Errorf("ViaNode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResponseNode(t *testing.T) {
	for _, c := range []struct{ via, cs, want string }{
		{"1.1 edge1", "edge9; hit", "edge1"},
		{"", "edge2; hit; ttl=59", "edge2"},
		{"", "parent; fwd=miss, edge3; fwd=miss; stored", "edge3"},
		{"", `"edge4"; hit`, "edge4"},
		{"", "", ""},
	} {
		if got := ResponseNode(c.via, c.cs); got != c.want {
			t.Errorf("ResponseNode(%q, %q) = %q, want %q", c.via, c.cs, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var ms []float64
	for i := 100; i >= 1; i-- {
		ms = append(ms, float64(i))
	}
	l := Summarize(ms)
	if l.P50 != 51 || l.P99 != 100 || l.Max != 100 {
		t.Errorf("%+v", l)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("empty")
	}
}

// TestBIRDConfigsParse checks the generated configs with `bird -p`.
func TestBIRDConfigsParse(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil {
		t.Skip("bird not installed")
	}
	topo, err := NewTopology("ecl0", 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	confs := map[string]string{"router": RouterBIRDConfig(topo, filepath.Join(dir, "r.log"))}
	for _, e := range topo.Edges {
		confs[e.NodeID] = EdgeBIRDConfig(e, filepath.Join(dir, e.NodeID+".log"))
	}
	for name, c := range confs {
		f := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("bird", "-p", "-c", f).CombinedOutput(); err != nil {
			t.Errorf("%s: bird -p: %v: %s\n%s", name, err, out, c)
		}
	}
	for _, want := range []string{"merge paths on", "local as 65000", "neighbor 198.51.100.6 as 65001", "source address 198.51.100.5", "(65535, 0) ~ bgp_community", "export none"} {
		if !strings.Contains(confs["router"], want) {
			t.Errorf("router config lacks %q", want)
		}
	}
}

// TestReapStale: a lab whose owner died is removed by the next one.
func TestReapStale(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	topo, err := NewTopology(NewPrefix(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() {
		_ = topo.Destroy(ctx, Exec)
		Unregister(topo.Prefix)
	})
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := Register(topo, "", false); err != nil {
		t.Fatal(err)
	}
	// Re-register with the dead process as owner.
	e, err := Lookup(topo.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	e.PID = dead.Process.Pid
	if err := os.WriteFile(entryPath(topo.Prefix), fmt.Appendf(nil, `{"prefix":%q,"edges":1,"pid":%d,"start":1}`, e.Prefix, e.PID), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := topo.Create(ctx, Exec); err != nil {
		t.Fatal(err)
	}
	reaped, err := ReapStale(ctx, Exec)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range reaped {
		found = found || p == topo.Prefix
	}
	if !found {
		t.Fatalf("reaped %v, not %s", reaped, topo.Prefix)
	}
	for _, ns := range topo.Namespaces() {
		if NamespaceExists(ns) {
			t.Errorf("%s survived", ns)
		}
	}
	if _, err := Lookup(topo.Prefix); err == nil {
		t.Error("registry entry survived")
	}
	// A live owner's lab is left alone.
	if err := Register(topo, "", false); err != nil {
		t.Fatal(err)
	}
	if e, _ := Lookup(topo.Prefix); e.Stale() {
		t.Error("own lab counted as stale")
	}
}
