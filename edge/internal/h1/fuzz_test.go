package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseRequest feeds arbitrary header blocks to the parser. It must
// never panic, and whenever both it and net/http's reader accept a request,
// they must agree on what it means — above all on the body framing, since a
// disagreement there between two HTTP implementations is how requests are
// smuggled.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a?b HTTP/1.1\r\nHost: h:80\r\nAccept-Encoding: gzip\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://x.example/y HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\nHost: h\n\n",
		"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nX: a\tb\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		end, _ := findHeaderEnd(data, 0)
		if end < 0 {
			return
		}
		blk := data[:end]
		lim := &limits{maxURI: DefaultMaxURIBytes, maxFields: DefaultMaxHeaderFields, maxHeader: DefaultMaxHeaderBytes}
		var r Request
		if pe := parseRequest(blk, &r, nil, lim); pe != nil {
			if pe.status < 400 || pe.status > 505 || pe.reason == "" {
				t.Fatalf("bad rejection %+v", pe)
			}
			return
		}
		// Invariants of an accepted request.
		if r.Method == "" || r.Target == "" {
			t.Fatalf("accepted without method or target: %+v", r)
		}
		if r.ProtoMinor == 1 && r.Host == "" {
			t.Fatal("HTTP/1.1 request accepted without a host")
		}
		if r.ContentLength < -1 || (r.ContentLength != 0) != r.hasBody {
			t.Fatalf("inconsistent framing: length %d hasBody %v", r.ContentLength, r.hasBody)
		}
		if strings.ContainsAny(r.Target, " \r\n\x00") {
			t.Fatalf("target %q contains separators", r.Target)
		}
		for _, fl := range r.Header {
			if strings.ContainsAny(fl.Value, "\r\n\x00") || strings.ContainsAny(fl.Name, " :\r\n") {
				t.Fatalf("field %q: %q survived", fl.Name, fl.Value)
			}
		}

		// Differential check against net/http (only where it also accepts).
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(blk)))
		if err != nil {
			return
		}
		if hr.Method != r.Method {
			t.Fatalf("method %q vs net/http %q", r.Method, hr.Method)
		}
		chunked := len(hr.TransferEncoding) > 0 && hr.TransferEncoding[0] == "chunked"
		if chunked != (r.ContentLength == -1) {
			t.Fatalf("chunked: ours %v, net/http %v", r.ContentLength == -1, chunked)
		}
		if !chunked && hr.ContentLength > 0 && hr.ContentLength != r.ContentLength {
			t.Fatalf("content length: ours %d, net/http %d", r.ContentLength, hr.ContentLength)
		}
		if r.Host != "" && !strings.EqualFold(hr.Host, r.Host) {
			t.Fatalf("host: ours %q, net/http %q", r.Host, hr.Host)
		}
	})
}
