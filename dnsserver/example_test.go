package dnsserver_test

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/dnsserver/dnstest"
)

// A geo zone served on a free loopback port; a query with an EDNS Client
// Subnet in Europe gets the eu address and the scope of the locator's
// prefix.
func Example() {
	cfg := dnsserver.Config{
		Listen: []string{"127.0.0.1:0"},
		Zones: []dnsserver.ZoneConfig{{
			Name: "cdn.example.com",
			NS:   []dnsserver.NSConfig{{Name: "ns1", Addresses: []string{"192.0.2.53"}}},
			Geo: []dnsserver.GeoConfig{{
				Name: "www",
				Regions: map[string]dnsserver.RegionRecords{
					"eu":      {A: []string{"203.0.113.30"}},
					"na-east": {A: []string{"203.0.113.10"}},
				},
			}},
		}},
	}
	loc := dnstest.NewLocator("na-east", map[string]string{"198.51.100.0/22": "eu"}, nil)
	srv, err := dnsserver.New(cfg, loc, nil)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Stop(ctx)

	q := dnstest.WithECS(dnstest.Query("www.cdn.example.com", dns.TypeA), pfx("198.51.100.0/24"))
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(q, srv.Addrs()[0].String())
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Answer[0])
	fmt.Println("ECS", dnstest.ECS(r))
	// Output:
	// www.cdn.example.com.	60	IN	A	203.0.113.30
	// ECS 198.51.100.0/24/22
}
