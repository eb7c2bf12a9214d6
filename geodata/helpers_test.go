package geodata_test

import (
	"bufio"
	"bytes"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"github.com/edgecdn/edgecdn/geodata/geodatatest"
	"github.com/oschwald/maxminddb-golang/v2"
	"go.yaml.in/yaml/v3"
)

// This file holds the slow, obvious reference the tests compare geodata
// with: the bench's spec (../shared/bench/dns/tools/spec.go, Expect),
// fed by the maxminddb library's own lookups and reflection decoding, and
// a linear scan of the coverage entries.

// loadConfig decodes a YAML config strictly, fills defaults and validates.
func loadConfig(t testing.TB, path string) geodata.Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c geodata.Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// benchConfig is testdata/bench-policy.yaml.
func benchConfig(t testing.TB) geodata.Config {
	return loadConfig(t, filepath.Join("testdata", "bench-policy.yaml"))
}

type refRegion struct {
	name     string
	lat, lon float64
}

// refPolicy is the bench's policy.txt + regions.tsv, read with the bench's
// own rules.
type refPolicy struct {
	regions                 []refRegion
	def                     string // the spec's is the first region
	continent, country, sub map[string]string
}

func loadRefPolicy(t testing.TB, dir string) *refPolicy {
	t.Helper()
	p := &refPolicy{continent: map[string]string{}, country: map[string]string{}, sub: map[string]string{}}
	for _, line := range readLines(t, filepath.Join(dir, "regions.tsv")) {
		fs := strings.Fields(line)
		lat, err1 := strconv.ParseFloat(fs[2], 64)
		lon, err2 := strconv.ParseFloat(fs[3], 64)
		if len(fs) < 4 || err1 != nil || err2 != nil {
			t.Fatalf("regions.tsv: bad line %q", line)
		}
		p.regions = append(p.regions, refRegion{fs[0], lat, lon})
	}
	p.def = p.regions[0].name
	for _, line := range readLines(t, filepath.Join(dir, "policy.txt")) {
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("policy.txt: bad line %q", line)
		}
		m := map[string]map[string]string{"continent": p.continent, "country": p.country, "subdivision": p.sub}[fs[0]]
		if m == nil {
			t.Fatalf("policy.txt: bad line %q", line)
		}
		m[strings.ToUpper(fs[1])] = fs[2]
	}
	return p
}

// readLines returns the non-empty lines of a file, comments removed.
func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return out
}

// refRecord is decoded by maxminddb's reflection decoder; pointers tell a
// missing location from 0,0.
type refRecord struct {
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Country struct {
		IsoCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		IsoCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	Location struct {
		Latitude       *float64 `maxminddb:"latitude"`
		Longitude      *float64 `maxminddb:"longitude"`
		AccuracyRadius uint16   `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
}

func refDist(lat1, lon1, lat2, lon2 float64) float64 {
	const R = 6371.0
	rad := math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * R * math.Asin(math.Min(1, math.Sqrt(a)))
}

func (p *refPolicy) byDistance(lat, lon float64) []string {
	type rd struct {
		n string
		d float64
	}
	var v []rd
	for _, r := range p.regions {
		v = append(v, rd{r.name, refDist(lat, lon, r.lat, r.lon)})
	}
	sort.SliceStable(v, func(i, j int) bool { return v[i].d < v[j].d })
	out := make([]string, len(v))
	for i := range v {
		out[i] = v[i].n
	}
	return out
}

// expect is the bench's Expect: the spec region and rule of a record.
func (p *refPolicy) expect(g *refRecord, found bool) (string, string) {
	if found {
		cc := strings.ToUpper(g.Country.IsoCode)
		if cc != "" && len(g.Subdivisions) > 0 && g.Subdivisions[0].IsoCode != "" {
			if r, ok := p.sub[cc+"-"+strings.ToUpper(g.Subdivisions[0].IsoCode)]; ok {
				return r, "subdivision"
			}
		}
		if cc != "" {
			if r, ok := p.country[cc]; ok {
				return r, "country"
			}
		}
		if c := strings.ToUpper(g.Continent.Code); c != "" {
			if r, ok := p.continent[c]; ok {
				return r, "continent"
			}
		}
		if g.Location.Latitude != nil && g.Location.Longitude != nil {
			return p.byDistance(*g.Location.Latitude, *g.Location.Longitude)[0], "nearest"
		}
	}
	return p.def, "default"
}

// reference answers like Geo.Locate, the slow way.
type reference struct {
	db       *maxminddb.Reader
	pol      *refPolicy
	coverage []geodata.Coverage
}

func newReference(t testing.TB, dbBytes []byte, pol *refPolicy, cov []geodata.Coverage) *reference {
	t.Helper()
	r, err := maxminddb.OpenBytes(dbBytes)
	if err != nil {
		t.Fatal(err)
	}
	return &reference{db: r, pol: pol, coverage: cov}
}

// region returns the spec region and rule of a.
func (r *reference) region(t testing.TB, a netip.Addr) (string, string) {
	a = a.Unmap()
	best := -1
	for i, c := range r.coverage {
		if c.Prefix.Contains(a) && (best < 0 || c.Prefix.Bits() > r.coverage[best].Prefix.Bits()) {
			best = i
		}
	}
	if best >= 0 {
		return r.coverage[best].Region, "coverage"
	}
	g, found := r.record(t, a)
	return r.pol.expect(&g, found)
}

func (r *reference) record(t testing.TB, a netip.Addr) (refRecord, bool) {
	var g refRecord
	res := r.db.Lookup(a)
	if err := res.Decode(&g); err != nil {
		t.Fatalf("reference lookup %s: %v", a, err)
	}
	return g, res.Found()
}

// policyFromConfig turns a geodata config back into a reference policy, for
// synthetic configs.
func policyFromConfig(c geodata.Config) *refPolicy {
	p := &refPolicy{continent: map[string]string{}, country: map[string]string{}, sub: map[string]string{}}
	for _, r := range c.Regions {
		p.regions = append(p.regions, refRegion{r.Name, r.Latitude, r.Longitude})
		for _, k := range r.Continents {
			p.continent[k] = r.Name
		}
		for _, k := range r.Countries {
			p.country[k] = r.Name
		}
		for _, k := range r.Subdivisions {
			p.sub[k] = r.Name
		}
	}
	p.def = c.DefaultRegion
	return p
}

// writeCoverage writes a coverage file and returns its path.
func writeCoverage(t testing.TB, dir string, entries []geodata.Coverage) string {
	t.Helper()
	var b bytes.Buffer
	if err := geodata.FormatCoverage(&b, entries); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "coverage-*.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// build is geodatatest.Build that fails the test on error.
func build(t testing.TB, nets []geodatatest.Net) []byte {
	t.Helper()
	b, err := geodatatest.Build(nets)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
