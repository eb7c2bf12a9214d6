package netlab

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BIRD is a client of BIRD's control socket (what birdc speaks), kept open
// so that a route can be polled every few milliseconds without starting a
// process each time. It is safe for concurrent use; commands are
// serialised.
type BIRD struct {
	mu sync.Mutex
	c  net.Conn
	r  *bufio.Reader
}

// BIRDError is an error reply (codes 8xxx run-time, 9xxx parse errors).
type BIRDError struct {
	Code int
	Msg  string
}

func (e *BIRDError) Error() string { return fmt.Sprintf("bird: %04d %s", e.Code, e.Msg) }

// DialBIRD connects to the control socket at path and reads BIRD's
// greeting.
func DialBIRD(path string, timeout time.Duration) (*BIRD, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("netlab: bird socket: %w", err)
	}
	b := &BIRD{c: c, r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := b.read(); err != nil {
		c.Close()
		return nil, fmt.Errorf("netlab: bird greeting: %w", err)
	}
	return b, nil
}

// Close closes the connection.
func (b *BIRD) Close() error { return b.c.Close() }

// Command sends one CLI command and returns the text of the reply lines
// (without their reply codes).
func (b *BIRD) Command(cmd string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.c.Write([]byte(cmd + "\n")); err != nil {
		return nil, fmt.Errorf("netlab: bird: %w", err)
	}
	return b.read()
}

// read reads one reply: lines "DDDD-text" (more follow), " text" (more
// of the previous code) and a last line "DDDD text".
func (b *BIRD) read() ([]string, error) {
	var lines []string
	for {
		l, err := b.r.ReadString('\n')
		if err != nil {
			return lines, fmt.Errorf("netlab: bird: %w", err)
		}
		l = strings.TrimRight(l, "\n")
		if len(l) >= 5 && isDigits(l[:4]) && (l[4] == '-' || l[4] == ' ') {
			code, _ := strconv.Atoi(l[:4])
			text := l[5:]
			if code >= 8000 {
				return lines, &BIRDError{Code: code, Msg: text}
			}
			if code != 0 {
				lines = append(lines, text)
			}
			if l[4] == ' ' {
				return lines, nil
			}
			continue
		}
		if strings.HasPrefix(l, " ") {
			lines = append(lines, l[1:])
			continue
		}
		if strings.HasPrefix(l, "+") { // asynchronous message
			continue
		}
		lines = append(lines, l)
	}
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Route is one route BIRD holds for a prefix (one per protocol that
// announced it).
type Route struct {
	Net   string `json:"net"`
	Type  string `json:"type"`
	Proto string `json:"proto"`
	Since string `json:"since"`
	// Primary marks BIRD's best route (the "*").
	Primary  bool     `json:"primary"`
	Pref     int      `json:"pref"`
	NextHops []string `json:"next_hops"`
	ASPath   string   `json:"as_path,omitempty"`
	// LocalPref is -1 when the route has none.
	LocalPref   int      `json:"local_pref"`
	Communities []string `json:"communities,omitempty"`
}

var routeHeadRE = regexp.MustCompile(`^(\S*)\s+(\S+)\s+\[(\S+)\s+([^\]]*)\](\s+\*)?\s+\((\d+)`)

// Routes returns every route BIRD has for exactly prefix (not only the
// best one), none if it has none.
func (b *BIRD) Routes(prefix string) ([]Route, error) {
	lines, err := b.Command("show route " + prefix + " all")
	if err != nil {
		if be, ok := err.(*BIRDError); ok && be.Code == 8001 { // Network not found
			return nil, nil
		}
		return nil, err
	}
	return ParseRoutes(lines), nil
}

// ParseRoutes parses the text of `show route ... all`.
func ParseRoutes(lines []string) []Route {
	var out []Route
	var cur *Route
	net := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "Table ") {
			continue
		}
		if m := routeHeadRE.FindStringSubmatch(l); m != nil && !strings.HasPrefix(l, "\t") {
			if m[1] != "" {
				net = m[1]
			}
			pref, _ := strconv.Atoi(m[6])
			out = append(out, Route{Net: net, Type: m[2], Proto: m[3], Since: m[4], Primary: m[5] != "", Pref: pref, LocalPref: -1})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "via "):
			if f := strings.Fields(t); len(f) >= 2 {
				cur.NextHops = append(cur.NextHops, f[1])
			}
		case strings.HasPrefix(t, "BGP.as_path:"):
			cur.ASPath = strings.TrimSpace(strings.TrimPrefix(t, "BGP.as_path:"))
		case strings.HasPrefix(t, "BGP.local_pref:"):
			cur.LocalPref, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(t, "BGP.local_pref:")))
		case strings.HasPrefix(t, "BGP.community:"):
			cur.Communities = strings.Fields(strings.TrimPrefix(t, "BGP.community:"))
		}
	}
	return out
}

// Protocol is one line of `show protocols`.
type Protocol struct {
	Name  string `json:"name"`
	Proto string `json:"proto"`
	Table string `json:"table"`
	State string `json:"state"`
	Since string `json:"since"`
	Info  string `json:"info"`
}

// Protocols returns BIRD's protocols.
func (b *BIRD) Protocols() ([]Protocol, error) {
	lines, err := b.Command("show protocols")
	if err != nil {
		return nil, err
	}
	var out []Protocol
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 5 || f[0] == "Name" {
			continue
		}
		p := Protocol{Name: f[0], Proto: f[1], Table: f[2], State: f[3], Since: f[4]}
		if len(f) > 5 {
			p.Info = strings.Join(f[5:], " ")
		}
		out = append(out, p)
	}
	return out, nil
}
