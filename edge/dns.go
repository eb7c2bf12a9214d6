package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecdn/edgecdn/dnsserver"
	"github.com/edgecdn/edgecdn/edge/internal/confload"
	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
)

// dnsPart is the node's geo-DNS: the geodata state and the DNS server.
type dnsPart struct {
	geo *geodata.Geo
	srv *dnsserver.Server
}

// newDNS builds geodata and the DNS server from c (nil when c has no dns
// section). The demo node without a database gets the generated demo
// database.
func newDNS(c *Config, health dnsserver.RegionHealth, met *dnsserver.Metrics, base *slog.Logger) (*dnsPart, error) {
	if c.DNS == nil {
		return nil, nil
	}
	gopts := []geodata.Option{geodata.WithLogger(base)}
	if c.Geodata.Database == "" {
		b, err := geodatatest.Build(geodatatest.Demo())
		if err != nil {
			return nil, fmt.Errorf("geodata: demo database: %w", err)
		}
		gopts = append(gopts, geodata.WithDatabaseBytes(b))
	}
	geo, err := geodata.New(*c.Geodata, gopts...)
	if err != nil {
		return nil, fmt.Errorf("geodata: %w", err)
	}
	srv, err := dnsserver.New(*c.DNS, geo, health, dnsserver.WithLogger(base), dnsserver.WithMetrics(met))
	if err != nil {
		geo.Stop(context.Background())
		return nil, fmt.Errorf("dns: %w", err)
	}
	return &dnsPart{geo: geo, srv: srv}, nil
}

func (d *dnsPart) start(ctx context.Context) error {
	if d == nil {
		return nil
	}
	if err := d.geo.Start(ctx); err != nil {
		return fmt.Errorf("geodata: %w", err)
	}
	if err := d.srv.Start(ctx); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	return nil
}

func (d *dnsPart) stop(ctx context.Context) error {
	if d == nil {
		return nil
	}
	return errors.Join(d.srv.Stop(ctx), d.geo.Stop(ctx))
}

// reload applies a new config to geodata, then to the DNS server.
func (d *dnsPart) reload(c *Config) error {
	if err := d.geo.Reload(*c.Geodata); err != nil {
		return fmt.Errorf("geodata: %w", err)
	}
	if err := d.srv.Reload(*c.DNS); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	return nil
}

// nodeHealth is the RegionHealth the DNS server asks: every region is up
// (the fleet, which will know the others, comes later) except this node's
// own, which follows the node's readiness.
type nodeHealth struct{ n *Node }

func (h nodeHealth) Up(region string) bool {
	c := h.n.cfg.Load()
	if c != nil && region == c.Node.Region {
		return h.n.Ready()
	}
	return true
}

// validateDNS checks the dns and geodata sections together.
func validateDNS(c *Config) []error {
	var errs []error
	if c.DNS == nil {
		if c.Geodata != nil {
			errs = append(errs, errors.New("geodata: set without a dns section (geodata is only used by the DNS server)"))
		}
		return errs
	}
	if c.Geodata == nil {
		return append(errs, errors.New("geodata: required with a dns section"))
	}
	if err := c.Geodata.Validate(); err != nil {
		errs = append(errs, confload.Prefix("geodata", err))
	}
	if c.Geodata.Database == "" && c.Demo == nil {
		errs = append(errs, errors.New("geodata.database: required (only the demo node runs on its built-in database)"))
	}
	if err := c.DNS.Validate(); err != nil {
		errs = append(errs, confload.Prefix("dns", err))
	}
	var regions []string
	for _, r := range c.Geodata.Regions {
		regions = append(regions, r.Name)
	}
	for i, z := range c.DNS.Zones {
		for j, g := range z.Geo {
			for name := range g.Regions {
				if !slices.Contains(regions, name) {
					errs = append(errs, fmt.Errorf("dns.zones[%d].geo[%d].regions.%s: no such region in geodata.regions %v", i, j, name, regions))
				}
			}
		}
	}
	return errs
}

