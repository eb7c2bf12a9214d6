package h1

import (
	"io"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawWriter writes a response head and body with one writev issued as a
// raw system call on the non-blocking socket, waiting in the Go poller only
// when the socket is full. Why not net.Conn: doc.go, "System calls".
type rawWriter struct {
	raw  syscall.RawConn
	fn   func(fd uintptr) bool
	bufs [2][]byte
	iov  [2]unix.Iovec
	err  error
	// waits counts writes that found the socket full and waited in the Go
	// poller (tests; only the connection's goroutine touches it).
	waits int
}

func (w *rawWriter) init(raw syscall.RawConn) {
	w.raw = raw
	w.fn = w.write
}

// write is the RawConn.Write callback: it returns false to wait for the
// socket to take more.
func (w *rawWriter) write(fd uintptr) bool {
	for {
		n := 0
		for _, b := range w.bufs {
			if len(b) > 0 {
				w.iov[n].Base = &b[0]
				w.iov[n].SetLen(len(b))
				n++
			}
		}
		if n == 0 {
			return true
		}
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(n))
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			w.waits++
			return false
		default:
			w.err = e
			return true
		}
		if r == 0 {
			// A stream socket does not take nothing without an error;
			// do not spin if one ever does.
			w.err = io.ErrShortWrite
			return true
		}
		for i := range w.bufs {
			k := min(int(r), len(w.bufs[i]))
			w.bufs[i] = w.bufs[i][k:]
			r -= uintptr(k)
		}
	}
}

// writev sends head and body; ok is false when the connection has no raw
// socket to write to.
func (w *rawWriter) writev(head, body []byte) (ok bool, err error) {
	if w.raw == nil {
		return false, nil
	}
	w.bufs[0], w.bufs[1], w.err = head, body, nil
	err = w.raw.Write(w.fn)
	// Drop the references to the response bytes.
	w.bufs[0], w.bufs[1] = nil, nil
	w.iov[0].Base, w.iov[1].Base = nil, nil
	if err == nil {
		err = w.err
	}
	return true, err
}
