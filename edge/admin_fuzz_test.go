package edge

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzPurgeBody: any body either is refused with a field error or turns
// into cache keys and prefixes in the node's key form; never a panic.
func FuzzPurgeBody(f *testing.F) {
	for _, s := range []string{
		`{"urls": ["http://a.example/x?y=1"]}`,
		`{"prefixes": ["https://a.example/static/"], "soft": true}`,
		`{"tags": ["t1", "t2"], "hosts": ["A.Example:80"]}`,
		`{"all": true}`,
		`{"urls": ["http://a.example/%zz"]}`,
		`{"urls": ["http://[::1]:8080/../x"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var b PurgeBody
		if json.Unmarshal([]byte(body), &b) != nil {
			return
		}
		req, err := purgeRequest(&b, 100)
		if err != nil {
			if _, ok := err.(*fieldError); !ok {
				t.Fatalf("error %T %v is not a field error", err, err)
			}
			return
		}
		for _, k := range append(req.Keys, req.Prefixes...) {
			if !strings.HasPrefix(k, "http://") || !strings.Contains(k[len("http://"):], "/") {
				t.Fatalf("key %q is not in the node's key form", k)
			}
		}
		if req.All && len(req.Keys)+len(req.Prefixes)+len(req.Tags)+len(req.Hosts) > 0 {
			t.Fatal("all with selectors accepted")
		}
	})
}
