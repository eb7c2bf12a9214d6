package origin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config describes one origin server.
type Config struct {
	// URL is the origin's base URL: scheme (http or https), host and
	// optional port. A path is not allowed (requests keep their own).
	// Required.
	URL string `yaml:"url"`
	// HostHeader is the Host sent to the origin. Empty (the default) sends
	// the client's Host, as received.
	HostHeader string `yaml:"host_header"`
	// ConnectTimeout bounds establishing a TCP connection (and the TLS
	// handshake for https). Default 3s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ResponseHeaderTimeout bounds the wait for the response header after
	// the request is sent. Default 30s.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	// BodyIdleTimeout bounds the gap between two reads of the response
	// body: a stalled origin fails the fetch instead of holding it forever.
	// Default 30s.
	BodyIdleTimeout time.Duration `yaml:"body_idle_timeout"`
	// IdleTimeout is how long an idle kept-alive connection stays in the
	// pool. Default 90s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxIdleConns caps idle kept-alive connections to this origin.
	// Default 128.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// MaxConns caps connections to this origin (in use and idle); requests
	// beyond it wait for a connection. Default 1024; 0 is the default, not
	// "unlimited".
	MaxConns int `yaml:"max_conns"`
}

// Defaults.
const (
	DefaultConnectTimeout        = 3 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultBodyIdleTimeout       = 30 * time.Second
	DefaultIdleTimeout           = 90 * time.Second
	DefaultMaxIdleConns          = 128
	DefaultMaxConns              = 1024
)

// SetDefaults fills in zero fields.
func (c *Config) SetDefaults() {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.BodyIdleTimeout == 0 {
		c.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
}

// Validate reports every problem, each prefixed with its field name.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if _, err := parseBase(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.HostHeader != "" && strings.ContainsAny(c.HostHeader, " /\r\n\t@") {
		errs = append(errs, fmt.Errorf("host_header: %q is not a host", c.HostHeader))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"connect_timeout", c.ConnectTimeout}, {"response_header_timeout", c.ResponseHeaderTimeout},
		{"body_idle_timeout", c.BodyIdleTimeout}, {"idle_timeout", c.IdleTimeout},
	} {
		if d.v < time.Millisecond {
			errs = append(errs, fmt.Errorf("%s: must be at least 1ms, got %s", d.name, d.v))
		}
	}
	if c.MaxIdleConns < 0 {
		errs = append(errs, errors.New("max_idle_conns: must not be negative"))
	}
	if c.MaxConns < 1 {
		errs = append(errs, errors.New("max_conns: must be at least 1"))
	} else if c.MaxIdleConns > c.MaxConns {
		errs = append(errs, fmt.Errorf("max_idle_conns: %d is more than max_conns (%d)", c.MaxIdleConns, c.MaxConns))
	}
	return errors.Join(errs...)
}

// parseBase checks an origin URL and returns it.
func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q: want scheme://host[:port]", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: a path, query or fragment is not supported", s)
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil && port == "" {
		return nil, fmt.Errorf("%q: empty port", s)
	}
	return u, nil
}
