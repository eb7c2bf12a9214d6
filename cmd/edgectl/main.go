package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const usage = `usage: edgectl [flags] COMMAND [ARGS]

commands:
  purge url URL...        purge these URLs (absolute http or https URLs)
  purge prefix PREFIX...  purge every URL that starts with one of these
  purge tag TAG...        purge every object carrying one of these surrogate keys
  purge host HOST...      purge every object of these hosts
  purge all --yes         purge everything
  status                  show each node's state
  drain                   start an operator drain (routes withdrawn, /ready fails)
  undrain                 end an operator drain
  reload                  make each node reload its config file
  config                  print each node's effective config (YAML)

flags (anywhere on the line; "--" ends them):
  --node URL         admin base URL of a node; repeat for several
                     (default http://127.0.0.1:9090)
  --nodes FILE       file with one admin base URL per line (# comments)
  --token-file FILE  file holding the bearer token (default: $EDGECTL_TOKEN)
  --timeout D        per-node request timeout (default 10s)
  --json             print a JSON array of per-node results
  --soft             purge: mark objects stale instead of removing them
  --yes              purge all: confirm

exit status: 0 if every node succeeded, 1 if any failed, 2 on a usage error
`

// defaultNode is the admin address of a node with the default config.
const defaultNode = "http://127.0.0.1:9090"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgectl: %v\n\n%s", err, usage)
		return 2
	}
	c := newClient(opts.token, opts.timeout)
	results := c.fanOut(context.Background(), opts.nodes, opts.cmd)
	if opts.json {
		err = writeJSON(stdout, results)
	} else {
		err = writeHuman(stdout, opts.cmd, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgectl: %v\n", err)
		return 1
	}
	if reportFailures(stderr, results) > 0 {
		return 1
	}
	return 0
}

// options is a parsed command line.
type options struct {
	nodes   []string // normalised base URLs, no trailing slash
	token   string
	timeout time.Duration
	json    bool
	cmd     command
}

// command is one admin API call.
type command struct {
	name   string // "purge", "status", "drain", "undrain", "reload", "config"
	method string
	path   string
	body   []byte // JSON, nil for none
}

