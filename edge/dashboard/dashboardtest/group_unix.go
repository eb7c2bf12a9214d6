//go:build unix

package dashboardtest

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own, and makes a
// cancelled context kill that group (Chromium and the helpers it forked),
// by the group's id, which is the browser's PID.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
