package h1

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// Response writes the answer to one request. Two ways to use it:
//
//   - WriteRaw for a response whose header block the caller has built
//     (the cache hit path): status line and fields, framing included.
//   - WriteHead followed by Write calls and optionally Flush, for a
//     response built from an http.Header and streamed (misses, errors).
//
// Either way the server adds the Connection field when the connection
// will close (or stay open for HTTP/1.0) and the blank line, omits the body
// of HEAD, 1xx, 204 and 304 responses, and frames streamed bodies.
type Response struct {
	// Local is the handler's own per-connection state (scratch buffers,
	// memoised parses): it survives from one request to the next on the
	// same connection and starts nil on a new one.
	Local any

	c   *conn
	req *Request

	wbuf []byte // pending output
	iov  [2][]byte
	// bufs is the net.Buffers view of iov handed to WriteTo: a field,
	// not a local, because WriteTo's receiver escapes through the
	// connection's interface and a local would cost an allocation per
	// write.
	bufs net.Buffers
	hbuf []byte // Scratch storage

	wroteHead  bool
	status     int
	noBody     bool  // HEAD request or a status without a body
	chunked    bool  // streamed body with chunked coding
	closeDelim bool  // HTTP/1.0 body of unknown length: ends at close
	remaining  int64 // Content-Length bytes still owed (-1: not length-framed)
	written    int64 // body bytes written
	closeAfter bool  // connection must close after this response
	aborted    bool  // Abort was called
	// headAt is when WriteHead sent the head of a streamed response; zero
	// for a response written whole by WriteRaw.
	headAt time.Time
}

func (w *Response) reset(r *Request) {
	w.req = r
	w.wroteHead = false
	w.status = 0
	w.noBody = false
	w.chunked = false
	w.closeDelim = false
	w.remaining = -1
	w.written = 0
	w.closeAfter = false
	w.aborted = false
	w.headAt = time.Time{}
}

// HeadAt is when the head of a streamed response (WriteHead) was written;
// zero when the response went out whole (WriteRaw), whose first byte is
// then about when the handler returns.
func (w *Response) HeadAt() time.Time { return w.headAt }

// TCPRTT returns the kernel's smoothed round-trip time of the client
// connection (TCP_INFO), where the platform has it.
func (w *Response) TCPRTT() (time.Duration, bool) { return tcpRTT(w.c.nc) }

// Scratch returns an empty slice, reused per connection, for building a
// header block to pass to WriteRaw (2 KiB of capacity; appending past it
// allocates).
func (w *Response) Scratch() []byte { return w.hbuf[:0] }

// Status returns the status written so far (0 before the head).
func (w *Response) Status() int { return w.status }

// Written returns how many body bytes have been written.
func (w *Response) Written() int64 { return w.written }

// WroteHead reports whether the response head has been written.
func (w *Response) WroteHead() bool { return w.wroteHead }

// Broken reports whether writing to the client has failed (it went away
// or stopped reading): a streaming handler should stop.
func (w *Response) Broken() bool { return w.c.broken }

var (
	errWroteHead  = errors.New("h1: response head already written")
	errTooLong    = errors.New("h1: body longer than its Content-Length")
	errNoHeadYet  = errors.New("h1: WriteHead not called")
	crlf          = []byte("\r\n")
	connClose     = []byte("Connection: close\r\n")
	connKeepAlive = []byte("Connection: keep-alive\r\n")
)

// WriteRaw sends a complete response. head is the status line and header
// fields, each ending in CRLF, without the final blank line and without a
// Connection field; it must frame body itself (Content-Length). status is
// the status code head carries (for accounting and to tell bodiless
// responses). The body is dropped for HEAD requests. head may be the slice
// from Scratch, extended.
func (w *Response) WriteRaw(status int, head, body []byte) error {
	if w.wroteHead {
		return errWroteHead
	}
	w.wroteHead = true
	w.status = status
	c := w.c
	w.noBody = w.req.Method == "HEAD" || bodyless(status)
	if w.noBody {
		body = nil
	}
	tail := w.connTail()
	// Small responses are gathered into wbuf; large bodies go out with
	// writev after the head.
	if len(w.wbuf)+len(head)+len(tail)+len(body) <= cap(w.wbuf) {
		w.wbuf = append(w.wbuf, head...)
		w.wbuf = append(w.wbuf, tail...)
		w.wbuf = append(w.wbuf, body...)
		w.written = int64(len(body))
		return nil
	}
	w.wbuf = append(w.wbuf, head...)
	w.wbuf = append(w.wbuf, tail...)
	err := c.writev(w.wbuf, body)
	w.wbuf = w.wbuf[:0]
	if err == nil {
		w.written = int64(len(body))
	}
	return err
}

// connTail returns the Connection field (if any) and the blank line.
func (w *Response) connTail() []byte {
	switch {
	case w.req.Close || w.c.s.shutdown.Load():
		w.req.Close = true
		return closeTail
	case w.req.ProtoMinor == 0:
		return keepAliveTail
	}
	return crlf
}

var (
	closeTail     = append(append([]byte(nil), connClose...), crlf...)
	keepAliveTail = append(append([]byte(nil), connKeepAlive...), crlf...)
)

func bodyless(status int) bool {
	return status < 200 || status == 204 || status == 304
}

