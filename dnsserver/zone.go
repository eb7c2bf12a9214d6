package dnsserver

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// zoneSet is the compiled data of all zones: every name (owners, their
// empty non-terminal ancestors) with its precomputed answers.
type zoneSet struct {
	names map[string]*node // lower-case wire name → node, over all zones
	zones map[string]*zone // lower-case wire apex → zone
	geos  []*geoName       // every geo name, for metrics and tests
}

type zone struct {
	name   string // lower-case FQDN
	wire   string // lower-case wire form
	ttl    uint32
	soa    *dns.SOA // TTL = zone TTL
	negSOA *dns.SOA // TTL = min(zone TTL, minimum): authority of negative answers
	apex   *node
	// nxTail is negSOA packed for the authority section of an NXDOMAIN
	// answer built around any question: the owner is a compression pointer
	// whose two bytes the fast path patches to the apex's offset inside
	// the question name; the RDATA names are uncompressed, so the bytes do
	// not depend on where they land.
	nxTail []byte
}

type node struct {
	name   string // lower-case FQDN
	wire   string
	zone   *zone
	rrsets map[uint16][]dns.RR // static data; owners are lower-case
	geo    *geoName
	ans    [numSlots]*answer
}

// geoName is a name answered by region.
type geoName struct {
	name    string
	ttl     uint32
	regions []string       // sorted: the last resort order of fallback
	index   map[string]int // region → index in regions
	a, aaaa [][]dns.RR     // per region index; nil when it has none
}

func (g *geoName) rrs(qt uint16, region int) []dns.RR {
	if region < 0 || region >= len(g.regions) {
		return nil
	}
	if qt == dns.TypeA {
		return g.a[region]
	}
	return g.aaaa[region]
}

// has reports whether any region has addresses of type qt.
func (g *geoName) has(qt uint16) bool {
	if qt != dns.TypeA && qt != dns.TypeAAAA {
		return false
	}
	for i := range g.regions {
		if len(g.rrs(qt, i)) > 0 {
			return true
		}
	}
	return false
}

// answer is the precomputed reply to one (name, query type slot).
type answer struct {
	// geo is set when the reply depends on the client's region: the geo
	// name at the end of the (possibly empty) CNAME chain, asked for
	// qtype A or AAAA, with addresses of that type in some region.
	geo      *geoName
	qtype    uint16
	static   *variant   // when geo == nil
	regional []*variant // when geo != nil: per region index, nil = no addresses
}

// variant is one packed reply.
type variant struct {
	msg    []byte // ID 0, RD and CD clear, lower-case question, no OPT
	rcode  int
	region string  // "" when not geo
	resp   counter // responses_total{rcode, region}, set by Server.build
}

// Query type slots: the fast path's table index and the qtype metric label.
const (
	slotA = iota
	slotAAAA
	slotCNAME
	slotSOA
	slotNS
	slotTXT
	slotMX
	slotCAA
	slotANY
	slotOther
	numSlots
)

var slotNames = [numSlots]string{"A", "AAAA", "CNAME", "SOA", "NS", "TXT", "MX", "CAA", "ANY", "other"}

// slotTypes are the query types the answers of each slot are computed
// for. Every qtype of slotOther has no data anywhere, so they all share
// one answer; TypeHTTPS stands for them.
var slotTypes = [numSlots]uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeSOA, dns.TypeNS,
	dns.TypeTXT, dns.TypeMX, dns.TypeCAA, dns.TypeANY, dns.TypeHTTPS}

func slotOf(qt uint16) int {
	switch qt {
	case dns.TypeA:
		return slotA
	case dns.TypeAAAA:
		return slotAAAA
	case dns.TypeCNAME:
		return slotCNAME
	case dns.TypeSOA:
		return slotSOA
	case dns.TypeNS:
		return slotNS
	case dns.TypeTXT:
		return slotTXT
	case dns.TypeMX:
		return slotMX
	case dns.TypeCAA:
		return slotCAA
	case dns.TypeANY:
		return slotANY
	}
	return slotOther
}

