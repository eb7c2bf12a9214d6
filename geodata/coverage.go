package geodata

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Coverage is one entry of a coverage file: clients in Prefix are served
// by Region, whatever the database says. The longest matching prefix wins.
type Coverage struct {
	Prefix netip.Prefix
	Region string
}

// maxCoverageErrors caps the problems ParseCoverage lists.
const maxCoverageErrors = 20

// ParseCoverage reads a coverage file: one "PREFIX REGION" per line,
// IPv4 or IPv6, with '#' starting a comment and blank lines ignored. A bare
// address means its host prefix (/32, /128). A prefix must have no host
// bits set, IPv4 must be written as IPv4 (not ::ffff:a.b.c.d), and a prefix
// may appear once. IPv4 clients match IPv4 entries only (::/0 does not
// cover them). Region names are checked for their form here; whether
// they are configured is checked when the file is loaded. Every problem is
// reported with its line number.
func ParseCoverage(r io.Reader) ([]Coverage, error) {
	var (
		out  []Coverage
		errs []error
		seen = map[netip.Prefix]int{}
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		c, ok, err := parseCoverageLine(sc.Text())
		if err == nil && ok {
			if first, dup := seen[c.Prefix]; dup {
				err = fmt.Errorf("%s is also on line %d", c.Prefix, first)
			} else {
				seen[c.Prefix] = line
				out = append(out, c)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			if len(errs) == maxCoverageErrors {
				errs = append(errs, errors.New("too many errors"))
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: %w", line+1, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// parseCoverageLine parses one line; ok is false for blank and comment
// lines.
func parseCoverageLine(s string) (c Coverage, ok bool, err error) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return c, false, nil
	}
	if len(f) != 2 {
		return c, false, fmt.Errorf("want \"PREFIX REGION\", got %d fields", len(f))
	}
	var p netip.Prefix
	if strings.Contains(f[0], "/") {
		p, err = netip.ParsePrefix(f[0])
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(f[0])
		if err == nil && a.Zone() != "" {
			err = fmt.Errorf("%q: an address with a zone is not a network", f[0])
		}
		if err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	switch {
	case err != nil:
		return c, false, err
	case p.Addr().Is4In6():
		return c, false, fmt.Errorf("%s: write IPv4 networks as IPv4", f[0])
	case p != p.Masked():
		return c, false, fmt.Errorf("%s has host bits set (the network is %s)", f[0], p.Masked())
	case !validName(f[1]):
		return c, false, fmt.Errorf("%q is not a region name (letters, digits, '-', '_')", f[1])
	}
	return Coverage{Prefix: p, Region: f[1]}, true, nil
}

// FormatCoverage writes entries in the form ParseCoverage reads.
func FormatCoverage(w io.Writer, entries []Coverage) error {
	var b bytes.Buffer
	for _, e := range entries {
		b.WriteString(e.Prefix.String())
		b.WriteByte(' ')
		b.WriteString(e.Region)
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// covTrie is a binary trie of the coverage prefixes of one address family.
// Every node carries a summary of its subtree (how many entries, and their
// region if there is only one), which is what the scope computation needs:
// the answer for an address is the same for a whole prefix exactly when the
// prefix's subtree holds no entry that would change it.
type covTrie struct {
	nodes []covNode // nodes[0] is the root once there is an entry
	bits  int       // 32 or 128
}

type covNode struct {
	child   [2]int32 // 0: none (the root is never a child)
	region  int32    // the entry at this node, or -1
	count   int32    // entries in the subtree, this node's included
	uniform int32    // the one region of all entries in the subtree; uniEmpty or uniMixed
}

const (
	uniEmpty = -1
	uniMixed = -2
)

// addrBits returns a's bits as a 128-bit big-endian number, IPv4 in the
// top 32 bits.
func addrBits(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		v := a.As4()
		return uint64(v[0])<<56 | uint64(v[1])<<48 | uint64(v[2])<<40 | uint64(v[3])<<32, 0
	}
	v := a.As16()
	for i := range 8 {
		hi = hi<<8 | uint64(v[i])
		lo = lo<<8 | uint64(v[8+i])
	}
	return hi, lo
}

// bitAt returns bit i (0 = most significant) of a 128-bit number.
func bitAt(hi, lo uint64, i int) int {
	if i < 64 {
		return int(hi>>(63-i)) & 1
	}
	return int(lo>>(127-i)) & 1
}

// insert adds prefix p (of the trie's family) with region r.
func (t *covTrie) insert(p netip.Prefix, r int32) {
	if len(t.nodes) == 0 {
		t.nodes = append(t.nodes, covNode{region: -1})
	}
	hi, lo := addrBits(p.Addr())
	n := int32(0)
	for i := 0; i < p.Bits(); i++ {
		b := bitAt(hi, lo, i)
		c := t.nodes[n].child[b]
		if c == 0 {
			c = int32(len(t.nodes))
			t.nodes = append(t.nodes, covNode{region: -1})
			t.nodes[n].child[b] = c
		}
		n = c
	}
	t.nodes[n].region = r
}

// summarize fills count and uniform for the subtree at n.
func (t *covTrie) summarize(n int32) {
	nd := &t.nodes[n]
	count, uni := int32(0), int32(uniEmpty)
	merge := func(c, u int32) {
		count += c
		switch {
		case u == uniEmpty:
		case uni == uniEmpty:
			uni = u
		case uni != u:
			uni = uniMixed
		}
	}
	if nd.region >= 0 {
		merge(1, nd.region)
	}
	for _, c := range nd.child {
		if c != 0 {
			t.summarize(c)
			merge(t.nodes[c].count, t.nodes[c].uniform)
		}
	}
	t.nodes[n].count, t.nodes[n].uniform = count, uni
}

// match finds the longest entry containing the address: its region, node
// and length, or region -1.
func (t *covTrie) match(hi, lo uint64) (region, node int32, bits int) {
	region = -1
	if len(t.nodes) == 0 {
		return -1, 0, 0
	}
	n := int32(0)
	for i := 0; ; i++ {
		if r := t.nodes[n].region; r >= 0 {
			region, node, bits = r, n, i
		}
		if i == t.bits {
			return
		}
		n = t.nodes[n].child[bitAt(hi, lo, i)]
		if n == 0 {
			return
		}
	}
}

// scope walks down the address's path from node n at depth d, where the
// answer is region r. It returns the shortest length at which the subtree
// holds no entry of another region (every address in that prefix gets r
// as far as the coverage file is concerned), and the shortest length at
// which it holds no entry at all other than, with self, the one at n (the
// rule and region are then exactly the same for the whole prefix). n = -1
// stands for an empty trie.
func (t *covTrie) scope(hi, lo uint64, n int32, d int, r int32, self bool) (scope, exact int) {
	scope = -1
	base := int32(0)
	if self {
		base = 1
	}
	for {
		if n < 0 {
			if scope < 0 {
				scope = d
			}
			return scope, d
		}
		nd := &t.nodes[n]
		if scope < 0 && (nd.uniform == uniEmpty || nd.uniform == r) {
			scope = d
		}
		if nd.count == base || d >= t.bits {
			if scope < 0 {
				scope = d // unreachable for a well-formed walk; the narrowest answer is safe
			}
			return scope, d
		}
		n = nd.child[bitAt(hi, lo, d)]
		if n == 0 {
			n = -1
		}
		d++
		base = 0
	}
}

// root returns the root node for scope, or -1 for an empty trie.
func (t *covTrie) root() int32 {
	if len(t.nodes) == 0 {
		return -1
	}
	return 0
}

// hasLonger reports whether the trie holds an entry longer than d bits
// inside the d-bit prefix of the address.
func (t *covTrie) hasLonger(hi, lo uint64, d int) bool {
	if len(t.nodes) == 0 {
		return false
	}
	n := int32(0)
	for i := range d {
		n = t.nodes[n].child[bitAt(hi, lo, i)]
		if n == 0 {
			return false
		}
	}
	nd := &t.nodes[n]
	own := int32(0)
	if nd.region >= 0 {
		own = 1
	}
	return nd.count > own
}
