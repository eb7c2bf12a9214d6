package geodata

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"reflect"
	"slices"
)

// Rules, as reported in Result.Rule: which step of the mapping decided.
const (
	RuleCoverage    = "coverage"    // the longest matching coverage_file prefix
	RuleSubdivision = "subdivision" // the record's first subdivision
	RuleCountry     = "country"     // the record's country
	RuleContinent   = "continent"   // the record's continent
	RuleNearest     = "nearest"     // the site nearest the record's coordinates
	RuleDefault     = "default"     // no usable location: default_region
)

// state is everything Locate needs, built once per (re)load and never
// changed afterwards: Geo swaps whole states.
type state struct {
	cfg      Config
	db       *DB
	dbStamp  stamp
	covStamp stamp

	cov      [2]covTrie // IPv4, IPv6
	coverage []Coverage
	names    []string
	sites    [][2]float64 // latitude, longitude of each region
	byCont   map[string]uint16
	byCC     map[string]uint16
	bySub    map[string]uint16
	def      uint16

	// summary[n] is the one region of every address under search-tree
	// node n as far as the database is concerned (coverage aside), or
	// sumMixed. It lets Locate widen a scope past the record's own network
	// to every neighbouring network with the same answer.
	summary  []uint16
	fallback map[string][]string
	cache    *resultCache
	t4       *table4 // IPv4 region and scope per /24 block; nil: none
}

// Summary values beyond region indexes.
const (
	sumUnknown = 0xFFFF // not computed (unreachable node)
	sumMixed   = 0xFFFE // regions differ below
	sumBusy    = 0xFFFD // being computed (seeing it again means a cycle)
)

// stamp identifies one version of a file: what the watcher compares.
type stamp struct {
	fi  os.FileInfo
	err string // the stat error: a missing file is a version too
}

func statFile(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{err: err.Error()}
	}
	return stamp{fi: fi}
}

// same reports whether two stamps describe the same file version: same
// file (device and inode), size and modification time.
func (s stamp) same(o stamp) bool {
	if s.fi == nil || o.fi == nil {
		return s.fi == nil && o.fi == nil && s.err == o.err
	}
	return os.SameFile(s.fi, o.fi) && s.fi.Size() == o.fi.Size() && s.fi.ModTime().Equal(o.fi.ModTime())
}

// openStamped reads a file and the stamp of exactly the version read.
func openStamped(path string) ([]byte, stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, statFile(path), err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, stamp{err: err.Error()}, err
	}
	b, err := readFile(f, fi.Size())
	return b, stamp{fi: fi}, err
}

// buildState opens what cfg names and prepares the lookup structures. prev
// (may be nil) lends its database when the same file is unchanged, and its
// summary when the regions are the same too. bytesDB is the
// WithDatabaseBytes database, used when cfg.Database is "".
func buildState(cfg Config, prev *state, bytesDB *DB) (*state, error) {
	s := &state{cfg: cfg}
	switch {
	case cfg.Database == "" && bytesDB == nil:
		return nil, errors.New("geodata: database: required (a path, or WithDatabaseBytes)")
	case cfg.Database == "":
		s.db = bytesDB
	case prev != nil && prev.cfg.Database == cfg.Database && prev.dbStamp.same(statFile(cfg.Database)):
		s.db, s.dbStamp = prev.db, prev.dbStamp
	default:
		b, st, err := openStamped(cfg.Database)
		if err != nil {
			return nil, fmt.Errorf("geodata: database: %w", err)
		}
		s.db, err = FromBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, cfg.Database)
		}
		s.dbStamp = st
	}

	s.names = make([]string, len(cfg.Regions))
	s.sites = make([][2]float64, len(cfg.Regions))
	s.byCont, s.byCC, s.bySub = map[string]uint16{}, map[string]uint16{}, map[string]uint16{}
	index := map[string]uint16{}
	for i, r := range cfg.Regions {
		ri := uint16(i)
		s.names[i], s.sites[i], index[r.Name] = r.Name, [2]float64{r.Latitude, r.Longitude}, ri
		for _, k := range r.Continents {
			s.byCont[k] = ri
		}
		for _, k := range r.Countries {
			s.byCC[k] = ri
		}
		for _, k := range r.Subdivisions {
			s.bySub[k] = ri
		}
	}
	s.def = index[cfg.DefaultRegion]

	if cfg.CoverageFile != "" {
		b, st, err := openStamped(cfg.CoverageFile)
		if err != nil {
			return nil, fmt.Errorf("geodata: coverage_file: %w", err)
		}
		s.covStamp = st
		s.coverage, err = ParseCoverage(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("geodata: coverage_file %s: %w", cfg.CoverageFile, err)
		}
	}
	s.cov[0].bits, s.cov[1].bits = 32, 128
	var errs []error
	for _, c := range s.coverage {
		ri, ok := index[c.Region]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: region %q is not configured", c.Prefix, c.Region))
			continue
		}
		fam := 1
		if c.Prefix.Addr().Is4() {
			fam = 0
		}
		s.cov[fam].insert(c.Prefix, int32(ri))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("geodata: coverage_file %s: %w", cfg.CoverageFile, errors.Join(errs...))
	}
	for i := range s.cov {
		if len(s.cov[i].nodes) > 0 {
			s.cov[i].summarize(0)
		}
	}

	if prev != nil && prev.db == s.db && sameMapping(prev.cfg, cfg) {
		s.summary = prev.summary
	} else if err := s.summarize(); err != nil {
		if cfg.Database != "" {
			err = fmt.Errorf("%w (%s)", err, cfg.Database)
		}
		return nil, err
	}

	s.fallback = make(map[string][]string, len(s.names))
	for i, n := range s.names {
		s.fallback[n] = s.byDistance(s.sites[i][0], s.sites[i][1], i)
	}
	s.cache = newResultCache(cfg.CacheEntries)
	if prev != nil && prev.db == s.db && sameMapping(prev.cfg, cfg) && reflect.DeepEqual(prev.coverage, s.coverage) {
		s.t4 = prev.t4
	} else {
		s.t4 = s.buildTable4()
	}
	return s, nil
}

