package geodata_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/geodata"
)

func TestConfigDefaults(t *testing.T) {
	c := geodata.Config{Regions: []geodata.Region{{Name: "x"}, {Name: "y"}}}
	c.SetDefaults()
	if c.CheckInterval != 30*time.Second || c.CacheEntries != 65536 || c.DefaultRegion != "x" {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	c = geodata.Config{CheckInterval: time.Second, CacheEntries: -1, DefaultRegion: "y", Regions: c.Regions}
	c.SetDefaults()
	if c.CheckInterval != time.Second || c.CacheEntries != -1 || c.DefaultRegion != "y" {
		t.Errorf("defaults overrode set fields: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *geodata.Config)
		want []string // substrings of the error; none: valid
	}{
		{"bench policy", func(c *geodata.Config) {}, nil},
		{"no regions", func(c *geodata.Config) { c.Regions = nil; c.DefaultRegion = "" }, []string{"regions: at least one region is required"}},
		{"empty name", func(c *geodata.Config) { c.Regions[1].Name = "" }, []string{"regions[1].name: required"}},
		{"bad name", func(c *geodata.Config) { c.Regions[2].Name = "eu west" }, []string{`regions[2].name: "eu west" may hold only`}},
		{"long name", func(c *geodata.Config) { c.Regions[2].Name = strings.Repeat("e", 64) }, []string{"regions[2].name:"}},
		{"duplicate name", func(c *geodata.Config) { c.Regions[3].Name = "eu" }, []string{`regions[3].name: "eu" is also regions[2]`}},
		{"latitude", func(c *geodata.Config) { c.Regions[0].Latitude = 91 }, []string{"regions[0].latitude: must be -90..90, got 91"}},
		{"latitude NaN", func(c *geodata.Config) { c.Regions[0].Latitude = math.NaN() }, []string{"regions[0].latitude:"}},
		{"longitude", func(c *geodata.Config) { c.Regions[4].Longitude = -181 }, []string{"regions[4].longitude: must be -180..180, got -181"}},
		{"continent", func(c *geodata.Config) { c.Regions[2].Continents = []string{"EU", "Europe"} }, []string{`regions[2].continents[1]: "Europe" is not a continent code`}},
		{"lower-case country", func(c *geodata.Config) { c.Regions[0].Countries[1] = "ca" }, []string{`regions[0].countries[1]: "ca" is not an ISO 3166-1 alpha-2 code`}},
		{"subdivision", func(c *geodata.Config) { c.Regions[1].Subdivisions[0] = "WA" }, []string{`regions[1].subdivisions[0]: "WA" is not a subdivision code`}},
		{"subdivision too long", func(c *geodata.Config) { c.Regions[1].Subdivisions[0] = "US-WASH" }, []string{`regions[1].subdivisions[0]:`}},
		{"country twice", func(c *geodata.Config) { c.Regions[2].Countries = []string{"DE", "US"} }, []string{`regions[2].countries[1]: "US" is also mapped by regions[0].countries[0]`}},
		{"continent twice", func(c *geodata.Config) { c.Regions[4].Continents = []string{"SA", "AS"} }, []string{`regions[4].continents[1]: "AS" is also mapped by regions[3].continents[0]`}},
		{"subdivision twice in one region", func(c *geodata.Config) { c.Regions[1].Subdivisions[1] = "US-WA" }, []string{`regions[1].subdivisions[1]: "US-WA" is also mapped by regions[1].subdivisions[0]`}},
		{"default region", func(c *geodata.Config) { c.DefaultRegion = "mars" }, []string{`default_region: "mars" is not a configured region`}},
		{"check interval", func(c *geodata.Config) { c.CheckInterval = time.Millisecond }, []string{"check_interval: must be at least 10ms, got 1ms"}},
		{"cache entries", func(c *geodata.Config) { c.CacheEntries = -2 }, []string{"cache_entries: must be -1 (no cache) or 1-16777216, got -2"}},
		{"cache off", func(c *geodata.Config) { c.CacheEntries = -1 }, nil},
		{"database space", func(c *geodata.Config) { c.Database = " /x.mmdb" }, []string{"database: "}},
		{"coverage space", func(c *geodata.Config) { c.CoverageFile = "/x.txt\n" }, []string{"coverage_file: "}},
		{"files are not read", func(c *geodata.Config) { c.Database, c.CoverageFile = "/nonexistent.mmdb", "/nonexistent.txt" }, nil},
		{"every problem", func(c *geodata.Config) {
			c.Regions[0].Latitude, c.Regions[3].Name, c.DefaultRegion = 100, "", "nowhere"
		}, []string{"regions[0].latitude", "regions[3].name", "default_region"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := benchConfig(t)
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %v\nwant it to contain %q", err, w)
				}
			}
			// New refuses the config with the same error.
			if _, nerr := geodata.New(c); nerr == nil || !strings.Contains(nerr.Error(), tc.want[0]) {
				t.Errorf("New: %v", nerr)
			}
		})
	}
}
