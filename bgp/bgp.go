package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/edgecdn/edgecdn/bgp/internal/gobgpx"
)

// Mode is what the speaker announces.
type Mode int

// Modes.
const (
	// ModeWithdrawn announces nothing (the state after Start).
	ModeWithdrawn Mode = iota
	// ModeAnnounce announces every prefix with the Announce attributes.
	ModeAnnounce
	// ModeDegraded announces every prefix with the Degraded attributes
	// when they are configured, and withdraws them otherwise.
	ModeDegraded
	// ModeDraining announces every prefix with the Drain attributes plus
	// GRACEFUL_SHUTDOWN (65535:0).
	ModeDraining
)

var modeNames = [...]string{"withdrawn", "announce", "degraded", "draining"}

// String returns the mode's name, as used in logs, metrics and the status.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return "mode(" + strconv.Itoa(int(m)) + ")"
	}
	return modeNames[m]
}

// Errors callers may branch on.
var (
	// ErrNotStarted is returned by SetMode before Start.
	ErrNotStarted = errors.New("bgp: speaker not started")
	// ErrStopped is returned by Start, SetMode and Reload after Stop.
	ErrStopped = errors.New("bgp: speaker stopped")
)

// FSM state names, in the order of GoBGP's (and RFC 4271's) states.
var stateNames = [...]string{"idle", "connect", "active", "opensent", "openconfirm", "established"}

// PeerEvent is a change of a session's FSM state.
type PeerEvent struct {
	Address string
	ASN     uint32
	// State is idle, connect, active, opensent, openconfirm or
	// established.
	State string
	// Up is true when State is established.
	Up bool
	At time.Time
}

// Option configures a Speaker with what is not in the config file.
type Option func(*Speaker)

// WithLogger sets the logger (default: discard). The speaker adds
// component=bgp; GoBGP's own messages go to the same logger.
func WithLogger(l *slog.Logger) Option {
	return func(s *Speaker) {
		if l != nil {
			s.log = l
		}
	}
}

// WithMetrics reports the speaker through m (see NewMetrics).
func WithMetrics(m *Metrics) Option { return func(s *Speaker) { s.metrics = m } }

// WithPeerHook calls fn on every change of a session's state, one call at
// a time, from a speaker goroutine (or from Reload, for a neighbour it
// removes: a last event with state idle). fn must return quickly and must
// not call SetMode, Reload or Stop; Ready, Mode and Snapshot are fine. No
// call starts after Stop has returned.
func WithPeerHook(fn func(PeerEvent)) Option { return func(s *Speaker) { s.hook = fn } }

type lifecycle int

const (
	created lifecycle = iota
	started
	stopped
)

// Speaker is the node's BGP speaker: an embedded GoBGP server that
// announces the configured prefixes in the current Mode and reports the
// state of its sessions.
type Speaker struct {
	log     *slog.Logger
	metrics *Metrics
	hook    func(PeerEvent)

	// opMu serialises the operations that change GoBGP: Start, SetMode,
	// Reload and Stop. They hold it while GoBGP works, so readers use mu.
	opMu        sync.Mutex
	watchCancel context.CancelFunc

	// mu guards the state below, which Snapshot, Ready, Mode and the
	// metrics read; writers hold opMu too (except peer events).
	mu        sync.Mutex
	cfg       Config
	state     lifecycle
	srv       *server.BgpServer
	mode      Mode
	peers     map[string]*peerStatus // by neighborKey
	announced map[netip.Prefix]announcement

	// hookMu orders peer events against Stop; hookClosed drops events
	// once Stop has returned.
	hookMu     sync.Mutex
	hookClosed bool
}

type peerStatus struct {
	cfg           NeighborConfig
	state         string
	up            bool
	establishedAt time.Time
	transitions   uint64
}

// announcement is a prefix handed to GoBGP: the UUID AddPath returned
// (the handle to delete exactly this path) and its attributes.
type announcement struct {
	uuid  []byte
	attrs pathAttrs
}

