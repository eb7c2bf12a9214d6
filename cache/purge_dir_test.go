package cache

import (
	"strings"
	"testing"
)

func TestDirOf(t *testing.T) {
	for k, want := range map[string]string{
		"http://h/a/b?q":      "http://h/a/",
		"http://h/a/":         "http://h/a/",
		"http://h/x?q=/y":     "http://h/",
		"http://h/file":       "http://h/",
		"http://h/":           "http://h/",
		"http://h/a/b/c/d.js": "http://h/a/",
	} {
		if got := dirOf(k); got != want {
			t.Errorf("dirOf(%q) = %q, want %q", k, got, want)
		}
	}
	for p, want := range map[string]string{"http://h/a/": "http://h/a/", "http://h/a/b": "http://h/a/", "http://h/a": "", "http://h/": "", "http://h/a?x/": ""} {
		got, ok := prefixDir(p)
		if got != want || ok != (want != "") {
			t.Errorf("prefixDir(%q) = %q %v, want %q", p, got, ok, want)
		}
	}
}

// FuzzPrefixDir: a key with a prefix that names a directory is in that
// directory, so a prefix purge may scan it alone.
func FuzzPrefixDir(f *testing.F) {
	f.Add("http://h/a/b/c?x=/y", 12)
	f.Add("http://h/x?q=/y/z", 10)
	f.Fuzz(func(t *testing.T, key string, n int) {
		if !strings.HasPrefix(key, "http://") || n < 0 || n > len(key) {
			return
		}
		p := key[:n]
		if d, ok := prefixDir(p); ok && dirOf(key) != d {
			t.Fatalf("key %q with prefix %q is in %q, not %q", key, p, dirOf(key), d)
		}
	})
}
