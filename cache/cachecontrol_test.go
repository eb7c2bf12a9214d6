package cache

import (
	"fmt"
	"testing"
)

// rfcDirs builds the Directives ParseDirectives should return: flags, then
// name/value pairs for the numeric fields ("max-age", 60, ...); fields not
// named are NoValue.
func rfcDirs(flags uint32, kv ...any) Directives {
	d := Directives{Flags: flags, MaxAge: NoValue, SMaxAge: NoValue, MaxStale: NoValue, MinFresh: NoValue, SWR: NoValue, SIE: NoValue}
	for i := 0; i+1 < len(kv); i += 2 {
		var n int32
		switch v := kv[i+1].(type) {
		case int:
			n = int32(v)
		case int32:
			n = v
		default:
			panic(fmt.Sprintf("rfcDirs: value %v is not an int", v))
		}
		switch kv[i] {
		case "max-age":
			d.MaxAge = n
		case "s-maxage":
			d.SMaxAge = n
		case "max-stale":
			d.MaxStale = n
		case "min-fresh":
			d.MinFresh = n
		case "stale-while-revalidate":
			d.SWR = n
		case "stale-if-error":
			d.SIE = n
		default:
			panic(fmt.Sprintf("rfcDirs: unknown numeric directive %v", kv[i]))
		}
	}
	return d
}

