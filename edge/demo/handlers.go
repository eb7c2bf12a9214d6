package demo

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	allowGetHead     = "GET, HEAD"
	allowGetHeadPost = "GET, HEAD, POST"

	maxEchoBody = 64 << 20 // /demo/headers reads at most this much body
	maxTagLen   = 64       // /demo/tag/<tag>/...
	maxNameLen  = 200      // /demo/tag/.../<name>
	maxEchoLen  = 100      // bytes of a path or header value put in a body
)

// route dispatches a counted request by path.
func (s *Server) route(w http.ResponseWriter, r *http.Request, path string, now time.Time) {
	switch path {
	case "/", "/demo", "/demo/":
		s.static(w, r, now, "text/html; charset=utf-8", "public, max-age=60", indexDoc())
	case "/demo/json":
		s.static(w, r, now, "application/json", "public, max-age=60", jsonDoc())
	case "/demo/image.png":
		s.static(w, r, now, "image/png", "public, max-age=86400", pngDoc())
	case "/demo/image.svg":
		s.static(w, r, now, "image/svg+xml", "public, max-age=86400", svgDoc())
	case "/demo/nostore":
		s.policy(w, r, now, "no-store", false,
			"This response has Cache-Control: no-store: no cache may store it, so every request reaches the origin (watch X-Demo-Fetch).\n")
	case "/demo/private":
		s.policy(w, r, now, "private, max-age=60", false,
			"This response has Cache-Control: private, max-age=60: a browser may keep it for a minute, a shared cache such as the edge must not store it.\n")
	case "/demo/nocache":
		s.policy(w, r, now, "no-cache", true,
			"This response has Cache-Control: no-cache and an ETag: a cache may store it but must revalidate it with the origin before every use (a 304 from the origin keeps the stored copy).\n")
	case "/demo/expires":
		s.expires(w, r, now)
	case "/demo/heuristic":
		s.heuristic(w, r, now)
	case "/demo/nofreshness":
		s.policy(w, r, now, "", false,
			"This response has no Cache-Control, no Expires, no Last-Modified and no ETag: a cache has no freshness information and no way to revalidate it.\n")
	case "/demo/stale":
		s.stale(w, r, now)
	case "/demo/vary":
		s.vary(w, r, now)
	case "/demo/headers":
		s.echo(w, r)
	case "/demo/fail":
		s.failSwitch(w, r)
	default:
		switch {
		case strings.HasPrefix(path, "/demo/text/"):
			s.text(w, r, now, path[len("/demo/text/"):])
		case strings.HasPrefix(path, "/demo/slow/"):
			s.slow(w, r, now, path[len("/demo/slow/"):])
		case strings.HasPrefix(path, "/demo/gzip/"):
			s.gzipText(w, r, now, path[len("/demo/gzip/"):])
		case strings.HasPrefix(path, "/demo/large/"):
			s.large(w, r, now, path[len("/demo/large/"):])
		case strings.HasPrefix(path, "/demo/tag/"):
			s.tag(w, r, now, path)
		case strings.HasPrefix(path, "/demo/status/"):
			s.status(w, r, path[len("/demo/status/"):])
		default:
			writePlain(w, r, http.StatusNotFound,
				fmt.Sprintf("404 not found: the demo origin has nothing at %s (GET / lists its endpoints)\n", quoteShort(path)))
		}
	}
}

// getOrHead answers 405 and returns false unless r is a GET or HEAD.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	methodNotAllowed(w, r, allowGetHead)
	return false
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writePlain(w, r, http.StatusMethodNotAllowed,
		fmt.Sprintf("405 method not allowed: %s answers %s, not %s\n", quoteShort(r.URL.Path), allow, quoteShort(r.Method)))
}

func badRequest(w http.ResponseWriter, r *http.Request, msg string) {
	writePlain(w, r, http.StatusBadRequest, "400 bad request: "+msg+"\n")
}

// quoteShort quotes s for a body, cut to maxEchoLen bytes.
func quoteShort(s string) string {
	if len(s) > maxEchoLen {
		return strconv.Quote(s[:maxEchoLen]) + "..."
	}
	return strconv.Quote(s)
}

