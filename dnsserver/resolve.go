package dnsserver

import (
	"fmt"

	"github.com/miekg/dns"
)

// resolved is the content of an authoritative reply before packing.
type resolved struct {
	rcode  int
	answer []dns.RR
	ns     []dns.RR
	extra  []dns.RR
}

// chase follows the CNAME chain from n for qtype qt inside n's zone. It
// returns the CNAME records passed and the node where data is looked up:
// nil with nx when an in-zone target does not exist, nil without nx when
// the chain leaves the zone or loops (the answer is then the chain alone,
// for the resolver to follow).
func (zs *zoneSet) chase(n *node, qt uint16) (cnames []dns.RR, end *node, nx bool) {
	if qt == dns.TypeCNAME || qt == dns.TypeANY {
		return nil, n, false
	}
	cur := n
	for range maxChase + 1 {
		c := cur.rrsets[dns.TypeCNAME]
		if c == nil {
			return cnames, cur, false
		}
		cnames = append(cnames, c[0])
		target := c[0].(*dns.CNAME).Target
		if !inZone(target, n.zone.name) || len(cnames) > maxChase {
			return cnames, nil, false
		}
		w, _ := wireName(target)
		next := zs.names[w]
		if next == nil {
			return cnames, nil, true
		}
		for _, rr := range cnames {
			if rr.Header().Name == next.name { // loop
				return cnames, nil, false
			}
		}
		cur = next
	}
	return cnames, nil, false
}

// geoFor returns the geo name whose region decides the reply to (n, qt),
// or nil when the reply is the same for every client.
func (zs *zoneSet) geoFor(n *node, qt uint16) *geoName {
	if qt != dns.TypeA && qt != dns.TypeAAAA {
		return nil
	}
	_, end, _ := zs.chase(n, qt)
	if end == nil || end.geo == nil || !end.geo.has(qt) {
		return nil
	}
	return end.geo
}

// resolve computes the reply to (n, qt). region is the index of the
// region (of geoFor(n, qt)) to answer with; it is ignored for replies that
// do not depend on the region.
func (zs *zoneSet) resolve(n *node, qt uint16, region int) resolved {
	z := n.zone
	r := resolved{rcode: dns.RcodeSuccess}
	if qt == dns.TypeANY {
		// RFC 8482: one RRset, or a synthesized HINFO when the name has
		// data but answering it would mean several (or regional) RRsets.
		for _, t := range anyOrder {
			if rrs := n.rrsets[t]; len(rrs) > 0 {
				r.answer = rrs
				return r
			}
		}
		if n.geo != nil || len(n.rrsets) > 0 {
			r.answer = []dns.RR{&dns.HINFO{Hdr: dns.RR_Header{Name: n.name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: z.ttl}, Cpu: "RFC8482"}}
			return r
		}
		r.ns = []dns.RR{z.negSOA}
		return r
	}
	cnames, end, nx := zs.chase(n, qt)
	r.answer = cnames
	if end == nil {
		if nx {
			r.rcode = dns.RcodeNameError
			r.ns = []dns.RR{z.negSOA}
		}
		return r
	}
	var rrs []dns.RR
	if end.geo != nil && (qt == dns.TypeA || qt == dns.TypeAAAA) {
		rrs = end.geo.rrs(qt, region)
	} else {
		rrs = end.rrsets[qt]
	}
	if len(rrs) == 0 {
		r.ns = []dns.RR{z.negSOA}
		return r
	}
	r.answer = append(r.answer[:len(r.answer):len(r.answer)], rrs...)
	if qt == dns.TypeNS && end == z.apex {
		r.extra = zs.glue(z, rrs)
	}
	return r
}

// glue returns the in-zone addresses of the name servers in ns.
func (zs *zoneSet) glue(z *zone, ns []dns.RR) []dns.RR {
	var out []dns.RR
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		for _, rr := range ns {
			target := rr.(*dns.NS).Ns
			if !inZone(target, z.name) {
				continue
			}
			w, _ := wireName(target)
			if g := zs.names[w]; g != nil {
				out = append(out, g.rrsets[t]...)
			}
		}
	}
	return out
}

// msg builds the reply message for a resolved answer, with question
// (name, qt) and no EDNS.
func (r *resolved) msg(name string, qt uint16) *dns.Msg {
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Authoritative: true, Rcode: r.rcode},
		Compress: true,
		Question: []dns.Question{{Name: name, Qtype: qt, Qclass: dns.ClassINET}},
		Answer:   r.answer,
		Ns:       r.ns,
		Extra:    r.extra,
	}
	return m
}

// precompute packs the answers of every query type slot of n.
func (zs *zoneSet) precompute(n *node) error {
	for slot := range numSlots {
		qt := slotTypes[slot]
		a := &answer{qtype: qt}
		pack := func(region int, regionName string) (*variant, error) {
			r := zs.resolve(n, qt, region)
			b, err := r.msg(n.name, qt).Pack()
			if err != nil {
				return nil, fmt.Errorf("zone %s: %s %s: %v", n.zone.name, n.name, dns.TypeToString[qt], err)
			}
			return &variant{msg: b, rcode: r.rcode, region: regionName}, nil
		}
		if g := zs.geoFor(n, qt); g != nil {
			a.geo = g
			a.regional = make([]*variant, len(g.regions))
			for i, region := range g.regions {
				if len(g.rrs(qt, i)) == 0 {
					continue
				}
				v, err := pack(i, region)
				if err != nil {
					return err
				}
				a.regional[i] = v
			}
		} else {
			v, err := pack(-1, "")
			if err != nil {
				return err
			}
			a.static = v
		}
		n.ans[slot] = a
	}
	return nil
}
