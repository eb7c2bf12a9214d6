package edge

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLeafImports enforces the dependency rule of CONVENTIONS §2: leaf
// packages never import edge, cmd or each other, except geodata, which
// anyone may import and which imports none of ours.
func TestLeafImports(t *testing.T) {
	const mod = "github.com/edgecdn/edgecdn/"
	leaves := []string{"cache", "origin", "bgp", "dnsserver", "geodata"}
	for _, leaf := range leaves {
		err := filepath.WalkDir(filepath.Join("..", leaf), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				if !strings.HasPrefix(p, mod) {
					continue
				}
				top := strings.SplitN(strings.TrimPrefix(p, mod), "/", 2)[0]
				switch {
				case top == leaf:
				case top == "geodata" && leaf != "geodata":
				default:
					t.Errorf("%s imports %s: leaves may import only geodata", path, p)
				}
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}