// unavailable answers while the failure switch is on; it reports whether it
// did.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request) bool {
	if !s.failing.Load() {
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	writePlain(w, r, http.StatusServiceUnavailable,
		"503 service unavailable: the demo origin's failure switch is on (POST /demo/fail?on=0 turns it off); a cache may now serve stale content (stale-if-error)\n")
	return true
}

// static serves a fixed document.
func (s *Server) static(w http.ResponseWriter, r *http.Request, now time.Time, ctype, cc string, d document) {
	if !getOrHead(w, r) {
		return
	}
	s.serve(w, r, bytesEntity(ctype, cc, d.etag, demoModified, d.body), now)
}

// policy serves a fixed explanation under a given Cache-Control, with an
// ETag when etag is set. The body names the time so refetches are visible.
func (s *Server) policy(w http.ResponseWriter, r *http.Request, now time.Time, cc string, etag bool, body string) {
	if !getOrHead(w, r) {
		return
	}
	tag := ""
	if etag {
		tag = bytesETag([]byte(body))
	} else {
		body += "Generated at " + now.Format(time.RFC3339) + ".\n"
	}
	s.serve(w, r, bytesEntity("text/plain; charset=utf-8", cc, tag, time.Time{}, []byte(body)), now)
}

func (s *Server) expires(w http.ResponseWriter, r *http.Request, now time.Time) {
	if !getOrHead(w, r) {
		return
	}
	body := []byte("This response has no Cache-Control, only Expires = Date + 120 s: a cache may serve it for two minutes, then revalidate it with its ETag.\n")
	w.Header().Set("Expires", now.Add(120*time.Second).Format(http.TimeFormat))
	s.serve(w, r, bytesEntity("text/plain; charset=utf-8", "", bytesETag(body), time.Time{}, body), now)
}

func (s *Server) heuristic(w http.ResponseWriter, r *http.Request, now time.Time) {
	if !getOrHead(w, r) {
		return
	}
	body := []byte("This response has no Cache-Control and no Expires, only Last-Modified a day ago: a cache may choose a heuristic freshness lifetime, commonly 10% of the time since modification (about 2.4 hours here).\n")
	s.serve(w, r, bytesEntity("text/plain; charset=utf-8", "", "", now.Add(-24*time.Hour), body), now)
}

func (s *Server) stale(w http.ResponseWriter, r *http.Request, now time.Time) {
	if !getOrHead(w, r) || s.unavailable(w, r) {
		return
	}
	body := []byte("edgecdn demo stale object, generated by the origin at " + now.Format(time.RFC3339) + ".\n" +
		"Cache-Control: public, max-age=5, stale-while-revalidate=30, stale-if-error=300:\n" +
		"fresh for 5 s; for 30 s more a cache may answer with this copy while it refreshes it in the background;\n" +
		"and for 300 s after expiry it may answer with it when the origin fails (try POST /demo/fail?on=1).\n")
	s.serve(w, r, bytesEntity("text/plain; charset=utf-8",
		"public, max-age=5, stale-while-revalidate=30, stale-if-error=300", bytesETag(body), now, body), now)
}

func (s *Server) vary(w http.ResponseWriter, r *http.Request, now time.Time) {
	if !getOrHead(w, r) {
		return
	}
	variant := strings.TrimSpace(r.Header.Get("X-Demo-Variant"))
	if variant == "" {
		variant = "none"
	}
	w.Header().Set("Vary", "X-Demo-Variant")
	body := []byte("edgecdn demo vary: this variant was served for X-Demo-Variant: " + quoteShort(variant) + "\n" +
		"The response has Vary: X-Demo-Variant, so a cache keeps one copy per value of that request header.\n")
	s.serve(w, r, bytesEntity("text/plain; charset=utf-8", "public, max-age=3600",
		paramETag("vary", variant), demoModified, body), now)
}

func (s *Server) text(w http.ResponseWriter, r *http.Request, now time.Time, arg string) {
	if !getOrHead(w, r) || s.unavailable(w, r) {
		return
	}
	size, err := parseSize(arg, maxTextSize)
	if err != nil {
		badRequest(w, r, "/demo/text/<bytes>: "+err.Error())
		return
	}
	s.serve(w, r, textEntity(fmt.Sprintf("edgecdn demo text, %d bytes", size), size), now)
}

