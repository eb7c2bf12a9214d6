package demo

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Config is the demo origin's configuration.
type Config struct {
	// Listen is the TCP address to serve on, as host:port, for example
	// "127.0.0.1:8081". Required: there is no default. The host must be a
	// loopback address ("127.0.0.1", "::1", any 127.x.y.z, or "localhost")
	// because the demo origin has an unauthenticated failure switch and must
	// never be exposed. Port 0 picks a free port; Server.Addr reports it.
	Listen string `yaml:"listen"`
}

// Validate reports whether c can be used. Messages start with the field
// name ("listen: ..."); the node prefixes its section ("demo.listen").
func (c Config) Validate() error {
	if c.Listen == "" {
		return fmt.Errorf("listen: required (a loopback host:port such as 127.0.0.1:8081)")
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %q: %w", c.Listen, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("listen: %q: host %q is not a loopback address (the demo origin must never be exposed)", c.Listen, host)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || !isDigits(port) {
		return fmt.Errorf("listen: %q: port %q is not a number in 0..65535", c.Listen, port)
	}
	return nil
}

// isLoopbackHost reports whether host (as split from host:port) names a
// loopback address without resolving anything but "localhost".
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
