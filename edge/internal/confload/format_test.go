package confload

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

type parseSizeCase struct {
	in      string
	want    int64
	wantErr string
}

var parseSizeCases = []parseSizeCase{
	{in: "0", want: 0},
	{in: "4096", want: 4096},
	{in: "4096B", want: 4096},
	{in: "64KiB", want: 64 << 10},
	{in: "512MiB", want: 512 << 20},
	{in: "1GiB", want: 1 << 30},
	{in: "2TiB", want: 2 << 40},
	{in: "1.5GiB", want: 3 << 29},
	{in: "0.5KiB", want: 512},
	{in: "1kB", want: 1000},
	{in: "10MB", want: 10_000_000},
	{in: "1GB", want: 1_000_000_000},
	{in: "3TB", want: 3_000_000_000_000},
	{in: "1.5kB", want: 1500},
	{in: "007MiB", want: 7 << 20},
	{in: "512 MiB", want: 512 << 20},
	{in: "1.0B", want: 1},
	{in: "9223372036854775807", want: math.MaxInt64},
	{in: "8388607.999999999999TiB", wantErr: "not a whole number of bytes"},
	{in: "8388608TiB", wantErr: `invalid size "8388608TiB": too large (the maximum is 9223372036854775807 bytes)`},
	{in: "9223372036854775808", wantErr: "too large"},
	{in: "", wantErr: `invalid size "": want a size such as "512MiB"`},
	{in: "MiB", wantErr: `invalid size "MiB": want a number followed by a unit`},
	{in: ".5GiB", wantErr: "want a number followed by a unit"},
	{in: "1.GiB", wantErr: "want digits after the decimal point"},
	{in: "1.3B", wantErr: `invalid size "1.3B": not a whole number of bytes`},
	{in: "-1", wantErr: `invalid size "-1": must not be negative`},
	{in: "-1GiB", wantErr: "must not be negative"},
	{in: "+1GiB", wantErr: "want a number followed by a unit"},
	{in: "1M", wantErr: `unit "M" is ambiguous; write MiB for powers of 1024 or MB for powers of 1000`},
	{in: "1K", wantErr: `unit "K" is ambiguous; write KiB for powers of 1024 or kB for powers of 1000`},
	{in: "1KB", wantErr: `unit "KB" is ambiguous`},
	{in: "1Gi", wantErr: `unit "Gi" is ambiguous`},
	{in: "1tb", wantErr: `unit "tb" is ambiguous`},
	{in: "1PiB", wantErr: `unknown unit "PiB"; want B, KiB, MiB, GiB, TiB (powers of 1024) or kB, MB, GB, TB (powers of 1000)`},
	{in: "1 ", wantErr: `invalid size "1 ": trailing space`},
	{in: " 1", wantErr: "want a number followed by a unit"},
	{in: "1e9", wantErr: `unknown unit "e9"`},
	{in: "0x10", wantErr: `unknown unit "x10"`},
	{in: strings.Repeat("1", 100), wantErr: "longer than 64 characters"},
}

func TestParseSize(t *testing.T) {
	for _, tc := range parseSizeCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1023, "1023"},
		{1024, "1KiB"},
		{1536, "1536"},
		{3 << 10, "3KiB"},
		{1 << 20, "1MiB"},
		{512 << 20, "512MiB"},
		{1536 << 20, "1536MiB"},
		{1 << 30, "1GiB"},
		{2 << 40, "2TiB"},
		{1 << 62, "4194304TiB"},
		{math.MaxInt64, "9223372036854775807"},
		{-1024, "-1024"},
	} {
		if got := FormatSize(tc.in); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{250 * time.Millisecond, "250ms"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "1m30s"},
		{time.Minute, "1m"},
		{time.Hour, "1h"},
		{24 * time.Hour, "24h"},
		{time.Hour + 30*time.Second, "1h30s"},
		{time.Hour + 30*time.Minute, "1h30m"},
		{time.Hour + 250*time.Millisecond, "1h250ms"},
		{1500 * time.Millisecond, "1.5s"},
		{time.Minute + 250*time.Millisecond, "1m250ms"},
		{61*time.Second + 5*time.Millisecond, "1m1.005s"},
		{1500 * time.Microsecond, "1.5ms"},
		{1500 * time.Nanosecond, "1.5µs"},
		{20 * time.Nanosecond, "20ns"},
		{-5 * time.Second, "-5s"},
		{-90 * time.Minute, "-1h30m"},
		{math.MaxInt64, "2562047h47m16.854775807s"},
		{math.MinInt64, "-2562047h47m16.854775808s"},
	} {
		got := FormatDuration(tc.in)
		if got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != tc.in {
			t.Errorf("time.ParseDuration(%q) = %v, %v; want %v", got, back, err, tc.in)
		}
	}
}

// TestFormatRoundTripRandom checks the documented inverse relations on
// random values of every magnitude.
func TestFormatRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		n := rng.Int64() >> rng.IntN(63)
		if rng.IntN(2) == 0 {
			n &^= 1<<rng.IntN(41) - 1 // often a whole number of KiB..TiB
		}
		if got, err := ParseSize(FormatSize(n)); err != nil || got != n {
			t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v", n, got, err)
		}
		d := time.Duration(rng.Uint64() >> rng.IntN(64))
		if got, err := time.ParseDuration(FormatDuration(d)); err != nil || got != d {
			t.Fatalf("ParseDuration(FormatDuration(%d)) = %v, %v (%q)", d, got, err, FormatDuration(d))
		}
	}
}
