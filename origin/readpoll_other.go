//go:build !linux

package origin

import (
	"net"
	"time"
)

// ReadPoller is Linux-only; elsewhere origin reads wait in the Go poller.
type ReadPoller struct{}

// KickInterval is the least time between two polls by Kick.
const KickInterval = 50 * time.Microsecond

// NewReadPoller returns a poller that does nothing.
func NewReadPoller(onErr func(error)) *ReadPoller { return &ReadPoller{} }

func (p *ReadPoller) Start() error             { return nil }
func (p *ReadPoller) Close()                   {}
func (p *ReadPoller) Kick()                    {}
func (p *ReadPoller) Kicked() int64            { return 0 }
func (p *ReadPoller) wrap(c net.Conn) net.Conn { return c }