// purgeBody is the body of POST /purge.
type purgeBody struct {
	URLs     []string `json:"urls,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Hosts    []string `json:"hosts,omitempty"`
	All      bool     `json:"all,omitempty"`
	Soft     bool     `json:"soft,omitempty"`
}

// nodeList is the repeatable --node flag.
type nodeList []string

func (l *nodeList) String() string     { return strings.Join(*l, ",") }
func (l *nodeList) Set(s string) error { *l = append(*l, s); return nil }

// parseArgs parses and validates the whole command line; getenv reads
// EDGECTL_TOKEN. Every error it returns is a usage error (exit status 2):
// nothing has been sent yet.
func parseArgs(args []string, getenv func(string) string) (*options, error) {
	fs := flag.NewFlagSet("edgectl", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error and the usage
	fs.Usage = func() {}
	var nodes nodeList
	fs.Var(&nodes, "node", "")
	nodesFile := fs.String("nodes", "", "")
	tokenFile := fs.String("token-file", "", "")
	timeout := fs.Duration("timeout", 10*time.Second, "")
	asJSON := fs.Bool("json", false, "")
	soft := fs.Bool("soft", false, "")
	yes := fs.Bool("yes", false, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 && pos[0] == "help" {
		return nil, flag.ErrHelp
	}
	if *timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, got %v", *timeout)
	}
	o := &options{timeout: *timeout, json: *asJSON}

	raw := []string(nodes)
	if *nodesFile != "" {
		fromFile, err := readNodesFile(*nodesFile)
		if err != nil {
			return nil, err
		}
		raw = append(raw, fromFile...)
	}
	if len(raw) == 0 {
		raw = []string{defaultNode}
	}
	seen := map[string]bool{}
	for _, s := range raw {
		u, err := parseNode(s)
		if err != nil {
			return nil, err
		}
		if !seen[u] {
			seen[u] = true
			o.nodes = append(o.nodes, u)
		}
	}

	if o.token, err = readToken(*tokenFile, getenv); err != nil {
		return nil, err
	}

	if len(pos) == 0 {
		return nil, errors.New("no command given")
	}
	name, rest := pos[0], pos[1:]
	if name != "purge" && (*soft || *yes) {
		return nil, fmt.Errorf("--soft and --yes go with purge, not %s", name)
	}
	switch name {
	case "purge":
		o.cmd, err = parsePurge(rest, *soft, *yes)
		return o, err
	case "status", "config":
		o.cmd = command{name: name, method: http.MethodGet, path: "/" + name}
	case "drain", "undrain", "reload":
		o.cmd = command{name: name, method: http.MethodPost, path: "/" + name}
	default:
		return nil, fmt.Errorf("unknown command %q", name)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%s takes no arguments, got %q", name, rest)
	}
	return o, nil
}

// parseInterspersed parses flags anywhere among the positional arguments
// (the flag package alone stops at the first positional one). After "--"
// everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func parsePurge(args []string, soft, yes bool) (command, error) {
	if len(args) == 0 {
		return command{}, errors.New("purge needs a kind: url, prefix, tag, host or all")
	}
	kind, targets := args[0], args[1:]
	b := purgeBody{Soft: soft}
	if kind == "all" {
		if len(targets) > 0 {
			return command{}, fmt.Errorf("purge all takes no arguments, got %q", targets)
		}
		if !yes {
			return command{}, errors.New("purge all removes every cached object of every node given; add --yes to confirm")
		}
		b.All = true
	} else {
		if yes {
			return command{}, errors.New("--yes goes with purge all only")
		}
		if len(targets) == 0 {
			return command{}, fmt.Errorf("purge %s needs at least one argument", kind)
		}
		var check func(string) error
		switch kind {
		case "url":
			b.URLs, check = targets, checkURL
		case "prefix":
			b.Prefixes, check = targets, checkURL
		case "tag":
			b.Tags, check = targets, checkTag
		case "host":
			b.Hosts, check = targets, checkHost
		default:
			return command{}, fmt.Errorf("unknown purge kind %q: want url, prefix, tag, host or all", kind)
		}
		for _, t := range targets {
			if err := check(t); err != nil {
				return command{}, fmt.Errorf("purge %s %q: %v", kind, t, err)
			}
		}
	}
	body, err := json.Marshal(b)
	if err != nil {
		return command{}, err
	}
	return command{name: "purge", method: http.MethodPost, path: "/purge", body: body}, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return errors.New("not an absolute http or https URL")
	case u.User != nil:
		return errors.New("has user information, which is never part of a cache key")
	case u.Fragment != "" || strings.HasSuffix(s, "#"):
		return errors.New("has a fragment, which never reaches the node")
	}
	return nil
}

func checkTag(s string) error {
	if s == "" {
		return errors.New("empty tag")
	}
	if strings.ContainsFunc(s, isSpaceOrControl) {
		return errors.New("a tag is one word (Surrogate-Key values are separated by spaces)")
	}
	return nil
}

func checkHost(s string) error {
	switch {
	case s == "":
		return errors.New("empty host")
	case strings.Contains(s, "://"):
		return errors.New("give a host name, not a URL (or use purge prefix)")
	case strings.ContainsAny(s, "/?#@") || strings.ContainsFunc(s, isSpaceOrControl):
		return errors.New("not a host name")
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// parseNode checks a node's base URL and normalises it; "host:port"
// means http://host:port.
func parseNode(s string) (string, error) {
	in := s
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("node %q: not an http or https base URL", in)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// readNodesFile reads one base URL per line; "#" starts a comment.
func readNodesFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	var nodes []string
	for line := range strings.Lines(string(b)) {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line != "" {
			nodes = append(nodes, line)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("--nodes %s: no node in it", path)
	}
	return nodes, nil
}

// readToken returns the bearer token from the file, else from
// EDGECTL_TOKEN, else "". Error messages never contain the token.
func readToken(path string, getenv func(string) string) (string, error) {
	from, tok := "EDGECTL_TOKEN", getenv("EDGECTL_TOKEN")
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		from, tok = "--token-file "+path, string(b)
		if strings.TrimSpace(tok) == "" {
			return "", fmt.Errorf("%s: the file is empty", from)
		}
	}
	tok = strings.TrimSpace(tok)
	if strings.ContainsFunc(tok, isSpaceOrControl) {
		return "", fmt.Errorf("%s: the token contains spaces or control characters", from)
	}
	return tok, nil
}
