package confload

import (
	"strconv"
	"time"
)

// FormatDuration renders d compactly, the way Encode writes time.Duration
// fields: zero units are left out ("1h", not "1h0m0s"; "1h30s", not
// "1h0m30s"), whole seconds with a fraction keep Go's style ("1.5s",
// "1m0.25s"), and a sub-second remainder with no whole seconds uses the
// largest fitting unit ("250ms", "1h250ms", "1.5µs", "20ns"). Zero is "0s".
// time.ParseDuration reads every result back to d.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b []byte
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u // two's complement: correct for math.MinInt64 too
	}
	const (
		second = uint64(time.Second)
		minute = uint64(time.Minute)
		hour   = uint64(time.Hour)
	)
	h := u / hour
	u -= h * hour
	m := u / minute
	u -= m * minute
	s := u / second
	frac := u - s*second // nanoseconds below one second
	if h > 0 {
		b = strconv.AppendUint(b, h, 10)
		b = append(b, 'h')
	}
	if m > 0 {
		b = strconv.AppendUint(b, m, 10)
		b = append(b, 'm')
	}
	switch {
	case s > 0:
		b = appendDecimal(b, s, frac, 9)
		b = append(b, 's')
	case frac >= uint64(time.Millisecond):
		b = appendDecimal(b, frac/1e6, frac%1e6, 6)
		b = append(b, "ms"...)
	case frac >= uint64(time.Microsecond):
		b = appendDecimal(b, frac/1e3, frac%1e3, 3)
		b = append(b, "µs"...)
	case frac > 0:
		b = strconv.AppendUint(b, frac, 10)
		b = append(b, "ns"...)
	}
	return string(b)
}

// appendDecimal appends whole, then frac as a fraction of digits decimal
// places with trailing zeros removed (and no point when frac is zero).
func appendDecimal(b []byte, whole, frac uint64, digits int) []byte {
	b = strconv.AppendUint(b, whole, 10)
	if frac == 0 {
		return b
	}
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := digits
	for n > 0 && buf[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, buf[:n]...)
}
