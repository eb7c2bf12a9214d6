package gobgpx

import (
	"context"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// CloseWait bounds how long CloseSessions waits for sessions to close.
const CloseWait = 2 * time.Second

// CloseSessions shuts every session of srv down administratively (a
// CEASE notification with why to the peer) and waits, at most CloseWait
// or until ctx is done, until none is past connect. Call it before
// StopBgp: in GoBGP v3.37.0 StopBgp rewrites the server's global config
// while a session's receive goroutine may read it for an UPDATE arriving
// at that moment (a data race under -race).
func CloseSessions(ctx context.Context, srv *server.BgpServer, why string) {
	c := context.WithoutCancel(ctx)
	var peers []string
	_ = srv.ListPeer(c, &api.ListPeerRequest{}, func(p *api.Peer) {
		peers = append(peers, p.GetConf().GetNeighborAddress())
	})
	for _, a := range peers {
		_ = srv.DisablePeer(c, &api.DisablePeerRequest{Address: a, Communication: why})
	}
	for deadline := time.Now().Add(CloseWait); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
		open := false
		_ = srv.ListPeer(c, &api.ListPeerRequest{}, func(p *api.Peer) {
			switch p.GetState().GetSessionState() {
			case api.PeerState_OPENSENT, api.PeerState_OPENCONFIRM, api.PeerState_ESTABLISHED:
				open = true
			}
		})
		if !open {
			return
		}
	}
}
