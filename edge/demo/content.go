package demo

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// contentVersion is part of every generated ETag: change it whenever a
	// generator's output changes, so caches never mix old and new bytes.
	contentVersion = "v1"

	// chunkSize is the streaming buffer for generated bodies.
	chunkSize = 32 << 10

	maxTextSize   = 256 << 20 // /demo/text, /demo/gzip, /demo/slow?size=
	maxLargeMiB   = 4096      // /demo/large
	maxDelayMS    = 60000     // /demo/slow
	defaultSlowSz = 4096      // /demo/slow without ?size=
)

// demoModified is the Last-Modified of every fixed document.
var demoModified = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// splitmix64 is a fast, well-mixed 64-bit generator (also used as a hash of
// a counter for the seekable large files).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng is a deterministic pseudo-random sequence.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return splitmix64(r.s)
}

// intn returns a value in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// paramETag returns a strong ETag for generated content. The content is a
// pure function of (contentVersion, parts), so hashing those identifies the
// bytes without reading them (a 4 GiB file has an ETag at once).
func paramETag(parts ...string) string {
	h := fnv.New64a()
	_, _ = io.WriteString(h, contentVersion)
	for _, p := range parts {
		_, _ = io.WriteString(h, "\x00"+p)
	}
	return `"` + strconv.FormatUint(h.Sum64(), 16) + `"`
}

// bytesETag returns a strong ETag derived from b itself.
func bytesETag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// parseSize parses a /demo/text style size: a decimal number of bytes,
// optionally with a k (KiB) or m (MiB) suffix, at most limit.
func parseSize(s string, limit int64) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k") || strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m") || strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, ok := parseDigits(s)
	if !ok {
		return 0, fmt.Errorf("size must be a number of bytes, optionally with a k or m suffix (4096, 4k, 1m)")
	}
	if n > limit/mult {
		return 0, fmt.Errorf("size must be at most %d bytes (%d MiB)", limit, limit>>20)
	}
	return n * mult, nil
}

// words is the vocabulary of the generated text. Random sentences over it
// compress like ordinary prose (gzip 3-4:1), not like repeated bytes.
var words = [...]string{
	"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
	"eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim",
	"ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi",
	"aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit",
	"voluptate", "velit", "esse", "cillum", "eu", "fugiat", "nulla", "pariatur", "excepteur",
	"sint", "occaecat", "cupidatat", "non", "proident", "sunt", "culpa", "qui", "officia",
	"deserunt", "mollit", "anim", "id", "est", "laborum", "cache", "edge", "origin",
}

