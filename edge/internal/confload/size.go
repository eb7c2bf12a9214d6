package confload

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// sizeUnits are the unit suffixes ParseSize accepts, with their multipliers.
// Binary units are written KiB, MiB, GiB, TiB and SI units kB, MB, GB, TB,
// exactly in that case; "B" or no suffix means bytes.
var sizeUnits = map[string]int64{
	"":    1,
	"B":   1,
	"KiB": 1 << 10,
	"MiB": 1 << 20,
	"GiB": 1 << 30,
	"TiB": 1 << 40,
	"kB":  1e3,
	"MB":  1e6,
	"GB":  1e9,
	"TB":  1e12,
}

const acceptedSizeUnits = "B, KiB, MiB, GiB, TiB (powers of 1024) or kB, MB, GB, TB (powers of 1000)"

// maxSizeLen bounds the length of a size string, so that a hostile input
// cannot make ParseSize do arbitrary-precision arithmetic on huge numbers.
const maxSizeLen = 64

// ParseSize parses a byte size such as "512MiB", "1.5GiB", "10MB", "4096" or
// "4096B". Binary units (KiB, MiB, GiB, TiB) are powers of 1024, SI units
// (kB, MB, GB, TB) powers of 1000, and units are case-sensitive. Ambiguous
// shorthand such as "512M", "1G" or "64KB" is rejected with a message naming
// both readings. A fraction is allowed when the result is a whole number of
// bytes ("1.5GiB" but not "1.3B"); negative sizes and sizes above
// math.MaxInt64 are errors. A space between number and unit is allowed.
//
// Errors read `invalid size "512M": ...` without a package prefix: they are
// meant to be wrapped by the caller, who knows which field or flag it was.
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New(`invalid size "": want a size such as "512MiB"`)
	}
	if len(s) > maxSizeLen {
		return 0, fmt.Errorf("invalid size %.20q...: longer than %d characters", s, maxSizeLen)
	}
	bad := func(format string, args ...any) (int64, error) {
		return 0, fmt.Errorf("invalid size %q: %s", s, fmt.Sprintf(format, args...))
	}
	rest := s
	negative := strings.HasPrefix(rest, "-")
	if negative {
		rest = rest[1:]
	}
	intEnd := digitsEnd(rest)
	intPart, rest := rest[:intEnd], rest[intEnd:]
	var fracPart string
	if strings.HasPrefix(rest, ".") {
		fracEnd := 1 + digitsEnd(rest[1:])
		fracPart, rest = rest[1:fracEnd], rest[fracEnd:]
		if fracPart == "" {
			return bad("want digits after the decimal point")
		}
	}
	if intPart == "" {
		return bad(`want a number followed by a unit, such as "512MiB"`)
	}
	unit := strings.TrimLeft(rest, " ")
	if unit == "" && rest != "" {
		return bad("trailing space")
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		if alt := ambiguousUnit(unit); alt != "" {
			return bad("unit %q is ambiguous; write %siB for powers of 1024 or %sB for powers of 1000", unit, alt, siPrefix(alt))
		}
		return bad("unknown unit %q; want %s", unit, acceptedSizeUnits)
	}
	if negative {
		return bad("must not be negative")
	}
	n, ok := new(big.Int).SetString(intPart+fracPart, 10)
	if !ok { // cannot happen: both parts are ASCII digits
		return bad("not a number")
	}
	n.Mul(n, big.NewInt(mult))
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(fracPart))), nil)
	q, r := n.QuoRem(n, den, new(big.Int))
	if r.Sign() != 0 {
		return bad("not a whole number of bytes")
	}
	if !q.IsInt64() {
		return bad("too large (the maximum is %d bytes)", int64(1<<63-1))
	}
	return q.Int64(), nil
}

func digitsEnd(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// ambiguousUnit returns the binary prefix letter ("K", "M", "G", "T") when
// unit looks like shorthand for one of the accepted units but is not one,
// such as "M", "g", "KB", "mib" or "Gi".
func ambiguousUnit(unit string) string {
	if unit == "" {
		return ""
	}
	letter := strings.ToUpper(unit[:1])
	if !strings.Contains("KMGT", letter) {
		return ""
	}
	switch strings.ToLower(unit[1:]) {
	case "", "b", "i", "ib":
		return letter
	}
	return ""
}

func siPrefix(binary string) string {
	if binary == "K" {
		return "k"
	}
	return binary
}

// FormatSize renders n bytes the way Encode writes unit:"bytes" fields: with
// the largest of TiB, GiB, MiB or KiB that divides n exactly ("512MiB",
// "1536KiB"), else as a plain number of bytes ("1000", "0"). ParseSize reads
// every result back to n for n >= 0.
func FormatSize(n int64) string {
	if n > 0 {
		for _, u := range []struct {
			name string
			mult int64
		}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if n%u.mult == 0 {
				return strconv.FormatInt(n/u.mult, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(n, 10)
}
