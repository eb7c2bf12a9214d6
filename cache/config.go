package cache

import (
	"errors"
	"fmt"
	"time"
)

// Config is the cache section of the node's config file.
type Config struct {
	// MaxMemory is the memory budget for stored objects, in bytes: bodies
	// of every stored encoding, stored header fields and a per-object
	// overhead estimate. When it is full, the least valuable objects (by
	// ristretto's TinyLFU admission and sampled LFU eviction) make room.
	// Default 1GiB; at least 1MiB.
	MaxMemory int64 `yaml:"max_memory" unit:"bytes"`
	// MaxObjectSize is the largest body stored; larger responses stream
	// through to the client uncached. Default 64MiB; at most MaxMemory/2.
	MaxObjectSize int64 `yaml:"max_object_size" unit:"bytes"`
	// MaxTTL caps how long any object stays stored, whatever its
	// freshness (it is fetched again after that). Default 7 days.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// HeuristicMax caps heuristic freshness: a response without explicit
	// freshness but with Last-Modified is fresh for 10% of its age at the
	// time it was fetched (RFC 9111 4.2.2), at most this long. Default 24h;
	// "0s" disables heuristic freshness.
	HeuristicMax *time.Duration `yaml:"heuristic_max"`
	// HitForPass is how long a key whose response could not be stored
	// (private, no-store, Set-Cookie ...) is remembered, so that later
	// requests for it go to the origin at once instead of queueing behind
	// one another. Default 30s; "0s" disables it.
	HitForPass *time.Duration `yaml:"hit_for_pass"`
}

// Defaults.
const (
	DefaultMaxMemory     = 1 << 30
	DefaultMaxObjectSize = 64 << 20
	DefaultMaxTTL        = 7 * 24 * time.Hour
	DefaultHeuristicMax  = 24 * time.Hour
	DefaultHitForPass    = 30 * time.Second
)

// SetDefaults fills in zero fields.
func (c *Config) SetDefaults() {
	if c.MaxMemory == 0 {
		c.MaxMemory = DefaultMaxMemory
	}
	if c.MaxObjectSize == 0 {
		c.MaxObjectSize = min(DefaultMaxObjectSize, c.MaxMemory/2)
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.HeuristicMax == nil {
		d := DefaultHeuristicMax
		c.HeuristicMax = &d
	}
	if c.HitForPass == nil {
		d := DefaultHitForPass
		c.HitForPass = &d
	}
}

// Validate reports every problem, each prefixed with its field name.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxMemory < 1<<20 {
		errs = append(errs, fmt.Errorf("max_memory: must be at least 1MiB, got %d bytes", c.MaxMemory))
	}
	if c.MaxObjectSize < 1 || c.MaxObjectSize > c.MaxMemory/2 {
		errs = append(errs, fmt.Errorf("max_object_size: must be between 1 byte and half of max_memory (%d), got %d", c.MaxMemory/2, c.MaxObjectSize))
	}
	if c.MaxTTL < time.Second {
		errs = append(errs, fmt.Errorf("max_ttl: must be at least 1s, got %s", c.MaxTTL))
	}
	if c.HeuristicMax != nil && *c.HeuristicMax < 0 {
		errs = append(errs, errors.New("heuristic_max: must not be negative"))
	}
	if c.HitForPass != nil && (*c.HitForPass < 0 || *c.HitForPass > time.Hour) {
		errs = append(errs, fmt.Errorf("hit_for_pass: must be between 0s and 1h, got %s", *c.HitForPass))
	}
	return errors.Join(errs...)
}
