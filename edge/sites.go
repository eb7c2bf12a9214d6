package edge

import (
	"strings"

	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/origin"
)

// site is one configured site, compiled for the request path.
type site struct {
	name   string
	cfg    SiteConfig
	pool   *origin.Pool
	policy cache.Policy
	met    *siteMetrics
}

// siteTable finds the site for a request's Host.
type siteTable struct {
	exact    map[string]*site
	suffixes []suffixSite // "*.example.com", longest suffix first
	any      *site
	all      []*site
}

type suffixSite struct {
	suffix string // ".example.com"
	s      *site
}

func newSiteTable(sites []*site) *siteTable {
	t := &siteTable{exact: make(map[string]*site), all: sites}
	for _, s := range sites {
		for _, h := range s.cfg.Hosts {
			h = strings.ToLower(h)
			switch {
			case h == "*":
				t.any = s
			case strings.HasPrefix(h, "*."):
				t.suffixes = append(t.suffixes, suffixSite{suffix: h[1:], s: s})
			default:
				t.exact[h] = s
			}
		}
	}
	// Longest suffix first, so a.b.example.com prefers *.b.example.com.
	for i := 1; i < len(t.suffixes); i++ {
		for j := i; j > 0 && len(t.suffixes[j].suffix) > len(t.suffixes[j-1].suffix); j-- {
			t.suffixes[j], t.suffixes[j-1] = t.suffixes[j-1], t.suffixes[j]
		}
	}
	return t
}

// match returns the site for a Host value (port and trailing dot ignored,
// case-insensitive), or nil. It does not allocate.
func (t *siteTable) match(host string) *site {
	var buf [256]byte
	h := hostOnly(host)
	if len(h) > len(buf) {
		return t.any
	}
	b := buf[:len(h)]
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	if s, ok := t.exact[string(b)]; ok {
		return s
	}
	for _, x := range t.suffixes {
		if len(b) > len(x.suffix) && string(b[len(b)-len(x.suffix):]) == x.suffix {
			return x.s
		}
	}
	return t.any
}

// hostOnly strips the port and a trailing dot from a Host value.
func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			return h[:i+1]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}
