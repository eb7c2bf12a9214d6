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
	addr := startServer(t, &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		time.Sleep(hold)
		w.WriteHead(200, http.Header{"Content-Type": {"text/plain"}}, 2)
		w.Write([]byte("ok"))
	})})
	// The bytes of a connection's first request may arrive before the
	// socket asks for timestamps: that request is not timed. Start the
	// period after one request, which also drops what earlier tests left.
	rc := dial(t, addr)
	rc.send("GET /warm HTTP/1.1\r\nHost: h\r\n\r\n")
	rc.read("GET")
	qdReport()
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}

	// n timed requests, then one more: its answer means the server is
	// done with request n (recorded after the response left), and it may
	// or may not be recorded itself when qdReport runs.
	const n = 20
	for i := range n + 1 {
		rc.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i))
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	qdReport()

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
	if requests < n || requests > n+1 || inWindows != requests {
		t.Fatalf("report counts %d requests, %d in windows; want %d or %d:\n%s", requests, inWindows, n, n+1, b)
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
