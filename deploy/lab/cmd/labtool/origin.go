package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// maxObject bounds /obj/<n> and /nocache/<n>.
const maxObject = 64 << 20

func cmdOrigin(args []string) int {
	fs := flag.NewFlagSet("labtool origin", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "listen address")
	netns := fs.String("netns", "", "if set, refuse to run outside this network namespace")
	via := fs.String("via", "", "if set, add \"Via: 1.1 VIA\" to every response (a stand-in for a node)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *netns != "" {
		if rc := requireNetns("origin", *netns); rc != exitOK {
			return rc
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtool origin: %v\n", err)
		return exitFail
	}
	srv := &http.Server{Handler: originHandler(*via), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("{\"listening\": %q}\n", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "labtool origin: %v\n", err)
		return exitFail
	}
	return exitOK
}

// originHandler serves:
//
//	/ and /health    200 "ok"
//	/obj/<n>         n bytes of text, Cache-Control: public, max-age=60
//	/nocache/<n>     n bytes of text, Cache-Control: no-store
//
// With via set, every response carries "Via: 1.1 <via>".
func originHandler(via string) http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	}
	mux.HandleFunc("GET /{$}", ok)
	mux.HandleFunc("GET /health", ok)
	object := func(cc string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			n, err := strconv.Atoi(r.PathValue("n"))
			if err != nil || n < 0 || n > maxObject {
				http.Error(w, "size must be 0-67108864", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("Content-Length", strconv.Itoa(n))
			if r.Method == http.MethodHead {
				return
			}
			_, _ = w.Write(objectBody(n))
		}
	}
	mux.HandleFunc("GET /obj/{n}", object("public, max-age=60"))
	mux.HandleFunc("GET /nocache/{n}", object("no-store"))
	if via == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Via", "1.1 "+via)
		mux.ServeHTTP(w, r)
	})
}

// objectBody is n bytes of printable text (lines of the alphabet).
func objectBody(n int) []byte {
	const line = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n"
	b := make([]byte, n)
	for i := 0; i < n; i += len(line) {
		copy(b[i:], line)
	}
	return b
}
