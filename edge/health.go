package edge

import (
	"fmt"
	"time"
)

// HealthConfig is the node's health state machine: the checks that decide
// whether the node announces its prefixes (with a bgp section) and answers
// /ready, their hysteresis, and the graceful drain.
type HealthConfig struct {
	// Interval between two runs of each check. Default 100ms.
	Interval time.Duration `yaml:"interval"`
	// FastInterval replaces Interval while a check's state is in question
	// (a failure while up, a success while down), until Rise or Fall
	// decides. Default 20ms (at most Interval).
	FastInterval time.Duration `yaml:"fast_interval"`
	// Timeout of one HTTP or DNS check. A check that times out while the
	// service keeps answering real requests gives no verdict (slow, not
	// broken). Default 1s.
	Timeout time.Duration `yaml:"timeout"`
	// Rise successes in a row mark a check up; Fall failures in a row mark
	// it down. Defaults 5 and 3. At start every check is down: the node
	// announces only after each has passed Rise times.
	Rise int `yaml:"rise"`
	Fall int `yaml:"fall"`
	// HoldTime is how long every check must have stayed up before a
	// degraded node announces again, so that a flapping fault does not
	// flap the route. Going down is never delayed. Default 10s.
	HoldTime time.Duration `yaml:"hold_time"`
	// Warmup is the least time from start to the first announcement, on
	// top of Rise passes of every check. Default 0.
	Warmup time.Duration `yaml:"warmup"`
	// DrainDelay is how long a draining node keeps its prefixes announced
	// with the drain attributes (GRACEFUL_SHUTDOWN, prepend) before it
	// withdraws them. Default 2s with a bgp section, else 0.
	DrainDelay *time.Duration `yaml:"drain_delay"`
	// Lameduck is how long a stopping node keeps serving after the
	// withdrawal (or after /ready turned 503), for traffic still on its
	// way, before it closes its listeners. Default 3s with a bgp section,
	// else 0.
	Lameduck *time.Duration `yaml:"lameduck"`
	// MaintenanceFile, when set, drains the node while the file exists
	// (checked every Interval), e.g. /etc/edgecdn/maintenance.
	MaintenanceFile string `yaml:"maintenance_file"`
	// Checks switches single checks off; all are on by default (the DNS
	// check only with a dns section).
	Checks HealthChecks `yaml:"checks"`
	// MaxFDRatio: the resources check fails when more than this fraction
	// of the file descriptor limit is open. 0.5-1, default 0.95.
	MaxFDRatio float64 `yaml:"max_fd_ratio"`
	// MaxMemory: the resources check fails when the Go runtime holds more
	// than this much memory. Default 0: the GOMEMLIMIT if one is set, else
	// no memory check.
	MaxMemory int64 `yaml:"max_memory" unit:"bytes"`
}

// HealthChecks turns single checks on or off (nil = on).
type HealthChecks struct {
	// HTTP requests /.well-known/edgecdn/health through the node's first
	// HTTP listener, on a new connection each time.
	HTTP *bool `yaml:"http"`
	// DNS queries the SOA of the first zone over UDP at the node's first
	// DNS listener.
	DNS *bool `yaml:"dns"`
	// Origins fails while some site has no usable origin.
	Origins *bool `yaml:"origins"`
	// Resources fails under file descriptor or memory pressure.
	Resources *bool `yaml:"resources"`
}

// Health defaults.
const (
	DefaultHealthInterval     = 100 * time.Millisecond
	DefaultHealthFastInterval = 20 * time.Millisecond
	DefaultHealthTimeout      = time.Second
	DefaultHealthRise         = 5
	DefaultHealthFall         = 3
	DefaultHoldTime           = 10 * time.Second
	DefaultDrainDelay         = 2 * time.Second
	DefaultLameduck           = 3 * time.Second
	DefaultMaxFDRatio         = 0.95
)