// New validates cfg (after filling in defaults) and returns a speaker that
// does nothing until Start.
func New(cfg Config, opts ...Option) (*Speaker, error) {
	cfg = cloneConfig(cfg)
	cfg.SetDefaults()
	if errs := cfg.problems(); len(errs) > 0 {
		return nil, prefixed(errs)
	}
	s := &Speaker{
		log:       slog.New(slog.DiscardHandler),
		cfg:       cfg,
		peers:     map[string]*peerStatus{},
		announced: map[netip.Prefix]announcement{},
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "bgp")
	return s, nil
}

// prefixed joins problems of the bgp section with "bgp." before each path.
func prefixed(errs []error) error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("bgp.%w", e)
	}
	return errors.Join(out...)
}

// Start runs the GoBGP server and adds the neighbours; it announces
// nothing (ModeWithdrawn). It returns once the server runs, without
// waiting for sessions.
func (s *Speaker) Start(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	st, cfg := s.state, s.cfg
	s.mu.Unlock()
	switch st {
	case started:
		return errors.New("bgp: already started")
	case stopped:
		return ErrStopped
	}

	srv := server.NewBgpServer(server.LoggerOption(gobgpx.Logger(s.log)))
	// Serve must run before any other call, or the call blocks forever.
	// GoBGP v3 has no way to end it: after Stop it stays parked.
	go srv.Serve()

	fail := func(err error) error {
		if s.watchCancel != nil {
			s.watchCancel()
			s.watchCancel = nil
		}
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{})
		s.mu.Lock()
		s.peers = map[string]*peerStatus{}
		s.mu.Unlock()
		return fmt.Errorf("bgp: start: %w", err)
	}
	global := &api.Global{Asn: cfg.ASN, RouterId: cfg.RouterID, ListenPort: -1}
	if cfg.Listen != "" {
		host, port, _ := net.SplitHostPort(cfg.Listen)
		p, _ := strconv.Atoi(port)
		global.ListenPort = int32(p)
		if host != "" {
			global.ListenAddresses = []string{host}
		}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		return fail(err)
	}
	if err := importOnlyLocal(ctx, srv); err != nil {
		return fail(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.watchCancel = cancel
	if err := srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.onEvent); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	for _, n := range cfg.Neighbors {
		s.peers[neighborKey(n.Address)] = &peerStatus{cfg: n, state: "idle"}
	}
	s.mu.Unlock()
	for i, n := range cfg.Neighbors {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(n)}); err != nil {
			return fail(fmt.Errorf("neighbors[%d] %s: %w", i, n.Address, err))
		}
	}
	s.mu.Lock()
	s.srv, s.state, s.mode = srv, started, ModeWithdrawn
	s.mu.Unlock()
	if s.metrics != nil {
		s.metrics.track(s)
	}
	s.log.Info("bgp speaker started", "asn", cfg.ASN, "router_id", cfg.RouterID, "neighbors", len(cfg.Neighbors),
		"addr", cfg.Listen)
	return nil
}

// importOnlyLocal makes the global RIB take only the paths the speaker
// originates: routes the neighbours send are kept in their Adj-RIB-In but
// never selected or passed on. The import policy applies to local paths
// too, so a bare default REJECT would reject our own announcements.
func importOnlyLocal(ctx context.Context, srv *server.BgpServer) error {
	const name = "edge-import-local-only"
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{
		Name: name,
		Statements: []*api.Statement{{
			Name:       name + "-accept",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}},
	}}); err != nil {
		return err
	}
	return srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_IMPORT,
		Policies:      []*api.Policy{{Name: name}},
		DefaultAction: api.RouteAction_REJECT,
	}})
}