// WriteHead writes the status line and the fields of h (hop-by-hop fields
// excepted: Connection, Keep-Alive, Transfer-Encoding, Content-Length,
// Trailer, Upgrade are set by the server). contentLength is the body
// length, or -1 when unknown (the body is then chunked for HTTP/1.1 and
// ends with the connection for HTTP/1.0). A Date field is added if h has
// none.
func (w *Response) WriteHead(status int, h http.Header, contentLength int64) error {
	if w.wroteHead {
		return errWroteHead
	}
	w.wroteHead = true
	w.headAt = time.Now()
	w.status = status
	w.noBody = w.req.Method == "HEAD" || bodyless(status)
	b := w.wbuf
	b = appendStatusLine(b, status)
	var stack [32]string
	keys := stack[:0]
	for k := range h {
		if skipField(k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendSanitized(b, v)
			b = append(b, crlf...)
		}
	}
	if _, ok := h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, HTTPDate()...)
		b = append(b, crlf...)
	}
	switch {
	case bodyless(status):
		// 1xx, 204 and 304 carry no body and no framing fields (a 304
		// may repeat Content-Length, but need not).
	case contentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, contentLength, 10)
		b = append(b, crlf...)
		w.remaining = contentLength
	case w.req.ProtoMinor == 1:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		w.chunked = !w.noBody
	default:
		w.closeDelim = true
		w.req.Close = true
	}
	w.wbuf = append(b, w.connTail()...)
	if w.noBody {
		w.remaining = -1
		w.chunked = false
	}
	return nil
}

// skipField reports fields WriteHead leaves out because the server owns them.
func skipField(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
		"Trailer", "Upgrade", "Proxy-Connection":
		return true
	}
	return false
}

// appendSanitized appends a field value, replacing CR, LF and NUL (which
// would split or end the header) with spaces.
func appendSanitized(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// Write writes body bytes (after WriteHead). Output is buffered; large
// writes go straight to the socket.
func (w *Response) Write(p []byte) (int, error) {
	if !w.wroteHead {
		return 0, errNoHeadYet
	}
	if w.aborted {
		return 0, errBroken
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	if w.remaining >= 0 {
		if int64(len(p)) > w.remaining {
			w.closeAfter = true
			return 0, errTooLong
		}
		w.remaining -= int64(len(p))
	}
	if w.chunked {
		w.wbuf = strconv.AppendInt(w.wbuf, int64(len(p)), 16)
		w.wbuf = append(w.wbuf, crlf...)
	}
	var err error
	if len(w.wbuf)+len(p) <= cap(w.wbuf) {
		w.wbuf = append(w.wbuf, p...)
	} else {
		err = w.c.writev(w.wbuf, p)
		w.wbuf = w.wbuf[:0]
	}
	if w.chunked && err == nil {
		w.wbuf = append(w.wbuf, crlf...)
	}
	if err != nil {
		return 0, err
	}
	w.written += int64(len(p))
	return len(p), nil
}

// Abort marks a streamed response as failed: nothing more is written, a
// chunked body gets no final chunk, and the connection closes after the
// handler returns — so the client sees a truncated response rather than
// a complete-looking one.
func (w *Response) Abort() {
	w.closeAfter = true
	w.aborted = true
}

// Flush sends buffered output to the client.
func (w *Response) Flush() error { return w.flush() }

func (w *Response) flush() error {
	if len(w.wbuf) == 0 {
		return nil
	}
	err := w.c.write(w.wbuf)
	w.wbuf = w.wbuf[:0]
	return err
}

// finish completes the response after the handler returns.
func (w *Response) finish() {
	if !w.wroteHead {
		w.writeError(500, "internal error: no response")
		w.closeAfter = true
		return
	}
	switch {
	case w.aborted:
	case w.chunked:
		w.wbuf = append(w.wbuf, "0\r\n\r\n"...)
	case w.remaining > 0:
		// Fewer bytes than announced: the client cannot frame the next
		// response, so the connection must end.
		w.closeAfter = true
	case w.closeDelim:
		w.closeAfter = true
	}
}

// writeError writes a short plain-text response.
func (w *Response) writeError(status int, msg string) {
	w.wroteHead = true
	w.status = status
	b := appendStatusLine(w.wbuf, status)
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nDate: "...)
	b = append(b, HTTPDate()...)
	b = append(b, "\r\n"...)
	b = append(b, w.c.s.ErrorFields...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(msg)+1), 10)
	b = append(b, crlf...)
	b = append(b, w.connTail()...)
	if w.req.Method != "HEAD" {
		b = append(b, msg...)
		b = append(b, '\n')
	}
	w.wbuf = b
}

// appendStatusLine appends "HTTP/1.1 <code> <reason>\r\n".
func appendStatusLine(b []byte, status int) []byte {
	if status >= 100 && status < 600 {
		if line := statusLines[status]; line != nil {
			return append(b, line...)
		}
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	return append(b, crlf...)
}

// AppendStatusLine appends the HTTP/1.1 status line for status to b.
func AppendStatusLine(b []byte, status int) []byte { return appendStatusLine(b, status) }

var statusLines = func() (t [600][]byte) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
		}
	}
	return t
}()

// dateCache holds the formatted current date, refreshed once a second.
type dateCache struct {
	sec int64
	val string
}

var curDate atomic.Pointer[dateCache]

// HTTPDate returns the current time in IMF-fixdate form, as used in Date,
// cached per second.
func HTTPDate() string {
	now := time.Now()
	sec := now.Unix()
	if d := curDate.Load(); d != nil && d.sec == sec {
		return d.val
	}
	d := &dateCache{sec: sec, val: now.UTC().Format(http.TimeFormat)}
	curDate.Store(d)
	return d.val
}
