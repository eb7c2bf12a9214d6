package dashboard

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// DataPath is where the page fetches its data, an absolute path on the
// admin server (so that /dashboard and /dashboard/ both work).
const DataPath = "/dashboard/data"

// page is the whole dashboard: markup, style and script in one file.
//
//go:embed index.html
var page []byte

var (
	csp  = policy(page)
	etag = func() string {
		s := sha256.Sum256(page)
		return `"` + hex.EncodeToString(s[:8]) + `"`
	}()
)

// policy builds the Content-Security-Policy of p: its one inline script
// and its one inline style block are allowed by hash, connections only to
// the page's own origin, images only as data: URLs (the icon), and
// nothing else. It panics when p does not have exactly one of each block,
// which is a mistake in index.html, caught by the package's tests.
func policy(p []byte) string {
	hash := func(tag string) string {
		re := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`)
		m := re.FindAllSubmatch(p, -1)
		if len(m) != 1 {
			panic("dashboard: index.html needs exactly one <" + tag + "> block")
		}
		s := sha256.Sum256(m[0][1])
		return "'sha256-" + base64.StdEncoding.EncodeToString(s[:]) + "'"
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + hash("script"),
		"style-src " + hash("style"),
		"connect-src 'self'",
		"img-src data:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// Handler serves the page, for GET and HEAD, at "/", "", or a path
// ending in "/dashboard", "/dashboard/" or "/index.html", so it works
// mounted with or without http.StripPrefix. Other paths are 404.
func Handler() http.Handler { return handler{} }

type handler struct{}

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isPage(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
}

func isPage(p string) bool {
	p = strings.TrimSuffix(p, "/")
	switch p[strings.LastIndexByte(p, '/')+1:] {
	case "", "dashboard", "index.html":
		return true
	}
	return false
}

// Interface guard.
var _ http.Handler = handler{}
