package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WaitFile polls path until it contains s (a process's log line saying it
// is ready), for at most timeout; the error shows what the file holds.
func WaitFile(path, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), s) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %q after %s:\n%s", filepath.Base(path), s, timeout, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
