package edge

import (
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/edgecdn/edgecdn/cache"
)

// errBodyTooLarge stops a request body over http.max_request_body.
var errBodyTooLarge = errors.New("edge: request body too large")

// clientBodyError is a failure reading the client's request body
// (malformed chunking, the client gone): the client's fault, not the
// origin's.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "edge: request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// limitedBody reads at most n bytes of a request body, then fails.
type limitedBody struct {
	r io.Reader
	n int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Is there more? One byte tells.
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			return 0, errBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil && err != io.EOF {
		err = &clientBodyError{err}
	}
	return n, err
}

// servePass forwards a request the cache does not handle (a method other
// than GET and HEAD) and streams the answer back. After a successful
// unsafe request the target URI, and same-host Location and
// Content-Location, are invalidated (RFC 9111 4.4).
func (x *exchange) servePass(result int) {
	r, h := x.r, x.h
	if r.ContentLength > x.g.maxBody {
		h.met.rejected.WithLabelValues("body_too_large").Inc()
		x.plainError(413, "request body too large", "body-too-large")
		return
	}
	var body io.Reader
	if r.HasBody() {
		body = &limitedBody{r: r.Body, n: x.g.maxBody}
	}
	req := x.originRequest(r.Method, body, false, nil)
	resp, err := x.s.pool.Do(h.fillCtx, req, x.key)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			h.met.rejected.WithLabelValues("body_too_large").Inc()
			x.plainError(413, "request body too large", "body-too-large")
			return
		}
		var cbe *clientBodyError
		if errors.As(err, &cbe) {
			h.met.rejected.WithLabelValues("bad_body").Inc()
			x.plainError(400, "malformed request body", "bad-body")
			return
		}
		x.originFailed(err, nil, false, fwdMethod)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 400 && unsafeMethod(r.Method) {
		x.invalidate(resp)
	}
	hdr := cleanResponseHeader(resp.Header)
	cs := cacheStatus{fwd: fwdMethod, fwdStatus: resp.StatusCode}
	hdr.Set("Cache-Status", cs.String(x.g.csPrefix))
	w := x.w
	w.WriteHead(resp.StatusCode, hdr, resp.ContentLength)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	for {
		n, rerr := resp.Body.Read(*bp)
		if n > 0 {
			if _, err := w.Write((*bp)[:n]); err != nil {
				w.Abort()
				break
			}
			if err := w.Flush(); err != nil {
				w.Abort()
				break
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Abort()
			break
		}
	}
	x.done(result, resp.StatusCode, cache.Identity)
}

// unsafeMethod reports methods that are not safe (RFC 9110 9.2.1),
// including unknown ones.
func unsafeMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return false
	}
	return true
}

// invalidate removes the stored responses for the request's URI and for
// the response's Location and Content-Location when they are on the same
// host.
func (x *exchange) invalidate(resp *http.Response) {
	keys := []string{x.ownedKey()}
	base := &url.URL{Scheme: "http", Host: x.r.Host, Path: x.r.Path}
	for _, field := range [...]string{"Location", "Content-Location"} {
		v := resp.Header.Get(field)
		if v == "" {
			continue
		}
		u, err := base.Parse(v)
		if err != nil || !sameHost(u, x.r.Host) || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		k, err := cache.AppendKey(nil, "http", x.r.Host, u.EscapedPath(), u.RawQuery, u.RawQuery != "" || u.ForceQuery)
		if err == nil {
			keys = append(keys, string(k))
		}
	}
	x.h.store.Purge(cache.PurgeRequest{Keys: keys})
}