// geoCollector exports the geodata statistics as edge_dns_geodata_*.
type geoCollector struct {
	n                            *Node
	reloads, lookups, lfail, hit *prometheus.Desc
	tableHit, tableBlocks, cov   *prometheus.Desc
	built                        *prometheus.Desc
}

func newGeoCollector(n *Node) *geoCollector {
	return &geoCollector{
		n:           n,
		reloads:     prometheus.NewDesc("edge_dns_geodata_reloads_total", "Geodata (database, coverage file) reloads, by result.", []string{"result"}, nil),
		lookups:     prometheus.NewDesc("edge_dns_geodata_lookups_total", "Client address lookups (cache hits included).", nil, nil),
		lfail:       prometheus.NewDesc("edge_dns_geodata_lookup_failures_total", "Lookups the database could not answer (answered by the default region).", nil, nil),
		hit:         prometheus.NewDesc("edge_dns_geodata_cache_hits_total", "Lookups answered from the per-network cache.", nil, nil),
		tableHit:    prometheus.NewDesc("edge_dns_geodata_table_hits_total", "Lookups answered from the IPv4 /24 block table (no cache probe, no database walk).", nil, nil),
		tableBlocks: prometheus.NewDesc("edge_dns_geodata_ipv4_table_blocks", "IPv4 /24 blocks the block table answers (of 16777216); the rest go through the cache and the database.", nil, nil),
		cov:         prometheus.NewDesc("edge_dns_geodata_coverage_entries", "Entries of the coverage file in use.", nil, nil),
		built:       prometheus.NewDesc("edge_dns_geodata_database_build_timestamp_seconds", "Build time of the geodata database in use.", []string{"type"}, nil),
	}
}

func (g *geoCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.reloads
	ch <- g.lookups
	ch <- g.lfail
	ch <- g.hit
	ch <- g.tableHit
	ch <- g.tableBlocks
	ch <- g.cov
	ch <- g.built
}

func (g *geoCollector) Collect(ch chan<- prometheus.Metric) {
	d := g.n.dns
	if d == nil {
		return
	}
	s := d.geo.Stats()
	ch <- prometheus.MustNewConstMetric(g.reloads, prometheus.CounterValue, float64(s.Reloads), "ok")
	ch <- prometheus.MustNewConstMetric(g.reloads, prometheus.CounterValue, float64(s.ReloadFailures), "error")
	ch <- prometheus.MustNewConstMetric(g.lookups, prometheus.CounterValue, float64(s.Lookups))
	ch <- prometheus.MustNewConstMetric(g.lfail, prometheus.CounterValue, float64(s.LookupFailures))
	ch <- prometheus.MustNewConstMetric(g.hit, prometheus.CounterValue, float64(s.CacheHits))
	ch <- prometheus.MustNewConstMetric(g.tableHit, prometheus.CounterValue, float64(s.TableHits))
	ch <- prometheus.MustNewConstMetric(g.tableBlocks, prometheus.GaugeValue, float64(s.TableBlocks))
	ch <- prometheus.MustNewConstMetric(g.cov, prometheus.GaugeValue, float64(s.Networks))
	ch <- prometheus.MustNewConstMetric(g.built, prometheus.GaugeValue, float64(s.DatabaseBuilt.Unix()), s.DatabaseType)
}

// CheckFiles opens the files a config names that Validate does not read
// (the geodata database and coverage file), for edged -check: a file that
// is missing or broken is reported with its field path.
func CheckFiles(c *Config) error {
	if c.Geodata == nil {
		return nil
	}
	var errs []error
	if p := c.Geodata.Database; p != "" {
		if db, err := geodata.Open(p); err != nil {
			errs = append(errs, fmt.Errorf("geodata.database: %w", err))
		} else {
			db.Close()
		}
	}
	if p := c.Geodata.CoverageFile; p != "" {
		if f, err := os.Open(p); err != nil {
			errs = append(errs, fmt.Errorf("geodata.coverage_file: %w", err))
		} else {
			_, err := geodata.ParseCoverage(f)
			f.Close()
			if err != nil {
				errs = append(errs, fmt.Errorf("geodata.coverage_file: %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}
