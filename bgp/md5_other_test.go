//go:build !linux

package bgp

import "errors"

// listenerTakesMD5: GoBGP sets TCP MD5 keys on Linux only.
func listenerTakesMD5() error { return errors.New("not Linux") }