// apiPeer is the GoBGP neighbour for n.
func apiPeer(n NeighborConfig) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: neighborKey(n.Address),
			PeerAsn:         n.ASN,
			AuthPassword:    n.Password,
			Description:     n.Description,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      uint64(n.ConnectRetry / time.Second),
			HoldTime:          uint64(n.HoldTime / time.Second),
			KeepaliveInterval: uint64(n.Keepalive / time.Second),
		}},
		Transport: &api.Transport{
			LocalAddress: n.LocalAddress,
			RemotePort:   uint32(n.Port),
			PassiveMode:  n.Passive,
		},
	}
	if n.Multihop > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.Multihop)}
	}
	if n.TTLSecurity > 0 {
		p.TtlSecurity = &api.TtlSecurity{Enabled: true, TtlMin: uint32(256 - n.TTLSecurity)}
	}
	return p
}

// onEvent handles GoBGP's peer events (from GoBGP's watcher goroutine).
func (s *Speaker) onEvent(r *api.WatchEventResponse) {
	pe := r.GetPeer()
	if pe == nil || pe.Type != api.WatchEventResponse_PeerEvent_STATE || pe.GetPeer().GetState() == nil {
		return
	}
	st := pe.Peer.State
	name := stateNames[0]
	if i := int(st.SessionState) - 1; i >= 0 && i < len(stateNames) {
		name = stateNames[i]
	}
	s.peerChanged(st.NeighborAddress, name)
}

// peerChanged records the new FSM state of the neighbour with key, logs
// a session that came up or went down, and calls the hook. hookMu keeps
// events in order and none after Stop.
func (s *Speaker) peerChanged(key, name string) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	if s.hookClosed {
		return
	}
	up := name == "established"
	now := time.Now()
	s.mu.Lock()
	p := s.peers[key]
	if p == nil || p.state == name {
		s.mu.Unlock()
		return
	}
	wasUp := p.up
	p.state, p.up = name, up
	switch {
	case up && !wasUp:
		p.establishedAt = now
	case !up && wasUp:
		p.transitions++
		p.establishedAt = time.Time{}
	}
	ev := PeerEvent{Address: p.cfg.Address, ASN: p.cfg.ASN, State: name, Up: up, At: now}
	s.mu.Unlock()

	switch {
	case up && !wasUp:
		s.log.Info("bgp session established", "peer", ev.Address, "asn", ev.ASN)
	case !up && wasUp:
		s.log.Warn("bgp session lost", "peer", ev.Address, "asn", ev.ASN, "state", name)
	default:
		s.log.Debug("bgp session state", "peer", ev.Address, "state", name)
	}
	if s.hook != nil {
		s.hook(ev)
	}
}

