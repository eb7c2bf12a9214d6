package geodata

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Region is one serving region: its site coordinates and the rules that map
// clients to it.
type Region struct {
	// Name identifies the region in answers, metrics and logs: letters,
	// digits, '-' and '_', at most 63 characters. Required and unique.
	Name string `yaml:"name"`
	// Latitude and Longitude are the site's coordinates in degrees
	// (-90..90, -180..180). They rank regions for the "nearest" rule and
	// for Fallback.
	Latitude  float64 `yaml:"latitude"`
	Longitude float64 `yaml:"longitude"`
	// Continents are MaxMind continent codes (AF AN AS EU NA OC SA) whose
	// clients this region serves, unless a country or subdivision rule says
	// otherwise.
	Continents []string `yaml:"continents"`
	// Countries are ISO 3166-1 alpha-2 codes (upper case, e.g. "DE").
	Countries []string `yaml:"countries"`
	// Subdivisions are "CC-XX" codes: the country code, '-', and the ISO
	// 3166-2 subdivision code of the database's first subdivision (e.g.
	// "US-CA", "CA-BC").
	Subdivisions []string `yaml:"subdivisions"`
}

// Config is the geodata section of the node's configuration.
type Config struct {
	// Database is the path of a MaxMind-format .mmdb file of the City or
	// Country schema (GeoIP2, GeoLite2, DB-IP). It is read into memory, so
	// replacing the file in place or by rename is safe. Required unless the
	// Geo is built WithDatabaseBytes; Validate does not read it.
	Database string `yaml:"database"`
	// CoverageFile is an optional file of explicit overrides, one
	// "PREFIX REGION" per line (IPv4 and IPv6, '#' starts a comment); the
	// longest matching prefix wins over every database rule. "" (default):
	// none.
	CoverageFile string `yaml:"coverage_file"`
	// CheckInterval is how often, once started, the database and coverage
	// files are stat'ed; a changed size, modification time or inode
	// reloads them. Default 30s, at least 10ms.
	CheckInterval time.Duration `yaml:"check_interval"`
	// Regions are the serving regions, in order of preference for ties. At
	// least one; a continent, country or subdivision may be mapped to one
	// region only.
	Regions []Region `yaml:"regions"`
	// DefaultRegion serves clients with no usable location: not in the
	// database, or a record without a matching rule and without
	// coordinates. Default (and ""): the first region.
	DefaultRegion string `yaml:"default_region"`
	// CacheEntries is the number of slots of the Locate cache (rounded up
	// to a power of two; a slot holds the answer for a whole client
	// network). Default 65536; -1 turns the cache off.
	CacheEntries int `yaml:"cache_entries"`
}

// Defaults and limits.
const (
	DefaultCheckInterval = 30 * time.Second
	DefaultCacheEntries  = 65536
	MinCheckInterval     = 10 * time.Millisecond
	MaxCacheEntries      = 1 << 24
	MaxRegions           = 4096
)

// SetDefaults fills in zero fields.
func (c *Config) SetDefaults() {
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.CacheEntries == 0 {
		c.CacheEntries = DefaultCacheEntries
	}
	if c.DefaultRegion == "" && len(c.Regions) > 0 {
		c.DefaultRegion = c.Regions[0].Name
	}
}

// continents are the MaxMind continent codes.
var continents = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}

// Validate reports every problem, each prefixed with its field path. It
// does not read the database or coverage file; New and Reload do.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Database != strings.TrimSpace(c.Database) {
		add("database: %q has leading or trailing space", c.Database)
	}
	if c.CoverageFile != strings.TrimSpace(c.CoverageFile) {
		add("coverage_file: %q has leading or trailing space", c.CoverageFile)
	}
	if c.CheckInterval < MinCheckInterval {
		add("check_interval: must be at least %s, got %s", MinCheckInterval, c.CheckInterval)
	}
	if c.CacheEntries != -1 && (c.CacheEntries < 1 || c.CacheEntries > MaxCacheEntries) {
		add("cache_entries: must be -1 (no cache) or 1-%d, got %d", MaxCacheEntries, c.CacheEntries)
	}
	if len(c.Regions) == 0 {
		add("regions: at least one region is required")
	}
	if len(c.Regions) > MaxRegions {
		add("regions: at most %d regions, got %d", MaxRegions, len(c.Regions))
	}
	names := map[string]int{}
	// owner remembers where each key was first mapped, for duplicate errors.
	owner := map[string]string{}
	claim := func(kind, key, path string) {
		k := kind + ":" + key
		if first, dup := owner[k]; dup {
			add("%s: %q is also mapped by %s", path, key, first)
			return
		}
		owner[k] = path
	}
	for i, r := range c.Regions {
		p := fmt.Sprintf("regions[%d]", i)
		switch {
		case r.Name == "":
			add("%s.name: required", p)
		case !validName(r.Name):
			add("%s.name: %q may hold only letters, digits, '-' and '_' (at most 63)", p, r.Name)
		default:
			if j, dup := names[r.Name]; dup {
				add("%s.name: %q is also regions[%d]", p, r.Name, j)
			} else {
				names[r.Name] = i
			}
		}
		if math.IsNaN(r.Latitude) || r.Latitude < -90 || r.Latitude > 90 {
			add("%s.latitude: must be -90..90, got %g", p, r.Latitude)
		}
		if math.IsNaN(r.Longitude) || r.Longitude < -180 || r.Longitude > 180 {
			add("%s.longitude: must be -180..180, got %g", p, r.Longitude)
		}
		for j, k := range r.Continents {
			fp := fmt.Sprintf("%s.continents[%d]", p, j)
			if !continents[k] {
				add("%s: %q is not a continent code (AF AN AS EU NA OC SA)", fp, k)
				continue
			}
			claim("continent", k, fp)
		}
		for j, k := range r.Countries {
			fp := fmt.Sprintf("%s.countries[%d]", p, j)
			if !isCountryCode(k) {
				add("%s: %q is not an ISO 3166-1 alpha-2 code (two upper-case letters)", fp, k)
				continue
			}
			claim("country", k, fp)
		}
		for j, k := range r.Subdivisions {
			fp := fmt.Sprintf("%s.subdivisions[%d]", p, j)
			if !isSubdivisionCode(k) {
				add("%s: %q is not a subdivision code like \"US-CA\" (country, '-', 1-3 upper-case letters or digits)", fp, k)
				continue
			}
			claim("subdivision", k, fp)
		}
	}
	if c.DefaultRegion != "" {
		if _, ok := names[c.DefaultRegion]; !ok {
			add("default_region: %q is not a configured region", c.DefaultRegion)
		}
	}
	return errors.Join(errs...)
}

// validName reports whether s is a usable region name.
func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func isCountryCode(s string) bool { return len(s) == 2 && isUpper(s[0]) && isUpper(s[1]) }

func isSubdivisionCode(s string) bool {
	cc, sub, ok := strings.Cut(s, "-")
	if !ok || !isCountryCode(cc) || len(sub) < 1 || len(sub) > 3 {
		return false
	}
	for i := 0; i < len(sub); i++ {
		if !isUpper(sub[i]) && !(sub[i] >= '0' && sub[i] <= '9') {
			return false
		}
	}
	return true
}
