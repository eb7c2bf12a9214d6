package bgptest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
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

// slogAdapter is GoBGP's logger interface on top of a slog.Logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) log(level slog.Level, msg string, fields gobgplog.Fields) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields))
	for k, v := range fields {
		if k != gobgplog.FieldFacility {
			attrs = append(attrs, slog.Any(k, v))
		}
	}
	a.l.LogAttrs(ctx, level, msg, attrs...)
}

func (a slogAdapter) Panic(msg string, f gobgplog.Fields) {
	a.log(slog.LevelError, msg, f)
	panic(fmt.Sprintf("gobgp: %s", msg))
}
func (a slogAdapter) Fatal(msg string, f gobgplog.Fields) { a.Panic(msg, f) }
func (a slogAdapter) Error(msg string, f gobgplog.Fields) { a.log(slog.LevelError, msg, f) }
func (a slogAdapter) Warn(msg string, f gobgplog.Fields)  { a.log(slog.LevelWarn, msg, f) }
func (a slogAdapter) Info(msg string, f gobgplog.Fields)  { a.log(slog.LevelInfo, msg, f) }
func (a slogAdapter) Debug(msg string, f gobgplog.Fields) { a.log(slog.LevelDebug, msg, f) }
func (slogAdapter) SetLevel(gobgplog.LogLevel)            {}

func (a slogAdapter) GetLevel() gobgplog.LogLevel {
	if a.l.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.ErrorLevel
}

var _ gobgplog.Logger = slogAdapter{}