// SetMode announces or withdraws every configured prefix for m. It
// returns once GoBGP has every path added, replaced or withdrawn (not
// once the neighbours have it). Setting the current mode again re-applies
// it, which retries whatever failed before. Safe for concurrent use.
func (s *Speaker) SetMode(ctx context.Context, m Mode) error {
	if m < ModeWithdrawn || m > ModeDraining {
		return fmt.Errorf("bgp: set mode: unknown mode %d", int(m))
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	st, cfg, old := s.state, s.cfg, s.mode
	s.mu.Unlock()
	switch st {
	case created:
		return ErrNotStarted
	case stopped:
		return ErrStopped
	}
	err := s.apply(ctx, cfg, m)
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
	if old != m {
		s.log.Info("bgp mode changed", "from", old.String(), "to", m.String())
	}
	if err != nil {
		return fmt.Errorf("bgp: set mode %s: %w", m, err)
	}
	return nil
}

// Mode returns the mode last set (ModeWithdrawn before the first SetMode
// and after Stop).
func (s *Speaker) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// desired returns the attributes of every prefix announced in mode m.
func desired(cfg *Config, m Mode) map[netip.Prefix]pathAttrs {
	var attrs *Attributes
	var extra []uint32
	switch m {
	case ModeAnnounce:
		attrs = &cfg.Announce
	case ModeDegraded:
		attrs = cfg.Degraded
	case ModeDraining:
		attrs, extra = &cfg.Drain, []uint32{CommunityGracefulShutdown}
	}
	out := map[netip.Prefix]pathAttrs{}
	if attrs == nil {
		return out
	}
	pa := attrs.resolve(extra...)
	for _, s := range cfg.Prefixes {
		if p, err := parsePrefix(s); err == nil {
			out[p] = pa
		}
	}
	return out
}

// apply brings GoBGP's local paths to what cfg wants in mode m: withdraws
// first, then adds or replaces (AddPath of a prefix GoBGP already has
// replaces the path, an implicit withdraw). Only prefixes of cfg are ever
// added. It goes on after a failure and returns every error. Callers hold
// opMu.
func (s *Speaker) apply(ctx context.Context, cfg Config, m Mode) error {
	want := desired(&cfg, m)
	s.mu.Lock()
	srv := s.srv
	have := make(map[netip.Prefix]announcement, len(s.announced))
	for p, a := range s.announced {
		have[p] = a
	}
	s.mu.Unlock()

	var errs []error
	for _, p := range sortedPrefixes(have) {
		if _, ok := want[p]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := s.withdraw(ctx, srv, cfg.ASN, p, have[p]); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", p, err))
			continue
		}
		s.mu.Lock()
		delete(s.announced, p)
		s.mu.Unlock()
	}
	for _, str := range cfg.Prefixes {
		p, err := parsePrefix(str)
		if err != nil {
			continue
		}
		attrs, ok := want[p]
		if !ok {
			continue
		}
		if a, ok := have[p]; ok && a.attrs.equal(attrs) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		uuid, err := s.announce(ctx, srv, cfg.ASN, p, attrs)
		if err != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", p, err))
			continue
		}
		s.mu.Lock()
		s.announced[p] = announcement{uuid: uuid, attrs: attrs}
		s.mu.Unlock()
	}
	return errors.Join(errs...) // logged by the caller, who handles it
}

func (s *Speaker) announce(ctx context.Context, srv *server.BgpServer, asn uint32, p netip.Prefix, attrs pathAttrs) ([]byte, error) {
	path, err := newPath(p, asn, attrs)
	if err == nil {
		var r *api.AddPathResponse
		if r, err = srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err == nil {
			s.count("announce", nil)
			s.log.Debug("bgp prefix announced", "prefix", p.String())
			return r.Uuid, nil
		}
	}
	s.count("announce", err)
	return nil, err
}

// withdraw deletes our path for p. GoBGP deletes every local path when
// DeletePath has neither a UUID nor a path, so it always gets one of them.
func (s *Speaker) withdraw(ctx context.Context, srv *server.BgpServer, asn uint32, p netip.Prefix, a announcement) error {
	family := familyIPv4
	if p.Addr().Is6() {
		family = familyIPv6
	}
	var err error
	if len(a.uuid) > 0 {
		err = srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: family, Uuid: a.uuid})
	}
	if len(a.uuid) == 0 || err != nil {
		var path *api.Path
		if path, err = newPath(p, asn, a.attrs); err == nil {
			err = srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: family, Path: path})
		}
	}
	s.count("withdraw", err)
	if err == nil {
		s.log.Debug("bgp prefix withdrawn", "prefix", p.String())
	}
	return err
}

func (s *Speaker) count(action string, err error) {
	if s.metrics == nil {
		return
	}
	if err != nil {
		s.metrics.updateErrors.Inc()
		return
	}
	s.metrics.updates.WithLabelValues(action).Inc()
}

func sortedPrefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// Stop withdraws every prefix, waits (within ctx, at most a second) until
// the established neighbours were sent the withdrawal, then stops GoBGP,
// which closes every session with a NOTIFICATION (Cease). Calling it
// again, or before Start, is harmless.
func (s *Speaker) Stop(ctx context.Context) error {
	err := s.stop(ctx)
	// After opMu is released, so that a hook blocked on SetMode can finish.
	s.hookMu.Lock()
	s.hookClosed = true
	s.hookMu.Unlock()
	return err
}

