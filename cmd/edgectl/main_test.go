package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nodesFile := write("nodes", "# fleet\nhttp://10.0.0.1:9090\n\n  10.0.0.2:9090  # no scheme\nhttp://10.0.0.1:9090/\n")
	emptyNodes := write("empty", "# nothing\n\n")
	tokenFile := write("token", "  s3cret-token-0123456789\n")
	blankToken := write("blank", " \n")
	spacedToken := write("spaced", "s3cret token\n")

	tests := []struct {
		name    string
		args    []string
		env     string // EDGECTL_TOKEN
		wantErr string
		nodes   []string
		token   string
		cmd     string
		path    string
		body    string // JSON, "" for none
		json    bool
		timeout time.Duration
	}{
		{name: "default node", args: []string{"status"}, nodes: []string{defaultNode}, cmd: "status", path: "/status"},
		{name: "repeated nodes, deduplicated", args: []string{"--node", "http://a:9090/", "-node=https://b:9443", "--node", "http://a:9090", "drain"},
			nodes: []string{"http://a:9090", "https://b:9443"}, cmd: "drain", path: "/drain"},
		{name: "nodes file with comments", args: []string{"--nodes", nodesFile, "--node", "http://c:1", "undrain"},
			nodes: []string{"http://c:1", "http://10.0.0.1:9090", "http://10.0.0.2:9090"}, cmd: "undrain", path: "/undrain"},
		{name: "base URL with a path", args: []string{"--node", "https://lb.example/edge1/", "reload"}, nodes: []string{"https://lb.example/edge1"}, cmd: "reload", path: "/reload"},
		{name: "flags after the command", args: []string{"config", "--json", "--timeout", "3s"}, nodes: []string{defaultNode}, cmd: "config", path: "/config", json: true, timeout: 3 * time.Second},
		{name: "token file trimmed", args: []string{"--token-file", tokenFile, "status"}, token: "s3cret-token-0123456789", cmd: "status", path: "/status"},
		{name: "token from env", args: []string{"status"}, env: " env-token-0123456789\n", token: "env-token-0123456789", cmd: "status", path: "/status"},
		{name: "token file wins over env", args: []string{"--token-file", tokenFile, "status"}, env: "env-token", token: "s3cret-token-0123456789", cmd: "status", path: "/status"},

		{name: "purge url", args: []string{"purge", "url", "https://www.example.com/a?b=1", "http://x.test/"},
			cmd: "purge", path: "/purge", body: `{"urls":["https://www.example.com/a?b=1","http://x.test/"]}`},
		{name: "purge prefix soft, flag in between", args: []string{"purge", "--soft", "prefix", "https://www.example.com/img/"},
			cmd: "purge", path: "/purge", body: `{"prefixes":["https://www.example.com/img/"],"soft":true}`},
		{name: "purge tag soft at the end", args: []string{"purge", "tag", "product-1", "news", "--soft"},
			cmd: "purge", path: "/purge", body: `{"tags":["product-1","news"],"soft":true}`},
		{name: "purge tag after --", args: []string{"purge", "tag", "--", "-odd", "--json"},
			cmd: "purge", path: "/purge", body: `{"tags":["-odd","--json"]}`},
		{name: "purge host", args: []string{"purge", "host", "www.example.com", "img.example.com:8443"},
			cmd: "purge", path: "/purge", body: `{"hosts":["www.example.com","img.example.com:8443"]}`},
		{name: "purge all confirmed", args: []string{"--yes", "purge", "all"}, cmd: "purge", path: "/purge", body: `{"all":true}`},

		{name: "no command", args: nil, wantErr: "no command given"},
		{name: "unknown command", args: []string{"restart"}, wantErr: `unknown command "restart"`},
		{name: "unknown flag", args: []string{"--force", "status"}, wantErr: "flag provided but not defined: -force"},
		{name: "status with arguments", args: []string{"status", "now"}, wantErr: "status takes no arguments"},
		{name: "soft outside purge", args: []string{"drain", "--soft"}, wantErr: "--soft and --yes go with purge"},
		{name: "yes on a url purge", args: []string{"purge", "url", "http://a/", "--yes"}, wantErr: "--yes goes with purge all only"},
		{name: "purge without kind", args: []string{"purge"}, wantErr: "purge needs a kind"},
		{name: "purge unknown kind", args: []string{"purge", "path", "/a"}, wantErr: `unknown purge kind "path"`},
		{name: "purge url without urls", args: []string{"purge", "url"}, wantErr: "purge url needs at least one argument"},
		{name: "purge url relative", args: []string{"purge", "url", "https://ok.test/", "/a/b"}, wantErr: `purge url "/a/b": not an absolute http or https URL`},
		{name: "purge url no scheme", args: []string{"purge", "url", "www.example.com/a"}, wantErr: "not an absolute http or https URL"},
		{name: "purge url ftp", args: []string{"purge", "url", "ftp://www.example.com/a"}, wantErr: "not an absolute http or https URL"},
		{name: "purge url fragment", args: []string{"purge", "url", "https://www.example.com/a#top"}, wantErr: "has a fragment"},
		{name: "purge url userinfo", args: []string{"purge", "url", "https://u:p@www.example.com/a"}, wantErr: "user information"},
		{name: "purge url bad escape", args: []string{"purge", "url", "https://www.example.com/%zz"}, wantErr: "not a URL"},
		{name: "purge prefix relative", args: []string{"purge", "prefix", "/img/"}, wantErr: `purge prefix "/img/": not an absolute`},
		{name: "purge tag with space", args: []string{"purge", "tag", "a b"}, wantErr: "a tag is one word"},
		{name: "purge tag empty", args: []string{"purge", "tag", ""}, wantErr: "empty tag"},
		{name: "purge host as URL", args: []string{"purge", "host", "https://www.example.com"}, wantErr: "give a host name, not a URL"},
		{name: "purge host with path", args: []string{"purge", "host", "www.example.com/a"}, wantErr: "not a host name"},
		{name: "purge all unconfirmed", args: []string{"purge", "all"}, wantErr: "add --yes to confirm"},
		{name: "purge all with arguments", args: []string{"purge", "all", "--yes", "now"}, wantErr: "purge all takes no arguments"},
		{name: "bad node", args: []string{"--node", "ftp://a", "status"}, wantErr: `node "ftp://a": not an http or https base URL`},
		{name: "node with query", args: []string{"--node", "http://a/?x=1", "status"}, wantErr: "not an http or https base URL"},
		{name: "empty nodes file", args: []string{"--nodes", emptyNodes, "status"}, wantErr: "no node in it"},
		{name: "missing nodes file", args: []string{"--nodes", filepath.Join(dir, "nope"), "status"}, wantErr: "--nodes: open"},
		{name: "missing token file", args: []string{"--token-file", filepath.Join(dir, "nope"), "status"}, wantErr: "--token-file: open"},
		{name: "blank token file", args: []string{"--token-file", blankToken, "status"}, wantErr: "the file is empty"},
		{name: "token with a space", args: []string{"--token-file", spacedToken, "status"}, wantErr: "contains spaces or control characters"},
		{name: "zero timeout", args: []string{"--timeout", "0s", "status"}, wantErr: "--timeout must be positive"},
		{name: "timeout without unit", args: []string{"--timeout", "5", "status"}, wantErr: "invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "EDGECTL_TOKEN" {
					return tt.env
				}
				return ""
			}
			o, err := parseArgs(tt.args, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			wantNodes := tt.nodes
			if wantNodes == nil {
				wantNodes = []string{defaultNode}
			}
			if !reflect.DeepEqual(o.nodes, wantNodes) {
				t.Errorf("nodes = %q, want %q", o.nodes, wantNodes)
			}
			if o.token != tt.token {
				t.Errorf("token = %q, want %q", o.token, tt.token)
			}
			if o.cmd.name != tt.cmd || o.cmd.path != tt.path {
				t.Errorf("command = %s %s, want %s %s", o.cmd.name, o.cmd.path, tt.cmd, tt.path)
			}
			if string(o.cmd.body) != tt.body {
				t.Errorf("body = %s, want %s", o.cmd.body, tt.body)
			}
			if tt.body != "" && !json.Valid(o.cmd.body) {
				t.Errorf("body is not JSON")
			}
			if o.json != tt.json {
				t.Errorf("json = %v, want %v", o.json, tt.json)
			}
			wantTimeout := tt.timeout
			if wantTimeout == 0 {
				wantTimeout = 10 * time.Second
			}
			if o.timeout != wantTimeout {
				t.Errorf("timeout = %v, want %v", o.timeout, wantTimeout)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	for cmd, want := range map[string]string{
		"status": "GET", "config": "GET", "drain": "POST", "undrain": "POST", "reload": "POST",
	} {
		o, err := parseArgs([]string{cmd}, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if o.cmd.method != want || o.cmd.body != nil {
			t.Errorf("%s: %s with body %q, want %s without", cmd, o.cmd.method, o.cmd.body, want)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if _, err := parseArgs(args, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: err = %v, want flag.ErrHelp", args, err)
		}
		var out, errOut strings.Builder
		if code := run(args, &out, &errOut); code != 0 || !strings.Contains(out.String(), "usage: edgectl") || errOut.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), errOut.String())
		}
	}
}

func TestRunUsageError(t *testing.T) {
	var out, errOut strings.Builder
	code := run([]string{"purge", "url", "/relative"}, &out, &errOut)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
	for _, want := range []string{`edgectl: purge url "/relative": not an absolute http or https URL`, "usage: edgectl"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

// The package doc lists every command and flag of the usage text.
func TestDocMatchesUsage(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(usage) {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		item, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		n++
		if !strings.Contains(string(doc), "//\t"+item+" ") {
			t.Errorf("doc.go lacks %q", item)
		}
	}
	if n < 17 {
		t.Errorf("found only %d usage items", n)
	}
}
