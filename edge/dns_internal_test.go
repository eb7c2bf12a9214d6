package edge

import (
	"context"
	"testing"
	"time"
)

// The DNS server's view of region health: every region is up except the
// node's own, which follows the node's readiness (down before Start and
// after Stop).
func TestNodeHealthFollowsReadiness(t *testing.T) {
	cfg, err := ParseConfig([]byte(`node: {id: t, region: eu}
http: {listen: ["127.0.0.1:0"]}
admin: {listen: "127.0.0.1:0"}
demo: {listen: "127.0.0.1:0"}
sites:
  - name: s
    hosts: ["*"]
    origin_policy: {probe: {disabled: true}}
    origins: [{url: "http://127.0.0.1:9"}]
dns:
  listen: ["127.0.0.1:0"]
  zones:
    - name: cdn.demo.test
      ns: [{name: ns1.cdn.demo.test, addresses: ["127.0.0.1"]}]
      geo: [{name: www, regions: {eu: {a: ["127.0.0.11"]}, na: {a: ["127.0.0.12"]}}}]
geodata:
  regions:
    - {name: eu, latitude: 50.11, longitude: 8.68, continents: [EU, AF]}
    - {name: na, latitude: 39.04, longitude: -77.49, continents: [NA, SA]}
`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := nodeHealth{n}
	if h.Up("eu") || !h.Up("na") {
		t.Errorf("before start: eu %v na %v, want false true", h.Up("eu"), h.Up("na"))
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !h.Up("eu") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !h.Up("eu") || !h.Up("na") {
		t.Errorf("running: eu %v na %v, want true true", h.Up("eu"), h.Up("na"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if h.Up("eu") {
		t.Error("stopped: eu still up")
	}
}