func (s *Speaker) stop(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	st, cfg, srv := s.state, s.cfg, s.srv
	if st != started {
		s.state = stopped
		s.mu.Unlock()
		return nil
	}
	families := map[bool]bool{} // is IPv4 -> announced
	for p := range s.announced {
		families[p.Addr().Is4()] = true
	}
	s.mu.Unlock()

	var errs []error
	before := s.sentUpdates(ctx, srv)
	// Withdraw even when ctx is done: it takes GoBGP microseconds.
	if err := s.apply(context.WithoutCancel(ctx), cfg, ModeWithdrawn); err != nil {
		errs = append(errs, err)
	}
	s.mu.Lock()
	s.mode = ModeWithdrawn
	s.mu.Unlock()
	s.waitSent(ctx, srv, before, families)
	gobgpx.CloseSessions(ctx, srv, "edgecdn speaker stopping")

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.StopBgp(context.Background(), &api.StopBgpRequest{})
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("waiting for GoBGP to stop: %w", ctx.Err()))
	}
	if s.watchCancel != nil {
		s.watchCancel()
		s.watchCancel = nil
	}
	s.mu.Lock()
	s.state = stopped
	for _, p := range s.peers {
		p.state, p.up, p.establishedAt = "idle", false, time.Time{}
	}
	s.mu.Unlock()
	if s.metrics != nil {
		s.metrics.untrack(s)
	}
	s.log.Info("bgp speaker stopped")
	if len(errs) > 0 {
		return fmt.Errorf("bgp: stop: %w", errors.Join(errs...))
	}
	return nil
}

// sentUpdates returns the UPDATE messages sent so far to each established
// neighbour.
func (s *Speaker) sentUpdates(ctx context.Context, srv *server.BgpServer) map[string]uint64 {
	out := map[string]uint64{}
	_ = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st := p.GetState()
		if st.GetSessionState() == api.PeerState_ESTABLISHED {
			out[st.GetNeighborAddress()] = st.GetMessages().GetSent().GetUpdate()
		}
	})
	return out
}

