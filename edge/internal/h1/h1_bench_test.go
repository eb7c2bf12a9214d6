package h1

import "testing"

func BenchmarkParseRequest(b *testing.B) {
	req := []byte("GET /static/img/logo.png?v=123 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\nAccept: image/avif,image/webp,*/*\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\nConnection: keep-alive\r\n\r\n")
	lim := &limits{maxURI: DefaultMaxURIBytes, maxFields: DefaultMaxHeaderFields, maxHeader: DefaultMaxHeaderBytes}
	fields := make([]Field, 0, 16)
	var r Request
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		end, _ := findHeaderEnd(req, 0)
		if pe := parseRequest(req[:end], &r, fields, lim); pe != nil {
			b.Fatal(pe)
		}
	}
}
