package cache

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// PurgeRequest selects stored objects to purge. Keys and Prefixes are in
// cache-key form (see AppendKey: "http://host/path?query"); Hosts are
// normalised hosts (see AppendHost). An object matching any selector is
// purged.
type PurgeRequest struct {
	// Keys purges URLs exactly: every Vary variant and every encoding.
	Keys []string
	// Prefixes purges every URL whose key starts with one of them.
	Prefixes []string
	// Tags purges objects carrying one of these surrogate keys.
	Tags []string
	// Hosts purges every object of these hosts.
	Hosts []string
	// All purges everything.
	All bool
	// Soft marks objects stale instead of removing them: they are
	// revalidated before their next use and may still be served if the
	// origin fails (stale-if-error).
	Soft bool
}

// PurgeResult reports a purge.
type PurgeResult struct {
	// Seq is the purge's sequence number: every object stored from a fetch
	// that began before it is affected, whenever that fetch completes.
	Seq uint64
	// Matched is how many stored objects were purged (entries of every
	// variant count; vary markers do not).
	Matched int
}

// Purge applies req. When it returns, no lookup returns a matching object
// as fresh (hard: not at all), including objects whose fetch was still in
// flight: ristretto's Set is asynchronous and may land later, so the
// purge leaves a marker that Put checks until every fetch that began
// before it has completed.
func (s *Store) Purge(req PurgeRequest) PurgeResult {
	state := hardPurged
	if req.Soft {
		state = softPurged
	}
	ix := &s.idx
	ix.mu.Lock()
	seq := s.seq.Add(1)
	ix.markers = append(ix.markers, marker{seq: seq, req: req})
	n := 0
	var gone []uint64 // hard-purged: to retire
	flag := func(h uint64) {
		e := s.resolve(h)
		if e == nil || e.state.Load() != stLive {
			return
		}
		if state == hardPurged {
			if e.purged.Swap(hardPurged) != hardPurged {
				if !e.IsVaryMarker() {
					n++
				}
				gone = append(gone, h)
			}
			return
		}
		if e.purged.CompareAndSwap(notPurged, softPurged) && !e.IsVaryMarker() {
			n++
		}
	}
	// Collect first: flagging hard-purged entries edits the maps.
	var victims []uint64
	chain := func(h uint64, keep func(*Entry) bool) {
		for h != 0 {
			e := s.resolve(h)
			if e == nil {
				return
			}
			if keep == nil || keep(e) {
				victims = append(victims, h)
			}
			h = e.next
		}
	}
	dir := func(dk string, keep func(*Entry) bool) {
		for _, e := range ix.byDir[dk] {
			chain(e, keep)
		}
	}
	switch {
	case req.All:
		for _, chains := range ix.byDir {
			for _, e := range chains {
				chain(e, nil)
			}
		}
	default:
		for _, h := range req.Hosts {
			for dk := range ix.hostDirs[h] {
				dir(dk, nil)
			}
		}
		for _, k := range req.Keys {
			chain(ix.byDir[dirOf(k)][keyHash(k)], func(e *Entry) bool { return e.Key() == k })
		}
		for _, p := range req.Prefixes {
			hasPrefix := func(e *Entry) bool { return strings.HasPrefix(e.Key(), p) }
			if dk, ok := prefixDir(p); ok {
				// Every key with this prefix is in its first directory.
				dir(dk, hasPrefix)
				continue
			}
			h, whole := prefixHost(p)
			for host, dirs := range ix.hostDirs {
				if whole && host != h {
					continue
				}
				for dk := range dirs {
					dir(dk, hasPrefix)
				}
			}
		}
		for _, t := range req.Tags {
			for h := range ix.byTag[t] {
				victims = append(victims, h)
			}
		}
	}
	for _, h := range victims {
		flag(h)
	}
	if len(gone) <= sweepInline {
		s.sweepLocked(gone)
		gone = nil
	}
	ix.mu.Unlock()
	if gone != nil {
		// The purge is in effect (lookups skip hard-purged entries); the
		// index and ristretto catch up in the background.
		s.sweeps.Add(1)
		go func() {
			defer s.sweeps.Done()
			ix.mu.Lock()
			s.sweepLocked(gone)
			ix.mu.Unlock()
		}()
	}
	s.met.purges.WithLabelValues(purgeKind(&req), purgeMode(req.Soft)).Inc()
	s.met.purged.Add(float64(n))
	return PurgeResult{Seq: seq, Matched: n}
}

