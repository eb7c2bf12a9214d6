package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestWriteHuman(t *testing.T) {
	okStatus := `{"node":"edge-a","region":"eu-west","ready":true,"health":{"state":"healthy","reason":"all checks pass"},
		"bgp":{"mode":"announce"},"cache":{"objects":42,"hit_ratio":0.5},"origins":[{"up":true}]}`
	bare := `{"node":"edge-b","ready":false,"health":{"state":"draining","reason":"operator drain","drain":true},"cache":{"objects":0}}`
	down := result{Node: "http://c:9090", Error: "connection refused", LatencyS: 0.0004}
	tests := []struct {
		name    string
		cmd     string
		results []result
		want    string
	}{
		{"purge", "purge", []result{
			{Node: "http://a:9090", OK: true, Status: 200, LatencyS: 0.0021, Matched: ptr[int64](1234), Seq: ptr[uint64](17)},
			{Node: "http://bb:9090", OK: true, Status: 200, LatencyS: 0.25, Matched: ptr[int64](0), Seq: ptr[uint64](9)},
			down,
		}, `NODE            RESULT  MATCHED  SEQ  LATENCY
http://a:9090   ok      1234     17   2.1ms
http://bb:9090  ok      0        9    250ms
http://c:9090   FAILED  -        -    0.4ms
`},
		{"status", "status", []result{
			{Node: "http://a:9090", OK: true, LatencyS: 1.5, Response: json.RawMessage(okStatus)},
			{Node: "http://b:9090", OK: true, LatencyS: 0.01, Response: json.RawMessage(bare)},
			down,
		}, `NODE           RESULT  ID      REGION   READY  HEALTH            BGP       OBJECTS  HIT    ORIGINS  LATENCY  REASON
http://a:9090  ok      edge-a  eu-west  yes    healthy           announce  42       50.0%  1/1 up   1.50s    all checks pass
http://b:9090  ok      edge-b  -        no     draining (drain)  -         0        -      0/0 up   10ms     operator drain
http://c:9090  FAILED  -       -        -      -                 -         -        -      -        0.4ms    -
`},
		{"drain", "drain", []result{
			{Node: "http://a:9090", OK: true, LatencyS: 0.001, Response: json.RawMessage(`{"state":"draining","reason":"operator drain","drain":"operator"}`)},
			down,
		}, `NODE           RESULT  HEALTH            LATENCY  REASON
http://a:9090  ok      draining (drain)  1.0ms    operator drain
http://c:9090  FAILED  -                 0.4ms    -
`},
		{"reload", "reload", []result{
			{Node: "http://a:9090", OK: true, LatencyS: 0.001, Response: json.RawMessage(`{"generation":5}`)},
			{Node: "http://b:9090", Status: 400, Error: "400: sites[0]: bad", LatencyS: 0.001},
		}, `NODE           RESULT  GENERATION  LATENCY
http://a:9090  ok      5           1.0ms
http://b:9090  FAILED  -           1.0ms
`},
		{"one config", "config", []result{{Node: "http://a:9090", OK: true, Config: "a: 1"}}, "a: 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeHuman(&b, command{name: tt.cmd}, tt.results); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestHealthLabel(t *testing.T) {
	for drain, want := range map[string]string{
		``: "healthy", `null`: "healthy", `false`: "healthy", `""`: "healthy",
		`true`: "healthy (drain)", `"operator"`: "healthy (drain)",
	} {
		if got := (healthView{State: "healthy", Drain: json.RawMessage(drain)}).label(); got != want {
			t.Errorf("drain %s: %q, want %q", drain, got, want)
		}
	}
	if got := (healthView{}).label(); got != "-" {
		t.Errorf("no state: %q", got)
	}
}

func TestFmtLatency(t *testing.T) {
	for s, want := range map[float64]string{
		0: "-", 0.00004: "0.0ms", 0.0021: "2.1ms", 0.0099: "9.9ms", 0.0123: "12ms", 0.9994: "999ms", 1.234: "1.23s", 12: "12.00s",
	} {
		if got := fmtLatency(result{LatencyS: s}); got != want {
			t.Errorf("%gs: %q, want %q", s, got, want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b strings.Builder
	writeJSON(&b, nil)
	if b.String() != "[]\n" {
		t.Errorf("no results: %q", b.String())
	}
	b.Reset()
	in := []result{
		{Node: "http://a", OK: true, Status: 200, LatencyS: 0.5, Matched: ptr[int64](0), Seq: ptr[uint64](3), Response: json.RawMessage(`{"seq":3,"matched":0}`)},
		{Node: "http://b", Error: "connection refused"},
	}
	writeJSON(&b, in)
	var raw []map[string]any
	if err := json.Unmarshal([]byte(b.String()), &raw); err != nil {
		t.Fatal(err)
	}
	if raw[0]["matched"] != 0.0 || raw[0]["response"].(map[string]any)["seq"] != 3.0 {
		t.Errorf("ok row: %v", raw[0])
	}
	for _, k := range []string{"status", "matched", "seq", "response", "config", "field"} {
		if _, ok := raw[1][k]; ok {
			t.Errorf("failed row has %q: %v", k, raw[1])
		}
	}
	if raw[1]["ok"] != false || raw[1]["error"] != "connection refused" {
		t.Errorf("failed row: %v", raw[1])
	}
}

func TestReportFailures(t *testing.T) {
	var b strings.Builder
	if n := reportFailures(&b, []result{{Node: "http://a", Error: "x"}}); n != 1 || b.String() != "edgectl: node http://a: x\n" {
		t.Errorf("one node: %d, %q", n, b.String())
	}
	b.Reset()
	if n := reportFailures(&b, []result{{Node: "http://a", OK: true}, {Node: "http://b", OK: true}}); n != 0 || b.Len() != 0 {
		t.Errorf("all ok: %d, %q", n, b.String())
	}
}

func TestDescribe(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "http://a/purge", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
	tests := []struct {
		err  error
		want string
	}{
		{refused, "connection refused"},
		{&url.Error{Op: "Get", URL: "http://a/status", Err: context.DeadlineExceeded}, "no answer within 3s"},
		{&url.Error{Op: "Get", URL: "http://a/status", Err: io.ErrUnexpectedEOF}, "connection closed without an answer"},
		{&url.Error{Op: "Get", URL: "http://a/status", Err: &net.DNSError{Err: "no such host", Name: "edge9.invalid"}}, "cannot resolve edge9.invalid: no such host"},
		{&url.Error{Op: "Get", URL: "https://a/status", Err: errors.New("tls: failed to verify certificate")}, "tls: failed to verify certificate"},
		{errors.New("odd"), "odd"},
	}
	for _, tt := range tests {
		if got := describe(tt.err, 3*time.Second); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.err, got, tt.want)
		}
	}
}
