package geodata_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

func ExampleGeo_Locate() {
	db, err := geodatatest.Build(geodatatest.Demo())
	if err != nil {
		panic(err)
	}
	g, err := geodata.New(geodata.Config{Regions: []geodata.Region{
		{Name: "na", Latitude: 39.04, Longitude: -77.49, Countries: []string{"US", "CA"}},
		{Name: "eu", Latitude: 50.11, Longitude: 8.68, Continents: []string{"EU", "AF"}},
		{Name: "apac", Latitude: 1.35, Longitude: 103.82, Continents: []string{"AS", "OC"}},
	}}, geodata.WithDatabaseBytes(db))
	if err != nil {
		panic(err)
	}
	for _, s := range []string{"198.51.100.1", "203.0.113.200", "2001:db8:e000::1", "127.0.0.1"} {
		res := g.Locate(netip.MustParseAddr(s))
		fmt.Printf("%-16s %-4s by %-9s scope %s\n", s, res.Region, res.Rule, res.Scope)
	}
	fmt.Println("fallback for eu:", g.Fallback("eu"))
	// Output:
	// 198.51.100.1     eu   by continent scope 198.51.100.0/24
	// 203.0.113.200    apac by continent scope 203.0.113.0/24
	// 2001:db8:e000::1 na   by nearest   scope 2001:db8:e000::/35
	// 127.0.0.1        na   by default   scope 0.0.0.0/1
	// fallback for eu: [na apac]
}

func ExampleParseCoverage() {
	entries, err := geodata.ParseCoverage(strings.NewReader(`
# operator overrides
203.0.113.0/24   eu
2001:db8:42::/48 na   # IPv6 too
192.0.2.7        apac
`))
	fmt.Println(entries, err)
	_, err = geodata.ParseCoverage(strings.NewReader("10.0.0.1/8 eu\n"))
	fmt.Println(err)
	// Output:
	// [{203.0.113.0/24 eu} {2001:db8:42::/48 na} {192.0.2.7/32 apac}] <nil>
	// line 1: 10.0.0.1/8 has host bits set (the network is 10.0.0.0/8)
}

func ExampleDB_Lookup() {
	b, err := geodatatest.Build(geodatatest.Demo())
	if err != nil {
		panic(err)
	}
	db, err := geodata.FromBytes(b)
	if err != nil {
		panic(err)
	}
	loc, err := db.Lookup(netip.MustParseAddr("198.18.7.7"))
	fmt.Printf("%s %s %s %.2f,%.2f %s %v\n", loc.Continent, loc.Country, loc.Subdivision, loc.Latitude, loc.Longitude, loc.Network, err)
	loc, _ = db.Lookup(netip.MustParseAddr("127.0.0.1"))
	fmt.Println(loc.Found, loc.HasCoordinates, loc.Network)
	// Output:
	// NA US US-CA 37.34,-121.89 198.18.0.0/16 <nil>
	// true false 127.0.0.0/8
}