// sweepInline is the largest hard purge whose index clean-up Purge does
// before it returns; larger ones are swept in the background, so that
// purging 100k objects returns in milliseconds.
const sweepInline = 1024

// sweepLocked retires hard-purged entries (out of the index, their memory
// back) and hands their keys to the reclaimer, which deletes them from
// ristretto.
func (s *Store) sweepLocked(gone []uint64) {
	for _, h := range gone {
		e := s.resolve(h)
		if e == nil {
			continue
		}
		key := e.fullKey()
		s.retireLocked(h)
		s.queueReclaim(key, h)
	}
}

func purgeKind(r *PurgeRequest) string {
	switch {
	case r.All:
		return "all"
	case len(r.Tags) > 0:
		return "tag"
	case len(r.Prefixes) > 0:
		return "prefix"
	case len(r.Hosts) > 0:
		return "host"
	}
	return "url"
}

func purgeMode(soft bool) string {
	if soft {
		return "soft"
	}
	return "hard"
}

func keyHost(k string) string {
	h, _ := prefixHost(k)
	return h
}

// dirOf returns a key's first directory: "http://host/a/" for
// "http://host/a/b?q", "http://host/" for "http://host/x?q=/y" (a "/" in
// the query does not count).
func dirOf(k string) string {
	d, ok := prefixDir(k)
	if !ok {
		if i := strings.Index(k, "://"); i >= 0 {
			if j := strings.IndexByte(k[i+3:], '/'); j >= 0 {
				return k[:i+3+j+1]
			}
		}
		return k
	}
	return d
}

// prefixDir returns the first directory of a key prefix, if the prefix
// names one in full ("http://host/a/…"): every key starting with the
// prefix is then in that directory.
func prefixDir(p string) (string, bool) {
	i := strings.Index(p, "://")
	if i < 0 {
		return "", false
	}
	start := i + 3
	j := strings.IndexByte(p[start:], '/')
	if j < 0 {
		return "", false
	}
	path := start + j + 1 // after the path's leading "/"
	for k := path; k < len(p); k++ {
		switch p[k] {
		case '?':
			return "", false
		case '/':
			return p[:k+1], true
		}
	}
	return "", false
}

// prefixHost returns the host of a key or key prefix and whether the
// prefix holds the whole host (a "/" follows it).
func prefixHost(p string) (string, bool) {
	i := strings.Index(p, "://")
	if i < 0 {
		return "", false
	}
	rest := p[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		return rest[:j], true
	}
	return rest, false
}

// index maps hosts, keys and tags to stored entries, for purges.
//
// Its per-entry maps hold one handle per entry, keyed by a hash of the
// key rather than by the key string: nothing in them points into the
// arena, so the garbage collector has nothing per entry to follow.
type index struct {
	mu sync.Mutex
	// byDir: first directory (see dirOf) → key hash → the handles of the
	// entries whose key has that hash, linked by Entry.next (the Vary
	// variants of one key; in the astronomically rare collision, other
	// keys too, so every walk checks Key).
	byDir map[string]map[uint64]uint64
	// hostDirs: host → the directories of byDir under it.
	hostDirs map[string]map[string]struct{}
	byTag    map[string]map[uint64]struct{} // tag → handles
	markers  []marker

	objects, bytes atomic.Int64
}