func TestParseDirectives(t *testing.T) {
	const maxInt31 = 1<<31 - 1
	tests := []struct {
		name string
		in   string
		want Directives
	}{
		{"empty", "", rfcDirs(0)},
		{"only spaces", " \t ", rfcDirs(0)},
		{"only commas", ", ,,\t,", rfcDirs(0)},
		{"public max-age", "public, max-age=60", rfcDirs(DirPublic, "max-age", 60)},
		{"no spaces", "public,max-age=60,s-maxage=30", rfcDirs(DirPublic, "max-age", 60, "s-maxage", 30)},
		{"upper case names", "MAX-AGE=60, Public, No-Store", rfcDirs(DirPublic|DirNoStore, "max-age", 60)},
		{"spaces around = and commas", "  max-age = 60 ,  no-cache  ", rfcDirs(DirNoCache, "max-age", 60)},
		{"tabs", "\tmax-age=60\t,\tprivate\t", rfcDirs(DirPrivate, "max-age", 60)},
		{"extra commas", ",,max-age=5,,,must-revalidate,", rfcDirs(DirMustRevalidate, "max-age", 5)},
		{"quoted number", `max-age="60"`, rfcDirs(0, "max-age", 60)},
		{"quoted number with spaces around", `max-age= "60" , public`, rfcDirs(DirPublic, "max-age", 60)},
		{"quoted field list with comma", `no-cache="Set-Cookie, X-Foo", max-age=5`, rfcDirs(DirNoCache, "max-age", 5)},
		{"quoted private with escaped quote and comma", `private="a\"b,c", s-maxage=7`, rfcDirs(DirPrivate, "s-maxage", 7)},
		{"quoted value hides directive names", `x-ext="max-age=1, no-store", max-age=9`, rfcDirs(0, "max-age", 9)},
		{"unterminated quote runs to the end", `max-age="60`, rfcDirs(0, "max-age", 60)},
		{"duplicate keeps the smaller (second)", "max-age=60, max-age=30", rfcDirs(0, "max-age", 30)},
		{"duplicate keeps the smaller (first)", "max-age=30, max-age=60", rfcDirs(0, "max-age", 30)},
		{"duplicate s-maxage", "s-maxage=100,s-maxage=5,s-maxage=50", rfcDirs(0, "s-maxage", 5)},
		{"duplicate with invalid keeps 0", "max-age=60, max-age=abc", rfcDirs(DirInvalid, "max-age", 0)},
		{"invalid then valid keeps 0", "max-age=abc, max-age=60", rfcDirs(DirInvalid, "max-age", 0)},
		{"invalid letters", "max-age=abc", rfcDirs(DirInvalid, "max-age", 0)},
		{"missing value", "max-age", rfcDirs(DirInvalid, "max-age", 0)},
		{"empty value", "max-age=, public", rfcDirs(DirInvalid|DirPublic, "max-age", 0)},
		{"negative", "max-age=-1", rfcDirs(DirInvalid, "max-age", 0)},
		{"plus sign", "max-age=+5", rfcDirs(DirInvalid, "max-age", 0)},
		{"decimal", "s-maxage=1.5", rfcDirs(DirInvalid, "s-maxage", 0)},
		{"hex", "max-age=0x10", rfcDirs(DirInvalid, "max-age", 0)},
		{"trailing junk", "max-age=60 s", rfcDirs(DirInvalid, "max-age", 0)},
		{"invalid min-fresh", "min-fresh=soon", rfcDirs(DirInvalid, "min-fresh", 0)},
		{"invalid stale-if-error", "stale-if-error", rfcDirs(DirInvalid, "stale-if-error", 0)},
		{"leading zeros", "max-age=0007", rfcDirs(0, "max-age", 7)},
		{"zero", "max-age=0", rfcDirs(0, "max-age", 0)},
		{"largest delta", "max-age=2147483647", rfcDirs(0, "max-age", maxInt31)},
		{"just below largest", "max-age=2147483646", rfcDirs(0, "max-age", maxInt31-1)},
		{"overflow by one", "max-age=2147483648", rfcDirs(0, "max-age", maxInt31)},
		{"overflow huge", "s-maxage=999999999999999999999999999999", rfcDirs(0, "s-maxage", maxInt31)},
		{"overflow quoted", `stale-while-revalidate="99999999999"`, rfcDirs(0, "stale-while-revalidate", maxInt31)},
		{"unknown ignored", "foo, bar=baz, x-y=\"1,2\"", rfcDirs(0)},
		{"unknown mixed", "foo, max-age=5, bar=1", rfcDirs(0, "max-age", 5)},
		{"name prefix is not the directive", "max-ages=5, xmax-age=6", rfcDirs(0)},
		{"max-stale without value", "max-stale", rfcDirs(DirMaxStaleAny)},
		{"max-stale with value", "max-stale=30", rfcDirs(0, "max-stale", 30)},
		{"max-stale both forms", "max-stale, max-stale=30", rfcDirs(DirMaxStaleAny, "max-stale", 30)},
		{"max-stale empty value", "max-stale=", rfcDirs(DirInvalid, "max-stale", 0)},
		{"request directives", "no-cache, min-fresh=10, only-if-cached, stale-if-error=5",
			rfcDirs(DirNoCache|DirOnlyIfCached, "min-fresh", 10, "stale-if-error", 5)},
		{"rfc 5861", "max-age=600, stale-while-revalidate=30, stale-if-error=86400",
			rfcDirs(0, "max-age", 600, "stale-while-revalidate", 30, "stale-if-error", 86400)},
		{"every flag", "no-cache, no-store, private, public, must-revalidate, proxy-revalidate, no-transform, must-understand, immutable, only-if-cached",
			rfcDirs(DirNoCache | DirNoStore | DirPrivate | DirPublic | DirMustRevalidate | DirProxyRevalidate |
				DirNoTransform | DirMustUnderstand | DirImmutable | DirOnlyIfCached)},
		{"flag with value still set", `no-cache=x, private=""`, rfcDirs(DirNoCache | DirPrivate)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseDirectives(tt.in)
			if got != tt.want {
				t.Errorf("ParseDirectives(%q) =\n  %+v\nwant\n  %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDirectivesAddMergesLines(t *testing.T) {
	d := ParseDirectives("max-age=60, public")
	d.Add("max-age=30")
	d.Add("stale-if-error=10, no-transform")
	want := rfcDirs(DirPublic|DirNoTransform, "max-age", 30, "stale-if-error", 10)
	if d != want {
		t.Errorf("merged = %+v, want %+v", d, want)
	}
	// Joining the lines with commas reads the same.
	if j := ParseDirectives("max-age=60, public,max-age=30,stale-if-error=10, no-transform"); j != want {
		t.Errorf("joined = %+v, want %+v", j, want)
	}
}

func TestDirectivesHasEmpty(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		empty  bool
		has    uint32
		hasNot uint32
	}{
		{"nothing", "", true, 0, DirPublic},
		{"unknown only", "foo=1", true, 0, DirInvalid},
		{"flag", "public", false, DirPublic, DirPrivate},
		{"two flags", "public, immutable", false, DirPublic | DirImmutable, DirPublic | DirPrivate},
		{"numeric only", "max-age=0", false, 0, DirInvalid},
		{"invalid numeric", "max-age=x", false, DirInvalid, DirPublic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ParseDirectives(tt.in)
			if d.Empty() != tt.empty {
				t.Errorf("Empty() = %v, want %v", d.Empty(), tt.empty)
			}
			if !d.Has(tt.has) {
				t.Errorf("Has(%#x) = false on %+v", tt.has, d)
			}
			if d.Has(tt.hasNot) {
				t.Errorf("Has(%#x) = true on %+v", tt.hasNot, d)
			}
		})
	}
}