// writeText writes exactly size bytes of text: the line header, then
// numbered lines of random sentences (line numbers are real line numbers,
// so `sed -n 100p` shows line 100). The last byte is always a newline. The
// bytes depend only on header and size, and at most one chunk is held.
func writeText(w io.Writer, header string, size int64) error {
	if size <= 0 {
		return nil
	}
	seed := fnv.New64a()
	_, _ = io.WriteString(seed, header)
	g := rng{s: seed.Sum64()}
	line := 2

	buf := make([]byte, 0, min(size, chunkSize)+256) // room for one more line
	buf = append(buf, header...)
	buf = append(buf, '\n')
	var sent int64
	for {
		for len(buf) < chunkSize && sent+int64(len(buf)) < size {
			buf = appendLine(buf, &g, line)
			line++
		}
		if rem := size - sent; int64(len(buf)) >= rem {
			buf = buf[:rem]
			buf[rem-1] = '\n'
			_, err := w.Write(buf)
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		sent += int64(len(buf))
		buf = buf[:0]
	}
}

// appendLine appends one numbered line ("     2  Sunt enim lorem ... .\n").
func appendLine(b []byte, g *rng, line int) []byte {
	start := len(b)
	var scratch [20]byte
	num := strconv.AppendInt(scratch[:0], int64(line), 10)
	for i := len(num); i < 6; i++ {
		b = append(b, ' ')
	}
	b = append(b, num...)
	b = append(b, ' ', ' ')
	for first := true; len(b)-start < 64; first = false {
		w := words[g.intn(len(words))]
		if first {
			b = append(b, w[0]-'a'+'A')
			b = append(b, w[1:]...)
			continue
		}
		b = append(b, ' ')
		b = append(b, w...)
	}
	return append(b, '.', '\n')
}

// textEntity is /demo/text-style content: size bytes of text under header.
func textEntity(header string, size int64) *entity {
	return &entity{
		contentType:  "text/plain; charset=utf-8",
		cacheControl: "public, max-age=3600",
		etag:         paramETag("text", header, strconv.FormatInt(size, 10)),
		modified:     demoModified,
		size:         size,
		body: func(w io.Writer, _, _ int64) error {
			return writeText(w, header, size)
		},
	}
}

// largeEntity is /demo/large/<mib>: incompressible bytes that can be
// generated from any offset, so ranges cost only what they send.
func largeEntity(mib int64) *entity {
	seed := splitmix64(uint64(mib) ^ 0x6564676563646e) // "edgecdn"
	return &entity{
		contentType:  "application/octet-stream",
		cacheControl: "public, max-age=3600",
		etag:         paramETag("large", strconv.FormatInt(mib, 10)),
		modified:     demoModified,
		size:         mib << 20,
		ranges:       true,
		body: func(w io.Writer, off, n int64) error {
			buf := make([]byte, chunkSize)
			for n > 0 {
				k := min(n, int64(len(buf)))
				fillRandom(buf[:k], seed, off)
				if _, err := w.Write(buf[:k]); err != nil {
					return err
				}
				off += k
				n -= k
			}
			return nil
		},
	}
}

// fillRandom fills b with the bytes at offset off of the random stream for
// seed: byte o is byte o%8 (little-endian) of splitmix64(seed + o/8).
func fillRandom(b []byte, seed uint64, off int64) {
	word := func(i int64) uint64 { return splitmix64(seed + uint64(i)*0x9e3779b97f4a7c15) }
	i := 0
	for ; i < len(b) && (off+int64(i))%8 != 0; i++ {
		o := off + int64(i)
		b[i] = byte(word(o/8) >> (8 * (o % 8)))
	}
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], word((off+int64(i))/8))
	}
	for ; i < len(b); i++ {
		o := off + int64(i)
		b[i] = byte(word(o/8) >> (8 * (o % 8)))
	}
}

// gzipWriters recycles the compressors of /demo/gzip (each holds about
// 1 MiB of tables). BestSpeed is what origins typically use on the fly
// (nginx's default gzip_comp_level is 1). Reset clears the gzip header, so
// the output is deterministic.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level: no error
	return zw
}}

// document is a fixed body built once per process, with its ETag.
type document struct {
	body []byte
	etag string
}

func newDocument(b []byte) document { return document{body: b, etag: bytesETag(b)} }

var (
	indexDoc = sync.OnceValue(func() document { return newDocument([]byte(indexHTML)) })
	jsonDoc  = sync.OnceValue(func() document { return newDocument(catalogue()) })
	pngDoc   = sync.OnceValue(func() document { return newDocument(pattern()) })
	svgDoc   = sync.OnceValue(func() document { return newDocument(svgImage()) })
)

