package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// ErrStillRunning is returned by Proc.Wait when the process outlives the
// timeout.
var ErrStillRunning = errors.New("lab: process still running")

// Proc is a process the lab started inside one of its namespaces. Its
// output goes to a log file in the lab's directory.
type Proc struct {
	// Name names the process in logs and file names.
	Name string
	// Namespace is where it runs.
	Namespace string
	// LogPath is the file its output goes to (stdout too unless the
	// process was started with a separate stdout).
	LogPath string

	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	exitedAt time.Time
}

// Start runs args inside namespace ns (`ip netns exec ns args...`, which
// executes args in place, so PID is the command's own). Output goes to
// Dir/<name>.log, shown when t fails. t.Cleanup kills it by PID if it
// still runs; so does the lab's own cleanup.
func (l *Lab) Start(t testing.TB, name, ns string, args ...string) *Proc {
	t.Helper()
	p, err := l.start(name, ns, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("lab: %s log (%s):\n%s", p.Name, p.LogPath, tail(p.LogPath, 8000))
		}
	})
	return p
}

// start starts a process; stdoutPath, if set, receives stdout apart from
// the log.
func (l *Lab) start(name, ns, stdoutPath string, args ...string) (*Proc, error) {
	if !l.topo.Owns(ns) {
		return nil, fmt.Errorf("lab: %q is not a namespace of this lab", ns)
	}
	if len(args) == 0 {
		return nil, errors.New("lab: Start: no command")
	}
	l.mu.Lock()
	l.seq++
	seq := l.seq
	l.mu.Unlock()
	base := name
	if _, err := os.Stat(filepath.Join(l.Dir, name+".log")); err == nil {
		base = fmt.Sprintf("%s-%d", name, seq)
	}
	p := &Proc{Name: name, Namespace: ns, LogPath: filepath.Join(l.Dir, base+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer logf.Close()
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if stdoutPath != "" {
		out, err := os.Create(stdoutPath)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		defer out.Close()
		p.cmd.Stdout = out
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process (by PID).
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return fmt.Errorf("lab: %s already exited", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitedAt is when the process was seen to exit (zero while it runs).
func (p *Proc) ExitedAt() time.Time {
	if !p.Exited() {
		return time.Time{}
	}
	return p.exitedAt
}

// Wait waits up to timeout for the process to exit. It returns nil if it
// exited with status 0, its exit error otherwise, and ErrStillRunning if
// it still runs.
func (p *Proc) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		return fmt.Errorf("%w: %s after %s", ErrStillRunning, p.Name, timeout)
	}
}

// Stop sends SIGTERM, waits up to grace, then kills. It returns the exit
// error of the SIGTERM path (nil for a clean exit).
func (p *Proc) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.Wait(grace)
	if errors.Is(err, ErrStillRunning) {
		p.kill()
	}
	return err
}

// Log returns the process's output so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// kill sends SIGKILL by PID and waits for the exit.
func (p *Proc) kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	if err := p.Wait(5 * time.Second); errors.Is(err, ErrStillRunning) {
		fmt.Fprintf(os.Stderr, "lab: %s (pid %d) survived SIGKILL\n", p.Name, p.PID())
	}
}

// StartEdged writes configYAML to Dir/edge<i>.yaml and runs
// `bin -config FILE -log-format json` in edge i's namespace. Its log is
// shown when t fails; cleanup kills it by PID if it still runs.
func (l *Lab) StartEdged(t testing.TB, i int, bin, configYAML string) *Proc {
	t.Helper()
	e := l.Edge(i)
	conf := filepath.Join(l.Dir, e.NodeID+".yaml")
	if err := os.WriteFile(conf, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return l.Start(t, "edged-"+e.NodeID, e.Namespace, bin, "-config", conf, "-log-format", "json")
}

// StartSpeaker runs a stand-in BGP speaker in edge i: a BIRD that
// announces the VIP to the router and nothing else. It lets tests use the
// lab's routing before the node has a speaker of its own. SIGTERM makes
// BIRD close the session (Cease) and the router drops the route.
func (l *Lab) StartSpeaker(t testing.TB, i int) *Proc {
	t.Helper()
	e := l.Edge(i)
	conf := filepath.Join(l.Dir, "bird-"+e.NodeID+".conf")
	if err := os.WriteFile(conf, []byte(netlab.EdgeBIRDConfig(e, filepath.Join(l.Dir, "bird-"+e.NodeID+".log"))), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(l.Dir, "bird-"+e.NodeID+".ctl")
	return l.Start(t, "bird-"+e.NodeID, e.Namespace, "bird", "-f", "-c", conf, "-s", sock)
}

// StartHTTP runs `labtool origin` on VIP:80 in edge i, answering with
// "Via: 1.1 edge<i>": a stand-in for the node's HTTP side.
func (l *Lab) StartHTTP(t testing.TB, i int) *Proc {
	t.Helper()
	e := l.Edge(i)
	p := l.Start(t, "http-"+e.NodeID, e.Namespace, l.Labtool, "origin", "-netns", e.Namespace,
		"-listen", l.VIP+":80", "-via", e.NodeID)
	if err := netlab.WaitFile(p.LogPath, "listening", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return p
}

// EdgeConfig returns the node config of edge i in the lab: node id
// edge<i>, HTTP on VIP:80, admin on 127.0.0.1:9090, one site for every
// host with the lab origin (probed on /health), and a bgp section with
// the edge's AS, router id, the router as neighbour (connect_retry 1s,
// so that a restarted edge is back within a second or two whatever BIRD
// was doing) and the VIP as prefix. extra is appended verbatim (top-level
// YAML, e.g. a health section).
func (l *Lab) EdgeConfig(i int, extra string) string {
	return netlab.EdgeConfig(l.Edge(i), extra)
}
