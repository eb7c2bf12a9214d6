//go:build unix

package edge

import "golang.org/x/sys/unix"

// fdLimit returns the soft limit on open file descriptors, if there is a
// finite one.
func fdLimit() (uint64, bool) {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur == 0 || lim.Cur == unix.RLIM_INFINITY {
		return 0, false
	}
	return uint64(lim.Cur), true
}
