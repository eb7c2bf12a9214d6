package cache

import (
	"testing"
	"time"
)

// rfcEntry is a stored response received at rfcT0 with age 0, fresh for
// the max-age (or s-maxage) of cc.
func rfcEntry(cc string, staleIfError time.Duration) *Entry {
	d := ParseDirectives(cc)
	life := time.Duration(0)
	switch {
	case d.SMaxAge != NoValue:
		life = time.Duration(d.SMaxAge) * time.Second
	case d.MaxAge != NoValue:
		life = time.Duration(d.MaxAge) * time.Second
	}
	return (&Draft{Status: 200, ResponseTime: rfcT0, Lifetime: life, Directives: d, StaleIfError: staleIfError, ETag: `"v"`}).Entry()
}

func TestDecide(t *testing.T) {
	const s = time.Second
	type want struct {
		use          Use
		background   bool
		staleOnError bool
		forced       bool
		ttl          time.Duration
	}
	tests := []struct {
		name   string
		cc     string        // response Cache-Control
		sie    time.Duration // entry's StaleIfError window
		soft   bool          // soft-purged
		age    time.Duration
		req    string // request Cache-Control
		want   want
		anySOE bool // StaleOnError not checked
	}{
		// Freshness.
		{name: "fresh", cc: "max-age=100", sie: time.Hour, age: 50 * s,
			want: want{use: UseFresh, staleOnError: true, ttl: 50 * s}},
		{name: "fresh at receipt", cc: "max-age=100", age: 0,
			want: want{use: UseFresh, staleOnError: true, ttl: 100 * s}},
		{name: "last fresh second", cc: "max-age=100", age: 99 * s,
			want: want{use: UseFresh, staleOnError: true, ttl: s}},
		{name: "expired at exactly max-age", cc: "max-age=100", age: 100 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: 0}},
		{name: "stale", cc: "max-age=100", sie: time.Hour, age: 150 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "max-age=0 is stale at once", cc: "max-age=0", age: 0,
			want: want{use: UseRevalidate, staleOnError: true, ttl: 0}},
		{name: "s-maxage lifetime", cc: "s-maxage=100, max-age=1", age: 50 * s,
			want: want{use: UseFresh, ttl: 50 * s}, anySOE: true},

		// stale-while-revalidate.
		{name: "swr inside window", cc: "max-age=100, stale-while-revalidate=60", age: 150 * s,
			want: want{use: UseStale, background: true, ttl: -50 * s}, anySOE: true},
		{name: "swr window end inclusive", cc: "max-age=100, stale-while-revalidate=60", age: 160 * s,
			want: want{use: UseStale, background: true, ttl: -60 * s}, anySOE: true},
		{name: "swr past window", cc: "max-age=100, stale-while-revalidate=60", age: 161 * s,
			want: want{use: UseRevalidate, ttl: -61 * s}, anySOE: true},
		{name: "swr=0", cc: "max-age=100, stale-while-revalidate=0", age: 101 * s,
			want: want{use: UseRevalidate, ttl: -s}, anySOE: true},
		{name: "swr fresh entry", cc: "max-age=100, stale-while-revalidate=60", age: 10 * s,
			want: want{use: UseFresh, staleOnError: true, ttl: 90 * s}},

		// max-stale (request).
		{name: "max-stale any", cc: "max-age=100", age: 10000 * s, req: "max-stale",
			want: want{use: UseStale, ttl: -9900 * s}, anySOE: true},
		{name: "max-stale inside", cc: "max-age=100", age: 150 * s, req: "max-stale=60",
			want: want{use: UseStale, ttl: -50 * s}, anySOE: true},
		{name: "max-stale end inclusive", cc: "max-age=100", age: 160 * s, req: "max-stale=60",
			want: want{use: UseStale, ttl: -60 * s}, anySOE: true},
		{name: "max-stale past", cc: "max-age=100", age: 170 * s, req: "max-stale=60",
			want: want{use: UseRevalidate, ttl: -70 * s}, anySOE: true},
		{name: "max-stale=0 on stale entry", cc: "max-age=100", age: 101 * s, req: "max-stale=0",
			want: want{use: UseRevalidate, ttl: -s}, anySOE: true},
		{name: "max-stale invalid value is 0", cc: "max-age=100", age: 101 * s, req: "max-stale=soon",
			want: want{use: UseRevalidate, ttl: -s}, anySOE: true},
		{name: "max-stale on fresh entry", cc: "max-age=100", age: 10 * s, req: "max-stale",
			want: want{use: UseFresh, staleOnError: true, ttl: 90 * s}},

		// Responses that forbid serving stale (RFC 9111 5.2.2.2, 5.2.2.8, 5.2.2.10).
		{name: "must-revalidate stale", cc: "max-age=100, must-revalidate", sie: time.Hour, age: 150 * s,
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "must-revalidate with max-stale", cc: "max-age=100, must-revalidate", sie: time.Hour, age: 150 * s, req: "max-stale",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "must-revalidate with swr", cc: "max-age=100, must-revalidate, stale-while-revalidate=600", sie: time.Hour, age: 150 * s,
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "must-revalidate with stale-if-error", cc: "max-age=100, must-revalidate, stale-if-error=600", sie: 600 * s, age: 150 * s, req: "stale-if-error=600",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "must-revalidate fresh", cc: "max-age=100, must-revalidate", age: 50 * s,
			want: want{use: UseFresh, ttl: 50 * s}, anySOE: true},
		{name: "proxy-revalidate stale", cc: "max-age=100, proxy-revalidate", sie: time.Hour, age: 150 * s, req: "max-stale=100",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "proxy-revalidate with swr", cc: "max-age=100, proxy-revalidate, stale-while-revalidate=600", sie: time.Hour, age: 150 * s,
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "s-maxage stale", cc: "s-maxage=100", sie: time.Hour, age: 150 * s, req: "max-stale",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "s-maxage with swr", cc: "s-maxage=100, stale-while-revalidate=600", sie: time.Hour, age: 150 * s,
			want: want{use: UseRevalidate, ttl: -50 * s}},

		// Response no-cache: always validate, never stale.
		{name: "response no-cache fresh", cc: "no-cache, max-age=100", sie: time.Hour, age: 10 * s,
			want: want{use: UseRevalidate, ttl: 90 * s}},
		{name: "response no-cache stale with max-stale", cc: "no-cache, max-age=100, stale-while-revalidate=600", sie: time.Hour, age: 150 * s, req: "max-stale",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "response qualified no-cache", cc: `no-cache="Set-Cookie", max-age=100`, sie: time.Hour, age: 10 * s,
			want: want{use: UseRevalidate, ttl: 90 * s}},

		// Request directives that force validation (5.2.1).
		{name: "request no-cache fresh", cc: "max-age=100", sie: time.Hour, age: 10 * s, req: "no-cache",
			want: want{use: UseRevalidate, forced: true, staleOnError: true, ttl: 90 * s}},
		{name: "request no-cache stale", cc: "max-age=100", sie: time.Hour, age: 150 * s, req: "no-cache",
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "request no-cache beats swr", cc: "max-age=100, stale-while-revalidate=600", sie: time.Hour, age: 150 * s, req: "no-cache",
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "request no-cache beats max-stale", cc: "max-age=100", age: 150 * s, req: "no-cache, max-stale",
			want: want{use: UseRevalidate, ttl: -50 * s}, anySOE: true},
		{name: "request max-age=0 at age 1s", cc: "max-age=100", sie: time.Hour, age: s, req: "max-age=0",
			want: want{use: UseRevalidate, forced: true, staleOnError: true, ttl: 99 * s}},
		{name: "request max-age=0 at age 0 accepts", cc: "max-age=100", sie: time.Hour, age: 0, req: "max-age=0",
			want: want{use: UseFresh, staleOnError: true, ttl: 100 * s}},
		{name: "request max-age younger than entry", cc: "max-age=100", sie: time.Hour, age: 50 * s, req: "max-age=30",
			want: want{use: UseRevalidate, forced: true, staleOnError: true, ttl: 50 * s}},
		{name: "request max-age equal to age accepts", cc: "max-age=100", sie: time.Hour, age: 30 * s, req: "max-age=30",
			want: want{use: UseFresh, staleOnError: true, ttl: 70 * s}},
		{name: "request max-age older than entry", cc: "max-age=100", sie: time.Hour, age: 20 * s, req: "max-age=30",
			want: want{use: UseFresh, staleOnError: true, ttl: 80 * s}},
		{name: "request max-age invalid is 0", cc: "max-age=100", sie: time.Hour, age: 20 * s, req: "max-age=x",
			want: want{use: UseRevalidate, forced: true, staleOnError: true, ttl: 80 * s}},
		{name: "request min-fresh unmet", cc: "max-age=100", sie: time.Hour, age: 50 * s, req: "min-fresh=60",
			want: want{use: UseRevalidate, forced: true, staleOnError: true, ttl: 50 * s}},
		{name: "request min-fresh exactly met", cc: "max-age=100", sie: time.Hour, age: 50 * s, req: "min-fresh=50",
			want: want{use: UseFresh, staleOnError: true, ttl: 50 * s}},
		{name: "request min-fresh met", cc: "max-age=100", sie: time.Hour, age: 50 * s, req: "min-fresh=40",
			want: want{use: UseFresh, staleOnError: true, ttl: 50 * s}},
		{name: "request min-fresh on stale entry not forced", cc: "max-age=100", sie: time.Hour, age: 150 * s, req: "min-fresh=1",
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "request no-cache with must-revalidate", cc: "max-age=100, must-revalidate", age: 10 * s, req: "no-cache",
			want: want{use: UseRevalidate, forced: true, ttl: 90 * s}, anySOE: true},

		// Stale-on-error windows: the entry's (response stale-if-error or the
		// site's default) or the request's stale-if-error.
		{name: "SIE inside entry window", cc: "max-age=100", sie: 60 * s, age: 150 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "SIE entry window end inclusive", cc: "max-age=100", sie: 60 * s, age: 160 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: -60 * s}},
		{name: "SIE past entry window", cc: "max-age=100", sie: 60 * s, age: 170 * s,
			want: want{use: UseRevalidate, ttl: -70 * s}},
		{name: "SIE none", cc: "max-age=100", sie: 0, age: 101 * s,
			want: want{use: UseRevalidate, ttl: -s}},
		{name: "SIE request widens", cc: "max-age=100", sie: 60 * s, age: 170 * s, req: "stale-if-error=100",
			want: want{use: UseRevalidate, staleOnError: true, ttl: -70 * s}},
		{name: "SIE request only", cc: "max-age=100", sie: 0, age: 150 * s, req: "stale-if-error=50",
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "SIE request too short, entry enough", cc: "max-age=100", sie: 60 * s, age: 150 * s, req: "stale-if-error=10",
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "SIE both too short", cc: "max-age=100", sie: 10 * s, age: 150 * s, req: "stale-if-error=20",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "SIE with swr serving", cc: "max-age=100, stale-while-revalidate=60", sie: time.Hour, age: 150 * s,
			want: want{use: UseStale, background: true, staleOnError: true, ttl: -50 * s}},
		{name: "SIE proxy-revalidate", cc: "max-age=100, proxy-revalidate", sie: time.Hour, age: 150 * s, req: "stale-if-error=1000",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "SIE s-maxage", cc: "s-maxage=100", sie: time.Hour, age: 150 * s, req: "stale-if-error=1000",
			want: want{use: UseRevalidate, ttl: -50 * s}},
		{name: "SIE response no-cache", cc: "no-cache, max-age=100", sie: time.Hour, age: 150 * s, req: "stale-if-error=1000",
			want: want{use: UseRevalidate, ttl: -50 * s}},

		// Soft purge: stale at once, revalidated before use, still usable on error.
		{name: "soft-purged fresh entry", cc: "max-age=100", sie: time.Hour, soft: true, age: 10 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: -1}},
		{name: "soft-purged inside swr window", cc: "max-age=100, stale-while-revalidate=600", sie: time.Hour, soft: true, age: 10 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: -1}},
		{name: "soft-purged stale entry", cc: "max-age=100, stale-while-revalidate=600", sie: time.Hour, soft: true, age: 150 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: -50 * s}},
		{name: "soft-purged no stale-if-error", cc: "max-age=100", soft: true, age: 10 * s,
			want: want{use: UseRevalidate, staleOnError: true, ttl: -1}, anySOE: true},
		{name: "soft-purged with request no-cache not forced", cc: "max-age=100", sie: time.Hour, soft: true, age: 10 * s, req: "no-cache",
			want: want{use: UseRevalidate, staleOnError: true, ttl: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := rfcEntry(tt.cc, tt.sie)
			if tt.soft {
				e.purged.Store(softPurged)
			}
			req := ParseDirectives(tt.req)
			d := e.Decide(&req, rfcT0.Add(tt.age))
			got := want{d.Use, d.Background, d.StaleOnError, d.Forced, d.TTL}
			if tt.anySOE {
				got.staleOnError = tt.want.staleOnError
			}
			if got != tt.want {
				t.Errorf("Decide(resp %q, req %q, age %s) =\n  %+v\nwant\n  %+v", tt.cc, tt.req, tt.age, got, tt.want)
			}
			if d.Background && d.Use != UseStale {
				t.Errorf("Background with Use %d", d.Use)
			}
		})
	}
}

// TestDecideNoRequestDirectives checks that the parsed empty request
// directives (what the edge uses for requests without Cache-Control) do
// not force anything.
func TestDecideNoRequestDirectives(t *testing.T) {
	none := ParseDirectives("")
	for _, cc := range []string{"max-age=100", "max-age=100, must-revalidate", "s-maxage=100"} {
		e := rfcEntry(cc, time.Hour)
		if d := e.Decide(&none, rfcT0.Add(10*time.Second)); d.Use != UseFresh || d.Forced || d.Background {
			t.Errorf("%q: %+v, want fresh", cc, d)
		}
	}
}
