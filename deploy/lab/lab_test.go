package lab_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab"
	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

func TestMain(m *testing.M) {
	code := m.Run()
	lab.RemoveBuilds()
	os.Exit(code)
}

// TestLab brings the lab up and checks its plumbing without any BGP
// speaker: the client reaches the origin through the router, BIRD runs
// with one session per edge, and labtool refuses to send traffic
// outside its namespace.
func TestLab(t *testing.T) {
	l := lab.New(t, lab.Options{})

	t.Run("client reaches origin via router", func(t *testing.T) {
		r, err := l.Request(l.Client, "GET", l.OriginURL+"/obj/100")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != 200 || len(r.Body) != 100 || r.Header["Cache-Control"][0] != "public, max-age=60" {
			t.Fatalf("got %d, %d bytes, %v", r.Status, len(r.Body), r.Header)
		}
		r, err = l.Request(l.Client, "GET", l.OriginURL+"/nocache/10")
		if err != nil || r.Status != 200 || len(r.Body) != 10 || r.Header["Cache-Control"][0] != "no-store" {
			t.Fatalf("nocache: %+v, %v", r, err)
		}
		for _, path := range []string{"/", "/health"} {
			if status, _, err := l.Get(l.Client, l.OriginURL+path); err != nil || status != 200 {
				t.Fatalf("%s: %d, %v", path, status, err)
			}
		}
		// The route goes through the router: the client's only way out.
		out, err := l.Exec(l.Client, "ip", "route", "get", l.OriginAddr)
		if err != nil || !strings.Contains(out, "via 203.0.113.5") {
			t.Fatalf("client route to origin: %q, %v", out, err)
		}
	})

	t.Run("edges", func(t *testing.T) {
		if l.Edges() != 3 {
			t.Fatalf("%d edges", l.Edges())
		}
		for i := 1; i <= 3; i++ {
			e := l.Edge(i)
			if e.ASN != l.EdgeASN || e.Addr == "" || e.RouterAddr == "" || !strings.HasPrefix(e.Namespace, l.Prefix) {
				t.Fatalf("edge %d: %+v", i, e)
			}
			out, err := l.Exec(e.Namespace, "ip", "-4", "addr", "show", "dev", "lo")
			if err != nil || !strings.Contains(out, l.VIPPrefix) {
				t.Fatalf("edge %d lo: %q, %v", i, out, err)
			}
			if status, _, err := l.Get(e.Namespace, l.OriginURL+"/health"); err != nil || status != 200 {
				t.Fatalf("edge %d to origin: %d, %v", i, status, err)
			}
		}
		if _, err := l.Exec("not-a-lab-namespace", "true"); err == nil {
			t.Fatal("Exec ran in a namespace that is not the lab's")
		}
	})

	t.Run("bird", func(t *testing.T) {
		protos, err := l.Protocols()
		if err != nil {
			t.Fatal(err)
		}
		var bgp []string
		for _, p := range protos {
			if p.Proto == "BGP" {
				bgp = append(bgp, p.Name)
			}
		}
		if !slices.Equal(bgp, []string{"edge1", "edge2", "edge3"}) {
			t.Fatalf("BGP protocols %v", bgp)
		}
		if hops, err := l.Routes(l.VIPPrefix); err != nil || len(hops) != 0 {
			t.Fatalf("routes without speakers: %v, %v", hops, err)
		}
		if hops, err := l.KernelNexthops(l.VIP); err != nil || len(hops) != 0 {
			t.Fatalf("kernel next hops without speakers: %v, %v", hops, err)
		}
		out, err := l.Exec(l.Router, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv4.fib_multipath_hash_policy")
		if err != nil || strings.Fields(out)[0] != "1" || strings.Fields(out)[1] != "1" {
			t.Fatalf("router sysctls: %q, %v", out, err)
		}
	})

	t.Run("labtool refuses outside its namespace", func(t *testing.T) {
		url := l.OriginURL + "/"
		cases := []struct {
			name string
			args []string
		}{
			{"get in host namespace", []string{l.Labtool, "get", "-netns", l.Client, url}},
			{"loop in host namespace", []string{l.Labtool, "loop", "-netns", l.Client, "-url", url, "-duration", "1s"}},
			{"load in host namespace", []string{l.Labtool, "load", "-netns", l.Client, "-url", url, "-duration", "1s"}},
			{"get in another namespace", []string{"ip", "netns", "exec", l.Router, l.Labtool, "get", "-netns", l.Client, url}},
			{"get without -netns", []string{"ip", "netns", "exec", l.Client, l.Labtool, "get", url}},
			{"get in unknown namespace", []string{"ip", "netns", "exec", l.Client, l.Labtool, "get", "-netns", l.Prefix + "-nope", url}},
			{"get with path in name", []string{"ip", "netns", "exec", l.Client, l.Labtool, "get", "-netns", "../../proc/1/ns/net", url}},
		}
		for _, c := range cases {
			out, err := exec.Command(c.args[0], c.args[1:]...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "refusing") {
				t.Errorf("%s: err %v, output %q; want exit status 3 and a refusal", c.name, err, out)
			}
		}
		// And the same command inside the right namespace works.
		if _, err := exec.Command("ip", "netns", "exec", l.Client, l.Labtool, "get", "-netns", l.Client, url).Output(); err != nil {
			t.Errorf("get in its namespace: %v", err)
		}
	})
}

// TestLabCleanup checks that a lab leaves no namespace and no process
// behind.
func TestLabCleanup(t *testing.T) {
	if err := lab.Available(); err != nil {
		t.Skip(err)
	}
	var (
		namespaces []string
		pids       []int
	)
	t.Run("lab", func(t *testing.T) {
		l := lab.New(t, lab.Options{Edges: 1})
		l.StartSpeaker(t, 1)
		l.StartHTTP(t, 1)
		if _, err := l.Burn(l.Edge(1).Namespace, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		namespaces, pids = l.Namespaces(), l.PIDs()
		if len(pids) != 5 { // router BIRD, origin, speaker, HTTP, burn
			t.Fatalf("pids %v", pids)
		}
	})
	for _, ns := range namespaces {
		if netlab.NamespaceExists(ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	for _, pid := range pids {
		if netlab.Alive(pid) {
			t.Errorf("pid %d left running", pid)
		}
	}
	for _, e := range netlab.Entries() {
		if slices.Contains(namespaces, e.Prefix+"-router") {
			t.Errorf("registry entry %s left behind", e.Prefix)
		}
	}
}

// TestLabRouting runs BIRD stand-in speakers and HTTP stand-ins in the
// edges: BIRD learns the VIP three times, installs a three-way ECMP
// route, the client's connections spread over all edges, a stopped
// speaker's next hop disappears, and the nftables faults bite.
func TestLabRouting(t *testing.T) {
	l := lab.New(t, lab.Options{})
	speakers := map[int]*lab.Proc{}
	for i := 1; i <= 3; i++ {
		speakers[i] = l.StartSpeaker(t, i)
		l.StartHTTP(t, i)
	}
	if err := l.WaitRoutes(l.VIPPrefix, 3, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitKernelNexthops(l.VIPPrefix, 3, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	hops, err := l.Routes(l.VIPPrefix)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{l.Edge(1).Addr, l.Edge(2).Addr, l.Edge(3).Addr}
	if !slices.Equal(hops, want) {
		t.Fatalf("BIRD next hops %v, want %v", hops, want)
	}
	routes, err := l.BIRDRoutes(l.VIPPrefix)
	if err != nil || len(routes) != 3 || routes[0].ASPath != "65001" || routes[0].LocalPref != 100 {
		t.Fatalf("BIRD routes %+v, %v", routes, err)
	}

	t.Run("ECMP spreads new connections", func(t *testing.T) {
		lp, err := l.StartLoop("http://"+l.VIP+"/obj/1024", 200, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r, err := lp.Wait()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("loop: sent %d ok %d via %v latency %+v", r.Sent, r.OK, r.Via, r.Latency)
		if r.Sent < 150 || r.OK != r.Sent {
			t.Fatalf("loop: %+v", r)
		}
		for i := 1; i <= 3; i++ {
			if r.Via[l.Edge(i).NodeID] == 0 {
				t.Errorf("no request reached edge %d: %v", i, r.Via)
			}
		}
	})

	t.Run("load", func(t *testing.T) {
		r, err := l.Load("http://"+l.VIP+"/obj/1024", 8, 500*time.Millisecond, 100000)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("load: %d requests, %.0f/s, via %v, errors %v", r.Requests, r.RPS, r.Via, r.Errors)
		if r.OK == 0 || r.Failed != 0 {
			t.Fatalf("load: %+v", r)
		}
	})

	t.Run("faults", func(t *testing.T) {
		vip := "http://" + l.VIP + "/"
		e1, e3 := l.Edge(1).Namespace, l.Edge(3).Namespace
		if err := l.RejectHTTP(1, true); err != nil {
			t.Fatal(err)
		}
		if r, err := l.Request(e1, "GET", vip); err == nil || r.Kind != netlab.KindRefused {
			t.Errorf("HTTP fault: edge1 to its own VIP:80: %+v, %v", r, err)
		}
		if status, _, err := l.Get(e3, vip); err != nil || status != 200 {
			t.Errorf("HTTP fault on edge1 hit edge3: %d, %v", status, err)
		}
		if err := l.RejectHTTP(1, false); err != nil {
			t.Fatal(err)
		}
		if status, _, err := l.Get(e1, vip); err != nil || status != 200 {
			t.Errorf("HTTP fault off: %d, %v", status, err)
		}
		if err := l.RejectOrigin(1, true); err != nil {
			t.Fatal(err)
		}
		if r, err := l.Request(e1, "GET", l.OriginURL+"/health"); err == nil || r.Kind != netlab.KindRefused {
			t.Errorf("origin fault: %+v, %v", r, err)
		}
		if status, _, err := l.Get(e3, l.OriginURL+"/health"); err != nil || status != 200 {
			t.Errorf("origin fault on edge1 hit edge3: %d, %v", status, err)
		}
		if err := l.RejectOrigin(1, false); err != nil {
			t.Fatal(err)
		}
		if status, _, err := l.Get(e1, l.OriginURL+"/health"); err != nil || status != 200 {
			t.Errorf("origin fault off: %d, %v", status, err)
		}
	})

	t.Run("withdrawal is seen within milliseconds", func(t *testing.T) {
		w, err := l.WatchRoutes(l.VIPPrefix, 5*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		nh := l.Edge(2).Addr
		t0 := time.Now()
		if err := speakers[2].Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		gone, err := w.WaitGone(nh, t0, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		kern, err := w.WaitFor(lab.SourceKernel, nh, false, t0, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("speaker stopped → gone from BIRD after %s, from the kernel after %s (%d polls)",
			gone.Sub(t0).Round(time.Millisecond), kern.Time.Sub(t0).Round(time.Millisecond), w.Polls())
		if hops, _ := l.Routes(l.VIPPrefix); !slices.Equal(hops, []string{l.Edge(1).Addr, l.Edge(3).Addr}) {
			t.Fatalf("after stopping speaker 2: %v", hops)
		}
		if hops, _ := l.KernelNexthops(l.VIPPrefix); len(hops) != 2 {
			t.Fatalf("kernel after stopping speaker 2: %v", hops)
		}
		if n := w.Count(lab.SourceBIRD, l.Edge(1).Addr, false, t0, time.Time{}); n != 0 {
			t.Fatalf("edge1 withdrawn %d times", n)
		}
		if err := speakers[2].Wait(5 * time.Second); err != nil {
			t.Fatalf("speaker exit: %v", err)
		}
		at, err := l.WatchRouteGone(l.VIPPrefix, nh, 5*time.Millisecond, time.Second)
		if err != nil || at.Before(t0) {
			t.Fatalf("WatchRouteGone: %v, %v", at, err)
		}
	})
}
