package edge

import (
	"math"
	"testing"

	"github.com/edgecdn/edgecdn/cache"
)

// idAcceptable stands for "identity acceptable, weight not specified by
// RFC 9110" in the tables below (an unlisted identity is acceptable by
// default; the weight the parser gives it is its own choice).
const idAcceptable = -1

func TestParseAcceptEncoding(t *testing.T) {
	const (
		I = cache.Identity
		G = cache.Gzip
		B = cache.Brotli
		Z = cache.Zstd
	)
	type q = [cache.NumEncodings]float32
	tests := []struct {
		name string
		in   string
		want q // index by encoding; identity may be idAcceptable
	}{
		{"absent", "", q{I: 1}},
		{"blank", "  ", q{I: 1}},
		{"gzip", "gzip", q{I: idAcceptable, G: 1}},
		{"browser", "gzip, deflate, br, zstd", q{I: idAcceptable, G: 1, B: 1, Z: 1}},
		{"weights", "gzip;q=0.8, br;q=0.9, zstd;q=0.1", q{I: idAcceptable, G: 0.8, B: 0.9, Z: 0.1}},
		{"q=0 excludes", "gzip, br;q=0", q{I: idAcceptable, G: 1}},
		{"identity;q=0", "identity;q=0, gzip", q{G: 1}},
		{"identity weighted", "identity;q=0.5, gzip;q=0.4", q{I: 0.5, G: 0.4}},
		{"star", "*", q{I: 1, G: 1, B: 1, Z: 1}},
		{"star weighted", "*;q=0.3", q{I: 0.3, G: 0.3, B: 0.3, Z: 0.3}},
		{"star zero excludes identity", "*;q=0", q{}},
		{"star zero, identity listed", "*;q=0, identity", q{I: 1}},
		{"star zero, gzip listed", "*;q=0, gzip;q=0.5", q{G: 0.5}},
		{"star after explicit", "br;q=0, *;q=0.5", q{I: 0.5, G: 0.5, Z: 0.5}},
		{"star before explicit", "*;q=0.5, br;q=0", q{I: 0.5, G: 0.5, Z: 0.5}},
		{"case", "GZIP;Q=0.5, Br", q{I: idAcceptable, G: 0.5, B: 1}},
		{"x-gzip", "x-gzip", q{I: idAcceptable, G: 1}},
		{"whitespace", " gzip ; q=0.5 ,\tbr\t;\tq=0.7 ", q{I: idAcceptable, G: 0.5, B: 0.7}},
		{"empty list elements", ",, gzip ,,", q{I: idAcceptable, G: 1}},
		{"unknown codings ignored", "deflate, compress, sdch", q{I: idAcceptable}},
		{"three decimals", "gzip;q=0.001", q{I: idAcceptable, G: 0.001}},
		{"q=1.000", "gzip;q=1.000", q{I: idAcceptable, G: 1}},
		{"q=0.000", "gzip;q=0.000", q{I: idAcceptable}},
		{"other parameter ignored", "gzip;level=9", q{I: idAcceptable, G: 1}},
		{"other parameter and q", "gzip;level=9;q=0.5", q{I: idAcceptable, G: 0.5}},
		// Malformed weights: not acceptable (the parser's documented rule).
		{"q over 1", "gzip;q=1.5", q{I: idAcceptable}},
		{"q negative", "gzip;q=-0.5", q{I: idAcceptable}},
		{"q junk", "gzip;q=abc", q{I: idAcceptable}},
		{"q empty", "gzip;q=", q{I: idAcceptable}},
		{"q inf", "gzip;q=inf", q{I: idAcceptable}},
		{"q nan", "br, gzip;q=nan", q{I: idAcceptable, B: 1}},
		{"q NaN identity", "identity;q=NaN, gzip", q{G: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseAcceptEncoding(tc.in)
			for e := cache.Encoding(0); e < cache.NumEncodings; e++ {
				g, w := got.q[e], tc.want[e]
				if math.IsNaN(float64(g)) {
					t.Errorf("%s: q is NaN", e)
					continue
				}
				if g < 0 || g > 1 {
					t.Errorf("%s: q=%v outside [0,1]", e, g)
				}
				if w == idAcceptable {
					if g <= 0 {
						t.Errorf("%s: q=%v, want acceptable", e, g)
					}
					continue
				}
				if g != w {
					t.Errorf("%s: q=%v, want %v", e, g, w)
				}
			}
		})
	}
}

// entryWith returns an entry storing the given encodings.
func entryWith(encs ...cache.Encoding) *cache.Entry {
	d := &cache.Draft{}
	for _, enc := range encs {
		d.Bodies[enc] = []byte{}
	}
	return d.Entry()
}

