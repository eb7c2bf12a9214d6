package confload

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestFieldErrorMessage(t *testing.T) {
	base := errors.New("want a string, got a list")
	for _, tc := range []struct {
		name string
		err  *FieldError
		want string
	}{
		{"path and line", &FieldError{Path: "sites[0].origins[1].url", Line: 12, Err: base}, "sites[0].origins[1].url (line 12): want a string, got a list"},
		{"no line", &FieldError{Path: "cache.max_memory", Err: base}, "cache.max_memory: want a string, got a list"},
		{"no path", &FieldError{Line: 3, Err: base}, "line 3: want a string, got a list"},
		{"nothing but the message", &FieldError{Err: base}, "want a string, got a list"},
		{"nil Err", &FieldError{Path: "a"}, "a: invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if tc.err.Err != nil && !errors.Is(tc.err, base) {
				t.Errorf("errors.Is(FieldError, its Err) = false")
			}
		})
	}
}

var errTooSmall = errors.New("too small")

// multiW has Unwrap() []error but is not a line-per-child join.
func multiW() error {
	return fmt.Errorf("first %w then %w", errTooSmall, fs.ErrNotExist)
}

func TestPrefix(t *testing.T) {
	fe := &FieldError{Path: "max_ttl", Line: 4, Err: errTooSmall}
	for _, tc := range []struct {
		name   string
		prefix string
		err    error
		want   string
		is     []error // errors.Is must find each
	}{
		{"nil", "cache", nil, "", nil},
		{"empty prefix", "", errTooSmall, "too small", []error{errTooSmall}},
		{"plain error", "cache", fmt.Errorf("max_memory: must be at least 1MiB: %w", errTooSmall),
			"cache.max_memory: must be at least 1MiB: too small", []error{errTooSmall}},
		{"field error", "edge", fe, "edge.max_ttl (line 4): too small", []error{errTooSmall}},
		{"field error with index path", "sites", &FieldError{Path: "[2].url", Err: errTooSmall}, "sites[2].url: too small", nil},
		{"field error without path", "cache", &FieldError{Err: errTooSmall}, "cache: too small", nil},
		{"join", "cache", errors.Join(
			errors.New("max_memory: must be positive"),
			fmt.Errorf("max_ttl: %w", errTooSmall),
		), "cache.max_memory: must be positive\ncache.max_ttl: too small", []error{errTooSmall}},
		{"nested join with field errors", "origin", errors.Join(
			errors.Join(errors.New("pools[0].name: empty"), fe),
			fs.ErrNotExist,
		), "origin.pools[0].name: empty\norigin.max_ttl (line 4): too small\norigin.file does not exist", []error{errTooSmall, fs.ErrNotExist}},
		{"multiple %w is one message", "cache", multiW(), "cache.first too small then file does not exist", []error{errTooSmall, fs.ErrNotExist}},
		{"twice", "edge", Prefix("cache", errors.New("max_ttl: bad")), "edge.cache.max_ttl: bad", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Prefix(tc.prefix, tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("Prefix(%q, nil) = %v, want nil", tc.prefix, got)
				}
				return
			}
			if got == nil || got.Error() != tc.want {
				t.Fatalf("Prefix(%q, err).Error() = %q, want %q", tc.prefix, got, tc.want)
			}
			for _, target := range tc.is {
				if !errors.Is(got, target) {
					t.Errorf("errors.Is(result, %v) = false", target)
				}
			}
		})
	}

	// errors.As finds the prefixed *FieldError, with the original untouched.
	got := Prefix("cache", errors.Join(fe))
	var as *FieldError
	if !errors.As(got, &as) || as.Path != "cache.max_ttl" || as.Line != 4 || !errors.Is(as, errTooSmall) {
		t.Errorf("errors.As(prefixed) = %+v", as)
	}
	if fe.Path != "max_ttl" {
		t.Errorf("Prefix modified the original FieldError: %+v", fe)
	}

	// The result of Decode can be prefixed as a whole.
	var c testConfig
	err := Prefix("edge", Decode([]byte("cache: {max_ttl: 30}\nnode: {idd: x}\n"), &c))
	want := "edge.cache.max_ttl (line 1): want a duration such as \"30s\", got the bare number 30; add a unit (ns, us, ms, s, m, h)\n" +
		"edge.node.idd (line 2): unknown field \"idd\" (did you mean \"id\"?)"
	if err == nil || err.Error() != want {
		t.Errorf("Prefix(Decode) =\n%v\nwant\n%s", err, want)
	}
}
