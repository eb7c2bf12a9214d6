package geodata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Location is what the database says about an address.
type Location struct {
	Continent   string // continent code, e.g. "EU"
	Country     string // ISO 3166-1 alpha-2, e.g. "DE"
	Subdivision string // first subdivision as "CC-XX", e.g. "US-CA" ("" if none)
	// Latitude and Longitude are the record's coordinates in degrees; valid
	// only when HasCoordinates.
	Latitude, Longitude float64
	HasCoordinates      bool   // false: the record has no location (NOT 0,0)
	AccuracyRadius      uint16 // km
	// Network is the database network that matched: the record's network,
	// or for an address not in the database the empty subtree around it.
	// IPv4 addresses get IPv4 networks.
	Network netip.Prefix
	Found   bool // the address has a record
}

// Errors a DB returns.
var (
	// ErrUnsupported: the file is a MaxMind DB, but not of the City or
	// Country schema (an ASN or ISP database, say).
	ErrUnsupported = errors.New("geodata: not a City or Country database")
	// ErrCorrupt: the search tree or a record is malformed.
	ErrCorrupt = errors.New("geodata: corrupt database")
	// ErrClosed: the DB was closed.
	ErrClosed = errors.New("geodata: database closed")
)

// DB is one opened database of the City or Country schema (GeoIP2,
// GeoLite2, DB-IP and compatible). The whole file is held in memory, so the
// file may be replaced or rewritten while the DB is in use.
//
// Lookups walk the search tree themselves and decode only the fields of
// Location from the record, without allocating; they are safe for
// concurrent use. Close must not run concurrently with them.
type DB struct {
	meta       maxminddb.Metadata
	tree       []byte // the search tree
	nodeCount  uint32
	recordSize uint32 // 24, 28 or 32
	ipv6       bool   // an IPv6 tree (IPv4 lives under ::/96)
	v4Start    uint32 // where IPv4 lookups start: a node, or a record value
	dataLen    uint32 // size of the data section
	dec        *mmdbdata.Decoder
	subs       internTable
	closed     atomic.Bool
}

// metadataMarker precedes the metadata section at the end of the file.
var metadataMarker = []byte("\xAB\xCD\xEFMaxMind.com")

// Open reads the database file at path into memory and opens it.
func Open(path string) (*DB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geodata: %w", err)
	}
	d, err := FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return d, nil
}

// readFile reads an open file whose size is known.
func readFile(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, 0, size+1)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// FromBytes opens a database held in b. The DB keeps b: do not modify it
// afterwards.
func FromBytes(b []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geodata: %w", err)
	}
	m := r.Metadata
	if !supportedType(m.DatabaseType) {
		return nil, fmt.Errorf("%w: database_type %q", ErrUnsupported, m.DatabaseType)
	}
	if m.IPVersion != 4 && m.IPVersion != 6 {
		return nil, fmt.Errorf("%w: ip_version %d", ErrCorrupt, m.IPVersion)
	}
	if m.RecordSize != 24 && m.RecordSize != 28 && m.RecordSize != 32 {
		return nil, fmt.Errorf("%w: record_size %d", ErrCorrupt, m.RecordSize)
	}
	metaStart := bytes.LastIndex(b, metadataMarker)
	treeSize := uint64(m.NodeCount) * uint64(m.RecordSize) / 4
	if m.NodeCount == 0 || uint64(m.NodeCount) >= 1<<32-32 || metaStart < 0 || treeSize+16 > uint64(metaStart) {
		return nil, fmt.Errorf("%w: node_count %d does not fit the file", ErrCorrupt, m.NodeCount)
	}
	data := b[treeSize+16 : metaStart]
	if uint64(len(data)) >= 1<<32 {
		return nil, fmt.Errorf("%w: data section too large", ErrCorrupt)
	}
	d := &DB{
		meta:       m,
		tree:       b[:treeSize],
		nodeCount:  uint32(m.NodeCount),
		recordSize: uint32(m.RecordSize),
		ipv6:       m.IPVersion == 6,
		dataLen:    uint32(len(data)),
		dec:        mmdbdata.NewDecoder(data, 0, mmdbdata.WithStringCache()),
	}
	d.subs.init()
	if d.ipv6 {
		// IPv4 addresses are looked up under ::/96; aliases such as
		// ::ffff:0:0/96 point at the same subtree.
		n := uint32(0)
		for i := 0; i < 96 && n < d.nodeCount; i++ {
			n = d.child(n, 0)
		}
		d.v4Start = n
	}
	return d, nil
}

// supportedType reports whether a database_type has the City or Country
// record layout (continent, country, subdivisions, location).
func supportedType(t string) bool {
	return strings.Contains(t, "City") || strings.Contains(t, "Country") || strings.Contains(t, "Enterprise")
}