// indexSeed seeds the index's key hashes (per process).
var indexSeed = maphash.MakeSeed()

func keyHash(k string) uint64 { return maphash.String(indexSeed, k) }

type marker struct {
	seq uint64
	req PurgeRequest
}

func (ix *index) init() {
	ix.byDir = make(map[string]map[uint64]uint64)
	ix.hostDirs = make(map[string]map[string]struct{})
	ix.byTag = make(map[string]map[uint64]struct{})
}

// add indexes e unless a purge newer than e's fill matches it (a soft one
// marks it stale instead). It returns false for a hard match.
func (ix *index) add(s *Store, e *Entry) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range ix.markers {
		m := &ix.markers[i]
		if m.seq <= e.seq || !m.matches(e) {
			continue
		}
		if !m.req.Soft {
			e.purged.Store(hardPurged)
			return false
		}
		e.purged.CompareAndSwap(notPurged, softPurged)
	}
	key := e.Key()
	dk := dirOf(key)
	chains := ix.byDir[dk]
	if chains == nil {
		dk = strings.Clone(dk) // not a pointer into the arena: it outlives the entry
		chains = make(map[uint64]uint64)
		ix.byDir[dk] = chains
		host := strings.Clone(e.host())
		dirs := ix.hostDirs[host]
		if dirs == nil {
			dirs = make(map[string]struct{})
			ix.hostDirs[host] = dirs
		}
		dirs[dk] = struct{}{}
	}
	h := keyHash(key)
	e.next = chains[h]
	chains[h] = e.handle
	for _, t := range e.Tags() {
		set := ix.byTag[t]
		if set == nil {
			set = make(map[uint64]struct{})
			ix.byTag[strings.Clone(t)] = set
		}
		set[e.handle] = struct{}{}
	}
	ix.objects.Add(1)
	ix.bytes.Add(e.cost)
	return true
}

func (ix *index) removeLocked(s *Store, e *Entry) {
	key := e.Key()
	dk := dirOf(key)
	chains := ix.byDir[dk]
	h := keyHash(key)
	head := chains[h]
	switch {
	case head == e.handle:
		if e.next != 0 {
			chains[h] = e.next
			break
		}
		delete(chains, h)
		if len(chains) == 0 {
			delete(ix.byDir, dk)
			host := e.host()
			if dirs := ix.hostDirs[host]; dirs != nil {
				delete(dirs, dk)
				if len(dirs) == 0 {
					delete(ix.hostDirs, host)
				}
			}
		}
	default:
		prev := s.resolve(head)
		for prev != nil && prev.next != e.handle {
			prev = s.resolve(prev.next)
		}
		if prev == nil {
			return // not indexed
		}
		prev.next = e.next
	}
	e.next = 0
	for _, t := range e.Tags() {
		if set := ix.byTag[t]; set != nil {
			delete(set, e.handle)
			if len(set) == 0 {
				delete(ix.byTag, t)
			}
		}
	}
	ix.objects.Add(-1)
	ix.bytes.Add(-e.cost)
}

func (m *marker) matches(e *Entry) bool {
	r := &m.req
	key := e.Key()
	if r.All || slices.Contains(r.Hosts, e.host()) || slices.Contains(r.Keys, key) {
		return true
	}
	for _, p := range r.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	for _, t := range r.Tags {
		if e.hasTag(t) {
			return true
		}
	}
	return false
}

// pruneMarkers drops markers that no fill in flight predates: with
// inflight false there is none at all; else minSeq is the oldest fill's
// sequence and markers newer than it stay.
func (ix *index) pruneMarkers(minSeq uint64, inflight bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !inflight {
		ix.markers = nil
		return
	}
	ix.markers = slices.DeleteFunc(ix.markers, func(m marker) bool { return m.seq <= minSeq })
}

// Markers returns how many purge markers are pending (tests, status).
func (s *Store) Markers() int {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return len(s.idx.markers)
}
