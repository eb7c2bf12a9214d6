package dashboard

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The page is served, as HTML, wherever the node mounts the handler: at
// the root of a StripPrefix, or at /dashboard and /dashboard/ directly.
func TestHandlerPaths(t *testing.T) {
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 200},
		{"GET", "/dashboard", 200},
		{"GET", "/dashboard/", 200},
		{"GET", "/dashboard/index.html", 200},
		{"HEAD", "/dashboard/", 200},
		{"GET", "/dashboard/data", 404},
		{"GET", "/dashboard/assets/x.js", 404},
		{"GET", "/other", 404},
		{"POST", "/dashboard/", 405},
		{"DELETE", "/", 405},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			resp := get(t, c.method, c.path)
			b := body(t, resp)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			switch {
			case c.status == 405:
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow %q", got)
				}
			case c.status != 200:
			case c.method == "HEAD":
				if b != "" {
					t.Errorf("HEAD answered a body of %d bytes", len(b))
				}
			default:
				if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if b != string(page) {
					t.Errorf("body is not the page")
				}
			}
		})
	}
}

// The page names no other host: no URL at all, no script, style sheet,
// image or frame loaded from anywhere, no web font.
func TestNoExternalReferences(t *testing.T) {
	b := body(t, get(t, "GET", "/"))
	for _, bad := range []string{"http://", "https://", "//cdn", "@import", "@font-face", "url(", "<iframe", "<object", "<embed", "<img", "importScripts", "new Worker", "eval("} {
		if i := strings.Index(strings.ToLower(b), strings.ToLower(bad)); i >= 0 {
			t.Errorf("page contains %q: %q", bad, b[max(0, i-40):min(len(b), i+60)])
		}
	}
	// Protocol-relative URLs ("//host/...") in attributes.
	if m := regexp.MustCompile(`(?i)(src|href|action|data)\s*=\s*["']?//`).FindString(b); m != "" {
		t.Errorf("protocol-relative reference %q", m)
	}
	if m := regexp.MustCompile(`(?i)<script[^>]*\ssrc\s*=`).FindString(b); m != "" {
		t.Errorf("page loads a script: %q", m)
	}
	for _, m := range regexp.MustCompile(`(?i)\shref\s*=\s*"([^"]*)"`).FindAllStringSubmatch(b, -1) {
		if !strings.HasPrefix(m[1], "data:") && !strings.HasPrefix(m[1], "#") {
			t.Errorf("page links to %q", m[1])
		}
	}
	if m := regexp.MustCompile(`(?i)<link[^>]*rel\s*=\s*"?stylesheet`).FindString(b); m != "" {
		t.Errorf("page loads a style sheet: %q", m)
	}
	// The page fetches its data from one absolute path on its own origin.
	if !strings.Contains(b, "'"+DataPath+"'") {
		t.Errorf("page does not fetch %s", DataPath)
	}
	if n := strings.Count(b, "fetch("); n != 1 {
		t.Errorf("page calls fetch %d times, want 1 (the data)", n)
	}
}

// The policy allows exactly the page's own inline script and style, by
// hash, and connections to its own origin; nothing from elsewhere.
func TestContentSecurityPolicy(t *testing.T) {
	resp := get(t, "GET", "/dashboard/")
	p := resp.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(p, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	b := body(t, resp)
	hash := func(tag string) string {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(b)
		if m == nil {
			t.Fatalf("no <%s> block", tag)
		}
		s := sha256.Sum256([]byte(m[1]))
		return "'sha256-" + base64.StdEncoding.EncodeToString(s[:]) + "'"
	}
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      hash("script"),
		"style-src":       hash("style"),
		"connect-src":     "'self'",
		"img-src":         "data:",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"frame-ancestors": "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("%s %q, want %q (policy %q)", name, got, want, p)
		}
	}
	if strings.Contains(p, "unsafe-inline") || strings.Contains(p, "unsafe-eval") || strings.Contains(p, "http") || strings.Contains(p, "*") {
		t.Errorf("policy allows too much: %q", p)
	}
	// Inline handlers and style attributes would be refused by the policy.
	if m := regexp.MustCompile(`(?i)<[^>]+\s(on[a-z]+|style)\s*=`).FindString(b); m != "" {
		t.Errorf("markup has an attribute the policy refuses: %q", m)
	}
	if m := regexp.MustCompile(`setAttribute\(\s*'(style|on[a-z]+)'`).FindString(b); m != "" {
		t.Errorf("script sets an attribute the policy refuses: %q", m)
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-cache",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
}

// A browser revalidating the page gets a 304.
func TestETag(t *testing.T) {
	et := get(t, "GET", "/").Header.Get("ETag")
	if et == "" {
		t.Fatal("no ETag")
	}
	if resp := get(t, "GET", "/", "If-None-Match", et); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d, want 304", resp.StatusCode)
	}
}

func TestPolicyNeedsOneBlockEach(t *testing.T) {
	for name, p := range map[string]string{
		"no script":   "<style>a</style>",
		"two scripts": "<style>a</style><script>1</script><script>2</script>",
		"no style":    "<script>1</script>",
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			policy([]byte(p))
		})
	}
}