// Type is the database_type from the metadata, e.g. "GeoLite2-City".
func (d *DB) Type() string { return d.meta.DatabaseType }

// BuildTime is when the database was built (metadata build_epoch), UTC.
func (d *DB) BuildTime() time.Time { return d.meta.BuildTime().UTC() }

// Close marks the DB closed: later lookups fail with ErrClosed. The memory
// is released when the DB is no longer referenced.
func (d *DB) Close() error {
	d.closed.Store(true)
	return nil
}

// Lookup returns what the database says about a. A 4in6 address
// (::ffff:a.b.c.d) is looked up as IPv4, and a zone is ignored. An IPv6
// address in an IPv4-only database is not found, in network ::/0.
func (d *DB) Lookup(a netip.Addr) (Location, error) {
	if d.closed.Load() {
		return Location{}, ErrClosed
	}
	if !a.IsValid() {
		return Location{}, errors.New("geodata: lookup of an invalid address")
	}
	a = a.Unmap().WithZone("")
	var loc Location
	val, bits, err := d.walk(a, nil)
	if err != nil {
		return loc, err
	}
	loc.Network = netip.PrefixFrom(a, bits).Masked()
	err = d.record(val, &loc)
	return loc, err
}

// child reads record bit (0 left, 1 right) of node n. n must be below
// nodeCount, which keeps the read inside the tree.
func (d *DB) child(n, bit uint32) uint32 {
	t := d.tree
	switch d.recordSize {
	case 24:
		o := uint64(n)*6 + uint64(bit)*3
		return uint32(t[o])<<16 | uint32(t[o+1])<<8 | uint32(t[o+2])
	case 28:
		o := uint64(n) * 7
		if bit == 0 {
			return (uint32(t[o+3])&0xF0)<<20 | uint32(t[o])<<16 | uint32(t[o+1])<<8 | uint32(t[o+2])
		}
		return (uint32(t[o+3])&0x0F)<<24 | uint32(t[o+4])<<16 | uint32(t[o+5])<<8 | uint32(t[o+6])
	default:
		o := uint64(n)*8 + uint64(bit)*4
		return binary.BigEndian.Uint32(t[o:])
	}
}

