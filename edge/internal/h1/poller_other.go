//go:build !linux

package h1

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// poller is Linux-only; elsewhere connections read through net.Conn.
type poller struct{ dead atomic.Bool }

func newPoller(onErr func(error)) (*poller, error)       { return nil, errNoPoller }
func (p *poller) add(c *conn, raw syscall.RawConn) error { return errNoPoller }
func (p *poller) remove(c *conn, raw syscall.RawConn)    {}
func (p *poller) close()                                 {}
func pollable(nc net.Conn) (syscall.RawConn, bool)       { return nil, false }
func (c *conn) readRaw(p []byte) (int, error)            { return 0, errNoPoller }
func (c *conn) initRaw()                                 {}

var errAgain = errors.New("h1: would block")

type rawWriter struct{}

func (w *rawWriter) init(raw syscall.RawConn)                      {}
func (w *rawWriter) writev(head, body []byte) (ok bool, err error) { return false, nil }
