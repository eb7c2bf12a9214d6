package bgptest

import (
	"log/slog"
	"os"
	"testing"
)

// routerLogger logs to stderr with -v and BGPTEST_LOG set, else nowhere.
// Not to t.Log: GoBGP goroutines may log after the test has ended.
func routerLogger(addr string) *slog.Logger {
	if os.Getenv("BGPTEST_LOG") != "" && testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).
			With("component", "bgptest", "router", addr)
	}
	return slog.New(slog.DiscardHandler)
}
