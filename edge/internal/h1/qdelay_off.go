//go:build !(linux && h1qdelay)

package h1

import "syscall"

// The queue-delay diagnostic (qdelay_linux.go) is compiled in only with
// -tags h1qdelay; in normal builds these hooks are empty and vanish.
const qdOn = false

type qdConn struct{}

func (q *qdConn) setDisp(int64)                                  {}
func (c *conn) qdInit(syscall.RawConn)                           {}
func (c *conn) qdRecv(fd uintptr, p []byte) (int, syscall.Errno) { return 0, 0 }
func (c *conn) qdDone()                                          {}
func qdNow() int64                                               { return 0 }