func (s *Server) slow(w http.ResponseWriter, r *http.Request, now time.Time, arg string) {
	if !getOrHead(w, r) {
		return
	}
	ms, ok := parseDigits(arg)
	if !ok || ms > maxDelayMS {
		badRequest(w, r, fmt.Sprintf("/demo/slow/<ms>: the delay must be a whole number of milliseconds in 0..%d", maxDelayMS))
		return
	}
	size := int64(defaultSlowSz)
	if q := r.URL.Query(); q.Has("size") {
		var err error
		if size, err = parseSize(q.Get("size"), maxTextSize); err != nil {
			badRequest(w, r, "/demo/slow/<ms>?size=<bytes>: "+err.Error())
			return
		}
	}
	if ms > 0 {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The client went away or the server is stopping. Returning
			// would send an empty 200 that a cache could store; abort the
			// response instead (net/http closes the connection quietly).
			panic(http.ErrAbortHandler)
		}
		now = s.now().UTC().Truncate(time.Second)
		w.Header().Set("Date", now.Format(http.TimeFormat))
	}
	s.serve(w, r, textEntity(fmt.Sprintf("edgecdn demo slow response, %d ms delay, %d bytes", ms, size), size), now)
}

func (s *Server) gzipText(w http.ResponseWriter, r *http.Request, now time.Time, arg string) {
	if !getOrHead(w, r) {
		return
	}
	size, err := parseSize(arg, maxTextSize)
	if err != nil {
		badRequest(w, r, "/demo/gzip/<bytes>: "+err.Error())
		return
	}
	e := textEntity(fmt.Sprintf("edgecdn demo text compressed by the origin, %d bytes before compression", size), size)
	w.Header().Set("Vary", "Accept-Encoding")
	if acceptsGzip(headerList(r, "Accept-Encoding")) {
		// A different representation needs a different strong ETag.
		e.etag = strings.TrimSuffix(e.etag, `"`) + `-gzip"`
		e.encoding = "gzip"
		e.size = -1 // streamed: chunked unless it fits the server's buffer
		text := e.body
		e.body = func(w io.Writer, off, n int64) error {
			zw := gzipWriters.Get().(*gzip.Writer)
			defer gzipWriters.Put(zw)
			zw.Reset(w)
			if err := text(zw, 0, size); err != nil {
				return err
			}
			return zw.Close()
		}
	}
	s.serve(w, r, e, now)
}

func (s *Server) large(w http.ResponseWriter, r *http.Request, now time.Time, arg string) {
	if !getOrHead(w, r) {
		return
	}
	mib, ok := parseDigits(arg)
	if !ok || mib < 1 || mib > maxLargeMiB {
		badRequest(w, r, fmt.Sprintf("/demo/large/<MiB>: the size must be a whole number of MiB in 1..%d", maxLargeMiB))
		return
	}
	s.serve(w, r, largeEntity(mib), now)
}

func (s *Server) tag(w http.ResponseWriter, r *http.Request, now time.Time, path string) {
	if !getOrHead(w, r) {
		return
	}
	tag, name, _ := strings.Cut(path[len("/demo/tag/"):], "/")
	if !validTag(tag) || name == "" || len(name) > maxNameLen {
		badRequest(w, r, fmt.Sprintf("/demo/tag/<tag>/<name>: <tag> must be 1..%d of A-Z a-z 0-9 . _ - and <name> 1..%d bytes", maxTagLen, maxNameLen))
		return
	}
	h := w.Header()
	h.Set("Surrogate-Key", tag+" demo-all")
	h.Set("Cache-Tag", tag)
	body := []byte("edgecdn demo tagged object " + strconv.Quote(name) + " with tag " + strconv.Quote(tag) + ".\n" +
		"It is cacheable for an hour and carries Surrogate-Key: " + tag + " demo-all and Cache-Tag: " + tag + ",\n" +
		"so purging the tag " + strconv.Quote(tag) + " (or \"demo-all\") drops it and every other object with that tag.\n")
	s.serve(w, r, bytesEntity("text/plain; charset=utf-8", "public, max-age=3600", paramETag("tag", path), demoModified, body), now)
}

