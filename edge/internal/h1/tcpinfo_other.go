//go:build !linux

package h1

import (
	"net"
	"time"
)

func tcpRTT(net.Conn) (time.Duration, bool) { return 0, false }
