package bgp

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// parkedServe marks GoBGP's serve loop in a goroutine dump. GoBGP v3 has
// no way to end it: every BgpServer leaves one parked goroutine (and the
// server's memory) behind after StopBgp. Upstream fixed this in v4.
const parkedServe = "server.(*BgpServer).Serve("

// goroutines counts the goroutines, apart from GoBGP serve loops, and the
// serve loops.
func goroutines() (others, serve int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(parkedServe)) {
			serve++
		} else {
			others++
		}
	}
	return others, serve
}

// TestStartStopLeak starts and stops a speaker with a live session three
// times: every goroutine goes, except GoBGP's parked serve loops.
func TestStartStopLeak(t *testing.T) {
	const local = "127.0.9.2"
	baseOthers, baseServe := goroutines()
	const rounds = 3
	for i := range rounds {
		r := newRouter(t, "127.0.9.1", 65010, passiveNeighbor(local, localASN))
		s, err := New(Config{ASN: localASN, RouterID: "10.0.9.2",
			Neighbors: []NeighborConfig{dialTo(r, local)}, Prefixes: []string{"198.18.0.0/24"}},
			WithLogger(testLogger()), WithMetrics(NewMetrics()), WithPeerHook(func(PeerEvent) {}))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		register(t, s.srv)
		peerUp(t, s, r.addr)
		mustSetMode(t, s, ModeAnnounce)
		eventually(t, fmt.Sprintf("round %d: announce", i), func() error {
			if n := len(r.routes(familyIPv4, local)); n != 1 {
				return fmt.Errorf("%d routes", n)
			}
			return nil
		})
		_ = s.Snapshot()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		r.Stop()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		others, serve := goroutines()
		if others <= baseOthers && serve == baseServe+2*rounds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d (baseline %d), serve loops %d (want %d)\n%s",
				others, baseOthers, serve, baseServe+2*rounds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
