package confload

import (
	"net/netip"
	"time"
)

// testConfig resembles edge.Config: per-package sections, lists of sites
// with origins, a secret, a map, an optional section, netip values.
type testConfig struct {
	Node       nodeConfig        `yaml:"node"`
	HTTP       httpConfig        `yaml:"http"`
	Cache      cacheConfig       `yaml:"cache"`
	Sites      []siteConfig      `yaml:"sites"`
	Labels     map[string]string `yaml:"labels"`
	Admin      *adminConfig      `yaml:"admin"`
	Anycast    netip.Prefix      `yaml:"anycast_prefix"`
	Debug      bool              `yaml:"debug"`
	SampleRate float64           `yaml:"sample_rate"`

	// Loaded is not part of the file (no yaml tag).
	Loaded time.Time
}

type nodeConfig struct {
	ID     string `yaml:"id"`
	Region string `yaml:"region"`
}

type httpConfig struct {
	Listen            []string      `yaml:"listen"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	MaxHeaderBytes    int64         `yaml:"max_header_bytes" unit:"bytes"`
}

type cacheConfig struct {
	MaxMemory int64         `yaml:"max_memory" unit:"bytes"`
	MaxTTL    time.Duration `yaml:"max_ttl"`
}

type siteConfig struct {
	Name       string         `yaml:"name"`
	Hosts      []string       `yaml:"hosts"`
	Origins    []originConfig `yaml:"origins"`
	DefaultTTL time.Duration  `yaml:"default_ttl"`
}

type originConfig struct {
	URL        string `yaml:"url"`
	HostHeader string `yaml:"host_header,omitempty"`
	Token      string `yaml:"token" secret:"true"`
}

type adminConfig struct {
	Listen netip.AddrPort `yaml:"listen"`
	Token  string         `yaml:"token" secret:"true"`
}

// kindsConfig covers the remaining kinds and tags.
type kindsConfig struct {
	Base `yaml:",inline"`

	I8      int8                       `yaml:"i8"`
	I16     int16                      `yaml:"i16"`
	I32     int32                      `yaml:"i32"`
	I64     int64                      `yaml:"i64"`
	Int     int                        `yaml:"int"`
	U8      uint8                      `yaml:"u8"`
	U16     uint16                     `yaml:"u16"`
	U32     uint32                     `yaml:"u32"`
	U64     uint64                     `yaml:"u64"`
	Uint    uint                       `yaml:"uint"`
	F32     float32                    `yaml:"f32"`
	F64     float64                    `yaml:"f64"`
	Pair    [2]string                  `yaml:"pair"`
	Counts  map[string]int             `yaml:"counts"`
	Limits  map[string]*limits         `yaml:"limits"`
	Buffers []int64                    `yaml:"buffers" unit:"bytes"`
	Small   uint16                     `yaml:"small" unit:"bytes"`
	Quota   *uint64                    `yaml:"quota" unit:"bytes"`
	Timeout *time.Duration             `yaml:"timeout"`
	Name    *string                    `yaml:"name"`
	Addrs   []netip.Addr               `yaml:"addrs"`
	Nested  [][]string                 `yaml:"nested"`
	Tags    *[]string                  `yaml:"tags"`
	Regions map[region]string          `yaml:"regions"`
	Deep    map[string]map[string]bool `yaml:"deep"`

	Ignored string `yaml:"-"`
	skipped int
}

// Base is embedded inline in kindsConfig.
type Base struct {
	Version int    `yaml:"version"`
	Owner   string `yaml:"owner"`
}

type limits struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

type region string

// treeConfig has a recursive type, which alias cycles could loop through.
type treeConfig struct {
	Root tree `yaml:"root"`
}

type tree struct {
	Name     string `yaml:"name"`
	Children []tree `yaml:"children"`
	Next     *tree  `yaml:"next"`
}
