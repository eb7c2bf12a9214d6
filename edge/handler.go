package edge

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgecdn/edgecdn/cache"
	"github.com/edgecdn/edgecdn/edge/internal/h1"
	"github.com/edgecdn/edgecdn/geodata"
)

// handler is the HTTP edge: site by Host, cache lookup, collapsed fill from
// the origin, response. One per node; its config generation is swapped
// atomically on reload.
type handler struct {
	store  *cache.Store
	met    *metrics
	logger *slog.Logger
	gen    atomic.Pointer[generation]
	now    func() time.Time
	// fillCtx bounds background fills; cancelled when the node stops.
	fillCtx context.Context
	// fills runs fills on reused goroutines.
	fills *fillWorkers
	// answered counts requests the handler finished: the health check
	// tells a slow node (still answering) from a broken one by it.
	answered atomic.Uint64
	// geo places clients in regions for the regional metrics (nil
	// without geodata).
	geo atomic.Pointer[geodata.Geo]
}

// HealthPath is answered 200 by every node on any Host, without touching
// the cache or an origin: the node's own HTTP health check requests it
// through the real listener (and so may an external monitor).
const HealthPath = "/.well-known/edgecdn/health"

// generation is everything the request path reads from one config.
type generation struct {
	id         uint64
	nodeID     string
	sites      *siteTable
	comp       *compressor
	maxBody    int64
	maxObj     int64
	via        string // "1.1 <node-id>"
	healthBody []byte // "ok <node-id>\n"
	regions    *regionTable
	csPrefix   string // "<node-id>; "
}

// connLocal is the handler's per-connection state (h1.Response.Local).
type connLocal struct {
	key    []byte
	aeRaw  string // last Accept-Encoding value seen, owned
	aeSeen bool
	prefs  acceptPrefs
	// region is the client's region series, for generation regionGen.
	region    *regionObs
	regionGen uint64
}

// prefsFor returns the parsed Accept-Encoding, memoised per connection:
// a client sends the same value on every request.
func (cl *connLocal) prefsFor(g *generation, v string) *acceptPrefs {
	if !cl.aeSeen || v != cl.aeRaw {
		cl.aeRaw = strings.Clone(v)
		cl.aeSeen = true
		cl.prefs = parseAcceptEncoding(v)
		g.comp.noteClient(&cl.prefs)
	}
	return &cl.prefs
}

// exchange carries one request through the handler.
type exchange struct {
	h     *handler
	g     *generation
	s     *site
	w     *h1.Response
	r     *h1.Request
	cl    *connLocal
	start time.Time
	// key is the primary cache key; it points into cl.key until owned()
	// copies it.
	key string
	// target is the normalised path and query (a suffix of key).
	target string
	rcc    cache.Directives
	hasRCC bool
	// rangePass: this hit-for-pass GET forwards its Range to the origin.
	rangePass bool
}

// ownedKey returns the key as a string of its own (safe to keep).
func (x *exchange) ownedKey() string { return strings.Clone(x.key) }