// waitSent waits until every neighbour in before that had prefixes of its
// family withdrawn was sent another UPDATE (or went down). GoBGP's stop
// would otherwise race the queued withdrawal with the NOTIFICATION.
func (s *Speaker) waitSent(ctx context.Context, srv *server.BgpServer, before map[string]uint64, families map[bool]bool) {
	pending := func() bool {
		now := s.sentUpdates(ctx, srv)
		for addr, n := range before {
			a, err := netip.ParseAddr(addr)
			if err != nil || !families[a.Is4()] {
				continue
			}
			if m, ok := now[addr]; ok && m <= n {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(time.Second)
	for pending() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// Reload applies a new configuration: neighbours as a diff (unchanged
// sessions stay up; a changed neighbour is deleted and added again, except
// for its description), then prefixes and attributes in the current mode.
// asn, router_id and listen cannot change. A config that does not
// validate changes nothing; if GoBGP refuses a neighbour change, the
// neighbour changes made so far are undone.
func (s *Speaker) Reload(cfg Config) error {
	cfg = cloneConfig(cfg)
	cfg.SetDefaults()
	if errs := cfg.problems(); len(errs) > 0 {
		return prefixed(errs)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	st, old, srv, mode := s.state, s.cfg, s.srv, s.mode
	s.mu.Unlock()
	if st == stopped {
		return ErrStopped
	}
	var errs []error
	if cfg.ASN != old.ASN {
		errs = append(errs, errors.New("bgp.asn: cannot change on reload (restart the node)"))
	}
	if cfg.RouterID != old.RouterID {
		errs = append(errs, errors.New("bgp.router_id: cannot change on reload (restart the node)"))
	}
	if cfg.Listen != old.Listen {
		errs = append(errs, errors.New("bgp.listen: cannot change on reload (restart the node)"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if st == created {
		s.mu.Lock()
		s.cfg = cfg
		s.mu.Unlock()
		return nil
	}

	ctx := context.Background()
	if err := s.reloadNeighbors(ctx, srv, old.Neighbors, cfg.Neighbors); err != nil {
		return fmt.Errorf("bgp: reload: %w", err)
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	if err := s.apply(ctx, cfg, mode); err != nil {
		return fmt.Errorf("bgp: reload: re-applying mode %s: %w", mode, err)
	}
	s.log.Info("bgp config reloaded", "neighbors", len(cfg.Neighbors), "prefixes", len(cfg.Prefixes))
	return nil
}

// sameSession reports whether a and b configure the same session (they
// may differ in description only).
func sameSession(a, b NeighborConfig) bool {
	a.Description, b.Description = "", ""
	a.Address, b.Address = neighborKey(a.Address), neighborKey(b.Address)
	return a == b
}

func (s *Speaker) reloadNeighbors(ctx context.Context, srv *server.BgpServer, oldN, newN []NeighborConfig) error {
	oldBy := map[string]NeighborConfig{}
	for _, n := range oldN {
		oldBy[neighborKey(n.Address)] = n
	}
	newBy := map[string]NeighborConfig{}
	for _, n := range newN {
		newBy[neighborKey(n.Address)] = n
	}
	add := func(n NeighborConfig) error {
		return srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(n)})
	}
	del := func(n NeighborConfig) error {
		return srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: neighborKey(n.Address)})
	}
	var undo []func() error
	rollback := func(err error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				s.log.Error("bgp reload rollback failed", "err", uerr)
			}
		}
		s.mu.Lock()
		s.peers = rebuildPeers(s.peers, oldN)
		s.mu.Unlock()
		return err
	}
	// Status entries exist before AddPeer so that no event is lost.
	s.mu.Lock()
	s.peers = rebuildPeers(s.peers, append(slices.Clone(oldN), newN...))
	s.mu.Unlock()

	for _, n := range oldN {
		k := neighborKey(n.Address)
		if nn, ok := newBy[k]; ok && sameSession(n, nn) {
			continue
		}
		if err := del(n); err != nil {
			return rollback(fmt.Errorf("delete neighbour %s: %w", n.Address, err))
		}
		undo = append(undo, func() error { return add(n) })
		s.log.Info("bgp neighbour removed", "peer", n.Address)
	}
	for _, n := range newN {
		k := neighborKey(n.Address)
		if on, ok := oldBy[k]; ok && sameSession(on, n) {
			continue
		}
		if err := add(n); err != nil {
			return rollback(fmt.Errorf("add neighbour %s: %w", n.Address, err))
		}
		undo = append(undo, func() error { return del(n) })
		s.log.Info("bgp neighbour added", "peer", n.Address, "asn", n.ASN)
	}
	// A removed neighbour's last event: idle.
	for _, n := range oldN {
		if _, ok := newBy[neighborKey(n.Address)]; !ok {
			s.peerChanged(neighborKey(n.Address), "idle")
		}
	}
	s.mu.Lock()
	s.peers = rebuildPeers(s.peers, newN)
	s.mu.Unlock()
	return nil
}

// rebuildPeers returns status entries for ns, keeping the state of
// neighbours already known (their config is updated).
func rebuildPeers(cur map[string]*peerStatus, ns []NeighborConfig) map[string]*peerStatus {
	out := make(map[string]*peerStatus, len(ns))
	for _, n := range ns {
		k := neighborKey(n.Address)
		p := cur[k]
		if p == nil {
			p = &peerStatus{state: "idle"}
		}
		p.cfg = n
		out[k] = p
	}
	return out
}

// Ready reports whether the speaker runs and at least one session is
// established.
func (s *Speaker) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != started {
		return false
	}
	for _, p := range s.peers {
		if p.up {
			return true
		}
	}
	return false
}

// Snapshot is the speaker's state for the status API.
type Snapshot struct {
	ASN      uint32 `json:"asn"`
	RouterID string `json:"router_id"`
	Mode     string `json:"mode"`
	// Announced lists the prefixes currently handed to GoBGP for
	// announcement, in config order.
	Announced []string    `json:"announced"`
	Peers     []PeerState `json:"peers"`
}

// PeerState is one neighbour in a Snapshot.
type PeerState struct {
	Address       string    `json:"address"`
	ASN           uint32    `json:"asn"`
	Description   string    `json:"description,omitempty"`
	State         string    `json:"state"`
	Up            bool      `json:"up"`
	EstablishedAt time.Time `json:"established_at,omitzero"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// Transitions counts the times the session went down after being
	// established.
	Transitions uint64 `json:"transitions"`
	// PrefixesSent is how many prefixes GoBGP advertises on the session.
	PrefixesSent int `json:"prefixes_sent"`
}

// Snapshot returns the current state. Peers are in config order.
func (s *Speaker) Snapshot() Snapshot {
	snap, srv := s.snapshot(time.Now())
	if srv == nil {
		return snap
	}
	sent := map[string]int{}
	_ = srv.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		n := 0
		for _, af := range p.GetAfiSafis() {
			n += int(af.GetState().GetAdvertised())
		}
		sent[p.GetState().GetNeighborAddress()] = n
	})
	for i := range snap.Peers {
		if snap.Peers[i].Up {
			snap.Peers[i].PrefixesSent = sent[neighborKey(snap.Peers[i].Address)]
		}
	}
	return snap
}

// snapshot returns the state kept by the speaker itself, and the GoBGP
// server while it runs.
func (s *Speaker) snapshot(now time.Time) (Snapshot, *server.BgpServer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{
		ASN: s.cfg.ASN, RouterID: s.cfg.RouterID, Mode: s.mode.String(),
		Announced: []string{}, Peers: make([]PeerState, 0, len(s.cfg.Neighbors)),
	}
	for _, str := range s.cfg.Prefixes {
		if p, err := parsePrefix(str); err == nil {
			if _, ok := s.announced[p]; ok {
				snap.Announced = append(snap.Announced, str)
			}
		}
	}
	for _, n := range s.cfg.Neighbors {
		ps := PeerState{Address: n.Address, ASN: n.ASN, Description: n.Description, State: "idle"}
		if p := s.peers[neighborKey(n.Address)]; p != nil {
			ps.State, ps.Up, ps.Transitions = p.state, p.up, p.transitions
			if p.up {
				ps.EstablishedAt = p.establishedAt
				ps.UptimeSeconds = now.Sub(p.establishedAt).Seconds()
			}
		}
		snap.Peers = append(snap.Peers, ps)
	}
	var srv *server.BgpServer
	if s.state == started {
		srv = s.srv
	}
	return snap, srv
}

// cloneConfig copies the slices and pointers of c, so that the caller's
// later changes do not reach the speaker.
func cloneConfig(c Config) Config {
	c.Neighbors = slices.Clone(c.Neighbors)
	c.Prefixes = slices.Clone(c.Prefixes)
	cloneAttrs := func(a Attributes) Attributes {
		a.Communities = slices.Clone(a.Communities)
		a.LargeCommunities = slices.Clone(a.LargeCommunities)
		if a.MED != nil {
			a.MED = ptr(*a.MED)
		}
		if a.Prepend != nil {
			a.Prepend = ptr(*a.Prepend)
		}
		return a
	}
	c.Announce = cloneAttrs(c.Announce)
	c.Drain = cloneAttrs(c.Drain)
	if c.Degraded != nil {
		d := cloneAttrs(*c.Degraded)
		c.Degraded = &d
	}
	return c
}
