// Package geodatatest writes small MaxMind-format databases of the GeoIP2
// City schema, for tests and for the demo node: [Build] returns the bytes
// of a database holding the given networks, [WriteFile] and [ReplaceFile]
// put one on disk, and [Demo] is a small world for the demo node.
//
// The databases are IPv6 trees with the IPv4 space aliased the usual way
// (::ffff:0:0/96, 2001::/32, 2002::/16 lead to the IPv4 subtree), so IPv4
// lookups work; database_type is "GeoLite2-City", so geoip2-golang reads
// them with City(). Reserved networks (documentation prefixes, loopback,
// private space) may be inserted. Only the fields geodata uses are
// written: continent.code, country.iso_code, subdivisions[0].iso_code and
// location.latitude/longitude/accuracy_radius.
//
// The package does not import geodata (so geodata's own tests can use
// it) and Build does not depend on package testing.
package geodatatest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Net is one network of a test database and its record.
type Net struct {
	// Prefix is the network. IPv4 prefixes go to the IPv4 subtree; an
	// IPv4-mapped IPv6 prefix is taken as IPv4.
	Prefix netip.Prefix
	// Continent ("EU"), Country ("DE") and Subdivision ("US-CA": written
	// as subdivisions[0].iso_code "CA" under country "US") are each left
	// out of the record when "". A Subdivision implies its country.
	Continent, Country, Subdivision string
	// Latitude and Longitude are written unless NoCoordinates (so the
	// zero Net is at 0,0, in the Gulf of Guinea).
	Latitude, Longitude float64
	NoCoordinates       bool
	// AccuracyRadius in km is written when not 0.
	AccuracyRadius uint16
}

// BuildEpoch is the build time written into every database, so that Build
// is deterministic.
var BuildEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DatabaseType is the database_type written into every database.
const DatabaseType = "GeoLite2-City"

// Build returns a City-schema database holding nets. Networks are inserted
// from the shortest prefix to the longest, so a more specific Net
// overrides the part of a wider one it covers, whatever the order of
// nets. The same prefix twice is an error.
func Build(nets []Net) ([]byte, error) { return BuildWith(Options{}, nets) }

// Options vary the database BuildWith writes, for tests of readers.
type Options struct {
	// DatabaseType defaults to DatabaseType ("GeoLite2-City").
	DatabaseType string
	// IPVersion is 6 (default: an IPv6 tree with the IPv4 aliases) or 4
	// (IPv4 only).
	IPVersion int
	// RecordSize is 24, 28 (default) or 32 bits.
	RecordSize int
}

// BuildWith is Build with other metadata or tree layout.
func BuildWith(o Options, nets []Net) ([]byte, error) {
	if o.DatabaseType == "" {
		o.DatabaseType = DatabaseType
	}
	if o.IPVersion == 0 {
		o.IPVersion = 6
	}
	if o.RecordSize == 0 {
		o.RecordSize = 28
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		BuildEpoch:              BuildEpoch.Unix(),
		DatabaseType:            o.DatabaseType,
		Description:             map[string]string{"en": "edgecdn geodatatest synthetic City database"},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true,
		IPVersion:               o.IPVersion,
		RecordSize:              o.RecordSize,
	})
	if err != nil {
		return nil, fmt.Errorf("geodatatest: %w", err)
	}
	sorted := slices.Clone(nets)
	for i := range sorted {
		p := sorted[i].Prefix
		if !p.IsValid() {
			return nil, fmt.Errorf("geodatatest: nets[%d]: invalid prefix", i)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		sorted[i].Prefix = p.Masked()
	}
	slices.SortStableFunc(sorted, func(a, b Net) int { return cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()) })
	seen := map[netip.Prefix]bool{}
	for _, n := range sorted {
		if seen[n.Prefix] {
			return nil, fmt.Errorf("geodatatest: %s listed twice", n.Prefix)
		}
		seen[n.Prefix] = true
		rec, err := record(n)
		if err != nil {
			return nil, fmt.Errorf("geodatatest: %s: %w", n.Prefix, err)
		}
		ipnet := &net.IPNet{IP: n.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(n.Prefix.Bits(), n.Prefix.Addr().BitLen())}
		if err := tree.Insert(ipnet, rec); err != nil {
			return nil, fmt.Errorf("geodatatest: insert %s: %w", n.Prefix, err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("geodatatest: write: %w", err)
	}
	return b.Bytes(), nil
}

func isCode(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// record builds the City-schema record of n.
func record(n Net) (mmdbtype.Map, error) {
	m := mmdbtype.Map{}
	if n.Continent != "" {
		if !isCode(n.Continent, 2) {
			return nil, fmt.Errorf("continent %q: want two upper-case letters", n.Continent)
		}
		m["continent"] = mmdbtype.Map{"code": mmdbtype.String(n.Continent)}
	}
	cc := n.Country
	if n.Subdivision != "" {
		sc, sub, ok := strings.Cut(n.Subdivision, "-")
		if !ok || !isCode(sc, 2) || sub == "" {
			return nil, fmt.Errorf("subdivision %q: want CC-XX", n.Subdivision)
		}
		if cc == "" {
			cc = sc
		} else if cc != sc {
			return nil, fmt.Errorf("subdivision %q is not in country %q", n.Subdivision, cc)
		}
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(sub)}}
	}
	if cc != "" {
		if !isCode(cc, 2) {
			return nil, fmt.Errorf("country %q: want two upper-case letters", cc)
		}
		m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(cc)}
	}
	loc := mmdbtype.Map{}
	if !n.NoCoordinates {
		if math.IsNaN(n.Latitude) || n.Latitude < -90 || n.Latitude > 90 || math.IsNaN(n.Longitude) || n.Longitude < -180 || n.Longitude > 180 {
			return nil, fmt.Errorf("coordinates %g,%g out of range", n.Latitude, n.Longitude)
		}
		loc["latitude"], loc["longitude"] = mmdbtype.Float64(n.Latitude), mmdbtype.Float64(n.Longitude)
	}
	if n.AccuracyRadius != 0 {
		loc["accuracy_radius"] = mmdbtype.Uint16(n.AccuracyRadius)
	}
	if len(loc) > 0 {
		m["location"] = loc
	}
	return m, nil
}

// WriteFile writes the database of nets into dir under a new name and
// returns its path. It fails the test on error.
func WriteFile(t testing.TB, dir string, nets []Net) string {
	t.Helper()
	b, err := Build(nets)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "geodatatest-*.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// ReplaceFile atomically replaces the file at path with the database of
// nets (written next to it, then renamed over it), the way an operator
// should update a database. It fails the test on error.
func ReplaceFile(t testing.TB, path string, nets []Net) {
	t.Helper()
	b, err := Build(nets)
	if err != nil {
		t.Fatal(err)
	}
	if err := replace(path, b); err != nil {
		t.Fatal(err)
	}
}

// ReplaceBytes atomically replaces the file at path with b (any content:
// tests use it for corrupt files too). It fails the test on error.
func ReplaceBytes(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := replace(path, b); err != nil {
		t.Fatal(err)
	}
}

func replace(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".geodatatest-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