// sameMapping reports whether two configs map records to regions alike.
func sameMapping(a, b Config) bool {
	return a.DefaultRegion == b.DefaultRegion && reflect.DeepEqual(a.Regions, b.Regions)
}

// decide maps a database location to a region (coverage aside).
func (s *state) decide(loc *Location) (uint16, string) {
	if !loc.Found {
		return s.def, RuleDefault
	}
	if loc.Subdivision != "" {
		if r, ok := s.bySub[loc.Subdivision]; ok {
			return r, RuleSubdivision
		}
	}
	if loc.Country != "" {
		if r, ok := s.byCC[loc.Country]; ok {
			return r, RuleCountry
		}
	}
	if loc.Continent != "" {
		if r, ok := s.byCont[loc.Continent]; ok {
			return r, RuleContinent
		}
	}
	if loc.HasCoordinates {
		return s.nearest(loc.Latitude, loc.Longitude), RuleNearest
	}
	return s.def, RuleDefault
}

// nearest is the region whose site is nearest to lat, lon; the first in
// config order on a tie.
func (s *state) nearest(lat, lon float64) uint16 {
	best, bestD := 0, math.Inf(1)
	for i, site := range s.sites {
		if d := distKm(lat, lon, site[0], site[1]); d < bestD {
			best, bestD = i, d
		}
	}
	return uint16(best)
}

// byDistance lists the regions other than skip by distance from lat, lon,
// nearest first, config order on ties.
func (s *state) byDistance(lat, lon float64, skip int) []string {
	type rd struct {
		i int
		d float64
	}
	var v []rd
	for i, site := range s.sites {
		if i != skip {
			v = append(v, rd{i, distKm(lat, lon, site[0], site[1])})
		}
	}
	slices.SortStableFunc(v, func(a, b rd) int {
		switch {
		case a.d < b.d:
			return -1
		case a.d > b.d:
			return 1
		}
		return 0
	})
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = s.names[x.i]
	}
	return out
}

// distKm is the great-circle (haversine) distance in km.
func distKm(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadius = 6371.0
	const rad = math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}

// summarize computes summary for every node of the search tree, decoding
// each record once. It also proves the tree sound: every pointer in range,
// no cycle, no path longer than an address, every record decodable. So
// Locate cannot meet a corrupt part of the database later.
func (s *state) summarize() error {
	d := s.db
	sm := summarizer{s: s, d: d, sum: make([]uint16, d.nodeCount), height: make([]uint8, d.nodeCount), memo: map[uint32]uint16{}}
	for i := range sm.sum {
		sm.sum[i] = sumUnknown
	}
	depth := 32
	if d.ipv6 {
		depth = 128
	}
	if _, _, err := sm.node(0, 0, depth); err != nil {
		return err
	}
	s.summary = sm.sum
	return nil
}

