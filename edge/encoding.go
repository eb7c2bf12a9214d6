package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/edgecdn/edgecdn/cache"
)

// acceptPrefs is a parsed Accept-Encoding: the quality of each encoding
// the cache can serve (0: not acceptable).
type acceptPrefs struct {
	q [cache.NumEncodings]float32
}

// parseAcceptEncoding parses an Accept-Encoding value with q-values
// (RFC 9110 12.5.3). identity is acceptable unless excluded by
// "identity;q=0" or by "*;q=0" without an identity entry, but ranks below
// every encoding the client listed unless it names identity itself; "*"
// gives its quality to encodings not listed. An absent field means
// identity only.
func parseAcceptEncoding(v string) acceptPrefs {
	var p acceptPrefs
	p.q[cache.Identity] = 1
	if strings.TrimSpace(v) == "" {
		return p
	}
	var listed [cache.NumEncodings]bool
	star, starQ := false, float32(0)
	for len(v) > 0 {
		var item string
		if i := strings.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, ""
		}
		name, params, _ := strings.Cut(item, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		q := float32(1)
		for params != "" {
			var param string
			param, params, _ = strings.Cut(params, ";")
			k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 32)
				if err != nil || !(f >= 0 && f <= 1) { // NaN fails both comparisons
					f = 0 // a malformed weight is read as "not acceptable"
				}
				q = float32(f)
			}
		}
		if name == "*" {
			star, starQ = true, q
			continue
		}
		if name == "x-gzip" {
			name = "gzip"
		}
		if e, ok := cache.ParseEncoding(name); ok {
			p.q[e] = q
			listed[e] = true
		}
	}
	if star {
		for e := range p.q {
			if !listed[e] {
				p.q[e] = starQ
			}
		}
	}
	if !listed[cache.Identity] && !star && p.q[cache.Identity] > 0 {
		// Identity is acceptable unless excluded, but a client that lists
		// encodings prefers every one it lists over it.
		p.q[cache.Identity] = unlistedIdentityQ
	}
	return p
}

// unlistedIdentityQ is the weight of identity when the client did not name
// it: acceptable, below any listed encoding (the smallest q is 0.001).
const unlistedIdentityQ = 0.0005

// preference order for equal qualities: smallest output first.
var encodingOrder = [...]cache.Encoding{cache.Zstd, cache.Brotli, cache.Gzip, cache.Identity}

// choose picks the best encoding an entry can serve: the highest quality
// among stored encodings, ties broken by encodingOrder; identity (stored
// or decoded) when nothing better is acceptable. The result is identity
// also when the client excluded it and nothing else is stored (a server
// may send identity anyway, RFC 9110 12.5.3).
func (p *acceptPrefs) choose(e *cache.Entry) cache.Encoding {
	best, bestQ := cache.Identity, float32(-1)
	for _, enc := range encodingOrder {
		q := p.q[enc]
		if q <= 0 {
			continue
		}
		if enc != cache.Identity && !e.Has(enc) {
			continue
		}
		if q > bestQ {
			best, bestQ = enc, q
		}
	}
	return best
}

// best returns the encoding this client would prefer among those offered
// (for demand tracking).
func (p *acceptPrefs) best(offered [cache.NumEncodings]bool) cache.Encoding {
	best, bestQ := cache.Identity, float32(-1)
	for _, enc := range encodingOrder {
		if q := p.q[enc]; q > 0 && q > bestQ && (enc == cache.Identity || offered[enc]) {
			best, bestQ = enc, q
		}
	}
	return best
}

// compressor builds the stored encodings of compressible bodies and
// decodes stored ones for clients that need identity.
type compressor struct {
	enabled  bool
	offered  [cache.NumEncodings]bool
	minSize  int64
	exact    map[string]bool
	wildcard map[string]bool // "text" for text/*
	gzLevel  int
	brLevel  int
	zstdEnc  *zstd.Encoder
	gzPool   sync.Pool
	brPool   sync.Pool

	// demand counts, per encoding, the clients (connections) that prefer
	// it, halved every demandHalfLife: an encoding nobody asks for is not
	// built at fill time.
	demand    [cache.NumEncodings]atomic.Int64
	lastDecay atomic.Int64
}

const demandHalfLife = time.Minute

// minDemandShare is the share of recent clients that must prefer br or
// zstd for the fill to build it.
const minDemandShare = 0.01

func newCompressor(c *CompressionConfig) (*compressor, error) {
	z := &compressor{
		enabled:  *c.Enabled,
		minSize:  c.MinSize,
		exact:    map[string]bool{},
		wildcard: map[string]bool{},
		gzLevel:  c.GzipLevel,
		brLevel:  c.BrotliLevel,
	}
	for _, e := range c.Encodings {
		if enc, ok := cache.ParseEncoding(e); ok {
			z.offered[enc] = true
		}
	}
	z.offered[cache.Gzip] = z.offered[cache.Gzip] || z.offered[cache.Brotli] || z.offered[cache.Zstd]
	for _, t := range c.Types {
		t = strings.ToLower(t)
		if major, minor, _ := strings.Cut(t, "/"); minor == "*" {
			z.wildcard[major] = true
		} else {
			z.exact[t] = true
		}
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(c.ZstdLevel)),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("edge: zstd: %w", err)
	}
	z.zstdEnc = enc
	z.gzPool.New = func() any { w, _ := gzip.NewWriterLevel(io.Discard, z.gzLevel); return w }
	z.brPool.New = func() any { return brotli.NewWriterLevel(io.Discard, z.brLevel) }
	z.lastDecay.Store(time.Now().UnixNano())
	return z, nil
}

