package netlab

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrWrongNamespace is returned (wrapped) by CheckNetns when the process
// is not where it must be to send traffic.
var ErrWrongNamespace = errors.New("refusing to send traffic")

// hostNetnsRefs are files that name the host's (initial) network
// namespace: init's, and kthreadd's for sandboxes where init's is not
// readable (kernel threads always live in the initial namespace).
var hostNetnsRefs = []string{"/proc/1/ns/net", "/proc/2/ns/net"}

type nsID struct{ dev, ino uint64 }

func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{uint64(st.Dev), st.Ino}, nil
}

// CheckNetns returns nil only if the calling process runs inside the
// named network namespace (/run/netns/NAME): the device and inode of
// /proc/self/ns/net must be those of /run/netns/NAME, and must not be
// those of the host's namespace. Every labtool command that sends
// traffic calls it first and refuses to run on an error. It fails closed:
// when the host's namespace cannot be identified at all, it refuses.
func CheckNetns(name string) error {
	return checkNetns(name, "/run/netns", "/proc/self/ns/net", hostNetnsRefs)
}

func checkNetns(name, netnsDir, self string, hostRefs []string) error {
	if name == "" {
		return fmt.Errorf("%w: -netns is required", ErrWrongNamespace)
	}
	if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("%w: bad namespace name %q", ErrWrongNamespace, name)
	}
	want, err := statNS(netnsDir + "/" + name)
	if err != nil {
		return fmt.Errorf("%w: namespace %q: %v", ErrWrongNamespace, name, err)
	}
	got, err := statNS(self)
	if err != nil {
		return fmt.Errorf("%w: own namespace: %v", ErrWrongNamespace, err)
	}
	known := 0
	for _, ref := range hostRefs {
		host, err := statNS(ref)
		if err != nil {
			continue
		}
		known++
		if host == got {
			return fmt.Errorf("%w: running in the host's network namespace (run it with ip netns exec %s)", ErrWrongNamespace, name)
		}
		if host == want {
			return fmt.Errorf("%w: namespace %q is the host's network namespace", ErrWrongNamespace, name)
		}
	}
	if known == 0 {
		return fmt.Errorf("%w: cannot identify the host's network namespace (%s)", ErrWrongNamespace, strings.Join(hostRefs, ", "))
	}
	if got != want {
		return fmt.Errorf("%w: not inside network namespace %q (run it with ip netns exec %s)", ErrWrongNamespace, name, name)
	}
	return nil
}
