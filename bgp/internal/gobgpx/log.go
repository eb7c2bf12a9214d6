// Package gobgpx holds what package bgp and its test router bgptest both
// need around an embedded GoBGP server: a log/slog adapter for GoBGP's
// logger and a safe way to close its sessions before stopping it.
package gobgpx

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// Logger routes GoBGP's logging to l. The level is l's handler's (the
// node's LevelVar): SetLevel is ignored.
func Logger(l *slog.Logger) gobgplog.Logger { return slogAdapter{l} }

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) log(level slog.Level, msg string, fields gobgplog.Fields) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields))
	for k, v := range fields {
		switch k = strings.ToLower(strings.ReplaceAll(k, " ", "_")); k {
		case "error":
			k = "err"
		case "key":
			k = "peer" // GoBGP's "Key" is the neighbour address, or a listener's
		case gobgplog.FieldFacility:
			continue
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	a.l.LogAttrs(ctx, level, lowerFirst(msg), attrs...)
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) || len(s) > n && unicode.IsUpper(rune(s[n])) {
		return s // keep acronyms such as "BGP"
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// Panic and Fatal mark what GoBGP treats as its own bugs: log, then panic
// rather than exit the process from inside a library.
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

// GetLevel tells GoBGP whether to build debug messages at all.
func (a slogAdapter) GetLevel() gobgplog.LogLevel {
	for _, l := range []struct {
		s slog.Level
		g gobgplog.LogLevel
	}{{slog.LevelDebug, gobgplog.DebugLevel}, {slog.LevelInfo, gobgplog.InfoLevel}, {slog.LevelWarn, gobgplog.WarnLevel}} {
		if a.l.Enabled(context.Background(), l.s) {
			return l.g
		}
	}
	return gobgplog.ErrorLevel
}

var _ gobgplog.Logger = slogAdapter{}
