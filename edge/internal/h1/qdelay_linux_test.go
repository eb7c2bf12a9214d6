//go:build linux && h1qdelay

package h1

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQueueDelayReport runs requests through the instrumented build and
// checks that each one was timed from its kernel receive time and that the
// report accounts for all of them. Run by make test (-tags h1qdelay).
func TestQueueDelayReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "qdelay.txt")
	t.Setenv("EDGECDN_H1_QDELAY", out)
	const hold = 2 * time.Millisecond
	const n = 20
	// The period is started and reported from inside the handler, on the
	// connection's own goroutine: a request is recorded after its response
	// left, before the next one is read. So the handler of /0 starts a
	// period holding exactly /0 to /n-1 (dropping the warm-up request and
	// what earlier tests left), and the handler of /report ends it before
	// /report itself is recorded. Timed from the client, either boundary
	// could catch a neighbouring request.
	addr := startServer(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		switch r.Path {
		case "/0":
			qdReport()
			if err := os.Remove(out); err != nil {
				t.Error(err)
			}
		case "/report":
			qdReport()
		}
		time.Sleep(hold)
		w.WriteHead(200, http.Header{"Content-Type": {"text/plain"}}, 2)
		w.Write([]byte("ok"))
	})})
	// The bytes of a connection's first request may arrive before the
	// socket asks for timestamps: that request is not timed, so one
	// warm-up request goes first.
	rc := dial(t, addr)
	rc.send("GET /warm HTTP/1.1\r\nHost: h\r\n\r\n")
	rc.read("GET")
	for i := range n {
		rc.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i))
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	rc.send("GET /report HTTP/1.1\r\nHost: h\r\n\r\n")
	rc.read("GET")

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var requests, inWindows int
	stages := map[string]map[string]float64{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && f[1] == "period":
			requests, _ = strconv.Atoi(f[4])
		case len(f) >= 15 && f[1] == "stage":
			m := map[string]float64{}
			for i := 3; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i+1], 64)
				if err != nil {
					t.Fatalf("bad figure in %q", line)
				}
				m[f[i]] = v
			}
			stages[f[2]] = m
		case len(f) == 8 && f[1] == "window":
			k, _ := strconv.Atoi(f[4])
			inWindows += k
		}
	}
	if requests != n || inWindows != n {
		t.Fatalf("report counts %d requests, %d in windows; want %d:\n%s", requests, inWindows, n, b)
	}
	for _, s := range []string{"queue", "dispatch", "runq", "service", "total"} {
		m, ok := stages[s]
		if !ok {
			t.Fatalf("no %s stage:\n%s", s, b)
		}
		if m["n"] > float64(requests) || m["p50"] < 0 || m["p50"] > m["max"] {
			t.Errorf("stage %s: %v", s, m)
		}
	}
	if int(stages["queue"]["n"]) != requests || int(stages["total"]["n"]) != requests {
		t.Errorf("queue/total cover %v/%v requests, want %d", stages["queue"]["n"], stages["total"]["n"], requests)
	}
	// Every request was held for hold in the handler: service and total
	// include it, the wait before the read does not.
	ms := float64(hold) / 1e6
	if stages["service"]["p50"] < ms || stages["total"]["p50"] < ms {
		t.Errorf("service p50 %v ms, total p50 %v ms; each request took at least %v ms", stages["service"]["p50"], stages["total"]["p50"], ms)
	}
	if stages["total"]["max"] < stages["service"]["max"] {
		t.Errorf("total max %v < service max %v", stages["total"]["max"], stages["service"]["max"])
	}
}
