//go:build !unix

package edge

// fdLimit: no descriptor limit to check on this system.
func fdLimit() (uint64, bool) { return 0, false }