// catalogue returns the /demo/json document: a fake product catalogue.
func catalogue() []byte {
	type product struct {
		ID          int      `json:"id"`
		SKU         string   `json:"sku"`
		Name        string   `json:"name"`
		Category    string   `json:"category"`
		PriceCents  int      `json:"price_cents"`
		Currency    string   `json:"currency"`
		InStock     int      `json:"in_stock"`
		Rating      float64  `json:"rating"`
		Tags        []string `json:"tags"`
		Description string   `json:"description"`
	}
	adjectives := []string{"Anycast", "Edge", "Cached", "Fresh", "Stale", "Compressed", "Collapsed", "Purged", "Regional", "Warm"}
	nouns := []string{"Mug", "Hoodie", "Sticker Pack", "Notebook", "Cable", "Router", "Lamp", "Backpack", "Socks", "Poster"}
	categories := []string{"apparel", "office", "hardware", "home"}
	tagSet := []string{"new", "sale", "bestseller", "limited", "eco", "gift"}
	g := rng{s: 2025}
	products := make([]product, 24)
	for i := range products {
		name := adjectives[g.intn(len(adjectives))] + " " + nouns[g.intn(len(nouns))]
		var tags []string
		for _, t := range tagSet {
			if g.intn(3) == 0 {
				tags = append(tags, t)
			}
		}
		if tags == nil {
			tags = []string{}
		}
		products[i] = product{
			ID:          1000 + i,
			SKU:         fmt.Sprintf("EDGE-%04d", 1000+i),
			Name:        name,
			Category:    categories[g.intn(len(categories))],
			PriceCents:  499 + g.intn(200)*50,
			Currency:    "EUR",
			InStock:     g.intn(250),
			Rating:      float64(30+g.intn(21)) / 10,
			Tags:        tags,
			Description: "A " + strings.ToLower(name) + " from the edgecdn demo shop; the data is fake and the same on every request.",
		}
	}
	doc := struct {
		Generator string    `json:"generator"`
		Note      string    `json:"note"`
		Updated   string    `json:"updated"`
		Count     int       `json:"count"`
		Products  []product `json:"products"`
	}{
		Generator: serverName,
		Note:      "deterministic fake catalogue: same bytes and ETag on every request",
		Updated:   demoModified.Format(time.RFC3339),
		Count:     len(products),
		Products:  products,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("demo: catalogue: " + err.Error()) // fixed types: cannot fail
	}
	return append(b, '\n')
}

// pattern returns the /demo/image.png bytes: a 640x480 colour pattern with
// a little deterministic noise, so it compresses like a photo-ish image
// (~365 KiB) rather than like a flat fill.
func pattern() []byte {
	const w, h = 640, 480
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	g := rng{s: 42}
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/w, float64(y)/h
			ring := 0.5 + 0.5*math.Sin(math.Hypot(fx-0.5, fy-0.5)*60)
			noise := g.intn(9) - 4
			c := func(v float64) uint8 { return uint8(max(0, min(255, int(v*255)+noise))) }
			img.SetNRGBA(x, y, color.NRGBA{
				R: c(fx*0.6 + ring*0.4),
				G: c(fy*0.5 + ring*0.3),
				B: c(0.8 - 0.5*fx*fy + 0.2*ring),
				A: 255,
			})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic("demo: png: " + err.Error()) // in-memory encode: cannot fail
	}
	return b.Bytes()
}