func (h *HealthConfig) setDefaults(withBGP bool) {
	setDur(&h.Interval, DefaultHealthInterval)
	setDur(&h.FastInterval, min(DefaultHealthFastInterval, h.Interval))
	setDur(&h.Timeout, DefaultHealthTimeout)
	if h.Rise == 0 {
		h.Rise = DefaultHealthRise
	}
	if h.Fall == 0 {
		h.Fall = DefaultHealthFall
	}
	setDur(&h.HoldTime, DefaultHoldTime)
	if h.DrainDelay == nil {
		d := time.Duration(0)
		if withBGP {
			d = DefaultDrainDelay
		}
		h.DrainDelay = &d
	}
	if h.Lameduck == nil {
		d := time.Duration(0)
		if withBGP {
			d = DefaultLameduck
		}
		h.Lameduck = &d
	}
	if h.MaxFDRatio == 0 {
		h.MaxFDRatio = DefaultMaxFDRatio
	}
}

func (h *HealthConfig) validate() []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("health.%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if h.Interval < 10*time.Millisecond || h.Interval > time.Minute {
		add("interval", "must be 10ms-1m, got %s", h.Interval)
	}
	if h.FastInterval < 5*time.Millisecond || h.FastInterval > max(h.Interval, 5*time.Millisecond) {
		add("fast_interval", "must be 5ms-interval (%s), got %s", h.Interval, h.FastInterval)
	}
	if h.Timeout < 10*time.Millisecond || h.Timeout > time.Minute {
		add("timeout", "must be 10ms-1m, got %s", h.Timeout)
	}
	if h.Rise < 1 || h.Rise > 100 {
		add("rise", "must be 1-100, got %d", h.Rise)
	}
	if h.Fall < 1 || h.Fall > 100 {
		add("fall", "must be 1-100, got %d", h.Fall)
	}
	if h.HoldTime < 0 || h.HoldTime > time.Hour {
		add("hold_time", "must be 0-1h, got %s", h.HoldTime)
	}
	if h.Warmup < 0 || h.Warmup > time.Hour {
		add("warmup", "must be 0-1h, got %s", h.Warmup)
	}
	if h.DrainDelay != nil && (*h.DrainDelay < 0 || *h.DrainDelay > 10*time.Minute) {
		add("drain_delay", "must be 0-10m, got %s", *h.DrainDelay)
	}
	if h.Lameduck != nil && (*h.Lameduck < 0 || *h.Lameduck > 10*time.Minute) {
		add("lameduck", "must be 0-10m, got %s", *h.Lameduck)
	}
	if h.MaxFDRatio < 0.5 || h.MaxFDRatio > 1 {
		add("max_fd_ratio", "must be 0.5-1, got %g", h.MaxFDRatio)
	}
	if h.MaxMemory < 0 {
		add("max_memory", "must not be negative")
	}
	return errs
}

// on reports whether a check switch is on (nil means on).
func on(b *bool) bool { return b == nil || *b }

// HealthState is the node's state as the health machine sees it.
type HealthState int

// The states: starting → healthy ⇄ degraded → draining → withdrawn.
const (
	StateStarting  HealthState = iota // checks not yet passed Rise times: nothing announced
	StateHealthy                      // announced
	StateDegraded                     // a check is down: withdrawn (or announced with degraded attributes)
	StateDraining                     // announced with the drain attributes until DrainDelay ends
	StateWithdrawn                    // drained: nothing announced
)

var stateNames = [...]string{"starting", "healthy", "degraded", "draining", "withdrawn"}

func (s HealthState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// MarshalText makes the state a string in JSON.
func (s HealthState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *HealthState) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = HealthState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown health state %q", b)
}

// checkTracker turns one check's results into up/down with rise/fall.
type checkTracker struct {
	name    string
	rise    int
	fall    int
	up      bool
	okRun   int
	failRun int
	lastOK  bool
	lastAt  time.Time
	lastErr string // of the last failure
	slow    uint64 // results without a verdict
}