// ServeH1 answers one client request.
func (h *handler) ServeH1(w *h1.Response, r *h1.Request) {
	g := h.gen.Load()
	cl, _ := w.Local.(*connLocal)
	if cl == nil {
		cl = &connLocal{key: make([]byte, 0, 256)}
		w.Local = cl
	}
	defer h.answered.Add(1)
	x := exchange{h: h, g: g, w: w, r: r, cl: cl, start: h.now()}
	if r.Path == HealthPath {
		x.serveHealth()
		return
	}
	if cl.region == nil || cl.regionGen != g.id {
		first := cl.region == nil
		cl.region, cl.regionGen = g.regions.locate(h.geo.Load(), r.RemoteAddr.Addr()), g.id
		if first { // once per connection
			if rtt, ok := w.TCPRTT(); ok {
				cl.region.rtt.Observe(rtt.Seconds())
			}
		}
	}
	x.s = g.sites.match(r.Host)
	if x.s == nil {
		h.met.rejected.WithLabelValues("unknown_host").Inc()
		x.plainError(421, "no site is configured for this host", "unknown-host")
		return
	}
	if r.Target == "*" {
		x.optionsStar()
		return
	}
	var err error
	cl.key, err = cache.AppendKey(cl.key[:0], "http", r.Host, r.Path, r.Query, r.HasQuery)
	if err != nil {
		h.met.rejected.WithLabelValues("bad_target").Inc()
		x.plainError(400, "malformed request target", "bad-target")
		return
	}
	x.key = unsafe.String(unsafe.SliceData(cl.key), len(cl.key))
	x.target = x.key[strings.Index(x.key, "://")+3:]
	x.target = x.target[strings.IndexByte(x.target, '/'):]
	if via := r.Header.Get("Via"); via != "" && viaLoops(via, g.nodeID) {
		h.met.rejected.WithLabelValues("loop").Inc()
		x.plainError(508, "request loop: this node is already in Via", "loop")
		return
	}
	switch r.Method {
	case "GET", "HEAD":
		x.serveCacheable()
	default:
		x.servePass(resMethod)
	}
}

// viaLoops reports whether a Via value already lists this node.
func viaLoops(via, node string) bool {
	for _, hop := range strings.Split(via, ",") {
		f := strings.Fields(hop)
		if len(f) >= 2 && f[1] == node {
			return true
		}
	}
	return false
}

// serveCacheable handles GET and HEAD.
func (x *exchange) serveCacheable() {
	h, r := x.h, x.r
	if cc := r.Header.Get("Cache-Control"); cc != "" {
		x.rcc, x.hasRCC = cache.ParseDirectives(cc), true
	} else {
		x.rcc = noDirectives
	}
	e, fullKey, res := h.store.Lookup(x.key, &r.Header)
	now := h.now()
	switch res {
	case cache.Found:
		d := e.Decide(&x.rcc, now)
		switch d.Use {
		case cache.UseFresh:
			x.serveEntry(e, resHit, csHit(d.TTL))
			return
		case cache.UseStale:
			x.serveEntry(e, resStale, csHit(d.TTL))
			if d.Background {
				x.backgroundRefresh(fullKey, e)
			}
			return
		}
		if x.rcc.Has(cache.DirOnlyIfCached) {
			x.gatewayTimeoutOnlyIfCached()
			return
		}
		kind := fwdStale
		if d.Forced {
			kind = fwdRequest
		}
		x.fetch(strings.Clone(fullKey), e, kind)
	case cache.Pass:
		if x.rcc.Has(cache.DirOnlyIfCached) {
			x.gatewayTimeoutOnlyIfCached()
			return
		}
		x.fetch(strings.Clone(fullKey), nil, fwdPass)
	default:
		if x.rcc.Has(cache.DirOnlyIfCached) {
			x.gatewayTimeoutOnlyIfCached()
			return
		}
		kind := fwdURIMiss
		if res == cache.VaryMiss {
			kind = fwdVaryMiss
		}
		x.fetch(strings.Clone(fullKey), nil, kind)
	}
}

var noDirectives = cache.ParseDirectives("")

func (x *exchange) gatewayTimeoutOnlyIfCached() {
	x.plainError(504, "not in cache (only-if-cached)", "only-if-cached")
}

// optionsStar answers "OPTIONS *" locally.
func (x *exchange) serveHealth() {
	b := append(x.w.Scratch(), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(x.g.healthBody)), 10)
	b = append(b, "\r\nDate: "...)
	b = append(b, h1.HTTPDate()...)
	b = append(b, "\r\n"...)
	x.w.WriteRaw(200, b, x.g.healthBody)
}

func (x *exchange) optionsStar() {
	b := append(x.w.Scratch(), "HTTP/1.1 204 No Content\r\nAllow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\nDate: "...)
	b = append(b, h1.HTTPDate()...)
	b = append(b, "\r\nCache-Status: "...)
	b = append(b, x.g.csPrefix...)
	b = append(b, "detail=options\r\n"...)
	x.w.WriteRaw(204, b, nil)
}