// svgImage returns the /demo/image.svg bytes: a small, compressible SVG.
func svgImage() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="480" height="240" viewBox="0 0 480 240">` + "\n")
	b.WriteString(`  <title>edgecdn demo image</title>` + "\n")
	b.WriteString(`  <rect width="480" height="240" fill="#0b1d33"/>` + "\n")
	for i := range 12 {
		for j := range 6 {
			fmt.Fprintf(&b, `  <circle cx="%d" cy="%d" r="%d" fill="#%02x%02x%02x" fill-opacity="0.8"/>`+"\n",
				20+i*40, 20+j*40, 6+(i+j)%8, 40+i*15, 120+j*20, 200)
		}
	}
	b.WriteString(`  <text x="240" y="132" font-family="sans-serif" font-size="36" fill="#ffffff" text-anchor="middle">edgecdn demo</text>` + "\n")
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// indexHTML is the page at /, /demo and /demo/.
const indexHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>edgecdn demo origin</title>
</head>
<body>
<h1>edgecdn demo origin</h1>
<p>This origin exists to show what the edge cache does. Every answer is deterministic and carries
<code>X-Demo-Fetch: n</code>, the number of times its path has reached the origin: a cached copy
shows an old number. <code>curl -i</code> each URL twice through the edge and compare.</p>
<table>
<tr><th>path</th><th>what it shows</th></tr>
<tr><td><a href="/demo/text/4k">/demo/text/&lt;bytes&gt;</a></td><td>exactly that many bytes of text (4096, 4k, 1m; up to 256m), cacheable for an hour, with ETag and Last-Modified: hits, misses, 304s, compression</td></tr>
<tr><td><a href="/demo/slow/2000">/demo/slow/&lt;ms&gt;</a></td><td>text answered after a delay (up to 60000 ms; ?size=): request collapsing, many clients one origin fetch</td></tr>
<tr><td><a href="/demo/gzip/64k">/demo/gzip/&lt;bytes&gt;</a></td><td>text compressed by the origin when Accept-Encoding allows gzip, Vary: Accept-Encoding</td></tr>
<tr><td><a href="/demo/json">/demo/json</a></td><td>a few KiB of JSON, max-age=60</td></tr>
<tr><td><a href="/demo/image.png">/demo/image.png</a></td><td>a ~365 KiB PNG, max-age=86400 (already compressed: not worth compressing again)</td></tr>
<tr><td><a href="/demo/image.svg">/demo/image.svg</a></td><td>a small SVG, compressible</td></tr>
<tr><td><a href="/demo/large/16">/demo/large/&lt;MiB&gt;</a></td><td>1..4096 MiB of incompressible bytes with Range support (206, 416)</td></tr>
<tr><td><a href="/demo/nostore">/demo/nostore</a></td><td>Cache-Control: no-store: never stored</td></tr>
<tr><td><a href="/demo/private">/demo/private</a></td><td>Cache-Control: private, max-age=60: a shared cache must not store it</td></tr>
<tr><td><a href="/demo/nocache">/demo/nocache</a></td><td>Cache-Control: no-cache with an ETag: stored, but revalidated on every use</td></tr>
<tr><td><a href="/demo/expires">/demo/expires</a></td><td>freshness from Expires (Date + 120 s) only</td></tr>
<tr><td><a href="/demo/heuristic">/demo/heuristic</a></td><td>only Last-Modified (a day ago): a cache may guess freshness (typically 10% of its age)</td></tr>
<tr><td><a href="/demo/nofreshness">/demo/nofreshness</a></td><td>no freshness information and no validators at all</td></tr>
<tr><td><a href="/demo/stale">/demo/stale</a></td><td>max-age=5, stale-while-revalidate=30, stale-if-error=300; the body shows when it was made</td></tr>
<tr><td><a href="/demo/tag/news/article-1">/demo/tag/&lt;tag&gt;/&lt;name&gt;</a></td><td>Surrogate-Key: &lt;tag&gt; demo-all and Cache-Tag: &lt;tag&gt;, for purge by tag</td></tr>
<tr><td><a href="/demo/vary">/demo/vary</a></td><td>Vary: X-Demo-Variant: one stored variant per header value</td></tr>
<tr><td><a href="/demo/status/404">/demo/status/&lt;code&gt;</a></td><td>answers that status (200..599) with max-age=30: which statuses does the cache store?</td></tr>
<tr><td><a href="/demo/headers">/demo/headers</a></td><td>echoes the request the origin received (what the edge forwards), any method, never stored</td></tr>
<tr><td><a href="/demo/fail">/demo/fail</a></td><td>failure switch: POST /demo/fail?on=1 makes /demo/stale and /demo/text answer 503 until POST /demo/fail?on=0 (stale-if-error)</td></tr>
<tr><td><a href="/demo/stats">/demo/stats</a></td><td>requests per path as JSON; POST /demo/stats/reset zeroes them</td></tr>
</table>
<p>The failure switch needs no credentials: the demo origin only ever listens on loopback.</p>
</body>
</html>
`