// anyOrder is the order in which ANY picks the one RRset it answers
// (RFC 8482 4.1).
var anyOrder = []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeCNAME, dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypeCAA}

// maxChase bounds CNAME chains followed inside a zone.
const maxChase = 8

var regionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// wireName returns the lower-case uncompressed wire form of a FQDN.
func wireName(fqdn string) (string, error) {
	var buf [256]byte
	n, err := dns.PackDomainName(fqdn, buf[:], 0, nil, false)
	if err != nil {
		return "", err
	}
	lowerASCII(buf[:n])
	return string(buf[:n]), nil
}

// lowerASCII lower-cases A-Z in place. On a wire name it leaves the length
// bytes alone: they are at most 63, below 'A'.
func lowerASCII(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// compileZones checks the zones and builds their data and answers. The
// errors carry field paths. now is the load time, the default SOA serial.
func compileZones(cfgs []ZoneConfig, now time.Time) (*zoneSet, []error) {
	zs := &zoneSet{names: map[string]*node{}, zones: map[string]*zone{}}
	var errs []error
	type named struct {
		name string
		i    int
	}
	var apexes []named
	for i := range cfgs {
		p := fmt.Sprintf("zones[%d]", i)
		name, err := canonicalZone(cfgs[i].Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %v", p, err))
			continue
		}
		bad := false
		for _, o := range apexes {
			switch {
			case o.name == name:
				errs = append(errs, fmt.Errorf("%s.name: %q repeats zones[%d]", p, cfgs[i].Name, o.i))
				bad = true
			case inZone(name, o.name) || inZone(o.name, name):
				errs = append(errs, fmt.Errorf("%s.name: %q and zones[%d] (%s) nest; zones may not contain one another", p, cfgs[i].Name, o.i, o.name))
				bad = true
			}
		}
		if bad {
			continue
		}
		apexes = append(apexes, named{name, i})
		z, zerrs := compileZone(zs, &cfgs[i], name, p, now)
		errs = append(errs, zerrs...)
		if z != nil {
			zs.zones[z.wire] = z
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for _, n := range zs.names {
		if err := zs.precompute(n); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return zs, nil
}

func compileZone(zs *zoneSet, c *ZoneConfig, name, p string, now time.Time) (*zone, []error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	z := &zone{name: name}
	z.wire, _ = wireName(name)
	ttl, err := ttlSeconds(c.TTL)
	if err != nil {
		add("%s.ttl: %v", p, err)
	}
	z.ttl = ttl

	// Data by owner, built up before nodes exist; src remembers where each
	// RRset came from, for error messages.
	type rrset struct {
		rrs []dns.RR
		ttl uint32
		src string
	}
	data := map[string]map[uint16]*rrset{}
	geos := map[string]*geoName{}
	geoSrc := map[string]string{}
	addRR := func(owner string, rr dns.RR, src string) {
		m := data[owner]
		if m == nil {
			m = map[uint16]*rrset{}
			data[owner] = m
		}
		t := rr.Header().Rrtype
		s := m[t]
		if s == nil {
			m[t] = &rrset{rrs: []dns.RR{rr}, ttl: rr.Header().Ttl, src: src}
			return
		}
		if s.ttl != rr.Header().Ttl {
			add("%s: TTL %ds differs from %ds of the %s RRset of %s from %s (an RRset has one TTL)", src, rr.Header().Ttl, s.ttl, dns.TypeToString[t], owner, s.src)
			return
		}
		for _, o := range s.rrs {
			if dns.IsDuplicate(o, rr) {
				add("%s: duplicate %s record for %s (see %s)", src, dns.TypeToString[t], owner, s.src)
				return
			}
		}
		s.rrs = append(s.rrs, rr)
	}
	hdr := func(owner string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	checkOwner := func(field, n string) (string, bool) {
		o, err := ownerName(n, name)
		if err != nil {
			add("%s: %v", field, err)
			return "", false
		}
		if !inZone(o, name) {
			add("%s: %q is not inside zone %s", field, n, name)
			return "", false
		}
		if strings.HasPrefix(o, "*.") || strings.Contains(o, ".*.") {
			add("%s: %q: wildcards are not supported", field, n)
			return "", false
		}
		return o, true
	}

	// SOA.
	s := c.SOA
	soa := &dns.SOA{Hdr: hdr(name, dns.TypeSOA, ttl), Serial: s.Serial}
	if soa.Serial == 0 {
		soa.Serial = uint32(now.Unix())
	}
	if s.MName == "" {
		add("%s.soa.mname: required (default: the first ns)", p)
	} else if n, err := ownerName(s.MName, name); err != nil {
		add("%s.soa.mname: %v", p, err)
	} else {
		soa.Ns = n
	}
	if s.RName == "" {
		add("%s.soa.rname: required (default: hostmaster.<zone>)", p)
	} else if strings.Contains(s.RName, "@") {
		add("%s.soa.rname: %q: write the mailbox as a name (hostmaster.example.com), not with @", p, s.RName)
	} else if n, err := ownerName(s.RName, name); err != nil {
		add("%s.soa.rname: %v", p, err)
	} else {
		soa.Mbox = n
	}
	for _, f := range []struct {
		name string
		d    time.Duration
		out  *uint32
	}{{"refresh", s.Refresh, &soa.Refresh}, {"retry", s.Retry, &soa.Retry}, {"expire", s.Expire, &soa.Expire}, {"minimum", s.Minimum, &soa.Minttl}} {
		v, err := ttlSeconds(f.d)
		if err != nil {
			add("%s.soa.%s: %v", p, f.name, err)
		}
		*f.out = v
	}
	z.soa = soa
	z.negSOA = dns.Copy(soa).(*dns.SOA)
	z.negSOA.Hdr.Ttl = min(ttl, soa.Minttl)
	addRR(name, soa, p+".soa")

	// NS and glue.
	if len(c.NS) == 0 {
		add("%s.ns: at least one name server is required", p)
	}
	nsSeen := map[string]int{}
	glueSrc := map[string]string{}
	for j, ns := range c.NS {
		q := fmt.Sprintf("%s.ns[%d]", p, j)
		n, err := ownerName(ns.Name, name)
		if err != nil {
			add("%s.name: %v", q, err)
			continue
		}
		if k, ok := nsSeen[n]; ok {
			add("%s.name: %q repeats ns[%d]", q, ns.Name, k)
			continue
		}
		nsSeen[n] = j
		addRR(name, &dns.NS{Hdr: hdr(name, dns.TypeNS, ttl), Ns: n}, q)
		if !inZone(n, name) {
			if len(ns.Addresses) > 0 {
				add("%s.addresses: %s is outside the zone: its addresses are not ours to serve", q, n)
			}
			continue
		}
		if len(ns.Addresses) == 0 {
			add("%s.addresses: required for a name server inside the zone (glue)", q)
		}
		glueSrc[n] = q
		for k, a := range ns.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.Zone() != "" {
				add("%s.addresses[%d]: %q is not an IP address", q, k, a)
				continue
			}
			if ip.Is4() {
				addRR(n, &dns.A{Hdr: hdr(n, dns.TypeA, ttl), A: ip.AsSlice()}, q)
			} else {
				addRR(n, &dns.AAAA{Hdr: hdr(n, dns.TypeAAAA, ttl), AAAA: ip.AsSlice()}, q)
			}
		}
	}

	// Static records.
	for j, r := range c.Records {
		q := fmt.Sprintf("%s.records[%d]", p, j)
		owner, ok := checkOwner(q+".name", r.Name)
		t, tok := recordTypes[strings.ToUpper(r.Type)]
		if !tok {
			add("%s.type: %q is not one of A, AAAA, CNAME, TXT, MX, CAA", q, r.Type)
		}
		rttl := ttl
		if r.TTL != 0 {
			v, err := ttlSeconds(r.TTL)
			if err != nil {
				add("%s.ttl: %v", q, err)
			}
			rttl = v
		}
		if len(r.Values) == 0 {
			add("%s.values: at least one value is required", q)
		}
		if t == dns.TypeCNAME && len(r.Values) > 1 {
			add("%s.values: a CNAME has exactly one value, got %d", q, len(r.Values))
		}
		if !ok || !tok {
			continue
		}
		if src, isGlue := glueSrc[owner]; isGlue && (t == dns.TypeA || t == dns.TypeAAAA) {
			add("%s: %s addresses of %s come from %s.addresses; list them in one place", q, r.Type, owner, src)
			continue
		}
		for k, v := range r.Values {
			rr, err := parseValue(t, v, owner, name, rttl)
			if err != nil {
				add("%s.values[%d]: %v", q, k, err)
				continue
			}
			addRR(owner, rr, q)
		}
	}

	// Geo names.
	for j, g := range c.Geo {
		q := fmt.Sprintf("%s.geo[%d]", p, j)
		owner, ok := checkOwner(q+".name", g.Name)
		gttl, err := ttlSeconds(g.TTL)
		if err != nil {
			add("%s.ttl: %v", q, err)
		}
		if len(g.Regions) == 0 {
			add("%s.regions: at least one region is required", q)
		}
		gn := &geoName{name: owner, ttl: gttl, regions: sortedRegions(g.Regions), index: map[string]int{}}
		for ri, region := range gn.regions {
			rq := q + ".regions." + region
			if !regionRE.MatchString(region) {
				add("%s: region name must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", rq)
			}
			gn.index[region] = ri
			rr := g.Regions[region]
			if len(rr.A)+len(rr.AAAA) == 0 {
				add("%s: needs at least one address (a or aaaa)", rq)
			}
			var as, aaaas []dns.RR
			seen := map[netip.Addr]bool{}
			for k, a := range rr.A {
				ip, err := netip.ParseAddr(a)
				switch {
				case err != nil || ip.Zone() != "":
					add("%s.a[%d]: %q is not an IP address", rq, k, a)
				case !ip.Is4():
					add("%s.a[%d]: %q is not an IPv4 address", rq, k, a)
				case seen[ip]:
					add("%s.a[%d]: duplicate address %s", rq, k, a)
				default:
					seen[ip] = true
					as = append(as, &dns.A{Hdr: hdr(owner, dns.TypeA, gttl), A: ip.AsSlice()})
				}
			}
			for k, a := range rr.AAAA {
				ip, err := netip.ParseAddr(a)
				switch {
				case err != nil || ip.Zone() != "":
					add("%s.aaaa[%d]: %q is not an IP address", rq, k, a)
				case !ip.Is6():
					add("%s.aaaa[%d]: %q is not an IPv6 address", rq, k, a)
				case seen[ip]:
					add("%s.aaaa[%d]: duplicate address %s", rq, k, a)
				default:
					seen[ip] = true
					aaaas = append(aaaas, &dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA, gttl), AAAA: ip.AsSlice()})
				}
			}
			gn.a = append(gn.a, as)
			gn.aaaa = append(gn.aaaa, aaaas)
		}
		if !ok {
			continue
		}
		if src, dup := geoSrc[owner]; dup {
			add("%s.name: %s is already a geo name in %s", q, owner, src)
			continue
		}
		if src, isGlue := glueSrc[owner]; isGlue {
			add("%s.name: %s is a name server (%s); its addresses must be static", q, owner, src)
			continue
		}
		geos[owner] = gn
		geoSrc[owner] = q
	}

	// Conflicts at one owner.
	for owner, m := range data {
		if cn, ok := m[dns.TypeCNAME]; ok && (len(m) > 1 || geos[owner] != nil) {
			other := "other data"
			if owner == name {
				other = "the zone's SOA and NS"
			} else if geos[owner] != nil {
				other = "a geo name (" + geoSrc[owner] + ")"
			}
			add("%s: %s has a CNAME and %s; a CNAME must be alone at its name", cn.src, owner, other)
		}
		if g := geos[owner]; g != nil {
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if s, ok := m[t]; ok {
					add("%s: %s is a geo name (%s); it cannot also have static %s records", s.src, owner, geoSrc[owner], dns.TypeToString[t])
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}

	// Nodes, with empty non-terminals up to the apex.
	get := func(owner string) *node {
		w, _ := wireName(owner)
		n := zs.names[w]
		if n == nil {
			n = &node{name: owner, wire: w, zone: z, rrsets: map[uint16][]dns.RR{}}
			zs.names[w] = n
		}
		return n
	}
	addNode := func(owner string) *node {
		n := get(owner)
		for o := owner; o != name; {
			i, _ := dns.NextLabel(o, 0)
			o = o[i:]
			get(o)
		}
		return n
	}
	for owner, m := range data {
		n := addNode(owner)
		for t, s := range m {
			n.rrsets[t] = s.rrs
		}
	}
	for owner, g := range geos {
		addNode(owner).geo = g
		zs.geos = append(zs.geos, g)
	}
	z.apex = get(name)

	// NXDOMAIN authority tail.
	buf := make([]byte, 1024)
	off, err := dns.PackRR(z.negSOA, buf, 0, nil, false)
	if err != nil {
		return nil, []error{fmt.Errorf("%s.soa: %v", p, err)}
	}
	tail := append([]byte{0xC0, 0}, buf[len(z.wire):off]...)
	z.nxTail = tail
	return z, nil
}

// parseValue turns one configured value into a record.
func parseValue(t uint16, v, owner, zone string, ttl uint32) (dns.RR, error) {
	h := dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	switch t {
	case dns.TypeA, dns.TypeAAAA:
		ip, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address", v)
		}
		if t == dns.TypeA {
			if !ip.Is4() {
				return nil, fmt.Errorf("%q is not an IPv4 address", v)
			}
			return &dns.A{Hdr: h, A: ip.AsSlice()}, nil
		}
		if !ip.Is6() {
			return nil, fmt.Errorf("%q is not an IPv6 address", v)
		}
		return &dns.AAAA{Hdr: h, AAAA: ip.AsSlice()}, nil
	case dns.TypeCNAME:
		n, err := ownerName(strings.TrimSpace(v), zone)
		if err != nil {
			return nil, err
		}
		if n == owner {
			return nil, errors.New("a CNAME cannot point to itself")
		}
		return &dns.CNAME{Hdr: h, Target: n}, nil
	case dns.TypeTXT:
		var parts []string
		for len(v) > 255 {
			parts = append(parts, v[:255])
			v = v[255:]
		}
		parts = append(parts, v)
		// miekg escapes presentation-format specials when packing; the
		// value is raw text, so escape backslashes and quotes for it.
		for i, s := range parts {
			parts[i] = txtEscape(s)
		}
		return &dns.TXT{Hdr: h, Txt: parts}, nil
	case dns.TypeMX:
		f := strings.Fields(v)
		if len(f) != 2 {
			return nil, fmt.Errorf("%q: want \"PREFERENCE NAME\", e.g. \"10 mail.example.com.\"", v)
		}
		pref, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q: preference must be 0-65535", v)
		}
		n, err := ownerName(f[1], zone)
		if err != nil {
			return nil, err
		}
		return &dns.MX{Hdr: h, Preference: uint16(pref), Mx: n}, nil
	case dns.TypeCAA:
		rr, err := dns.NewRR(". 0 IN CAA " + v)
		if err != nil || rr == nil {
			return nil, fmt.Errorf("%q: want `FLAGS TAG \"VALUE\"`, e.g. `0 issue \"letsencrypt.org\"`", v)
		}
		caa := rr.(*dns.CAA)
		caa.Hdr = h
		return caa, nil
	}
	return nil, fmt.Errorf("unsupported type %d", t)
}

// txtEscape makes raw text safe for miekg's TXT packing, which reads
// presentation-format escapes.
func txtEscape(s string) string {
	if !strings.ContainsAny(s, `\"`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
