package edge_test

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// BenchmarkHit measures a cache hit end to end over a loopback keep-alive
// connection: request parse, lookup, freshness, encoding choice, prepared
// head, write. The client reuses its buffers, so the allocations reported
// are the node's.
func BenchmarkHit(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
		ae   string
	}{
		{"1KiB/identity", 1 << 10, ""},
		{"1KiB/gzip", 1 << 10, "gzip"},
		{"32KiB/gzip", 32 << 10, "gzip"},
		{"32KiB/identity", 32 << 10, ""},
		{"1MiB/gzip", 1 << 20, "gzip"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := origintest.New(b)
			body := text(tc.size)
			o.Handle("/obj", serveText(body, "public, max-age=3600"))
			n := edgetest.Start(b, edgetest.SiteConfig(o.URL))
			req := "GET /obj HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\n"
			if tc.ae != "" {
				req += "Accept-Encoding: " + tc.ae + "\r\n"
			}
			req += "\r\n"
			// Warm until stored (a large object is still being compressed
			// for a moment after its miss), then twice more so that an
			// identity body decoded from gzip is promoted.
			// The Host must be the one the loop sends: it is part of the key.
			warm := []string{"Host: bench.example", "Accept-Encoding: " + tc.ae}
			for i := 0; i < 1000 && !strings.Contains(n.Get(b, "/obj", warm...).CacheStatus(), "hit"); i++ {
				time.Sleep(time.Millisecond)
			}
			n.Get(b, "/obj", warm...)
			n.Get(b, "/obj", warm...)
			c, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 64<<10)
			sink := make([]byte, 64<<10)
			reqb := []byte(req)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(reqb); err != nil {
					b.Fatal(err)
				}
				cl := readHead(b, br)
				for cl > 0 {
					k, err := br.Read(sink[:min(cl, len(sink))])
					if err != nil {
						b.Fatal(err)
					}
					cl -= k
				}
			}
		})
	}
}

// readBody reads one response (Content-Length or chunked) and discards
// its body.
func readBody(b *testing.B, br *bufio.Reader, sink []byte) {
	cl, chunked := readHeadFraming(b, br)
	if chunked {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil {
				b.Fatalf("chunk size %q", line)
			}
			if _, err := br.Discard(int(size) + 2); err != nil {
				b.Fatal(err)
			}
			if size == 0 {
				return
			}
		}
	}
	for cl > 0 {
		k, err := br.Read(sink[:min(cl, len(sink))])
		if err != nil {
			b.Fatal(err)
		}
		cl -= k
	}
}

// readHead reads a response head and returns its Content-Length.
func readHead(b *testing.B, br *bufio.Reader) int {
	cl, chunked := readHeadFraming(b, br)
	if chunked {
		b.Fatal("chunked response")
	}
	return cl
}

// readHeadFraming reads a response head and returns its Content-Length
// or whether it is chunked.
func readHeadFraming(b *testing.B, br *bufio.Reader) (int, bool) {
	cl, chunked := -1, false
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if first {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
				b.Fatalf("status line %q", line)
			}
			first = false
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			cl, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
		if bytes.EqualFold(line, []byte("Transfer-Encoding: chunked\r\n")) {
			chunked = true
		}
	}
	if cl < 0 && !chunked {
		b.Fatal("no Content-Length")
	}
	return cl, chunked
}

// BenchmarkMiss measures a cache miss end to end over a loopback
// keep-alive connection: lookup, collapsed fill, origin request over the
// pooled transport (origin on loopback), storing (gzip built at fill
// time), response. Each iteration asks for a new URL. The allocations
// include the origin test server's (same process).
func BenchmarkMiss(b *testing.B) {
	for _, tc := range []struct {
		name, cc, ae string
	}{
		{"4KiB/store/identity", "public, max-age=3600", ""},
		{"4KiB/store/gzip", "public, max-age=3600", "gzip"},
		{"4KiB/no-store", "no-store", ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := origintest.New(b)
			o.HandleFallback(serveText(text(4<<10), tc.cc))
			n := edgetest.Start(b, edgetest.SiteConfig(o.URL))
			c, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 64<<10)
			sink := make([]byte, 64<<10)
			var reqb []byte
			i := 0
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				i++
				reqb = append(reqb[:0], "GET /obj/"...)
				reqb = strconv.AppendInt(reqb, int64(i), 10)
				reqb = append(reqb, " HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\n"...)
				if tc.ae != "" {
					reqb = append(reqb, "Accept-Encoding: "+tc.ae+"\r\n"...)
				}
				reqb = append(reqb, "\r\n"...)
				if _, err := c.Write(reqb); err != nil {
					b.Fatal(err)
				}
				readBody(b, br, sink)
			}
			// Process CPU (node, origin and client together) is steadier
			// than wall time on a shared machine.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time this process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
