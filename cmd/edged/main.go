// Command edged is the edgecdn node: a caching HTTP edge in front of a
// site's origins (and, as later issues land, geo DNS and anycast BGP).
//
//	edged                      run with the embedded default (demo site on 127.0.0.1:8080)
//	edged -config FILE         run with a config file
//	edged -check FILE          validate a config file and exit (status 1 if invalid)
//	edged -print-config        print the effective config (defaults filled in) and exit
//
// SIGHUP reloads the config file; SIGINT and SIGTERM stop the node
// gracefully: with a bgp section, its prefixes are announced with the
// GRACEFUL_SHUTDOWN community for health.drain_delay, then withdrawn, then
// the node keeps serving for health.lameduck before it closes its
// listeners. A second SIGINT or SIGTERM cuts that short.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgecdn/edgecdn/edge"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("edged", flag.ContinueOnError)
	configPath := fs.String("config", "", "config file (default: the embedded demo config)")
	check := fs.String("check", "", "validate this config file and exit")
	printConfig := fs.Bool("print-config", false, "print the effective config (with -config, of that file) and exit")
	logFormat := fs.String("log-format", "auto", "log format: text, json, or auto (text on a terminal)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Println("edged", edge.Version)
		return 0
	}
	if *check != "" {
		c, err := edge.LoadConfig(*check)
		if err == nil {
			err = edge.CheckFiles(c)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "edged: invalid config:\n%v\n", err)
			return 1
		}
		fmt.Printf("%s: ok\n", *check)
		return 0
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "edged: %v\n", err)
		return 1
	}
	if *printConfig {
		b, err := cfg.YAML()
		if err != nil {
			fmt.Fprintf(os.Stderr, "edged: %v\n", err)
			return 1
		}
		os.Stdout.Write(b)
		return 0
	}

	level := new(slog.LevelVar)
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "edged: -log-level: %v\n", err)
		return 2
	}
	logger, err := newLogger(*logFormat, level)
	if err != nil {
		fmt.Fprintf(os.Stderr, "edged: %v\n", err)
		return 2
	}
	if *configPath == "" {
		logger.Info("no -config given: running the embedded demo config (edged -print-config shows it)")
	}
	opts := []edge.Option{edge.WithLogger(logger), edge.WithLevelVar(level)}
	if *configPath != "" {
		// POST /reload re-reads the file, like SIGHUP.
		opts = append(opts, edge.WithConfigSource(func() (*edge.Config, error) { return loadConfig(*configPath) }))
	}
	node, err := edge.New(cfg, opts...)
	if err != nil {
		logger.Error("invalid config", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := node.Start(ctx); err != nil {
		logger.Error("start failed", "err", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	for {
		select {
		case <-hup:
			newCfg, err := loadConfig(*configPath)
			if err == nil {
				err = node.Reload(newCfg)
			}
			if err != nil {
				logger.Error("reload failed; the running config stays", "err", err)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	// A second signal during the drain stops at once.
	stop()
	now := node.Config()
	budget := now.HTTP.ShutdownGrace + *now.Health.DrainDelay + *now.Health.Lameduck + 5*time.Second
	logger.Info("stopping: drain, lameduck, then close the listeners", "budget_s", budget.Seconds())
	sctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	sctx, cancel2 := context.WithTimeout(sctx, budget)
	defer cancel2()
	defer cancel()
	if err := node.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Error("stop", "err", err)
		return 1
	}
	return 0
}

func loadConfig(path string) (*edge.Config, error) {
	if path == "" {
		return edge.ParseConfig(edge.DefaultYAML)
	}
	return edge.LoadConfig(path)
}

func newLogger(format string, level *slog.LevelVar) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "auto":
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is not text, json or auto", format)
}
