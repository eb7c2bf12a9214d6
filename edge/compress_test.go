package edge_test

// The stored encodings of compressible responses: which bodies are
// compressed, which encodings are built, which one each client gets
// (Accept-Encoding with q-values, RFC 9110 12.5.3), and that every answer
// decodes to the origin's bytes.

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// rvCheckEncoded checks one answer: the encoding is one of allowed ("" for
// identity), the body decodes to want, Content-Length matches.
func rvCheckEncoded(t *testing.T, r *edgetest.Response, want []byte, allowed ...string) string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	ce := r.Header.Get("Content-Encoding")
	ok := false
	for _, a := range allowed {
		ok = ok || ce == a
	}
	if !ok {
		t.Errorf("Content-Encoding %q, want one of %q", ce, allowed)
	}
	if got := r.Header.Get("Content-Length"); got != "" && got != strconv.Itoa(len(r.Body)) {
		t.Errorf("Content-Length %s for %d body bytes", got, len(r.Body))
	}
	if !bytes.Equal(rvDecode(t, ce, r.Body), want) {
		t.Errorf("body (%q, %d bytes) does not decode to the origin's %d bytes", ce, len(r.Body), len(want))
	}
	return ce
}

func TestCompressibleTypesStoredCompressed(t *testing.T) {
	o := origintest.New(t)
	n := edgetest.Start(t, rvConfig(o.URL))
	body := text(8000)
	tests := []struct {
		ctype      string
		compressed bool
	}{
		{"text/html; charset=utf-8", true},
		{"text/plain", true},
		{"TEXT/CSS", true},
		{"text/css", true},
		{"application/json", true},
		{"application/javascript", true},
		{"image/svg+xml", true},
		{"application/xml", true},
		{"application/wasm", true},
		{"image/png", false},
		{"application/octet-stream", false},
		{"video/mp4", false},
		{"application/zip", false},
		{"", false},
	}
	for i, tc := range tests {
		t.Run(tc.ctype, func(t *testing.T) {
			path := "/type" + strconv.Itoa(i)
			o.Handle(path, rvServe(body, tc.ctype, "max-age=600"))
			n.Get(t, path) // fill (identity client: streamed)
			rvSettle(t, n)
			gz := n.Get(t, path, "Accept-Encoding: gzip")
			id := n.Get(t, path)
			if tc.compressed {
				rvCheckEncoded(t, gz, body, "gzip")
				if len(gz.Body) >= len(body) {
					t.Errorf("gzip body %d bytes for %d", len(gz.Body), len(body))
				}
				if got := gz.Header.Get("Etag"); got != `W/"e1"` {
					t.Errorf("gzip ETag %q, want W/\"e1\" (a derived encoding)", got)
				}
				for _, r := range []*edgetest.Response{gz, id} {
					if rvVaryCount(r.Header, "Accept-Encoding") != 1 {
						t.Errorf("Vary %q: want Accept-Encoding once", r.Header.Values("Vary"))
					}
				}
			} else {
				rvCheckEncoded(t, gz, body, "")
				if rvHasVary(gz.Header, "Accept-Encoding") {
					t.Errorf("uncompressed type with Vary %q", gz.Header.Values("Vary"))
				}
				if got := gz.Header.Get("Etag"); got != `"e1"` {
					t.Errorf("ETag %q, want \"e1\"", got)
				}
			}
			rvCheckEncoded(t, id, body, "")
			if got := id.Header.Get("Etag"); got != `"e1"` {
				t.Errorf("identity ETag %q, want the origin's \"e1\"", got)
			}
			if got := o.Hits(path); got != 1 {
				t.Errorf("origin saw %d requests, want 1", got)
			}
		})
	}
}

