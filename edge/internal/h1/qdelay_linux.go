//go:build linux && h1qdelay

package h1

// The queue-delay diagnostic: where a request's time goes inside the node,
// from the moment the kernel received its first bytes to the moment its
// response was written. Built only with -tags h1qdelay (bench/http/
// qdelay.sh builds and drives it); normal builds get the empty hooks in
// qdelay_off.go.
//
// Each client socket gets SO_TIMESTAMPNS, and poller reads become recvmsg
// calls that take the kernel's receive time of the data they return. For
// each request four instants are kept: arrival (kernel receive time of the
// first bytes read for it), dispatch (the poller woke the connection),
// read (the connection read those bytes) and written (the response left).
// Only the poller's reads are timed (not Server.RuntimeReadOrder's), and
// bytes that reached the socket before it asked for timestamps carry none
// (now and then the first request on a new connection): such requests are
// not counted.
// SIGUSR1 writes a report, ending in a line "h1qdelay end", to the file
// named by EDGECDN_H1_QDELAY (stderr if unset) and starts a new period; at most maxRows requests per period
// are kept (the rest are counted only). The row buffer is allocated once
// (32 MiB, no pointers), which raises the heap goal: GC runs less often
// than in a normal build.

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const qdOn = true

const maxRows = 1 << 20

type qdRow struct{ arr, disp, read, done int64 }

type qdConn struct {
	arr, read int64 // of the request in progress (0: none seen yet)
	disp      atomic.Int64
}

var qd struct {
	mu      sync.Mutex
	rows    []qdRow
	dropped int64
	since   time.Time
}

func init() {
	qd.rows = make([]qdRow, 0, maxRows)
	qd.since = time.Now()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			qdReport()
		}
	}()
}

func qdNow() int64 { return time.Now().UnixNano() }

func (q *qdConn) setDisp(t int64) { q.disp.Store(t) }

func (c *conn) qdInit(raw syscall.RawConn) {
	if raw != nil {
		_ = raw.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
}

// qdRecv is rawRead as a recvmsg that also takes the receive timestamp of
// the first bytes of a request.
func (c *conn) qdRecv(fd uintptr, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	var oob [64]byte
	iov := unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	msg := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	n, _, e := unix.RawSyscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&msg)), 0)
	if e != 0 || n == 0 || c.qd.arr != 0 {
		return int(n), e
	}
	cms, err := unix.ParseSocketControlMessage(oob[:msg.Controllen])
	if err != nil {
		return int(n), 0
	}
	for _, m := range cms {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			c.qd.arr = ts.Nano()
			c.qd.read = time.Now().UnixNano()
		}
	}
	return int(n), 0
}

// qdDone records the request just answered.
func (c *conn) qdDone() {
	if c.qd.arr == 0 {
		return
	}
	r := qdRow{arr: c.qd.arr, disp: c.qd.disp.Load(), read: c.qd.read, done: time.Now().UnixNano()}
	c.qd.arr = 0
	qd.mu.Lock()
	if len(qd.rows) < maxRows {
		qd.rows = append(qd.rows, r)
	} else {
		qd.dropped++
	}
	qd.mu.Unlock()
}

func qdReport() {
	qd.mu.Lock()
	rows := slices.Clone(qd.rows)
	dropped, since := qd.dropped, qd.since
	qd.rows, qd.dropped, qd.since = qd.rows[:0], 0, time.Now()
	qd.mu.Unlock()

	var w io.Writer = os.Stderr
	if path := os.Getenv("EDGECDN_H1_QDELAY"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "h1qdelay: %v\n", err)
			return
		}
		defer f.Close()
		w = f
	}
	defer fmt.Fprintln(w, "h1qdelay end") // readers wait for it: the report is complete
	fmt.Fprintf(w, "h1qdelay period %.3fs requests %d (not kept: %d)\n", time.Since(since).Seconds(), len(rows), dropped)
	if len(rows) == 0 {
		return
	}
	stage := func(name string, f func(r qdRow) (int64, bool)) {
		v := make([]int64, 0, len(rows))
		var sum int64
		for _, r := range rows {
			if d, ok := f(r); ok {
				v = append(v, d)
				sum += d
			}
		}
		if len(v) == 0 {
			return
		}
		slices.Sort(v)
		q := func(p float64) float64 { return float64(v[int(p*float64(len(v)-1))]) / 1e6 }
		fmt.Fprintf(w, "h1qdelay stage %-8s n %d mean %.3f p50 %.3f p90 %.3f p99 %.3f max %.3f ms\n",
			name, len(v), float64(sum)/float64(len(v))/1e6, q(.5), q(.9), q(.99), q(1))
	}
	dispatched := func(r qdRow) bool { return r.disp >= r.arr && r.disp <= r.read }
	stage("queue", func(r qdRow) (int64, bool) { return r.read - r.arr, true })
	stage("dispatch", func(r qdRow) (int64, bool) { return r.disp - r.arr, dispatched(r) })
	stage("runq", func(r qdRow) (int64, bool) { return r.read - r.disp, dispatched(r) })
	stage("service", func(r qdRow) (int64, bool) { return r.done - r.read, true })
	stage("total", func(r qdRow) (int64, bool) { return r.done - r.arr, true })

	// 100 ms windows of arrival time, aligned to the wall clock: unix ms
	// of the window's start, ms since the first window, requests, mean and
	// max total, mean service.
	slices.SortFunc(rows, func(a, b qdRow) int { return cmp.Compare(a.arr, b.arr) })
	const win = int64(100 * time.Millisecond)
	k0 := rows[0].arr / win
	for i := 0; i < len(rows); {
		k := rows[i].arr / win
		var n, sum, mx, svc int64
		for ; i < len(rows) && rows[i].arr/win == k; i++ {
			d := rows[i].done - rows[i].arr
			n++
			sum += d
			mx = max(mx, d)
			svc += rows[i].done - rows[i].read
		}
		fmt.Fprintf(w, "h1qdelay window %d %d %d %.3f %.3f %.3f\n", k*100, (k-k0)*100, n,
			float64(sum)/float64(n)/1e6, float64(mx)/1e6, float64(svc)/float64(n)/1e6)
	}
}
