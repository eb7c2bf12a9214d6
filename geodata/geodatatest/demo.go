package geodatatest

import "net/netip"

// Demo returns a small world for the demo node and examples, in
// documentation and benchmarking address space. With the five regions of
// the bench policy (na-east Ashburn, na-west San Jose, eu Frankfurt, apac
// Singapore, sa São Paulo; see geodata's README) it maps:
//
//	192.0.2.0/24         US-VA, US-NY                 na-east (country)
//	198.51.100.0/24      DE, FR, GB                   eu      (continent)
//	203.0.113.0/24       SG, JP (AS), AU (OC)         apac    (continent)
//	198.18.0.0/16        US-CA                        na-west (subdivision)
//	198.19.0.0/16        BR                           sa      (continent)
//	2001:db8::/34        US-VA                        na-east
//	2001:db8:4000::/34   US-CA                        na-west
//	2001:db8:8000::/34   DE                           eu
//	2001:db8:c000::/35   SG                           apac
//	2001:db8:e000::/36   BR                           sa
//	2001:db8:f000::/36   MX (Monterrey)               nearest (na-west)
//	2001:db8:ffff::/48   no location                  default
//	127.0.0.0/8, ::1     no location                  default
//
// so that dig +subnet=198.51.100.0/24 and +subnet=203.0.113.0/24 land in
// different regions, each /24 as a whole (its pieces share a region), and
// +subnet=2001:db8::/48, 2001:db8:8000::/48 ... in different regions again.
// (In these IPv6 trees ::/96 is the IPv4 subtree, so ::1 is also 0.0.0.1.)
func Demo() []Net {
	p := netip.MustParsePrefix
	return []Net{
		{Prefix: p("192.0.2.0/25"), Continent: "NA", Subdivision: "US-VA", Latitude: 39.04, Longitude: -77.49, AccuracyRadius: 20},
		{Prefix: p("192.0.2.128/25"), Continent: "NA", Subdivision: "US-NY", Latitude: 40.71, Longitude: -74.01, AccuracyRadius: 20},
		{Prefix: p("198.51.100.0/25"), Continent: "EU", Country: "DE", Latitude: 50.11, Longitude: 8.68, AccuracyRadius: 20},
		{Prefix: p("198.51.100.128/26"), Continent: "EU", Country: "FR", Latitude: 48.86, Longitude: 2.35, AccuracyRadius: 20},
		{Prefix: p("198.51.100.192/26"), Continent: "EU", Country: "GB", Latitude: 51.51, Longitude: -0.13, AccuracyRadius: 20},
		{Prefix: p("203.0.113.0/25"), Continent: "AS", Country: "SG", Latitude: 1.35, Longitude: 103.82, AccuracyRadius: 20},
		{Prefix: p("203.0.113.128/26"), Continent: "AS", Country: "JP", Latitude: 35.68, Longitude: 139.69, AccuracyRadius: 20},
		{Prefix: p("203.0.113.192/26"), Continent: "OC", Country: "AU", Latitude: -33.87, Longitude: 151.21, AccuracyRadius: 50},
		{Prefix: p("198.18.0.0/16"), Continent: "NA", Subdivision: "US-CA", Latitude: 37.34, Longitude: -121.89, AccuracyRadius: 20},
		{Prefix: p("198.19.0.0/16"), Continent: "SA", Country: "BR", Latitude: -23.55, Longitude: -46.63, AccuracyRadius: 20},
		{Prefix: p("2001:db8::/34"), Continent: "NA", Subdivision: "US-VA", Latitude: 39.04, Longitude: -77.49, AccuracyRadius: 100},
		{Prefix: p("2001:db8:4000::/34"), Continent: "NA", Subdivision: "US-CA", Latitude: 37.34, Longitude: -121.89, AccuracyRadius: 100},
		{Prefix: p("2001:db8:8000::/34"), Continent: "EU", Country: "DE", Latitude: 50.11, Longitude: 8.68, AccuracyRadius: 100},
		{Prefix: p("2001:db8:c000::/35"), Continent: "AS", Country: "SG", Latitude: 1.35, Longitude: 103.82, AccuracyRadius: 100},
		{Prefix: p("2001:db8:e000::/36"), Continent: "SA", Country: "BR", Latitude: -23.55, Longitude: -46.63, AccuracyRadius: 100},
		{Prefix: p("2001:db8:f000::/36"), Continent: "NA", Country: "MX", Latitude: 25.67, Longitude: -100.31, AccuracyRadius: 200},
		{Prefix: p("2001:db8:ffff::/48"), NoCoordinates: true},
		{Prefix: p("127.0.0.0/8"), NoCoordinates: true},
		{Prefix: p("::1/128"), NoCoordinates: true},
	}
}
