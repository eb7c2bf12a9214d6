//go:build !unix

package dashboardtest

import "os/exec"

// ownGroup leaves cmd as it is: a cancelled context kills the browser
// process only.
func ownGroup(*exec.Cmd) {}
