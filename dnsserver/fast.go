package dnsserver

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"
)

// worker holds the buffers of one UDP socket goroutine (or of one TCP
// query in flight): the fast path writes replies into out and keeps the
// lower-cased question name in name, so that it allocates nothing.
type worker struct {
	s     *Server
	name  [256]byte
	out   []byte
	tcp   []byte // TCP: length prefix and reply
	count uint64 // UDP queries seen, for sampling durations
}

func newWorker(s *Server) *worker {
	return &worker{s: s, out: make([]byte, 0, maxTCPSize+2)}
}

// fastQuery is what the fast path parsed from a query.
type fastQuery struct {
	nameLen int // wire length of the name, root label included
	qend    int // offset after the question
	qtype   uint16
	edns    bool
	do      bool
	udpSize uint16
	ecs     ecsOpt
	hasECS  bool
}

// parseFast parses the common query in place: one question with an
// uncompressed name of class IN, opcode QUERY, no answer or authority
// records, and at most one additional record, an OPT of version 0 whose
// options are well-formed, with at most one ECS option, a valid one. Any
// other packet returns false and goes to the slow path. The lower-cased
// name is left in w.name.
func (w *worker) parseFast(q []byte, f *fastQuery) bool {
	if len(q) < 17 || q[2]&0xF8 != 0 || // QR, opcode
		q[4] != 0 || q[5] != 1 || q[6]|q[7]|q[8]|q[9]|q[10] != 0 || q[11] > 1 {
		return false
	}
	off, nl := 12, 0
	for {
		if off >= len(q) {
			return false
		}
		l := int(q[off])
		if l == 0 {
			break
		}
		if l > 63 || nl+l+2 > 255 || off+1+l >= len(q) {
			return false
		}
		w.name[nl] = byte(l)
		for i, c := range q[off+1 : off+1+l] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			w.name[nl+1+i] = c
		}
		nl += 1 + l
		off += 1 + l
	}
	w.name[nl] = 0
	f.nameLen = nl + 1
	off++
	f.qend = off + 4
	if f.qend > len(q) || q[off+2] != 0 || q[off+3] != 1 { // class IN
		return false
	}
	f.qtype = uint16(q[off])<<8 | uint16(q[off+1])
	if f.qtype == dns.TypeAXFR || f.qtype == dns.TypeIXFR {
		return false
	}
	if q[11] == 0 {
		return f.qend == len(q)
	}
	// OPT: root owner, type 41, class = UDP size, TTL = ext-rcode,
	// version, flags; RDLENGTH; options up to the end of the packet.
	p := f.qend
	if p+11 > len(q) || q[p] != 0 || q[p+1] != 0 || q[p+2] != 41 || q[p+6] != 0 {
		return false
	}
	f.edns = true
	f.udpSize = uint16(q[p+3])<<8 | uint16(q[p+4])
	f.do = q[p+7]&0x80 != 0
	opts := q[p+11:]
	if int(q[p+9])<<8|int(q[p+10]) != len(opts) {
		return false
	}
	for len(opts) > 0 {
		if len(opts) < 4 {
			return false
		}
		code := uint16(opts[0])<<8 | uint16(opts[1])
		l := int(opts[2])<<8 | int(opts[3])
		if 4+l > len(opts) {
			return false
		}
		if code == dns.EDNS0SUBNET {
			if f.hasECS {
				return false
			}
			e, ok := parseECS(opts[4 : 4+l])
			if !ok {
				return false
			}
			f.ecs, f.hasECS = e, true
		}
		opts = opts[4+l:]
	}
	return true
}

