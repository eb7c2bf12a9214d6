package origin

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/edgecdn/edgecdn/origin/origintest"
)

// BenchmarkPoolDo is the miss path: one request through Do to a loopback
// origin answering 4 KiB, body drained and closed.
func BenchmarkPoolDo(b *testing.B) {
	for _, sel := range []string{LowestLatency, ConsistentHash} {
		b.Run(sel, func(b *testing.B) {
			o := origintest.New(b)
			body := strings.Repeat("x", 4<<10)
			o.HandleFallback(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
			pol := noProbes()
			pol.Selection = sel
			p := newTestPool(b, pol, []Config{{URL: o.URL}, {URL: startBenchOrigin(b).URL, Backup: true}})
			req, _ := http.NewRequest(http.MethodGet, "http://"+testSite+"/obj", nil)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				resp, err := p.Do(b.Context(), req, "/obj")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}

func startBenchOrigin(b *testing.B) *origintest.Server {
	o := origintest.New(b)
	o.HandleFallback(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	return o
}

// BenchmarkPick is the cost of choosing an origin, without I/O: 3 primaries
// and a backup.
func BenchmarkPick(b *testing.B) {
	cfgs := []Config{{URL: "http://a.test"}, {URL: "http://b.test", Weight: 2}, {URL: "http://c.test"}, {URL: "http://d.test", Backup: true}}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("https://www.example.com/static/img/%d.jpg", i)
	}
	for _, sel := range []string{LowestLatency, ConsistentHash} {
		b.Run(sel, func(b *testing.B) {
			pol := noProbes()
			pol.Selection = sel
			p := newTestPool(b, pol, cfgs)
			now := p.now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if o, _ := p.pick(keys[i&1023], nil, now); o == nil {
					b.Fatal("no origin")
				}
				i++
			}
		})
	}
}
