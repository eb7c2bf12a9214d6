package netlab

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

// GetResult is what `labtool get` prints.
type GetResult struct {
	Status     int                 `json:"status"`
	Proto      string              `json:"proto,omitempty"`
	Header     map[string][]string `json:"header,omitempty"`
	Body       []byte              `json:"body,omitempty"`
	Error      string              `json:"error,omitempty"`
	Kind       string              `json:"kind,omitempty"`
	DurationMS float64             `json:"duration_ms"`
}

// Failure is one failed request of a loop: Time is when it started,
// DurationMS how long it took to fail.
type Failure struct {
	Time       time.Time `json:"time"`
	DurationMS float64   `json:"duration_ms"`
	Kind       string    `json:"kind"`
	Error      string    `json:"error,omitempty"`
	Status     int       `json:"status,omitempty"`
	Via        string    `json:"via,omitempty"`
}

// End is when the failed request ended.
func (f Failure) End() time.Time {
	return f.Time.Add(time.Duration(f.DurationMS * float64(time.Millisecond)))
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// LoopResult is what `labtool loop` prints: one new connection per request
// at a fixed rate.
type LoopResult struct {
	URL   string    `json:"url"`
	Rate  int       `json:"rate"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Sent requests; OK ones got a 2xx and their whole body; the rest
	// Failed.
	Sent   int `json:"sent"`
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	// Skipped ticks: too many requests were already in flight.
	Skipped int `json:"skipped"`
	// Errors counts failures by kind (see Classify).
	Errors map[string]int `json:"errors"`
	// Via counts OK responses by the node that answered: the node id
	// of their Via header ("1.1 edge1" counts for edge1), else the last
	// cache of their Cache-Status ("edge1; hit"), else "".
	Via map[string]int `json:"via"`
	// Failures lists the first MaxFailures failures, in time order;
	// FailuresDropped counts the rest.
	Failures        []Failure `json:"failures"`
	FailuresDropped int       `json:"failures_dropped"`
	Latency         Latency   `json:"latency_ms"`
	// Stopped says why the loop ended: duration, max or signal.
	Stopped string `json:"stopped"`
}

// LoadResult is what `labtool load` prints: keep-alive connections, each
// sending requests back to back.
type LoadResult struct {
	URL   string `json:"url"`
	Conns int    `json:"conns"`
	// Dials counts the connections opened: Conns when every keep-alive
	// connection lasted the whole run.
	Dials    int            `json:"dials"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	Errors   map[string]int `json:"errors"`
	Via      map[string]int `json:"via"`
	Bytes    int64          `json:"bytes"`
	RPS      float64        `json:"rps"`
	Latency  Latency        `json:"latency_ms"`
	Stopped  string         `json:"stopped"`
}

// MaxFailures bounds LoopResult.Failures.
const MaxFailures = 2000

// Error kinds reported by Classify.
const (
	KindRefused     = "refused"
	KindReset       = "reset"
	KindTimeout     = "timeout"
	KindEOF         = "eof"
	KindUnreachable = "unreachable"
	KindStatus      = "status"
	KindBody        = "body"
	KindOther       = "other"
)

// Classify maps a request error to a short kind.
func Classify(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return KindUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "connection reset"):
		return KindReset
	case strings.Contains(s, "connection refused"):
		return KindRefused
	case strings.Contains(s, "EOF"), strings.Contains(s, "server closed"):
		return KindEOF
	case strings.Contains(s, "timeout"):
		return KindTimeout
	}
	return KindOther
}

// ViaNode returns the node id in a Via header value such as "1.1 edge1"
// (the last hop's, when there are several).
func ViaNode(via string) string {
	if i := strings.LastIndexByte(via, ','); i >= 0 {
		via = via[i+1:]
	}
	f := strings.Fields(via)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// CacheStatusNode returns the cache name of the last member of a
// Cache-Status header (RFC 9211: each cache appends its member, so the
// last is the one closest to the client), e.g. "edge1" in
// "edge1; hit; ttl=59".
func CacheStatusNode(cs string) string {
	if i := strings.LastIndexByte(cs, ','); i >= 0 {
		cs = cs[i+1:]
	}
	if i := strings.IndexByte(cs, ';'); i >= 0 {
		cs = cs[:i]
	}
	return strings.Trim(strings.TrimSpace(cs), `"`)
}

// ResponseNode names the node that answered: the node id of the Via
// response header, else the cache name in Cache-Status (the node sets
// Via only on its requests to the origin), else "".
func ResponseNode(via, cacheStatus string) string {
	if n := ViaNode(via); n != "" {
		return n
	}
	return CacheStatusNode(cacheStatus)
}

// Summarize returns the latency summary of durations (in ms); it sorts
// its argument.
func Summarize(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	sort.Float64s(ms)
	q := func(p float64) float64 { return ms[min(len(ms)-1, int(p*float64(len(ms))))] }
	return Latency{P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: ms[len(ms)-1]}
}