// compressible reports whether a body of this type and size is worth
// compressing.
func (z *compressor) compressible(contentType string, size int64) bool {
	if !z.enabled || (size >= 0 && size < z.minSize) {
		return false
	}
	mt := mediaType(contentType)
	if mt == "" {
		return false
	}
	if z.exact[mt] {
		return true
	}
	major, _, _ := strings.Cut(mt, "/")
	return z.wildcard[major]
}

// mediaType returns the type/subtype of a Content-Type value in lower case
// ("" if it has none), without parsing parameters.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	if strings.Count(ct, "/") != 1 || strings.ContainsAny(ct, " \t\"") {
		return ""
	}
	for i := 0; i < len(ct); i++ {
		if 'A' <= ct[i] && ct[i] <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

// noteClient records one client's preference.
func (z *compressor) noteClient(p *acceptPrefs) {
	z.demand[p.best(z.offered)].Add(1)
	now := time.Now().UnixNano()
	if last := z.lastDecay.Load(); now-last > int64(demandHalfLife) && z.lastDecay.CompareAndSwap(last, now) {
		for i := range z.demand {
			z.demand[i].Store(z.demand[i].Load() / 2)
		}
	}
}

// wanted reports whether enc is worth building at fill time: gzip always
// (the universal fallback, and the compact form kept for identity
// clients), br and zstd when recent clients prefer them or the client
// that caused the fill does.
func (z *compressor) wanted(enc cache.Encoding, leader cache.Encoding) bool {
	if !z.offered[enc] {
		return false
	}
	if enc == cache.Gzip || enc == leader {
		return true
	}
	var total int64
	for i := range z.demand {
		total += z.demand[i].Load()
	}
	return total > 0 && float64(z.demand[enc].Load()) >= minDemandShare*float64(total)
}

// encode builds the stored bodies for an identity body. When compression
// does not pay (less than 10% saved), only identity is stored.
func (z *compressor) encode(body []byte, leader cache.Encoding) (bodies [cache.NumEncodings][]byte) {
	gz := z.gzip(body)
	if int64(len(gz)) > int64(len(body))*9/10 {
		bodies[cache.Identity] = body
		return bodies
	}
	bodies[cache.Gzip] = gz
	if z.wanted(cache.Brotli, leader) {
		bodies[cache.Brotli] = z.brotli(body)
	}
	if z.wanted(cache.Zstd, leader) {
		// No trimming to size: Put copies every body into the arena.
		bodies[cache.Zstd] = z.zstdEnc.EncodeAll(body, make([]byte, 0, len(body)/3+64))
	}
	return bodies
}

// scratch buffers for compressor output, copied out at their exact size.
var scratchBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (z *compressor) gzip(body []byte) []byte {
	buf := scratchBufs.Get().(*bytes.Buffer)
	buf.Reset()
	w := z.gzPool.Get().(*gzip.Writer)
	w.Reset(buf)
	w.Write(body)
	w.Close()
	z.gzPool.Put(w)
	out := append(make([]byte, 0, buf.Len()), buf.Bytes()...)
	if buf.Cap() <= 1<<20 {
		scratchBufs.Put(buf)
	}
	return out
}

func (z *compressor) brotli(body []byte) []byte {
	buf := scratchBufs.Get().(*bytes.Buffer)
	buf.Reset()
	w := z.brPool.Get().(*brotli.Writer)
	w.Reset(buf)
	w.Write(body)
	w.Close()
	z.brPool.Put(w)
	out := append(make([]byte, 0, buf.Len()), buf.Bytes()...)
	if buf.Cap() <= 1<<20 {
		scratchBufs.Put(buf)
	}
	return out
}

var zstdDec = sync.OnceValue(func() *zstd.Decoder {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	return d
})

var gzReaders sync.Pool

// errDecodedSize is returned when a decoded body does not have the size
// the entry recorded.
var errDecodedSize = errors.New("edge: decoded body size mismatch")

// decode turns one stored encoding back into the identity body (size is
// the expected length, -1 if unknown).
func decode(enc cache.Encoding, b []byte, size int64) ([]byte, error) {
	var out []byte
	var err error
	switch enc {
	case cache.Zstd:
		out, err = zstdDec().DecodeAll(b, make([]byte, 0, max(size, 0)))
	case cache.Gzip:
		var r *gzip.Reader
		if v := gzReaders.Get(); v != nil {
			r = v.(*gzip.Reader)
			err = r.Reset(bytes.NewReader(b))
		} else {
			r, err = gzip.NewReader(bytes.NewReader(b))
		}
		if err == nil {
			out, err = readAllSized(r, size)
			gzReaders.Put(r)
		}
	case cache.Brotli:
		out, err = readAllSized(brotli.NewReader(bytes.NewReader(b)), size)
	default:
		return b, nil
	}
	if err == nil && size >= 0 && int64(len(out)) != size {
		err = errDecodedSize
	}
	return out, err
}

func readAllSized(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	out := make([]byte, size+1)
	n, err := io.ReadFull(r, out)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return out[:n:n], err
}
