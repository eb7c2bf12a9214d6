package dnsserver

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// rrl is the response rate limiter: a GCRA (token bucket) per client
// prefix in a fixed table of rrlSets × rrlWays entries.
//
// Each entry keeps the prefix and its theoretical arrival time (tat): the
// time at which its bucket would be full again. A response at now is
// allowed when tat - now <= tolerance (window minus one interval), and then
// moves tat one interval (1s / rate) later; an idle prefix has tat <= now,
// which is a full bucket, so an entry whose tat has passed carries no
// state and may be reused for another prefix. A prefix that finds its set
// full takes the entry with the smallest tat (the one nearest to idle):
// eviction can only forgive a prefix's debt early, never limit a prefix
// that keeps to its rate.
type rrl struct {
	cfg      RRLConfig
	interval int64 // ns between responses at the full rate
	tol      int64 // ns of burst beyond one response
	seed     uint64
	epoch    time.Time
	sets     []rrlSet
}

const (
	rrlSets = 8192 // power of two
	rrlWays = 4
)

type rrlSet struct {
	mu sync.Mutex
	e  [rrlWays]rrlEntry
}

type rrlEntry struct {
	hi, lo  uint64 // the masked client prefix (As16)
	tat     int64  // ns since epoch
	limited uint32 // limited responses since the entry was taken, for slip
	used    bool
}

// rrl actions.
const (
	rrlAllow = iota
	rrlSlip
	rrlDrop
)

func newRRL(c RRLConfig) *rrl {
	iv := int64(time.Second) / int64(c.ResponsesPerSecond)
	return &rrl{
		cfg:      c,
		interval: iv,
		tol:      max(int64(c.Window)-iv, 0),
		seed:     rand.Uint64(),
		epoch:    time.Now(),
		sets:     make([]rrlSet, rrlSets),
	}
}

// check accounts one response to client a at now and says what to do with
// it.
func (r *rrl) check(a netip.Addr, now time.Time) int {
	bits := r.cfg.IPv6Prefix
	if a.Is4() {
		bits = r.cfg.IPv4Prefix
	}
	p, _ := a.Prefix(bits)
	k := p.Addr().As16()
	hi, lo := be64(k[:8]), be64(k[8:])
	s := &r.sets[mix(hi, lo, r.seed)&(rrlSets-1)]
	t := int64(now.Sub(r.epoch))

	s.mu.Lock()
	defer s.mu.Unlock()
	var e *rrlEntry
	victim := 0
	for i := range s.e {
		c := &s.e[i]
		if c.used && c.hi == hi && c.lo == lo {
			e = c
			break
		}
		if !c.used || (s.e[victim].used && c.tat < s.e[victim].tat) {
			victim = i
		}
	}
	if e == nil {
		e = &s.e[victim]
		*e = rrlEntry{hi: hi, lo: lo, tat: t, used: true}
	}
	tat := max(e.tat, t)
	if tat-t <= r.tol {
		e.tat = tat + r.interval
		return rrlAllow
	}
	e.limited++
	if r.cfg.Slip > 0 && e.limited%uint32(r.cfg.Slip) == 0 {
		return rrlSlip
	}
	return rrlDrop
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// mix hashes a prefix with a random seed (a murmur3 finalizer), so that
// which prefixes share a set cannot be predicted from outside.
func mix(hi, lo, seed uint64) uint64 {
	h := hi*0x9E3779B97F4A7C15 ^ lo ^ seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// slipReply turns a reply into the truncated one RRL sends instead: the
// header and question only, TC set, no EDNS.
func slipReply(b []byte) []byte {
	if len(b) < 12 {
		return b
	}
	end := 12
	if b[4] != 0 || b[5] != 0 {
		off, ok := skipName(b, 12)
		if !ok || off+4 > len(b) {
			end = 12
			b[4], b[5] = 0, 0
		} else {
			end = off + 4
			b[4], b[5] = 0, 1
		}
	}
	b[2] |= 0x02
	b[6], b[7], b[8], b[9], b[10], b[11] = 0, 0, 0, 0, 0, 0
	return b[:end]
}