// checkResult is one run of a check. slow means no verdict: the check
// timed out while the service kept answering real requests.
type checkResult struct {
	ok     bool
	slow   bool
	detail string
}

// record adds a result and reports whether the check changed state.
func (c *checkTracker) record(r checkResult, now time.Time) bool {
	c.lastAt = now
	if r.slow {
		c.slow++
		c.okRun = 0
		return false
	}
	c.lastOK = r.ok
	if r.ok {
		c.okRun++
		c.failRun = 0
		if !c.up && c.okRun >= c.rise {
			c.up = true
			return true
		}
		return false
	}
	c.lastErr = r.detail
	c.failRun++
	c.okRun = 0
	if c.up && c.failRun >= c.fall {
		c.up = false
		return true
	}
	return false
}

// inQuestion reports whether the check should be re-run soon.
func (c *checkTracker) inQuestion() bool {
	return (c.up && c.failRun > 0) || (!c.up && c.okRun > 0)
}

// healthMachine is the node's state with its hysteresis. It is pure: the
// caller feeds it the checks, the drain request and the time.
type healthMachine struct {
	rise       int
	holdTime   time.Duration
	warmup     time.Duration
	drainDelay time.Duration

	started time.Time
	state   HealthState
	since   time.Time
	reason  string
	// lastBad is the last time a check was down; a degraded node
	// announces again only HoldTime after it.
	lastBad time.Time
}

func newHealthMachine(c *HealthConfig, now time.Time) *healthMachine {
	m := &healthMachine{started: now, state: StateStarting, since: now, reason: "warming up"}
	m.configure(c)
	return m
}

func (m *healthMachine) configure(c *HealthConfig) {
	m.rise, m.holdTime, m.warmup, m.drainDelay = c.Rise, c.HoldTime, c.Warmup, *c.DrainDelay
}

// transition is a state change with its reason.
type transition struct {
	from, to HealthState
	reason   string
	at       time.Time
}

// step evaluates the machine at now. down names the first check that is
// down ("" when all are up); drain is the drain request's reason ("" for
// none). It returns the transition, if any (at most one per step).
func (m *healthMachine) step(now time.Time, down, drain string) (transition, bool) {
	if down != "" {
		m.lastBad = now
	}
	to, why := m.state, ""
	switch m.state {
	case StateStarting:
		switch {
		case drain != "":
			to, why = StateWithdrawn, "drain: "+drain
		case down == "" && now.Sub(m.started) >= m.warmup:
			to, why = StateHealthy, "all checks passed"
		}
	case StateHealthy:
		switch {
		case drain != "":
			to, why = StateDraining, drain
		case down != "":
			to, why = StateDegraded, down
		}
	case StateDegraded:
		switch {
		case drain != "":
			to, why = StateWithdrawn, "drain: "+drain
		case down == "" && now.Sub(m.lastBad) >= m.holdTime:
			to, why = StateHealthy, fmt.Sprintf("all checks up for %s", m.holdTime)
		case down != "" && down != m.reason:
			m.reason = down // still degraded, for a new reason
		}
	case StateDraining:
		switch {
		case drain == "":
			to, why = StateHealthy, "drain cancelled"
			if down != "" {
				to, why = StateDegraded, down
			}
		case now.Sub(m.since) >= m.drainDelay:
			to, why = StateWithdrawn, fmt.Sprintf("drain: %s (announced with the drain attributes for %s)", drain, m.drainDelay)
		}
	case StateWithdrawn:
		if drain == "" {
			// Back from a drain: like a degraded node, announce once every
			// check is up and has been for HoldTime.
			if down == "" && now.Sub(m.lastBad) >= m.holdTime {
				to, why = StateHealthy, "drain ended"
			} else {
				to, why = StateDegraded, "drain ended; waiting for the checks"
				if down != "" {
					why = down
				}
			}
		}
	}
	if to == m.state {
		return transition{}, false
	}
	t := transition{from: m.state, to: to, reason: why, at: now}
	m.state, m.since, m.reason = to, now, why
	return t, true
}
