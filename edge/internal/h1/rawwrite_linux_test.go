package h1

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// bigBody is larger than loopback socket buffers can hold, so a client
// that does not read makes the server's writev return short and EAGAIN.
func bigBody() []byte {
	b := make([]byte, 32<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

type writeResult struct {
	err   error
	waits int
}

func bigBodyServer(t *testing.T, s *Server, body []byte) (string, chan writeResult) {
	results := make(chan writeResult, 4)
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	s.Handler = HandlerFunc(func(w *Response, r *Request) {
		err := w.WriteRaw(200, append(w.Scratch(), head...), body)
		results <- writeResult{err, w.c.wr.waits}
	})
	return startServer(t, s), results
}

// TestRawWriteSlowReader: a response that does not fit the socket buffers
// is written in pieces, waiting in the Go poller between them, and arrives
// whole and in order — under both read orders.
func TestRawWriteSlowReader(t *testing.T) {
	body := bigBody()
	for _, rt := range []bool{false, true} {
		t.Run("runtimeReadOrder="+strconv.FormatBool(rt), func(t *testing.T) {
			addr, results := bigBodyServer(t, &Server{RuntimeReadOrder: rt}, body)
			rc := dial(t, addr)
			rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			time.Sleep(200 * time.Millisecond) // let the socket fill up
			resp, got := rc.read("GET")
			if resp.StatusCode != 200 || !bytes.Equal([]byte(got), body) {
				t.Fatalf("status %d, body of %d bytes, equal %v", resp.StatusCode, len(got), bytes.Equal([]byte(got), body))
			}
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.waits == 0 {
				t.Fatal("the write never waited for the socket: not written through the raw writer, or the buffers took 32 MiB")
			}
			// The connection is still usable.
			rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if _, got = rc.read("GET"); len(got) != len(body) {
				t.Fatalf("second response: %d bytes", len(got))
			}
		})
	}
}

// TestRawWriteTimeout: a client that stops reading makes the write fail
// with a deadline error after WriteTimeout, and the connection closes.
func TestRawWriteTimeout(t *testing.T) {
	addr, results := bigBodyServer(t, &Server{WriteTimeout: 300 * time.Millisecond}, bigBody())
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	select {
	case r := <-results:
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("write error %v, want a deadline error", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write to a client that does not read did not time out")
	}
	// The server closed the connection: reading ends before 32 MiB.
	n, err := io.Copy(io.Discard, rc.c)
	if err != nil && !isNetErr(err) {
		t.Fatal(err)
	}
	if n >= 32<<20 {
		t.Fatalf("read %d bytes after a timed-out write", n)
	}
}

// TestRawWritePeerReset: a client that resets the connection mid-response
// makes the write fail; nothing hangs or crashes.
func TestRawWritePeerReset(t *testing.T) {
	addr, results := bigBodyServer(t, &Server{}, bigBody())
	rc := dial(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := io.ReadFull(rc.c, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = rc.c.(*net.TCPConn).SetLinger(0)
	rc.c.Close()
	select {
	case r := <-results:
		if r.err == nil {
			t.Fatal("write to a reset connection succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write to a reset connection hung")
	}
}

// isNetErr: a read error from the socket (a reset), not a test bug.
func isNetErr(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}
