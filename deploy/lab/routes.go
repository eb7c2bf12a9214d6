package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/edgecdn/edgecdn/deploy/lab/internal/netlab"
)

// Route is one route BIRD holds for a prefix: the protocol (edge1...),
// its next hops, whether it is BIRD's best, and the BGP attributes the
// drain changes (AS path, local preference, communities).
type Route = netlab.Route

// BIRDRoutes returns every route the router's BIRD holds for exactly
// prefix (all of them, not only the best), in BIRD's order; none if it
// has none. It asks BIRD's control socket directly (no birdc process),
// so it takes well under a millisecond.
func (l *Lab) BIRDRoutes(prefix string) ([]Route, error) {
	p, err := mustPrefix(prefix)
	if err != nil {
		return nil, err
	}
	return l.bird.Routes(p.String())
}

// Routes returns the next hops of every route BIRD holds for prefix,
// sorted by address; empty if none. An edge's next hop is its link
// address (Edge(i).Addr).
func (l *Lab) Routes(prefix string) ([]string, error) {
	rs, err := l.BIRDRoutes(prefix)
	if err != nil {
		return nil, err
	}
	return nextHops(rs), nil
}

func nextHops(rs []Route) []string {
	var hops []string
	for _, r := range rs {
		hops = append(hops, r.NextHops...)
	}
	sortAddrs(hops)
	return hops
}

func sortAddrs(s []string) {
	sort.Slice(s, func(i, j int) bool {
		a, _ := netip.ParseAddr(s[i])
		b, _ := netip.ParseAddr(s[j])
		return a.Less(b)
	})
}

// KernelNexthops returns the next hops of the router namespace's
// main-table route for prefix (the ECMP set BIRD installed), sorted;
// empty if there is no route. It reads them over netlink (no process).
func (l *Lab) KernelNexthops(prefix string) ([]string, error) {
	p, err := mustPrefix(prefix)
	if err != nil {
		return nil, err
	}
	return l.nl.Nexthops(p)
}

// WaitRoutes polls BIRD every 10 ms until it holds exactly want routes'
// next hops for prefix.
func (l *Lab) WaitRoutes(prefix string, want int, timeout time.Duration) error {
	return waitCount(func() ([]string, error) { return l.Routes(prefix) }, "BIRD routes for "+prefix, want, timeout)
}

// WaitKernelNexthops polls the router's kernel table every 10 ms until
// the route for prefix has exactly want next hops.
func (l *Lab) WaitKernelNexthops(prefix string, want int, timeout time.Duration) error {
	return waitCount(func() ([]string, error) { return l.KernelNexthops(prefix) }, "kernel next hops for "+prefix, want, timeout)
}

func waitCount(get func() ([]string, error), what string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		hops, err := get()
		if err == nil && len(hops) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: %s: want %d, have %v (err %v) after %s", what, want, hops, err, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Sources of route events.
const (
	// SourceBIRD: the next hop appeared in or disappeared from BIRD's
	// routes for the prefix (announced / withdrawn, all routes counted).
	SourceBIRD = "bird"
	// SourceKernel: the next hop joined or left the kernel's ECMP set
	// (a draining edge leaves it before it withdraws).
	SourceKernel = "kernel"
)

// RouteEvent is one change a RouteWatch saw.
type RouteEvent struct {
	// Time is when the query that saw the change returned; Prev is when
	// the previous query of the same source was sent. The change
	// happened in between: Time is an upper bound that is never earlier
	// than the cause, and the resolution is the poll interval plus the
	// query time (a fraction of a millisecond).
	Time, Prev time.Time
	Source     string
	NextHop    string
	// Edge is the index of the edge with that next hop (0 if none).
	Edge int
	// Up is true when the next hop appeared, false when it went away.
	Up bool
}

// RouteWatch polls BIRD's routes and the kernel's next hops for one
// prefix on its own connections and records every change. Stop it (or
// let the lab's cleanup do it).
type RouteWatch struct {
	l      *Lab
	prefix netip.Prefix
	poll   time.Duration
	bird   *netlab.BIRD
	nl     *netlab.Netlink
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu     sync.Mutex
	cond   *sync.Cond
	events []RouteEvent
	state  map[string]map[string]bool // source -> next hop -> present
	polls  int
	last   map[string]time.Time // source -> start of its last query
	err    error
}

// WatchRoutes starts a RouteWatch on prefix polling every poll (5 ms is
// a good value: a poll costs well under a millisecond). The first poll
// sets the baseline and records no events.
func (l *Lab) WatchRoutes(prefix string, poll time.Duration) (*RouteWatch, error) {
	p, err := mustPrefix(prefix)
	if err != nil {
		return nil, err
	}
	b, err := netlab.DialBIRD(l.BIRDSocket, 2*time.Second)
	if err != nil {
		return nil, err
	}
	nl, err := netlab.OpenNetlink(l.Router)
	if err != nil {
		b.Close()
		return nil, err
	}
	w := &RouteWatch{
		l: l, prefix: p, poll: poll, bird: b, nl: nl,
		stop: make(chan struct{}), done: make(chan struct{}),
		state: map[string]map[string]bool{}, last: map[string]time.Time{},
	}
	w.cond = sync.NewCond(&w.mu)
	w.pollOnce(true)
	l.mu.Lock()
	l.watches = append(l.watches, w)
	l.mu.Unlock()
	go w.run()
	return w, nil
}

func (w *RouteWatch) run() {
	defer close(w.done)
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.pollOnce(false)
		}
	}
}

