package geodata_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/edgecdn/edgecdn/geodata"
	"go.yaml.in/yaml/v3"
)

// TestREADME checks the README's configuration and coverage file examples.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var yamls, plain int
	for _, m := range fencedBlocks(string(b)) {
		switch m[0] {
		case "yaml":
			yamls++
			var doc struct {
				Geodata geodata.Config `yaml:"geodata"`
			}
			dec := yaml.NewDecoder(strings.NewReader(m[1]))
			dec.KnownFields(true)
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("README config: %v", err)
			}
			doc.Geodata.SetDefaults()
			if err := doc.Geodata.Validate(); err != nil {
				t.Errorf("README config: %v", err)
			}
		case "":
			plain++
			if _, err := geodata.ParseCoverage(bytes.NewReader([]byte(m[1]))); err != nil {
				t.Errorf("README coverage file: %v", err)
			}
		}
	}
	if yamls != 1 || plain != 1 {
		t.Errorf("found %d yaml and %d coverage blocks, want one each", yamls, plain)
	}
}

// fencedBlocks returns the fenced code blocks of a Markdown text as
// (language, body) pairs.
func fencedBlocks(s string) [][2]string {
	var out [][2]string
	var lang string
	var body strings.Builder
	in := false
	for _, line := range strings.Split(s, "\n") {
		switch {
		case !in && strings.HasPrefix(line, "```"):
			in, lang = true, strings.TrimPrefix(line, "```")
			body.Reset()
		case in && line == "```":
			in = false
			out = append(out, [2]string{lang, body.String()})
		case in:
			body.WriteString(line + "\n")
		}
	}
	return out
}
