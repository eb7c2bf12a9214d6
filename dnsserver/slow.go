package dnsserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// slow answers any query with miekg/dns: the message is unpacked into a
// dns.Msg, the reply built as a dns.Msg and packed. It handles everything
// the fast path declines (malformed packets and options, other opcodes and
// classes, several OPT or ECS options, EDNS versions, compressed question
// names ...) and gives the same replies as the fast path for the rest, which
// the differential tests check. nil means no reply (a response, or fewer
// than 12 bytes).
func (w *worker) slow(st *state, q []byte, src netip.Addr, transport int) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 {
		return nil
	}
	m := w.s.met
	e := readEDNS(q)
	var req dns.Msg
	var err error
	if e.complete && e.count > 0 {
		err = req.Unpack(withoutOptions(q, &e))
	} else {
		err = req.Unpack(q)
	}

	r := new(dns.Msg)
	r.Id = binary.BigEndian.Uint16(q)
	r.Response = true
	r.Opcode = int(q[2]>>3) & 0xF
	if r.Opcode == dns.OpcodeQuery {
		r.RecursionDesired = q[2]&0x01 != 0
		r.CheckingDisabled = q[3]&0x10 != 0
	}
	r.Compress = true
	if err == nil && len(req.Question) == 1 {
		r.Question = []dns.Question{req.Question[0]}
	}
	hasOPT := e.count > 0
	slot := slotOther
	if len(req.Question) == 1 {
		slot = slotOf(req.Question[0].Qtype)
	}
	m.q[transport][slot].Inc()
	fail := func(rcode int) []byte {
		if rcode == dns.RcodeFormatError && e.ecsBad {
			m.ecsC[ecsMalformed].Inc()
		}
		r.Rcode = rcode
		return w.finish(st, r, nil, hasOPT, e.do, nil, 0, transport, e.udpSize, st.rc[rcode])
	}
	switch {
	case err != nil:
		if len(req.Question) == 1 && e.ecsBad {
			r.Question = []dns.Question{req.Question[0]}
		}
		return fail(dns.RcodeFormatError)
	case r.Opcode != dns.OpcodeQuery:
		return fail(dns.RcodeNotImplemented)
	case e.count > 1, len(req.Question) != 1, !e.complete, e.optsBad:
		return fail(dns.RcodeFormatError)
	case hasOPT && e.version > 0:
		return fail(dns.RcodeBadVers)
	case e.ecsBad:
		return fail(dns.RcodeFormatError)
	}

	var ecs *ecsOpt
	client := src
	switch {
	case !e.hasECS:
		m.ecsC[ecsAbsent].Inc()
	case e.ecs.source == 0:
		m.ecsC[ecsSource0].Inc()
		ecs = &e.ecs
	default:
		m.ecsC[ecsPresent].Inc()
		ecs = &e.ecs
		client = e.ecs.addr
	}
	qq := req.Question[0]
	refuse := func() []byte {
		r.Rcode = dns.RcodeRefused
		return w.finish(st, r, nil, hasOPT, e.do, ecs, 0, transport, e.udpSize, st.rc[dns.RcodeRefused])
	}
	if qq.Qclass != dns.ClassINET || qq.Qtype == dns.TypeAXFR || qq.Qtype == dns.TypeIXFR {
		return refuse()
	}
	lower := strings.ToLower(qq.Name)
	wire, err := wireName(lower)
	if err != nil {
		return fail(dns.RcodeFormatError)
	}
	n := st.zs.names[wire]
	if n == nil {
		z := st.zs.zoneOf([]byte(wire))
		if z == nil {
			return refuse()
		}
		res := resolved{rcode: dns.RcodeNameError, ns: []dns.RR{z.negSOA}}
		return w.finish(st, r, &res, hasOPT, e.do, ecs, 0, transport, e.udpSize, st.rc[dns.RcodeNameError])
	}
	region := -1
	var scope uint8
	c := st.rc[dns.RcodeSuccess]
	if g := st.zs.geoFor(n, qq.Qtype); g != nil {
		name, rscope := w.s.loc.LocateRegion(client)
		if ecs != nil && ecs.source > 0 {
			scope = scopeBits(rscope, ecs.family, ecs.source)
		}
		i, ok := w.s.pick(st, g, qq.Qtype, name)
		if !ok {
			r.Rcode = dns.RcodeServerFailure
			return w.finish(st, r, nil, hasOPT, e.do, ecs, scope, transport, e.udpSize, st.rc[dns.RcodeServerFailure])
		}
		region = i
		c = n.ans[slotOf(qq.Qtype)].regional[i].resp
	}
	res := st.zs.resolve(n, qq.Qtype, region)
	if region < 0 {
		c = st.rc[res.rcode]
	}
	return w.finish(st, r, &res, hasOPT, e.do, ecs, scope, transport, e.udpSize, c)
}

// finish completes and packs a slow-path reply: the records of res (nil
// for none, and no AA), the OPT record, truncation to the client's size,
// and the question name in the query's own case.
func (w *worker) finish(st *state, r *dns.Msg, res *resolved, hasOPT, do bool, ecs *ecsOpt, scope uint8, transport int, udpSize uint16, c counter) []byte {
	var origName string
	if len(r.Question) == 1 {
		origName = r.Question[0].Name
		r.Question[0].Name = strings.ToLower(origName)
	}
	if res != nil {
		r.Authoritative = true
		r.Rcode = res.rcode
		r.Answer, r.Ns, r.Extra = res.answer, res.ns, res.extra
	}
	limit := maxTCPSize
	if transport == udp {
		limit = minUDPSize
		if hasOPT {
			limit = int(min(max(udpSize, minUDPSize), ednsSize))
		}
	}
	addOPT := func() {
		if !hasOPT {
			return
		}
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: ednsSize}}
		opt.SetDo(do)
		if ecs != nil {
			opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{
				Code: dns.EDNS0SUBNET, Family: ecs.family, SourceNetmask: ecs.source, SourceScope: scope,
				Address: ecsIP(ecs),
			})
		}
		r.Extra = append(r.Extra[:len(r.Extra):len(r.Extra)], opt)
	}
	addOPT()
	b, err := r.Pack()
	if err == nil && len(b) > limit {
		w.s.met.truncated.Inc()
		r.Truncated = true
		r.Answer, r.Ns, r.Extra = nil, nil, nil
		addOPT()
		b, err = r.Pack()
	}
	if err != nil {
		// Cannot happen with our data; answer SERVFAIL rather than nothing.
		w.s.met.panics.Inc()
		r.Answer, r.Ns, r.Extra, r.Truncated, r.Authoritative = nil, nil, nil, false, false
		r.Rcode = dns.RcodeServerFailure
		ecs = nil
		addOPT()
		if b, err = r.Pack(); err != nil {
			return nil
		}
		c = st.rc[dns.RcodeServerFailure]
	}
	c.Inc()
	if origName != "" {
		// The question went out lower-cased (so that the records compress
		// against it); put the query's case back.
		var nb [256]byte
		if l, err := dns.PackDomainName(origName, nb[:], 0, nil, false); err == nil && 12+l <= len(b) &&
			strings.EqualFold(string(nb[:l]), string(b[12:12+l])) {
			copy(b[12:12+l], nb[:l])
		}
	}
	return b
}

func ecsIP(e *ecsOpt) net.IP {
	if e.family == 1 {
		return net.IP(e.raw[:4])
	}
	return net.IP(e.raw[:16])
}
