package origin

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseStatusRange: parseStatusRange never panics, accepts only ranges
// with 100 <= lo <= hi <= 599, agrees with a slow reference, and what it
// accepts reads back the same when printed.
func FuzzParseStatusRange(f *testing.F) {
	for _, s := range []string{"200", "200-399", "100-599", " 204 - 206 ", "99", "600", "399-200", "-", "",
		"200-", "-200", "+200", "2e2", "200-300-400", "0x1f4", "२००", "200\x00", "９９９", "-0-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := parseStatusRange(s)
		rlo, rhi, rok := referenceStatusRange(s)
		if (err == nil) != rok || lo != rlo || hi != rhi {
			t.Fatalf("parseStatusRange(%q) = %d, %d, %v; reference %d, %d, %v", s, lo, hi, err, rlo, rhi, rok)
		}
		if err != nil {
			if lo != 0 || hi != 0 {
				t.Fatalf("parseStatusRange(%q) = %d, %d with error %v", s, lo, hi, err)
			}
			return
		}
		if lo < 100 || lo > hi || hi > 599 {
			t.Fatalf("parseStatusRange(%q) accepted %d-%d", s, lo, hi)
		}
		if lo2, hi2, err := parseStatusRange(fmt.Sprintf("%d-%d", lo, hi)); err != nil || lo2 != lo || hi2 != hi {
			t.Fatalf("%d-%d reads back as %d, %d, %v", lo, hi, lo2, hi2, err)
		}
	})
}

// referenceStatusRange is the slow, obvious version: split on the first
// '-', trim spaces, unsigned decimal integers.
func referenceStatusRange(s string) (lo, hi int, ok bool) {
	if strings.Contains(s, "+") {
		return 0, 0, false
	}
	parts := []string{s}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		parts = []string{s[:i], s[i+1:]}
	}
	var n []int
	for _, p := range parts {
		v, err := strconv.ParseInt(strings.TrimSpace(p), 10, 0)
		if err != nil {
			return 0, 0, false
		}
		n = append(n, int(v))
	}
	lo, hi = n[0], n[len(n)-1]
	if lo < 100 || hi > 599 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}
