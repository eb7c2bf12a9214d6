package dnsserver_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// TestReadmeConfig decodes the README's configuration example strictly,
// serves it and checks the answers its comments promise.
func TestReadmeConfig(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Configuration.*?```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("no yaml block under ## Configuration")
	}
	var doc struct {
		DNS dnsserver.Config `yaml:"dns"`
	}
	d := yaml.NewDecoder(strings.NewReader(string(m[1])))
	d.KnownFields(true)
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	cfg := doc.DNS
	cfg.Listen = []string{"127.0.0.1:0"}
	srv := dnstest.NewServer(t, cfg, testLocator(), nil)
	r := srv.Exchange(t, "udp", dnstest.WithECS(dnstest.Query("www.cdn.example.com.", dns.TypeA), pfx("198.51.100.0/24")))
	if got := addrs(r.Answer); !sameStrings(got, []string{"203.0.113.30"}) || dnstest.ECS(r).SourceScope != 22 {
		t.Errorf("www A for an eu subnet: %v", r)
	}
	r = srv.Exchange(t, "udp", dnstest.Query("img.cdn.example.com.", dns.TypeA))
	if len(r.Answer) != 2 || r.Answer[0].(*dns.CNAME).Target != "www.cdn.example.com." {
		t.Errorf("img: %v", r)
	}
	r = srv.Exchange(t, "udp", dnstest.Query("cdn.example.com.", dns.TypeNS))
	if len(r.Answer) != 2 || len(r.Extra) != 2 {
		t.Errorf("NS: %v", r)
	}
	r = srv.Exchange(t, "udp", dnstest.Query("nope.cdn.example.com.", dns.TypeA))
	if r.Rcode != dns.RcodeNameError || r.Ns[0].Header().Ttl != 60 {
		t.Errorf("NXDOMAIN: %v", r)
	}
}