func TestCompressionSkipsSmallAndCompressedBodies(t *testing.T) {
	o := origintest.New(t)
	small := text(200) // under the default min_size (256 B)
	o.Handle("/small", rvServe(small, "text/plain", "max-age=600"))
	atLimit := text(256)
	o.Handle("/at-limit", rvServe(atLimit, "text/plain", "max-age=600"))
	random := rvBinary(5000) // text type, but gzip saves nothing
	o.Handle("/random", rvServe(random, "text/plain", "max-age=600"))
	mid := text(600)
	o.Handle("/mid", rvServe(mid, "text/plain", "max-age=600"))
	n := edgetest.Start(t, rvConfig(o.URL))
	// min_size configured: 1000 bytes.
	o2 := origintest.New(t)
	o2.Handle("/mid", rvServe(mid, "text/plain", "max-age=600"))
	n2 := edgetest.Start(t, "compression:\n  min_size: 1000\n"+rvConfig(o2.URL))

	tests := []struct {
		name string
		n    *edgetest.Node
		path string
		body []byte
		want string
	}{
		{"small", n, "/small", small, ""},
		{"at min_size", n, "/at-limit", atLimit, "gzip"},
		{"incompressible", n, "/random", random, ""},
		{"600B default min_size", n, "/mid", mid, "gzip"},
		{"600B min_size 1000", n2, "/mid", mid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.n.Get(t, tc.path)
			rvSettle(t, tc.n)
			for _, ae := range []string{"gzip", "br, gzip, zstd"} {
				r := tc.n.Get(t, tc.path, "Accept-Encoding: "+ae)
				if tc.want == "" {
					rvCheckEncoded(t, r, tc.body, "")
					if rvHasVary(r.Header, "Accept-Encoding") {
						t.Errorf("uncompressed body with Vary %q", r.Header.Values("Vary"))
					}
				} else {
					rvCheckEncoded(t, r, tc.body, "gzip", "br", "zstd")
				}
			}
		})
	}
}

