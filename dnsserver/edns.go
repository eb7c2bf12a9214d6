package dnsserver

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"
)

// Our EDNS UDP payload size: what we advertise and the most we send over
// UDP, whatever larger size a client offers (the DNS flag day 2020 figure,
// which keeps replies below common MTUs unfragmented).
const ednsSize = 1232

// Limits of one reply.
const (
	minUDPSize = 512   // RFC 1035 / RFC 6891 6.2.5: smaller offers count as 512
	maxTCPSize = 65535 // the TCP length prefix
)

// ECS query results, the label values of ecs_queries_total.
const (
	ecsAbsent = iota
	ecsPresent
	ecsMalformed
	ecsSource0
	numECSResults
)

var ecsResultNames = [numECSResults]string{"absent", "present", "malformed", "source0"}

// ecsOpt is a valid EDNS Client Subnet option of a query (RFC 7871 6).
type ecsOpt struct {
	family uint16
	source uint8
	raw    [16]byte // the address bytes as sent; only the first addrLen count
	addr   netip.Addr
}

func (e *ecsOpt) addrLen() int { return (int(e.source) + 7) / 8 }

// parseECS checks the data of an ECS option in a query. It rejects what
// RFC 7871 calls malformed: a family other than 1 (IPv4) or 2 (IPv6), a
// source prefix longer than the family's addresses, an address with more
// bytes than the prefix needs or with non-zero bits beyond it, and a
// non-zero scope (which a query must not set).
func parseECS(b []byte) (e ecsOpt, ok bool) {
	if len(b) < 4 {
		return e, false
	}
	e.family = binary.BigEndian.Uint16(b)
	e.source = b[2]
	scope := b[3]
	var max int
	switch e.family {
	case 1:
		max = 32
	case 2:
		max = 128
	default:
		return e, false
	}
	if int(e.source) > max || scope != 0 {
		return e, false
	}
	a := b[4:]
	if len(a) != e.addrLen() {
		return e, false
	}
	if r := e.source % 8; r != 0 && a[len(a)-1]&(0xFF>>r) != 0 {
		return e, false
	}
	copy(e.raw[:], a)
	if e.family == 1 {
		e.addr = netip.AddrFrom4([4]byte(e.raw[:4]))
	} else {
		e.addr = netip.AddrFrom16(e.raw)
	}
	return e, true
}

// scopeBits turns the prefix within which the locator's answer holds into
// the SCOPE PREFIX-LENGTH of a reply to an ECS option of family fam with
// source prefix src: its length in the family's address space (an IPv4
// scope given as an IPv4-mapped IPv6 prefix loses its 96 leading bits),
// clamped to the family's size. An unknown scope (an invalid prefix) is
// the source prefix: the answer is then claimed for exactly the subnet
// asked about.
func scopeBits(p netip.Prefix, fam uint16, src uint8) uint8 {
	if !p.IsValid() {
		return src
	}
	bits := p.Bits()
	v4 := p.Addr().Is4()
	if fam == 1 {
		if !v4 {
			bits -= 96
		}
		return uint8(max(0, min(bits, 32)))
	}
	if v4 {
		bits += 96
	}
	return uint8(max(0, min(bits, 128)))
}

// ednsInfo is what a query's OPT record says, read from the wire.
type ednsInfo struct {
	count    int // OPT records in the additional section
	udpSize  uint16
	version  uint8
	do       bool
	ecs      ecsOpt
	hasECS   bool
	ecsBad   bool // a malformed ECS option, or more than one
	optsBad  bool // the options do not parse
	complete bool // the whole message could be walked
	// optRdata are the [start, end) offsets of every OPT record's RDATA.
	optRdata [][2]int
}

// readEDNS walks a query's sections on the wire, without miekg, to find
// its OPT records: the slow path needs the raw ECS option, which miekg's
// unpacking does not keep (nor rejects all malformed forms of).
func readEDNS(b []byte) (e ednsInfo) {
	if len(b) < 12 {
		return e
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	rrs := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	off := 12
	var ok bool
	for range qd {
		if off, ok = skipName(b, off); !ok || off+4 > len(b) {
			return e
		}
		off += 4
	}
	for i := range rrs + ar {
		if off, ok = skipName(b, off); !ok || off+10 > len(b) {
			return e
		}
		t := binary.BigEndian.Uint16(b[off:])
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		rd := off + 10
		if rd+rdlen > len(b) {
			return e
		}
		if i >= rrs && t == dns.TypeOPT {
			e.count++
			e.optRdata = append(e.optRdata, [2]int{rd, rd + rdlen})
			if e.count == 1 {
				e.udpSize = binary.BigEndian.Uint16(b[off+2:])
				e.version = b[off+5]
				e.do = b[off+6]&0x80 != 0
				e.readOptions(b[rd : rd+rdlen])
			}
		}
		off = rd + rdlen
	}
	e.complete = true
	return e
}

func (e *ednsInfo) readOptions(o []byte) {
	for len(o) > 0 {
		if len(o) < 4 {
			e.optsBad = true
			return
		}
		code := binary.BigEndian.Uint16(o)
		l := int(binary.BigEndian.Uint16(o[2:]))
		if 4+l > len(o) {
			e.optsBad = true
			return
		}
		if code == dns.EDNS0SUBNET {
			if e.hasECS || e.ecsBad {
				e.ecsBad = true
			} else if v, ok := parseECS(o[4 : 4+l]); ok {
				e.ecs, e.hasECS = v, true
			} else {
				e.ecsBad = true
			}
		}
		o = o[4+l:]
	}
	if e.ecsBad {
		e.hasECS = false
	}
}

// withoutOptions returns a copy of q whose OPT records have no options
// (RDLENGTH 0). The slow path hands that to miekg: we read the options
// ourselves, and miekg refuses some well-formed options it knows (an
// UPDATE-LEASE of the wrong length) which RFC 6891 says to ignore.
func withoutOptions(q []byte, e *ednsInfo) []byte {
	out := make([]byte, 0, len(q))
	prev := 0
	for _, r := range e.optRdata {
		out = append(out, q[prev:r[0]]...)
		out[len(out)-2], out[len(out)-1] = 0, 0
		prev = r[1]
	}
	return append(out, q[prev:]...)
}

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(b []byte, off int) (int, bool) {
	for n := 0; n < 128; n++ {
		if off >= len(b) {
			return 0, false
		}
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xC0 == 0xC0:
			if off+2 > len(b) {
				return 0, false
			}
			return off + 2, true
		case l&0xC0 != 0:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}

// appendOPT appends our OPT record: UDP size ednsSize, version 0, the DO
// bit as the query had it, the upper bits of rcode, and the echoed ECS
// option with scope when e is not nil.
func appendOPT(b []byte, do bool, rcode int, e *ecsOpt, scope uint8) []byte {
	var flags byte
	if do {
		flags = 0x80
	}
	rdlen := 0
	if e != nil {
		rdlen = 8 + e.addrLen()
	}
	b = append(b, 0, 0, 41, ednsSize>>8, ednsSize&0xFF, byte(rcode>>4), 0, flags, 0, byte(rdlen>>8), byte(rdlen))
	if e != nil {
		l := 4 + e.addrLen()
		b = append(b, 0, dns.EDNS0SUBNET, byte(l>>8), byte(l), byte(e.family>>8), byte(e.family), e.source, scope)
		b = append(b, e.raw[:e.addrLen()]...)
	}
	return b
}

// optLen is the length appendOPT adds.
func optLen(e *ecsOpt) int {
	if e == nil {
		return 11
	}
	return 19 + e.addrLen()
}