// walk follows a (IPv4 or IPv6, not 4in6) down the search tree. It returns
// the record value where the walk left the tree (nodeCount: no data;
// above: a data pointer) and how many bits of a it consumed: the length of
// the network sharing that value. With path set, path[i] receives the node
// visited at depth i (the node whose subtree is a's /i).
func (d *DB) walk(a netip.Addr, path *[128]uint32) (val uint32, bits int, err error) {
	var hi, lo uint64
	var n uint32
	size := 128
	if a.Is4() {
		v := a.As4()
		hi = uint64(binary.BigEndian.Uint32(v[:])) << 32
		size = 32
		if d.ipv6 {
			n = d.v4Start
		}
	} else {
		if !d.ipv6 {
			return d.nodeCount, 0, nil
		}
		v := a.As16()
		hi, lo = binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
	}
	if n >= d.nodeCount {
		return n, 0, nil
	}
	for i := 0; i < size; i++ {
		if path != nil {
			path[i] = n
		}
		n = d.child(n, uint32(hi>>63))
		hi = hi<<1 | lo>>63
		lo <<= 1
		if n >= d.nodeCount {
			return n, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: search tree deeper than the address", ErrCorrupt)
}

// dataOffset turns a record value above nodeCount into an offset in the
// data section.
func (d *DB) dataOffset(val uint32) (uint32, error) {
	off := uint64(val) - uint64(d.nodeCount) - 16
	if uint64(val) < uint64(d.nodeCount)+16 || off >= uint64(d.dataLen) {
		return 0, fmt.Errorf("%w: record pointer %d outside the data section", ErrCorrupt, val)
	}
	return uint32(off), nil
}

// record fills loc from the record value val (leaving Network alone).
// nodeCount means no data: loc is not Found.
func (d *DB) record(val uint32, loc *Location) error {
	if val == d.nodeCount {
		return nil
	}
	off, err := d.dataOffset(val)
	if err != nil {
		return err
	}
	return d.decodeAt(off, loc)
}

// decodeAt decodes the record at data offset off into loc.
func (d *DB) decodeAt(off uint32, loc *Location) error {
	var r rawRecord
	if err := r.decode(d.dec.CursorAt(uint(off))); err != nil {
		return fmt.Errorf("%w: record at data offset %d: %w", ErrCorrupt, off, err)
	}
	loc.Found = true
	loc.Continent, loc.Country = r.continent, r.country
	if r.sub != "" && r.country != "" {
		loc.Subdivision = d.subs.join(r.country, r.sub)
	}
	if r.hasLat && r.hasLon {
		loc.Latitude, loc.Longitude, loc.HasCoordinates = r.lat, r.lon, true
	}
	loc.AccuracyRadius = r.radius
	return nil
}

// rawRecord is the part of a City or Country record that geodata uses.
type rawRecord struct {
	continent, country, sub string
	lat, lon                float64
	hasLat, hasLon          bool
	radius                  uint16
}

// maxCode bounds the codes read from a record.
const maxCode = 16

// decode reads the top-level record map, skipping every other field
// (names, city, postal, traits, ...) without decoding it, and stopping
// once it has what it needs.
func (r *rawRecord) decode(c mmdbdata.Cursor) error {
	m, err := c.MapReader()
	if err != nil {
		return err
	}
	const all = 1<<4 - 1
	seen := 0
	next := m.First()
	for range m.Len() {
		key, v, err := next.ReadMapKey()
		if err != nil {
			return err
		}
		switch string(key) {
		case "continent":
			seen |= 1
			r.continent, next, err = readCode(v, "code")
		case "country":
			seen |= 2
			r.country, next, err = readCode(v, "iso_code")
		case "subdivisions":
			seen |= 4
			next, err = r.decodeSubdivisions(v)
		case "location":
			seen |= 8
			next, err = r.decodeLocation(v)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if seen == all {
			return nil
		}
	}
	_, err = m.End(next)
	return err
}

// readCode returns field name (a string) of the map at c, and c's
// successor. Records share these maps through pointers, which Skip steps
// over at once, so the map itself is read only up to the field.
func readCode(c mmdbdata.Cursor, name string) (string, mmdbdata.Cursor, error) {
	next, err := c.Skip()
	if err != nil {
		return "", next, err
	}
	s, err := findCode(c, name)
	return s, next, err
}

// findCode returns field name of the map at c, reading no further.
func findCode(c mmdbdata.Cursor, name string) (string, error) {
	m, err := c.MapReader()
	if err != nil {
		return "", err
	}
	cur := m.First()
	for range m.Len() {
		key, v, err := cur.ReadMapKey()
		if err != nil {
			return "", err
		}
		if string(key) == name {
			s, _, err := v.ReadStringMaxSize(maxCode)
			return s, err
		}
		if cur, err = v.Skip(); err != nil {
			return "", err
		}
	}
	return "", nil
}

// decodeSubdivisions reads the iso_code of the first subdivision.
func (r *rawRecord) decodeSubdivisions(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	next, err := c.Skip()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	s, err := c.Slice()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	if _, first, ok := s.Next(mmdbdata.Cursor{}); ok {
		if r.sub, err = findCode(first, "iso_code"); err != nil {
			return mmdbdata.Cursor{}, err
		}
	} else if err := s.Err(); err != nil {
		return mmdbdata.Cursor{}, err
	}
	return next, nil
}

// decodeLocation reads latitude, longitude and accuracy_radius.
func (r *rawRecord) decodeLocation(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.MapReader()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	next := m.First()
	for range m.Len() {
		key, v, err := next.ReadMapKey()
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		switch string(key) {
		case "latitude":
			r.lat, next, err = v.ReadFloat()
			r.hasLat = err == nil
		case "longitude":
			r.lon, next, err = v.ReadFloat()
			r.hasLon = err == nil
		case "accuracy_radius":
			var u uint64
			u, next, err = v.ReadUint()
			r.radius = uint16(min(u, 0xFFFF))
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End(next)
}

// internTable turns (country, subdivision) pairs into "CC-XX" strings
// without allocating once a pair has been seen. It is a lossy,
// direct-mapped table of immutable entries: a collision only costs a new
// string.
type internTable struct {
	slots []atomic.Pointer[internEntry]
}

type internEntry struct {
	key uint64
	s   string
}

const internBits = 12

func (t *internTable) init() { t.slots = make([]atomic.Pointer[internEntry], 1<<internBits) }

func (t *internTable) join(cc, sub string) string {
	n := len(cc) + 1 + len(sub)
	if n > 7 {
		return cc + "-" + sub
	}
	key := uint64(n) // the length keeps keys of different lengths apart
	for i := 0; i < len(cc); i++ {
		key = key<<8 | uint64(cc[i])
	}
	key = key<<8 | '-'
	for i := 0; i < len(sub); i++ {
		key = key<<8 | uint64(sub[i])
	}
	slot := &t.slots[(key*0x9E3779B97F4A7C15)>>(64-internBits)]
	if e := slot.Load(); e != nil && e.key == key {
		return e.s
	}
	e := &internEntry{key: key, s: cc + "-" + sub}
	slot.Store(e)
	return e.s
}
