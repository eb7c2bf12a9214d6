package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// CommunityGracefulShutdown is GRACEFUL_SHUTDOWN, 65535:0 (RFC 8326),
// added to every path while draining: routers that honour it lower the
// path's LOCAL_PREF to 0, so traffic moves before the withdrawal.
const CommunityGracefulShutdown uint32 = 0xFFFF0000

// wellKnownCommunities are the names accepted in communities (IANA
// "BGP Well-known Communities"; planned-shut is GoBGP's name for
// graceful-shutdown, local-as the usual alias of no-export-subconfed).
var wellKnownCommunities = map[string]uint32{
	"graceful-shutdown":   CommunityGracefulShutdown,
	"planned-shut":        CommunityGracefulShutdown,
	"accept-own":          0xFFFF0001,
	"llgr-stale":          0xFFFF0006,
	"no-llgr":             0xFFFF0007,
	"blackhole":           0xFFFF029A,
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
	"local-as":            0xFFFFFF03,
	"no-peer":             0xFFFFFF04,
}

// parseCommunity parses a standard community: "A:B" with A and B decimal
// 0-65535, or a well-known name in lower case.
func parseCommunity(s string) (uint32, error) {
	if v, ok := wellKnownCommunities[s]; ok {
		return v, nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("%q is not a community (want 65000:100 or a well-known name such as no-export)", s)
	}
	a, errA := parseDecimal(hi, 16)
	b, errB := parseDecimal(lo, 16)
	if errA != nil || errB != nil {
		return 0, fmt.Errorf("%q is not a community (want two numbers 0-65535, as in 65000:100)", s)
	}
	return uint32(a)<<16 | uint32(b), nil
}

// largeCommunity is an RFC 8092 community.
type largeCommunity struct{ global, local1, local2 uint32 }

func (l largeCommunity) String() string {
	return fmt.Sprintf("%d:%d:%d", l.global, l.local1, l.local2)
}

// parseLargeCommunity parses "G:L1:L2", three decimal numbers
// 0-4294967295.
func parseLargeCommunity(s string) (largeCommunity, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return largeCommunity{}, fmt.Errorf("%q is not a large community (want three numbers, as in 65000:1:2)", s)
	}
	var v [3]uint32
	for i, p := range parts {
		n, err := parseDecimal(p, 32)
		if err != nil {
			return largeCommunity{}, fmt.Errorf("%q is not a large community (want three numbers 0-4294967295, as in 65000:1:2)", s)
		}
		v[i] = uint32(n)
	}
	return largeCommunity{v[0], v[1], v[2]}, nil
}

// parseDecimal accepts ASCII digits only (no sign, no spaces).
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a decimal number")
	}
	return strconv.ParseUint(s, 10, bits)
}

func formatCommunity(c uint32) string {
	return fmt.Sprintf("%d:%d", c>>16, c&0xFFFF)
}

// pathAttrs are Attributes parsed and normalised (sorted, no duplicates),
// ready to put on a path.
type pathAttrs struct {
	communities []uint32
	large       []largeCommunity
	med         *uint32
	prepend     int
}

// resolve parses validated attributes; extra communities are added.
func (a *Attributes) resolve(extra ...uint32) pathAttrs {
	var p pathAttrs
	for _, s := range a.Communities {
		if c, err := parseCommunity(s); err == nil {
			p.communities = append(p.communities, c)
		}
	}
	p.communities = append(p.communities, extra...)
	slices.Sort(p.communities)
	p.communities = slices.Compact(p.communities)
	for _, s := range a.LargeCommunities {
		if l, err := parseLargeCommunity(s); err == nil {
			p.large = append(p.large, l)
		}
	}
	slices.SortFunc(p.large, func(x, y largeCommunity) int {
		switch {
		case x.global != y.global:
			return cmpU32(x.global, y.global)
		case x.local1 != y.local1:
			return cmpU32(x.local1, y.local1)
		}
		return cmpU32(x.local2, y.local2)
	})
	p.large = slices.Compact(p.large)
	if a.MED != nil {
		p.med = ptr(*a.MED)
	}
	if a.Prepend != nil {
		p.prepend = *a.Prepend
	}
	return p
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (p pathAttrs) equal(q pathAttrs) bool {
	return slices.Equal(p.communities, q.communities) && slices.Equal(p.large, q.large) &&
		(p.med == nil) == (q.med == nil) && (p.med == nil || *p.med == *q.med) && p.prepend == q.prepend
}

var (
	familyIPv4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyIPv6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

// newPath builds the GoBGP path announcing prefix with attrs. The next
// hop is the unspecified address, which GoBGP replaces with the
// session's local address on export (next-hop self); GoBGP also prepends
// the local ASN once on eBGP sessions, so prepend N yields N+1 copies at
// the neighbour.
func newPath(prefix netip.Prefix, asn uint32, attrs pathAttrs) (*api.Path, error) {
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: prefix.Addr().String(), PrefixLen: uint32(prefix.Bits())})
	if err != nil {
		return nil, err
	}
	var pattrs []*anypb.Any
	addAttr := func(m proto.Message) {
		if err != nil {
			return
		}
		var a *anypb.Any
		if a, err = anypb.New(m); err == nil {
			pattrs = append(pattrs, a)
		}
	}
	addAttr(&api.OriginAttribute{Origin: 0}) // IGP
	family := familyIPv4
	if prefix.Addr().Is4() {
		addAttr(&api.NextHopAttribute{NextHop: "0.0.0.0"})
	} else {
		family = familyIPv6
		addAttr(&api.MpReachNLRIAttribute{Family: familyIPv6, NextHops: []string{"::"}, Nlris: []*anypb.Any{nlri}})
	}
	if attrs.prepend > 0 {
		asns := make([]uint32, attrs.prepend)
		for i := range asns {
			asns[i] = asn
		}
		addAttr(&api.AsPathAttribute{Segments: []*api.AsSegment{{Type: api.AsSegment_AS_SEQUENCE, Numbers: asns}}})
	}
	if attrs.med != nil {
		addAttr(&api.MultiExitDiscAttribute{Med: *attrs.med})
	}
	if len(attrs.communities) > 0 {
		addAttr(&api.CommunitiesAttribute{Communities: attrs.communities})
	}
	if len(attrs.large) > 0 {
		lc := make([]*api.LargeCommunity, len(attrs.large))
		for i, l := range attrs.large {
			lc[i] = &api.LargeCommunity{GlobalAdmin: l.global, LocalData1: l.local1, LocalData2: l.local2}
		}
		addAttr(&api.LargeCommunitiesAttribute{Communities: lc})
	}
	if err != nil {
		return nil, err
	}
	return &api.Path{Family: family, Nlri: nlri, Pattrs: pattrs}, nil
}
