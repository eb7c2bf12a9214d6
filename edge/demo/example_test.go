package demo_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/edgecdn/edgecdn/edge/demo"
)

// The demo origin as a test origin: mount its handler on httptest.
func Example() {
	s, err := demo.New(demo.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	for range 2 {
		resp, err := http.Get(ts.URL + "/demo/text/4k")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, len(body), resp.Header.Get("Cache-Control"), "X-Demo-Fetch:", resp.Header.Get("X-Demo-Fetch"))
	}
	fmt.Println(s.Stats())
	// Output:
	// 200 4096 public, max-age=3600 X-Demo-Fetch: 1
	// 200 4096 public, max-age=3600 X-Demo-Fetch: 2
	// map[/demo/text/4k:2]
}

// The demo origin on its own loopback port, as the node runs it.
func ExampleServer_Start() {
	s, err := demo.New(demo.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if err := s.Start(context.Background()); err != nil {
		panic(err)
	}
	defer s.Stop(context.Background())

	resp, err := http.Get("http://" + s.Addr() + "/demo/status/404")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Server"))
	// Output: 404 edgecdn-demo-origin
}
