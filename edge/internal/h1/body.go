package h1

import (
	"bytes"
	"errors"
	"io"
	"time"
)

// body reads a request body framed by Content-Length or chunked coding from
// the connection, consuming buffered bytes first.
type body struct {
	c         *conn
	req       *Request
	remaining int64 // bytes left: of the body, or of the current chunk
	chunked   bool
	inChunk   bool // chunked: inside chunk data (CRLF follows when remaining hits 0)
	done      bool
	started   bool
	err       error
	continued bool // "100 Continue" sent
}

var errBodyTooLong = errors.New("h1: chunk size line too long")

func (b *body) reset(r *Request) {
	*b = body{c: b.c, req: r}
	switch {
	case !r.hasBody:
		b.done = true
	case r.ContentLength < 0:
		b.chunked = true
	default:
		b.remaining = r.ContentLength
	}
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !b.started {
		b.started = true
		if b.req.ExpectContinue && !b.c.resp.wroteHead {
			if err := b.sendContinue(); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	if b.chunked {
		return b.readChunked(p)
	}
	return b.readN(p)
}

func (b *body) sendContinue() error {
	c := b.c
	if err := c.resp.flush(); err != nil {
		return err
	}
	b.continued = true
	return c.write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
}

// readN reads up to remaining bytes, straight from the socket into p when
// nothing is buffered.
func (b *body) readN(p []byte) (int, error) {
	c := b.c
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	var n int
	if c.r < c.w {
		n = copy(p, c.buf[c.r:c.w])
		c.r += n
	} else {
		if c.broken {
			b.err = errBroken
			return 0, b.err
		}
		var err error
		n, err = c.readWait(p, time.Now().Add(c.lim.idle))
		if n == 0 && err != nil {
			c.broken = true
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
			return 0, err
		}
	}
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.done = true
	}
	return n, nil
}

func (b *body) readChunked(p []byte) (int, error) {
	c := b.c
	for !b.inChunk {
		if err := b.nextChunk(); err != nil {
			b.err = err
			return 0, err
		}
		if b.done {
			return 0, io.EOF
		}
	}
	for c.r == c.w {
		if err := c.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
			return 0, err
		}
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.inChunk = false
		if err := b.expectCRLF(); err != nil {
			b.err = err
			// The data itself is fine; the error surfaces on the next Read.
		}
	}
	return n, nil
}

// line returns the next line (without CRLF/LF) from the buffer, reading
// more as needed; lines longer than max are an error.
func (b *body) line(max int) ([]byte, error) {
	c := b.c
	from := 0
	for {
		if i := bytes.IndexByte(c.buf[c.r+from:c.w], '\n'); i >= 0 {
			l := c.buf[c.r : c.r+from+i]
			c.r += from + i + 1
			return trimCR(l), nil
		}
		from = c.w - c.r
		if from > max {
			return nil, errBodyTooLong
		}
		if err := c.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

func (b *body) expectCRLF() error {
	l, err := b.line(2)
	if err != nil {
		return err
	}
	if len(l) != 0 {
		return errChunked
	}
	return nil
}

// nextChunk reads a chunk-size line (and, for the last chunk, the trailer
// section, which is discarded).
func (b *body) nextChunk() error {
	l, err := b.line(4096)
	if err != nil {
		return err
	}
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		l = l[:i] // chunk extensions are ignored
	}
	l = trimOWS(l)
	if len(l) == 0 || len(l) > 15 {
		return errChunked
	}
	var size int64
	for _, ch := range l {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return errChunked
		}
		size = size<<4 | int64(d)
	}
	if size > 0 {
		b.remaining, b.inChunk = size, true
		return nil
	}
	// Last chunk: skip trailer fields up to the blank line.
	total := 0
	for {
		t, err := b.line(b.c.lim.maxHeader)
		if err != nil {
			return err
		}
		if len(t) == 0 {
			b.done = true
			return nil
		}
		total += len(t)
		if total > b.c.lim.maxHeader {
			return errChunked
		}
	}
}

// drain discards what the handler left of the body so that the connection
// can carry the next request. It returns false when the connection must be
// closed instead (body too long to drain, malformed, client gone, or a
// 100-continue client that was never told to send it).
func (b *body) drain() bool {
	if b.done {
		return true
	}
	if b.err != nil {
		return false
	}
	if b.req.ExpectContinue && !b.continued {
		return false
	}
	var scratch [4096]byte
	left := b.c.lim.maxDrain
	for left > 0 {
		n, err := b.Read(scratch[:min(int64(len(scratch)), left)])
		left -= int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return b.done
}
