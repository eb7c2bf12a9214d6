package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RegistryDir holds one file per lab that exists on this machine, so that
// a lab whose owner died without cleaning up (a killed test binary) is
// removed by the next one.
const RegistryDir = "/run/edgecdn-lab"

// Entry is one registered lab.
type Entry struct {
	Prefix string `json:"prefix"`
	Edges  int    `json:"edges"`
	// PID and Start (the process start time in clock ticks, field 22 of
	// /proc/PID/stat) identify the owner; a lab whose owner is gone is
	// stale. PID 0 marks a lab brought up by hand (lab.sh): never reaped.
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	// Dir is the lab's working directory (configs, logs, sockets).
	Dir string `json:"dir"`
}

func entryPath(prefix string) string { return filepath.Join(RegistryDir, prefix+".json") }

// Register records a lab owned by this process (manual: owned by nobody).
func Register(t *Topology, dir string, manual bool) error {
	e := Entry{Prefix: t.Prefix, Edges: len(t.Edges), Dir: dir}
	if !manual {
		e.PID = os.Getpid()
		e.Start = procStart(e.PID)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(RegistryDir, 0o755); err != nil {
		return fmt.Errorf("netlab: registry: %w", err)
	}
	if err := os.WriteFile(entryPath(t.Prefix), b, 0o644); err != nil {
		return fmt.Errorf("netlab: registry: %w", err)
	}
	return nil
}

// Unregister removes the lab's registry entry.
func Unregister(prefix string) {
	_ = os.Remove(entryPath(prefix))
}

// Lookup returns the registry entry of prefix.
func Lookup(prefix string) (Entry, error) {
	var e Entry
	b, err := os.ReadFile(entryPath(prefix))
	if err != nil {
		return e, err
	}
	err = json.Unmarshal(b, &e)
	return e, err
}

// Entries lists the registered labs.
func Entries() []Entry {
	files, _ := filepath.Glob(filepath.Join(RegistryDir, "ecl*.json"))
	var out []Entry
	for _, f := range files {
		prefix := strings.TrimSuffix(filepath.Base(f), ".json")
		if !ValidPrefix(prefix) {
			continue
		}
		if e, err := Lookup(prefix); err == nil && e.Prefix == prefix {
			out = append(out, e)
		}
	}
	return out
}

// Stale reports whether e's owner process is gone.
func (e Entry) Stale() bool {
	if e.PID == 0 {
		return false
	}
	return !Alive(e.PID) || procStart(e.PID) != e.Start
}

// ReapStale destroys the labs whose owner died and returns their
// prefixes. Labs brought up by hand and labs of live processes are left
// alone.
func ReapStale(ctx context.Context, run Run) ([]string, error) {
	var reaped []string
	var errs []error
	for _, e := range Entries() {
		if !e.Stale() {
			continue
		}
		t, err := NewTopology(e.Prefix, max(1, min(e.Edges, MaxEdges)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := t.Destroy(ctx, run); err != nil {
			errs = append(errs, err)
			continue
		}
		if e.Dir != "" && strings.HasPrefix(filepath.Base(e.Dir), "edgecdn-lab-") {
			_ = os.RemoveAll(e.Dir)
		}
		Unregister(e.Prefix)
		reaped = append(reaped, e.Prefix)
	}
	return reaped, errors.Join(errs...)
}

// procStart returns the start time of process pid (clock ticks since
// boot), or 0.
func procStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	// Fields after ") ": state is field 3, starttime field 22.
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}