func (w *RouteWatch) pollOnce(baseline bool) {
	bStart := time.Now()
	rs, berr := w.bird.Routes(w.prefix.String())
	bEnd := time.Now()
	kh, kerr := w.nl.Nexthops(w.prefix)
	kEnd := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.cond.Broadcast()
	w.polls++
	if err := errors.Join(berr, kerr); err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.update(SourceBIRD, nextHops(rs), bStart, bEnd, baseline)
	w.update(SourceKernel, kh, bEnd, kEnd, baseline)
}

// update records the changes of one source; start and end bracket the
// query that returned hops.
func (w *RouteWatch) update(src string, hops []string, start, end time.Time, baseline bool) {
	old := w.state[src]
	prev := w.last[src]
	w.last[src] = start
	cur := map[string]bool{}
	for _, h := range hops {
		cur[h] = true
	}
	w.state[src] = cur
	if baseline {
		return
	}
	var changed []string
	for h := range cur {
		if !old[h] {
			changed = append(changed, h)
		}
	}
	for h := range old {
		if !cur[h] {
			changed = append(changed, h)
		}
	}
	sortAddrs(changed)
	for _, h := range changed {
		w.events = append(w.events, RouteEvent{
			Time: end, Prev: prev, Source: src, NextHop: h,
			Edge: w.l.EdgeByNextHop(h), Up: cur[h],
		})
	}
}

// Stop ends the polling. It is safe to call more than once.
func (w *RouteWatch) Stop() {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		w.bird.Close()
		w.nl.Close()
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
}

// Err returns the first polling error.
func (w *RouteWatch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Polls returns how many polls have run.
func (w *RouteWatch) Polls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polls
}

// Events returns the changes seen so far.
func (w *RouteWatch) Events() []RouteEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]RouteEvent(nil), w.events...)
}

// Present reports whether the last poll saw nexthop in source.
func (w *RouteWatch) Present(source, nexthop string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[source][nexthop]
}

// Count counts the events of source for nexthop with the given
// direction whose Time is in [from, to) (a zero to means no end).
func (w *RouteWatch) Count(source, nexthop string, up bool, from, to time.Time) int {
	n := 0
	for _, e := range w.Events() {
		if e.Source == source && e.NextHop == nexthop && e.Up == up && !e.Time.Before(from) && (to.IsZero() || e.Time.Before(to)) {
			n++
		}
	}
	return n
}

// WaitFor waits up to timeout for the first event of source for
// nexthop with direction up whose Time is after since, and returns it.
// If the next hop is already in the wanted state and no event after
// since exists, it keeps waiting: callers take since before they cause
// the change.
func (w *RouteWatch) WaitFor(source, nexthop string, up bool, since time.Time, timeout time.Duration) (RouteEvent, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for _, e := range w.events {
			if e.Source == source && e.NextHop == nexthop && e.Up == up && e.Time.After(since) {
				return e, nil
			}
		}
		select {
		case <-w.stop:
			return RouteEvent{}, errors.New("lab: route watch stopped")
		default:
		}
		if w.err != nil {
			return RouteEvent{}, w.err
		}
		if !time.Now().Before(deadline) {
			verb := "gone from"
			if up {
				verb = "back in"
			}
			return RouteEvent{}, fmt.Errorf("lab: %s not %s %s routes for %s within %s", nexthop, verb, source, w.prefix, timeout)
		}
		w.cond.Wait()
	}
}

// WaitGone waits for nexthop to leave BIRD's routes after since and
// returns when it was seen gone.
func (w *RouteWatch) WaitGone(nexthop string, since time.Time, timeout time.Duration) (time.Time, error) {
	e, err := w.WaitFor(SourceBIRD, nexthop, false, since, timeout)
	return e.Time, err
}

// WaitBack waits for nexthop to reappear in BIRD's routes after since.
func (w *RouteWatch) WaitBack(nexthop string, since time.Time, timeout time.Duration) (time.Time, error) {
	e, err := w.WaitFor(SourceBIRD, nexthop, true, since, timeout)
	return e.Time, err
}

// WatchRouteGone polls BIRD every poll until nexthop is no longer among
// the next hops of prefix and returns the time of the first poll that
// saw it gone (immediately if it is already gone).
func (l *Lab) WatchRouteGone(prefix, nexthop string, poll, timeout time.Duration) (time.Time, error) {
	p, err := mustPrefix(prefix)
	if err != nil {
		return time.Time{}, err
	}
	b, err := netlab.DialBIRD(l.BIRDSocket, 2*time.Second)
	if err != nil {
		return time.Time{}, err
	}
	defer b.Close()
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		rs, err := b.Routes(p.String())
		if err != nil {
			return time.Time{}, err
		}
		found := false
		for _, h := range nextHops(rs) {
			found = found || h == nexthop
		}
		if !found {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("lab: %s still routes %s after %s", nexthop, prefix, timeout)
		}
		time.Sleep(poll)
	}
}