// fast answers a query parsed by parseFast from the precomputed replies:
// it copies the packed reply of (name, qtype slot, region), patches the
// ID, the RD and CD bits and the question (the query's own bytes, so the
// case of the name is echoed) and appends the OPT record with the echoed
// ECS option. It returns the reply, in w.out, or false (having counted
// nothing) to leave the query to the slow path.
func (w *worker) fast(st *state, q []byte, f *fastQuery, src netip.Addr, transport int) ([]byte, bool) {
	var ecs *ecsOpt
	client := src
	if f.hasECS {
		ecs = &f.ecs
		if f.ecs.source > 0 {
			client = f.ecs.addr
		}
	}
	limit := maxTCPSize
	if transport == udp {
		limit = minUDPSize
		if f.edns {
			limit = int(min(max(f.udpSize, minUDPSize), ednsSize))
		}
	}
	olen := 0
	if f.edns {
		olen = optLen(ecs)
	}
	zs := st.zs
	n := zs.names[string(w.name[:f.nameLen])]
	var z *zone
	if n == nil {
		z = zs.zoneOf(w.name[:f.nameLen])
		// The NXDOMAIN authority is packed without compression, so it can
		// be larger than the slow path's: let that decide near the limit.
		if z != nil && f.qend+len(z.nxTail)+olen > limit {
			return nil, false
		}
	}

	m := w.s.met
	slot := slotOf(f.qtype)
	m.q[transport][slot].Inc()
	switch {
	case ecs == nil:
		m.ecsC[ecsAbsent].Inc()
	case ecs.source == 0:
		m.ecsC[ecsSource0].Inc()
	default:
		m.ecsC[ecsPresent].Inc()
	}
	var scope uint8
	if n == nil {
		if z == nil {
			return w.bare(q, f, st, dns.RcodeRefused, false, false, nil, ecs, scope), true
		}
		// NXDOMAIN: the SOA tail's owner points at the apex inside the
		// question name.
		out := w.bare(q, f, st, dns.RcodeNameError, true, false, z.nxTail, ecs, scope)
		ptr := 12 + f.nameLen - len(z.wire)
		out[f.qend] = 0xC0 | byte(ptr>>8)
		out[f.qend+1] = byte(ptr)
		return out, true
	}
	a := n.ans[slot]
	v := a.static
	if a.geo != nil {
		region, rscope := w.s.loc.LocateRegion(client)
		if ecs != nil && ecs.source > 0 {
			scope = scopeBits(rscope, ecs.family, ecs.source)
		}
		i, ok := w.s.pick(st, a.geo, a.qtype, region)
		if !ok {
			return w.bare(q, f, st, dns.RcodeServerFailure, false, false, nil, ecs, scope), true
		}
		v = a.regional[i]
	}
	if len(v.msg)+olen > limit {
		return w.truncated(q, f, v.rcode, v.resp, ecs, scope), true
	}
	v.resp.Inc()
	out := append(w.out[:0], v.msg...)
	out[0], out[1] = q[0], q[1]
	out[2] |= q[2] & 0x01 // RD
	out[3] |= q[3] & 0x10 // CD
	copy(out[12:f.qend], q[12:f.qend])
	if f.edns {
		out = appendOPT(out, f.do, v.rcode, ecs, scope)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	w.out = out
	return out, true
}

// truncated is the reply to an answer too large for the client's UDP
// size: header (TC set) and question, no records, and the OPT record.
func (w *worker) truncated(q []byte, f *fastQuery, rcode int, c counter, ecs *ecsOpt, scope uint8) []byte {
	w.s.met.truncated.Inc()
	c.Inc()
	return w.build(q, f, rcode, true, true, nil, ecs, scope)
}

// bare is a reply with the question and at most an authority tail.
func (w *worker) bare(q []byte, f *fastQuery, st *state, rcode int, aa, tc bool, tail []byte, ecs *ecsOpt, scope uint8) []byte {
	st.rc[rcode].Inc()
	return w.build(q, f, rcode, aa, tc, tail, ecs, scope)
}

func (w *worker) build(q []byte, f *fastQuery, rcode int, aa, tc bool, tail []byte, ecs *ecsOpt, scope uint8) []byte {
	out := append(w.out[:0], q[:f.qend]...)
	b2 := byte(0x80) | q[2]&0x01
	if aa {
		b2 |= 0x04
	}
	if tc {
		b2 |= 0x02
	}
	out[2] = b2
	out[3] = q[3]&0x10 | byte(rcode&0xF)
	out[6], out[7], out[8], out[9], out[10], out[11] = 0, 0, 0, 0, 0, 0
	if len(tail) > 0 {
		out[9] = 1
		out = append(out, tail...)
	}
	if f.edns {
		out = appendOPT(out, f.do, rcode, ecs, scope)
		out[11] = 1
	}
	w.out = out
	return out
}

// zoneOf returns the zone whose apex is the longest suffix of the wire
// name, or nil.
func (zs *zoneSet) zoneOf(name []byte) *zone {
	for off := 0; off < len(name) && name[off] != 0; off += 1 + int(name[off]) {
		if z := zs.zones[string(name[off:])]; z != nil {
			return z
		}
	}
	return nil
}
