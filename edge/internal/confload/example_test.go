package confload_test

import (
	"fmt"
	"time"

	"github.com/edgecdn/edgecdn/edge/internal/confload"
)

func ExampleDecode() {
	// Config types live in their own packages and carry only tags.
	type Origin struct {
		URL   string `yaml:"url"`
		Token string `yaml:"token" secret:"true"`
	}
	type Site struct {
		Name    string   `yaml:"name"`
		Origins []Origin `yaml:"origins"`
	}
	type Config struct {
		MaxMemory int64         `yaml:"max_memory" unit:"bytes"`
		MaxTTL    time.Duration `yaml:"max_ttl"`
		Sites     []Site        `yaml:"sites"`
	}

	doc := `max_memory: 512MiB
max_ttl: 30
sites:
  - name: static
    origins:
      - url: https://origin.example.com
        tokn: s3cr3t
`
	var cfg Config
	if err := confload.Decode([]byte(doc), &cfg); err != nil {
		fmt.Println(err)
	}
	// Output:
	// max_ttl (line 2): want a duration such as "30s", got the bare number 30; add a unit (ns, us, ms, s, m, h)
	// sites[0].origins[0].tokn (line 7): unknown field "tokn" (did you mean "token"?)
}

func ExampleEncodeRedacted() {
	type Origin struct {
		URL   string `yaml:"url"`
		Token string `yaml:"token" secret:"true"`
	}
	type Config struct {
		MaxMemory int64         `yaml:"max_memory" unit:"bytes"`
		MaxTTL    time.Duration `yaml:"max_ttl"`
		Origins   []Origin      `yaml:"origins"`
	}
	cfg := Config{
		MaxMemory: 512 << 20,
		MaxTTL:    90 * time.Minute,
		Origins:   []Origin{{URL: "https://origin.example.com", Token: "s3cr3t"}},
	}
	out, err := confload.EncodeRedacted(cfg)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// max_memory: 512MiB
	// max_ttl: 1h30m
	// origins:
	//   - url: https://origin.example.com
	//     token: <redacted>
}

func ExamplePrefix() {
	// What cache.Config.Validate might return.
	validate := func() error {
		return fmt.Errorf("max_memory: must be at least 1MiB, got %s", confload.FormatSize(4096))
	}
	fmt.Println(confload.Prefix("cache", validate()))
	// Output:
	// cache.max_memory: must be at least 1MiB, got 4KiB
}