type summarizer struct {
	s   *state
	d   *DB
	sum []uint16
	// height[n] is the longest path below node n, in bits: a node reached
	// again at another depth must still end within an address.
	height []uint8
	memo   map[uint32]uint16 // data offset → region
	loc    Location
}

// node returns the summary and height of node n, reached at depth.
func (sm *summarizer) node(n uint32, depth, maxDepth int) (uint16, int, error) {
	switch v := sm.sum[n]; v {
	case sumBusy:
		return 0, 0, fmt.Errorf("%w: search tree has a cycle at node %d", ErrCorrupt, n)
	case sumUnknown:
	default:
		h := int(sm.height[n])
		if depth+h > maxDepth {
			return 0, 0, fmt.Errorf("%w: search tree deeper than %d bits at node %d", ErrCorrupt, maxDepth, n)
		}
		return v, h, nil
	}
	if depth >= maxDepth {
		return 0, 0, fmt.Errorf("%w: search tree deeper than %d bits at node %d", ErrCorrupt, maxDepth, n)
	}
	sm.sum[n] = sumBusy
	l, hl, err := sm.value(sm.d.child(n, 0), depth+1, maxDepth)
	if err != nil {
		return 0, 0, err
	}
	r, hr, err := sm.value(sm.d.child(n, 1), depth+1, maxDepth)
	if err != nil {
		return 0, 0, err
	}
	if l != r {
		l = sumMixed
	}
	h := 1 + max(hl, hr)
	sm.sum[n], sm.height[n] = l, uint8(h)
	return l, h, nil
}

// value returns the summary and height of record value v.
func (sm *summarizer) value(v uint32, depth, maxDepth int) (uint16, int, error) {
	d := sm.d
	if v < d.nodeCount {
		return sm.node(v, depth, maxDepth)
	}
	if v == d.nodeCount {
		return sm.s.def, 0, nil
	}
	off, err := d.dataOffset(v)
	if err != nil {
		return 0, 0, err
	}
	if r, ok := sm.memo[off]; ok {
		return r, 0, nil
	}
	sm.loc = Location{}
	if err := d.decodeAt(off, &sm.loc); err != nil {
		return 0, 0, err
	}
	r, _ := sm.s.decide(&sm.loc)
	sm.memo[off] = r
	return r, 0, nil
}

// locate answers for a (valid, IPv4 or IPv6, no zone). It returns the
// result, the prefix within which every address gets exactly the same
// result (for the cache), and whether the lookup failed.
func (s *state) locate(a netip.Addr) (res Result, exact netip.Prefix, failed bool) {
	var path [128]uint32
	size, fam := 128, 1
	if a.Is4() {
		size, fam = 32, 0
	}
	val, depth, err := s.db.walk(a, &path)
	if err == nil {
		res.Location.Network = netip.PrefixFrom(a, depth).Masked()
		err = s.db.record(val, &res.Location)
	}
	if err != nil {
		// Unreachable after summarize proved the tree sound; answer for
		// this address alone.
		host := netip.PrefixFrom(a, size)
		res = Result{Region: s.names[s.def], Scope: host, Rule: RuleDefault}
		res.Location.Network = host
		return res, host, true
	}
	hi, lo := addrBits(a)
	t := &s.cov[fam]
	if cr, node, bits := t.match(hi, lo); cr >= 0 {
		scope, ex := t.scope(hi, lo, node, bits, cr, true)
		res.Region, res.Rule = s.names[cr], RuleCoverage
		res.Scope = netip.PrefixFrom(a, scope).Masked()
		return res, netip.PrefixFrom(a, max(depth, ex)).Masked(), false
	}
	r, rule := s.decide(&res.Location)
	// The widest prefix on the path whose whole subtree maps to r.
	wide := depth
	for i := range depth {
		if s.summary[path[i]] == r {
			wide = i
			break
		}
	}
	scope, ex := t.scope(hi, lo, t.root(), 0, int32(r), false)
	res.Region, res.Rule = s.names[r], rule
	res.Scope = netip.PrefixFrom(a, max(wide, scope)).Masked()
	return res, netip.PrefixFrom(a, max(depth, ex)).Masked(), false
}