// A response the origin compressed is stored as sent: gzip clients get
// the origin's bytes, the others the decoded body.
func TestOriginCompressedResponse(t *testing.T) {
	o := origintest.New(t)
	body := text(20000)
	gz := rvGzip(body)
	o.Handle("/ogz", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Accept-Encoding"); got != "gzip" {
			t.Errorf("origin saw Accept-Encoding %q, want gzip", got)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"o1"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(gz)))
		w.Write(gz)
	})
	n := edgetest.Start(t, rvConfig(o.URL))

	// The first client cannot take gzip.
	r := n.Get(t, "/ogz")
	rvCheckEncoded(t, r, body, "")
	if got := r.Header.Get("Etag"); got != "" && got != `W/"o1"` {
		t.Errorf("decoded body with ETag %q: a strong ETag of the gzip bytes must not label other bytes", got)
	}
	rvSettle(t, n)
	g := n.Get(t, "/ogz", "Accept-Encoding: gzip")
	rvCheckEncoded(t, g, body, "gzip")
	if !bytes.Equal(g.Body, gz) {
		t.Errorf("gzip client got %d bytes, not the origin's %d gzip bytes", len(g.Body), len(gz))
	}
	if got := g.Header.Get("Etag"); got != `"o1"` {
		t.Errorf("as-sent encoding ETag %q, want \"o1\"", got)
	}
	for _, ae := range []string{"", "identity", "br", "zstd", "gzip;q=0, br", "deflate"} {
		r := n.Get(t, "/ogz", "Accept-Encoding: "+ae)
		rvCheckEncoded(t, r, body, "")
		if got := r.Header.Get("Etag"); got != `W/"o1"` {
			t.Errorf("AE %q: decoded body ETag %q, want W/\"o1\"", ae, got)
		}
		if !rvHasVary(r.Header, "Accept-Encoding") {
			t.Errorf("AE %q: Vary %q", ae, r.Header.Values("Vary"))
		}
	}
	if got := o.Hits("/ogz"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// An uncacheable gzip response is decoded on the fly for a client that
// cannot take gzip.
func TestOriginCompressedUncacheableDecodedOnTheFly(t *testing.T) {
	o := origintest.New(t)
	body := text(50000)
	gz := rvGzip(body)
	o.Handle("/ns", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("ETag", `"ns"`)
		w.Write(gz)
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	r := n.Get(t, "/ns")
	rvCheckEncoded(t, r, body, "")
	if got := r.Header.Get("Etag"); got == `"ns"` {
		t.Errorf("decoded body keeps the gzip body's strong ETag %q", got)
	}
	g := n.Get(t, "/ns", "Accept-Encoding: gzip")
	rvCheckEncoded(t, g, body, "gzip")
	if got := o.Hits("/ns"); got != 2 {
		t.Errorf("origin saw %d requests, want 2 (no-store)", got)
	}
}

// The encodings built at fill time: gzip always, br and zstd for the
// client that caused the fill.
func TestLeaderEncodingBuilt(t *testing.T) {
	for _, enc := range []string{"br", "zstd", "gzip"} {
		t.Run(enc, func(t *testing.T) {
			o := origintest.New(t)
			body := text(30000)
			o.Handle("/l", rvServe(body, "application/javascript", "max-age=600"))
			n := edgetest.Start(t, rvConfig(o.URL))
			r := n.Get(t, "/l", "Accept-Encoding: "+enc)
			// Small compressible object, client takes compression: the
			// miss already gets the compressed encoding.
			rvCheckEncoded(t, r, body, enc)
			if cs := r.CacheStatus(); !strings.Contains(cs, "fwd=uri-miss") || !strings.Contains(cs, "stored") {
				t.Errorf("miss Cache-Status %q", cs)
			}
			if !rvHasVary(r.Header, "Accept-Encoding") {
				t.Errorf("Vary %q", r.Header.Values("Vary"))
			}
			rvSettle(t, n)
			r = n.Get(t, "/l", "Accept-Encoding: "+enc)
			rvCheckEncoded(t, r, body, enc)
			if !strings.HasPrefix(r.CacheStatus(), "edge-test; hit") {
				t.Errorf("Cache-Status %q", r.CacheStatus())
			}
			// gzip is always built.
			rvCheckEncoded(t, n.Get(t, "/l", "Accept-Encoding: gzip"), body, "gzip")
			rvCheckEncoded(t, n.Get(t, "/l"), body, "")
			if got := o.Hits("/l"); got != 1 {
				t.Errorf("origin saw %d requests, want 1", got)
			}
		})
	}
}

// br is built for a gzip-only leader when recent clients prefer br; zstd,
// which nobody asked for, is not.
func TestRecentDemandBuildsEncoding(t *testing.T) {
	o := origintest.New(t)
	body := text(30000)
	o.Handle("/d", rvServe(body, "text/css", "max-age=600"))
	o.Handle("/warm", rvServe(text(100), "text/plain", "max-age=600"))
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/warm", "Accept-Encoding: br")
	rvSettle(t, n)
	rvCheckEncoded(t, n.Get(t, "/d", "Accept-Encoding: gzip"), body, "gzip")
	rvSettle(t, n)
	rvCheckEncoded(t, n.Get(t, "/d", "Accept-Encoding: br"), body, "br")
	rvCheckEncoded(t, n.Get(t, "/d", "Accept-Encoding: zstd"), body, "")
	if got := o.Hits("/d"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// With gzip, br and zstd stored, each Accept-Encoding gets the best stored
// encoding it allows.
func TestAcceptEncodingSelection(t *testing.T) {
	o := origintest.New(t)
	body := text(30000)
	o.Handle("/all", rvServe(body, "application/json", "max-age=600"))
	o.Handle("/warm", rvServe(text(100), "text/plain", "max-age=600"))
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/warm", "Accept-Encoding: br") // br demand
	n.Get(t, "/all", "Accept-Encoding: zstd")
	rvSettle(t, n)

	tests := []struct {
		ae   string // "-" for no field
		want string
	}{
		{"-", ""},
		{"gzip", "gzip"},
		{"br", "br"},
		{"zstd", "zstd"},
		{"gzip, deflate, br, zstd", "zstd"},
		{"gzip, br", "br"},
		{"gzip;q=1, br;q=0.5, zstd;q=0.1", "gzip"},
		{"br;q=0.9, gzip;q=0.8, identity;q=0.5", "br"},
		{"zstd;q=0.2, br;q=0.3, gzip;q=0.25, identity;q=0.1", "br"},
		{"*", "zstd"},
		{"*;q=0.5, zstd;q=0", "br"},
		{"*;q=0.5, zstd;q=0, br;q=0", "gzip"},
		{"zstd;q=0, br;q=0, gzip;q=0", ""},
		{"gzip;q=0", ""},
		{"identity", ""},
		{"identity;q=0.5, gzip;q=0.4", ""},
		{"identity;q=0, gzip", "gzip"},
		{"identity;q=0, *;q=0.1", "zstd"},
		{"deflate", ""},
		{"GZIP", "gzip"},
		{"x-gzip", "gzip"},
		{"gzip;q=0.002, identity;q=0.001", "gzip"},
		{"gzip ; q=0.5 , br ; q=0.6, identity;q=0", "br"},
		{"Br;Q=1", "br"},
	}
	for _, tc := range tests {
		t.Run(tc.ae, func(t *testing.T) {
			var fields []string
			if tc.ae != "-" {
				fields = append(fields, "Accept-Encoding: "+tc.ae)
			}
			r := n.Get(t, "/all", fields...)
			rvCheckEncoded(t, r, body, tc.want)
			if !rvHasVary(r.Header, "Accept-Encoding") {
				t.Errorf("Vary %q", r.Header.Values("Vary"))
			}
			wantTag := `W/"e1"`
			if tc.want == "" {
				wantTag = `"e1"`
			}
			if got := r.Header.Get("Etag"); got != wantTag {
				t.Errorf("ETag %q, want %s", got, wantTag)
			}
		})
	}
	if got := o.Hits("/all"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// A small compressible object requested by a gzip client: the miss itself
// is answered with gzip. A large one (over 256 KiB) streams identity on the
// miss and is gzip from the next hit on.
func TestCompressedMissSmallVersusLarge(t *testing.T) {
	o := origintest.New(t)
	small := text(10 << 10)
	large := text(300 << 10)
	o.Handle("/small", rvServe(small, "text/html", "max-age=600"))
	o.Handle("/large", rvServe(large, "text/html", "max-age=600"))
	n := edgetest.Start(t, rvConfig(o.URL))

	r := n.Get(t, "/small", "Accept-Encoding: gzip")
	rvCheckEncoded(t, r, small, "gzip")
	if cs := r.CacheStatus(); !strings.HasPrefix(cs, "edge-test; fwd=uri-miss") {
		t.Errorf("small miss Cache-Status %q", cs)
	}

	r = n.Get(t, "/large", "Accept-Encoding: gzip")
	rvCheckEncoded(t, r, large, "")
	if cs := r.CacheStatus(); !strings.HasPrefix(cs, "edge-test; fwd=uri-miss") || !strings.Contains(cs, "stored") {
		t.Errorf("large miss Cache-Status %q", cs)
	}
	if !rvHasVary(r.Header, "Accept-Encoding") {
		t.Errorf("large miss streamed without Vary: Accept-Encoding (the URL's answers vary): %q", r.Header.Values("Vary"))
	}
	rvSettle(t, n)
	r = n.Get(t, "/large", "Accept-Encoding: gzip")
	rvCheckEncoded(t, r, large, "gzip")
	if !strings.HasPrefix(r.CacheStatus(), "edge-test; hit") {
		t.Errorf("large hit Cache-Status %q", r.CacheStatus())
	}
	if o.Hits("/small") != 1 || o.Hits("/large") != 1 {
		t.Errorf("origin saw %d and %d requests, want 1 each", o.Hits("/small"), o.Hits("/large"))
	}
}

// Many hits from identity clients on a compressed-only entry keep
// returning the exact bytes (the decoded body is promoted after a while).
func TestIdentityFromCompressedEntryRepeated(t *testing.T) {
	o := origintest.New(t)
	body := text(40000)
	o.Handle("/rep", rvServe(body, "text/plain", "max-age=600"))
	n := edgetest.Start(t, rvConfig(o.URL))
	n.Get(t, "/rep", "Accept-Encoding: gzip")
	rvSettle(t, n)
	for i := range 5 {
		r := n.Get(t, "/rep")
		rvCheckEncoded(t, r, body, "")
		if r.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("hit %d: Content-Length %q", i, r.Header.Get("Content-Length"))
		}
		n.Store().Wait()
	}
	if got := o.Hits("/rep"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// An origin br response is stored as sent too.
func TestOriginBrotliResponse(t *testing.T) {
	o := origintest.New(t)
	body := text(20000)
	var buf bytes.Buffer
	bw := brotli.NewWriter(&buf)
	bw.Write(body)
	bw.Close()
	br := buf.Bytes()
	o.Handle("/obr", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "br")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(len(br)))
		w.Write(br)
	})
	n := edgetest.Start(t, rvConfig(o.URL))
	// A br client fills (it can take the origin's encoding).
	rvCheckEncoded(t, n.Get(t, "/obr", "Accept-Encoding: br"), body, "br")
	rvSettle(t, n)
	rvCheckEncoded(t, n.Get(t, "/obr", "Accept-Encoding: br"), body, "br")
	rvCheckEncoded(t, n.Get(t, "/obr"), body, "")
	rvCheckEncoded(t, n.Get(t, "/obr", "Accept-Encoding: gzip"), body, "")
	if got := o.Hits("/obr"); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}