func TestAcceptPrefsChoose(t *testing.T) {
	const (
		I = cache.Identity
		G = cache.Gzip
		B = cache.Brotli
		Z = cache.Zstd
	)
	all := entryWith(G, B, Z)
	gzOnly := entryWith(G)
	idOnly := entryWith(I)
	idGz := entryWith(I, G)
	tests := []struct {
		name  string
		ae    string
		entry *cache.Entry
		want  cache.Encoding
	}{
		{"absent: identity", "", all, I},
		{"gzip", "gzip", all, G},
		{"br", "br", all, B},
		{"zstd", "zstd", all, Z},
		{"ties: smallest first", "gzip, br, zstd", all, Z},
		{"ties without zstd", "gzip, br", all, B},
		{"weights decide", "gzip;q=1, br;q=0.5, zstd;q=0.1", all, G},
		{"weights decide 2", "br;q=0.9, gzip;q=0.8, identity;q=0.1", all, B},
		{"not stored: next best", "zstd, gzip;q=0.5, identity;q=0.1", gzOnly, G},
		{"only unstored wanted: identity", "br, zstd", gzOnly, I},
		{"q=0 excludes", "gzip;q=0", all, I},
		{"all excluded: identity anyway", "gzip;q=0, br;q=0, zstd;q=0, identity;q=0", all, I},
		{"identity excluded, gzip stored", "identity;q=0, gzip", gzOnly, G},
		{"identity excluded, nothing acceptable stored", "identity;q=0, br", gzOnly, I},
		{"identity preferred by weight", "identity;q=0.9, gzip;q=0.5", idGz, I},
		{"star", "*", all, Z},
		{"star excluding zstd", "*;q=0.5, zstd;q=0", all, B},
		{"star zero", "*;q=0", all, I},
		{"star low, gzip high", "*;q=0.1, gzip", all, G},
		{"identity-only entry", "gzip, br, zstd", idOnly, I},
		{"x-gzip", "x-gzip", gzOnly, G},
		{"unknown coding", "deflate", all, I},
		{"tiny weight beats implicit nothing", "gzip;q=0.001, identity;q=0", gzOnly, G},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parseAcceptEncoding(tc.ae)
			if got := p.choose(tc.entry); got != tc.want {
				t.Errorf("choose(%q) = %s, want %s", tc.ae, got, tc.want)
			}
		})
	}
}

func TestAcceptPrefsBest(t *testing.T) {
	offered := [cache.NumEncodings]bool{cache.Gzip: true, cache.Brotli: true, cache.Zstd: true}
	gzipOnly := [cache.NumEncodings]bool{cache.Gzip: true}
	tests := []struct {
		ae      string
		offered [cache.NumEncodings]bool
		want    cache.Encoding
	}{
		{"", offered, cache.Identity},
		{"gzip, deflate, br, zstd", offered, cache.Zstd},
		{"gzip, deflate, br", offered, cache.Brotli},
		{"gzip, deflate, br, zstd", gzipOnly, cache.Gzip},
		{"br;q=0.5, gzip;q=0.9, identity;q=0.1", offered, cache.Gzip},
		{"br", gzipOnly, cache.Identity},
		{"gzip;q=0", offered, cache.Identity},
	}
	for _, tc := range tests {
		p := parseAcceptEncoding(tc.ae)
		if got := p.best(tc.offered); got != tc.want {
			t.Errorf("best(%q, %v) = %s, want %s", tc.ae, tc.offered, got, tc.want)
		}
	}
}

// FuzzParseAcceptEncoding: every weight is a number in [0,1], and choose
// returns a stored encoding or identity, never one the client excluded
// while a stored acceptable one exists.
func FuzzParseAcceptEncoding(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip, deflate, br, zstd", "*;q=0", "identity;q=0, gzip;q=0.5",
		"br;q=0.9,gzip;q=0.8", ",,;q=,", "gzip;q=1e-3", "*;q=0.5, zstd;q=0"} {
		f.Add(s)
	}
	e := entryWith(cache.Gzip, cache.Brotli)
	f.Fuzz(func(t *testing.T, v string) {
		p := parseAcceptEncoding(v)
		for enc, q := range p.q {
			if !(q >= 0 && q <= 1) {
				t.Fatalf("%q: %s q=%v", v, cache.Encoding(enc), q)
			}
		}
		got := p.choose(e)
		if got != cache.Identity && !e.Has(got) {
			t.Fatalf("%q: chose unstored %s", v, got)
		}
		if got != cache.Identity && p.q[got] <= 0 {
			t.Fatalf("%q: chose excluded %s", v, got)
		}
		for _, enc := range []cache.Encoding{cache.Gzip, cache.Brotli} {
			if p.q[enc] > p.q[got] && (got != cache.Identity || p.q[cache.Identity] < p.q[enc]) {
				t.Fatalf("%q: chose %s (q=%v) over stored %s (q=%v)", v, got, p.q[got], enc, p.q[enc])
			}
		}
	})
}

// A client that lists only weighted encodings prefers each of them to
// identity, which it did not name: it must get a stored encoding.
func TestUnlistedIdentityRanksLast(t *testing.T) {
	d := &cache.Draft{}
	d.Bodies[cache.Gzip] = []byte{1}
	d.Bodies[cache.Brotli] = []byte{2}
	e := d.Entry()
	for in, want := range map[string]cache.Encoding{
		"br;q=0.9, gzip;q=0.8":       cache.Brotli,
		"gzip;q=0.1":                 cache.Gzip,
		"gzip;q=0.1, identity;q=0.5": cache.Identity,
		"zstd":                       cache.Identity, // nothing acceptable is stored
	} {
		p := parseAcceptEncoding(in)
		if got := p.choose(e); got != want {
			t.Errorf("%q: chose %s, want %s", in, got, want)
		}
	}
}
