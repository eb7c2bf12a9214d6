package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxParallel bounds the requests in flight during a fan-out.
const maxParallel = 32

// maxAnswer bounds the body read from a node.
const maxAnswer = 32 << 20

// result is what one node answered (or why it did not). It is also the
// element of the --json array.
type result struct {
	Node string `json:"node"`
	OK   bool   `json:"ok"`
	// Status is the HTTP status, 0 when the node did not answer.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// Field is the request field a 400 answer names.
	Field    string  `json:"field,omitempty"`
	LatencyS float64 `json:"latency_s"`
	// Matched and Seq are set for a successful purge.
	Matched *int64  `json:"matched,omitempty"`
	Seq     *uint64 `json:"seq,omitempty"`
	// Response is the node's JSON answer, verbatim.
	Response json.RawMessage `json:"response,omitempty"`
	// Config is the YAML answer of GET /config.
	Config string `json:"config,omitempty"`
}

func (r *result) latency() time.Duration {
	return time.Duration(r.LatencyS * float64(time.Second))
}

// client sends one command to nodes.
type client struct {
	hc      *http.Client
	token   string
	timeout time.Duration
}

func newClient(token string, timeout time.Duration) *client {
	return &client{
		hc: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// An admin API does not redirect; following one could carry
			// the token elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		token:   token,
		timeout: timeout,
	}
}

// fanOut sends cmd to every node, at most maxParallel at a time, and
// returns the results in the order of nodes.
func (c *client) fanOut(ctx context.Context, nodes []string, cmd command) []result {
	results := make([]result, len(nodes))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, node := range nodes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = c.do(ctx, node, cmd)
		})
	}
	wg.Wait()
	c.hc.CloseIdleConnections()
	return results
}

// do sends cmd to one node.
func (c *client) do(ctx context.Context, node string, cmd command) result {
	r := result{Node: node}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if cmd.body != nil {
		body = bytes.NewReader(cmd.body)
	}
	req, err := http.NewRequestWithContext(ctx, cmd.method, node+cmd.path, body)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if cmd.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "edgectl")
	start := time.Now()
	b, resp, err := c.roundTrip(req)
	r.LatencyS = time.Since(start).Seconds()
	if err != nil {
		r.Error = describe(err, c.timeout)
		return r
	}
	r.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.Error, r.Field = c.apiError(cmd, resp, b)
		return r
	}
	if cmd.name == "config" {
		r.Config, r.OK = string(b), true
		return r
	}
	if !json.Valid(b) {
		r.Error = fmt.Sprintf("%d, but the answer is not JSON: %s", resp.StatusCode, snippet(b))
		return r
	}
	r.Response, r.OK = json.RawMessage(b), true
	if cmd.name == "purge" {
		var p struct {
			Matched *int64  `json:"matched"`
			Seq     *uint64 `json:"seq"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			r.Error, r.OK = fmt.Sprintf("%d, but the answer is not a purge result: %v", resp.StatusCode, err), false
			return r
		}
		r.Matched, r.Seq = p.Matched, p.Seq
	}
	return r
}

// roundTrip sends req and reads the whole answer.
func (c *client) roundTrip(req *http.Request) ([]byte, *http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxAnswer {
		return nil, nil, fmt.Errorf("the answer is larger than %d MiB", maxAnswer>>20)
	}
	return b, resp, nil
}

// apiError turns a non-2xx answer into "403: token lacks the purge scope",
// using the {"error", "field"} body when there is one.
func (c *client) apiError(cmd command, resp *http.Response, b []byte) (msg, field string) {
	var e struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	text := ""
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		text, field = e.Error, e.Field
	} else {
		text = snippet(b)
	}
	if text == "" {
		text = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	if field != "" && !strings.Contains(text, field) {
		text = field + ": " + text
	}
	msg = fmt.Sprintf("%d: %s", resp.StatusCode, text)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if c.token == "" {
			msg += " (no token given: use --token-file or EDGECTL_TOKEN)"
		}
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		msg += fmt.Sprintf(" (the node does not serve %s %s: is its edged older than edgectl?)", cmd.method, cmd.path)
	case http.StatusTooManyRequests:
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			if _, err := strconv.Atoi(ra); err == nil {
				ra += "s"
			}
			msg += " (retry after " + ra + ")"
		}
	}
	return msg, field
}

// snippet is the first line of a non-JSON answer, shortened.
func snippet(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// describe says in a few words why a request got no answer.
func describe(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &urlErr):
		return urlErr.Err.Error()
	}
	return err.Error()
}