// validTag reports whether t can go into Surrogate-Key and Cache-Tag as is.
func validTag(t string) bool {
	if t == "" || len(t) > maxTagLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, arg string) {
	if !getOrHead(w, r) {
		return
	}
	code, ok := parseDigits(arg)
	if !ok || code < 100 || code > 599 {
		badRequest(w, r, "/demo/status/<code>: the code must be a number in 200..599")
		return
	}
	if code < 200 {
		badRequest(w, r, "/demo/status/<code>: 1xx codes are interim responses and cannot be the final answer; use 200..599")
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=30")
	reason := http.StatusText(int(code))
	if reason == "" {
		reason = "(no standard reason phrase)"
	}
	body := fmt.Sprintf("demo status %d %s: the origin answers this status on purpose, with Cache-Control: public, max-age=30,\nso a shared cache that stores %d responses keeps it for 30 s.\n", code, reason, code)
	switch code {
	case http.StatusNoContent, http.StatusResetContent, http.StatusNotModified:
		if code == http.StatusResetContent {
			h.Set("Content-Length", "0")
		}
		w.WriteHeader(int(code))
		return
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		h.Set("Location", "/demo/")
	case http.StatusPartialContent:
		h.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(body)-1, len(body)))
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Basic realm="edgecdn-demo"`)
	case http.StatusMethodNotAllowed:
		h.Set("Allow", allowGetHead)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h.Set("Retry-After", "30")
	}
	writePlain(w, r, int(code), body)
}

// echo answers /demo/headers: the request as the origin received it.
func (s *Server) echo(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, io.LimitReader(r.Body, maxEchoBody+1))
	truncated := n > maxEchoBody
	doc := struct {
		Method        string              `json:"method"`
		Path          string              `json:"path"`
		Query         string              `json:"query"`
		Proto         string              `json:"proto"`
		Host          string              `json:"host"`
		RemoteAddr    string              `json:"remote_addr"`
		Headers       map[string][]string `json:"headers"`
		BodyBytes     int64               `json:"body_bytes"`
		BodyTruncated bool                `json:"body_truncated,omitempty"`
		BodyError     string              `json:"body_error,omitempty"`
	}{
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		Proto:         r.Proto,
		Host:          r.Host,
		RemoteAddr:    r.RemoteAddr,
		Headers:       r.Header, // encoding/json sorts the names
		BodyBytes:     min(n, maxEchoBody),
		BodyTruncated: truncated,
	}
	if err != nil {
		doc.BodyError = err.Error()
	}
	if doc.Headers == nil {
		doc.Headers = map[string][]string{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil { // strings and ints only: cannot happen
		b = []byte("{}")
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// failSwitch answers /demo/fail: GET shows the switch, POST ?on=1|0 sets it.
func (s *Server) failSwitch(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		v := r.URL.Query().Get("on")
		on, err := strconv.ParseBool(v)
		if err != nil {
			badRequest(w, r, "POST /demo/fail needs ?on=1 or ?on=0")
			return
		}
		if s.failing.Swap(on) != on {
			s.log.Info("demo origin failure switch changed", "on", on)
		}
	default:
		methodNotAllowed(w, r, allowGetHeadPost)
		return
	}
	state := "off: /demo/stale and /demo/text answer normally.\nPOST /demo/fail?on=1 makes them answer 503 (Cache-Control: no-store).\n"
	if s.failing.Load() {
		state = "on: /demo/stale and /demo/text answer 503 (Cache-Control: no-store), so a cache may serve stale copies (stale-if-error).\nPOST /demo/fail?on=0 turns it off.\n"
	}
	writePlain(w, r, http.StatusOK, "demo origin failure switch: "+state+
		"(A demo switch without credentials: acceptable only because the demo origin listens on loopback.)\n")
}

// serveStats answers /demo/stats and /demo/stats/reset, which are not
// counted.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Cache-Control", "no-store")
	if path == "/demo/stats/reset" {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		s.ResetStats()
		writePlain(w, r, http.StatusOK, "demo origin counters reset\n")
		return
	}
	if !getOrHead(w, r) {
		return
	}
	paths := s.Stats()
	var total int64
	for _, n := range paths {
		total += n
	}
	b, err := json.MarshalIndent(struct {
		Paths map[string]int64 `json:"paths"`
		Total int64            `json:"total"`
	}{paths, total}, "", "  ")
	if err != nil { // strings and ints only: cannot happen
		b = []byte("{}")
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
