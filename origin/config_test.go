package origin

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPolicyDefaults(t *testing.T) {
	var c PolicyConfig
	c.SetDefaults()
	want := PolicyConfig{
		Selection: LowestLatency,
		Probe: ProbeConfig{Path: "/", Interval: 500 * time.Millisecond, FastInterval: 50 * time.Millisecond, Jitter: ptr(0.2),
			Timeout: 500 * time.Millisecond, ExpectStatus: "200-399", Rise: 2, Fall: 3, Alpha: 0.3},
		SwitchRatio: 0.8, SwitchMin: ptr(5 * time.Millisecond),
		Breaker: BreakerConfig{Failures: 5, OpenFor: 10 * time.Second, Trials: 1},
		Retry:   RetryConfig{Budget: ptr(0.1), MinPerSecond: ptr(10)},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}

	// A short interval caps the default timeout and fast interval.
	c = PolicyConfig{Probe: ProbeConfig{Interval: 30 * time.Millisecond}}
	c.SetDefaults()
	if c.Probe.Timeout != 30*time.Millisecond || c.Probe.FastInterval != 30*time.Millisecond {
		t.Errorf("timeout %v, fast interval %v with a 30ms interval", c.Probe.Timeout, c.Probe.FastInterval)
	}
	// A long interval gets the 2s timeout.
	c = PolicyConfig{Probe: ProbeConfig{Interval: 5 * time.Second}}
	c.SetDefaults()
	if c.Probe.Timeout != 2*time.Second {
		t.Errorf("timeout %v with a 5s interval", c.Probe.Timeout)
	}
	// Set fields are kept.
	c = PolicyConfig{Selection: ConsistentHash, Probe: ProbeConfig{Path: "/health", Rise: 1, Fall: 1, ExpectStatus: "204"},
		Breaker: BreakerConfig{Failures: -1}}
	c.SetDefaults()
	if c.Selection != ConsistentHash || c.Probe.Path != "/health" || c.Probe.Rise != 1 || c.Probe.Fall != 1 ||
		c.Probe.ExpectStatus != "204" || c.Breaker.Failures != -1 {
		t.Errorf("set fields overwritten: %+v", c)
	}
}

// Validate names the field of every problem; rows start from the defaults.
func TestPolicyValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*PolicyConfig)
		want string // substring; "" = valid
	}{
		{"defaults", func(*PolicyConfig) {}, ""},
		{"consistent-hash", func(c *PolicyConfig) { c.Selection = ConsistentHash }, ""},
		{"selection", func(c *PolicyConfig) { c.Selection = "round-robin" }, `selection: "round-robin" is not lowest-latency or consistent-hash`},
		{"path relative", func(c *PolicyConfig) { c.Probe.Path = "health" }, "probe.path:"},
		{"path space", func(c *PolicyConfig) { c.Probe.Path = "/a b" }, "probe.path:"},
		{"path fragment", func(c *PolicyConfig) { c.Probe.Path = "/a#b" }, "probe.path:"},
		{"path query ok", func(c *PolicyConfig) { c.Probe.Path = "/health?deep=1" }, ""},
		{"probe host", func(c *PolicyConfig) { c.Probe.Host = "a/b" }, "probe.host:"},
		{"interval", func(c *PolicyConfig) { c.Probe.Interval = 5 * time.Millisecond; c.Probe.Timeout = time.Millisecond }, "probe.interval: must be at least 10ms"},
		{"timeout zero", func(c *PolicyConfig) { c.Probe.Timeout = 0 }, "probe.timeout:"},
		{"timeout over interval", func(c *PolicyConfig) { c.Probe.Timeout = 6 * time.Second }, "probe.timeout: must be 1ms-interval (500ms), got 6s"},
		{"fast interval over interval", func(c *PolicyConfig) { c.Probe.FastInterval = time.Second }, "probe.fast_interval: must be 10ms-interval (500ms), got 1s"},
		{"jitter high", func(c *PolicyConfig) { c.Probe.Jitter = ptr(0.6) }, "probe.jitter:"},
		{"jitter negative", func(c *PolicyConfig) { c.Probe.Jitter = ptr(-0.1) }, "probe.jitter:"},
		{"expect_status word", func(c *PolicyConfig) { c.Probe.ExpectStatus = "ok" }, "probe.expect_status:"},
		{"expect_status 600", func(c *PolicyConfig) { c.Probe.ExpectStatus = "200-600" }, "probe.expect_status:"},
		{"expect_status reversed", func(c *PolicyConfig) { c.Probe.ExpectStatus = "399-200" }, "probe.expect_status:"},
		{"rise zero", func(c *PolicyConfig) { c.Probe.Rise = 0 }, "probe.rise:"},
		{"rise high", func(c *PolicyConfig) { c.Probe.Rise = 101 }, "probe.rise:"},
		{"fall zero", func(c *PolicyConfig) { c.Probe.Fall = 0 }, "probe.fall:"},
		{"fall high", func(c *PolicyConfig) { c.Probe.Fall = 101 }, "probe.fall:"},
		{"alpha low", func(c *PolicyConfig) { c.Probe.Alpha = 0.01 }, "probe.alpha:"},
		{"alpha high", func(c *PolicyConfig) { c.Probe.Alpha = 1.5 }, "probe.alpha:"},
		{"alpha 1", func(c *PolicyConfig) { c.Probe.Alpha = 1 }, ""},
		{"switch_ratio zero", func(c *PolicyConfig) { c.SwitchRatio = 0 }, "switch_ratio:"},
		{"switch_ratio high", func(c *PolicyConfig) { c.SwitchRatio = 1.5 }, "switch_ratio:"},
		{"switch_ratio 1", func(c *PolicyConfig) { c.SwitchRatio = 1 }, ""},
		{"switch_min", func(c *PolicyConfig) { c.SwitchMin = ptr(-time.Millisecond) }, "switch_min:"},
		{"breaker.failures low", func(c *PolicyConfig) { c.Breaker.Failures = -2 }, "breaker.failures:"},
		{"breaker.failures high", func(c *PolicyConfig) { c.Breaker.Failures = 10001 }, "breaker.failures:"},
		{"breaker disabled", func(c *PolicyConfig) { c.Breaker.Failures = -1 }, ""},
		{"breaker.open_for", func(c *PolicyConfig) { c.Breaker.OpenFor = 5 * time.Millisecond }, "breaker.open_for:"},
		{"breaker.trials zero", func(c *PolicyConfig) { c.Breaker.Trials = 0 }, "breaker.trials:"},
		{"breaker.trials high", func(c *PolicyConfig) { c.Breaker.Trials = 1001 }, "breaker.trials:"},
		{"retry.budget negative", func(c *PolicyConfig) { c.Retry.Budget = ptr(-0.1) }, "retry.budget:"},
		{"retry.budget high", func(c *PolicyConfig) { c.Retry.Budget = ptr(1.1) }, "retry.budget:"},
		{"retry.min_per_second", func(c *PolicyConfig) { c.Retry.MinPerSecond = ptr(-1) }, "retry.min_per_second:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pc PolicyConfig
			pc.SetDefaults()
			c.mod(&pc)
			err := pc.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("no error, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q, want %q", err, c.want)
			}
		})
	}
}

// Validate reports every problem at once, one line each.
func TestPolicyValidateReportsAll(t *testing.T) {
	pc := PolicyConfig{Selection: "x", Probe: ProbeConfig{Path: "x", Interval: time.Millisecond, Timeout: time.Hour,
		Jitter: ptr(1.0), ExpectStatus: "x", Alpha: 2}, SwitchRatio: 2, SwitchMin: ptr(time.Duration(-1)),
		Breaker: BreakerConfig{Failures: -5, Trials: -1}, Retry: RetryConfig{Budget: ptr(2.0), MinPerSecond: ptr(-1)}}
	err := pc.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	fields := []string{"selection", "probe.path", "probe.interval", "probe.fast_interval", "probe.timeout", "probe.jitter",
		"probe.expect_status", "probe.rise", "probe.fall", "probe.alpha", "switch_ratio", "switch_min",
		"breaker.failures", "breaker.open_for", "breaker.trials", "retry.budget", "retry.min_per_second"}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(fields) {
		t.Errorf("%d problems reported, want %d:\n%v", len(lines), len(fields), err)
	}
	for _, f := range fields {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, f+":")
		}
		if !found {
			t.Errorf("no line for %s in:\n%v", f, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{URL: "http://a.test"}
	c.SetDefaults()
	want := Config{URL: "http://a.test", ConnectTimeout: 3 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
		BodyIdleTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, MaxIdleConns: 128, MaxConns: 1024,
		TLSHandshakeTimeout: 5 * time.Second, Weight: 1}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config // defaults are filled in
		want string
	}{
		{"plain", Config{URL: "http://a.test:8080"}, ""},
		{"trailing slash", Config{URL: "https://a.test/"}, ""},
		{"ipv6", Config{URL: "http://[::1]:80"}, ""},
		{"url missing", Config{}, "url: required"},
		{"scheme", Config{URL: "ftp://a.test"}, "scheme must be http or https"},
		{"no scheme", Config{URL: "a.test"}, "url:"},
		{"path", Config{URL: "http://a.test/x"}, "a path, query or fragment is not supported"},
		{"query", Config{URL: "http://a.test?x"}, "a path, query or fragment"},
		{"userinfo", Config{URL: "http://u:p@a.test"}, "want scheme://host[:port]"},
		{"empty port", Config{URL: "http://a.test:"}, "empty port"},
		{"weight 1000", Config{URL: "http://a.test", Weight: 1000}, ""},
		{"weight high", Config{URL: "http://a.test", Weight: 1001}, "weight: must be 1-1000, got 1001"},
		{"weight negative", Config{URL: "http://a.test", Weight: -1}, "weight: must be 1-1000, got -1"},
		{"host_header", Config{URL: "http://a.test", HostHeader: "a b"}, "host_header:"},
		{"host_header ok", Config{URL: "http://a.test", HostHeader: "www.example.com:8080"}, ""},
		{"connect_timeout", Config{URL: "http://a.test", ConnectTimeout: time.Microsecond}, "connect_timeout: must be at least 1ms"},
		{"response_header_timeout", Config{URL: "http://a.test", ResponseHeaderTimeout: -time.Second}, "response_header_timeout:"},
		{"body_idle_timeout", Config{URL: "http://a.test", BodyIdleTimeout: time.Nanosecond}, "body_idle_timeout:"},
		{"idle_timeout", Config{URL: "http://a.test", IdleTimeout: -1}, "idle_timeout:"},
		{"tls_handshake_timeout", Config{URL: "http://a.test", TLSHandshakeTimeout: -1}, "tls_handshake_timeout:"},
		{"max_idle_conns negative", Config{URL: "http://a.test", MaxIdleConns: -1}, "max_idle_conns: must not be negative"},
		{"max_conns negative", Config{URL: "http://a.test", MaxConns: -1}, "max_conns: must be at least 1"},
		{"idle over max", Config{URL: "http://a.test", MaxConns: 10, MaxIdleConns: 20}, "max_idle_conns: 20 is more than max_conns (10)"},
		{"tls on http", Config{URL: "http://a.test", TLS: TLSConfig{InsecureSkipVerify: true}}, "tls: set for"},
		{"tls ca_file missing", Config{URL: "https://a.test", TLS: TLSConfig{CAFile: filepath.Join(dir, "nope.pem")}}, "tls.ca_file: open "},
		{"tls ca_file not PEM", Config{URL: "https://a.test", TLS: TLSConfig{CAFile: notPEM}}, "tls.ca_file: " + notPEM + " holds no PEM certificate"},
		{"tls cert without key", Config{URL: "https://a.test", TLS: TLSConfig{CertFile: notPEM}}, "tls: cert_file and key_file go together"},
		{"tls cert unreadable", Config{URL: "https://a.test", TLS: TLSConfig{CertFile: notPEM, KeyFile: notPEM}}, "tls.cert_file:"},
		{"tls server_name", Config{URL: "https://a.test", TLS: TLSConfig{ServerName: "a b"}}, "tls.server_name:"},
		{"tls server_name ok", Config{URL: "https://127.0.0.1:8443", TLS: TLSConfig{ServerName: "origin.test"}}, ""},
		{"tls insecure", Config{URL: "https://a.test", TLS: TLSConfig{InsecureSkipVerify: true}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.SetDefaults()
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("no error, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q, want %q", err, c.want)
			}
		})
	}
}

func TestNewPoolErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		policy PolicyConfig
		cfgs   []Config
		want   []string
	}{
		{"no origin", PolicyConfig{}, nil, []string{"origin: a site needs an origin"}},
		{"duplicate", PolicyConfig{}, []Config{{URL: "http://a.test"}, {URL: "http://b.test"}, {URL: "http://a.test"}},
			[]string{"origins[2].url: http://a.test is listed twice"}},
		{"duplicate spelled differently", PolicyConfig{}, []Config{{URL: "http://a.test"}, {URL: "HTTP://A.test:80/"}},
			[]string{"origins[1].url: HTTP://A.test:80/ is listed twice"}},
		{"all backups", PolicyConfig{}, []Config{{URL: "http://a.test", Backup: true}, {URL: "http://b.test", Backup: true}},
			[]string{"origins: every origin is a backup"}},
		{"policy", PolicyConfig{Selection: "random", Probe: ProbeConfig{Interval: time.Millisecond, Timeout: time.Millisecond}},
			[]Config{{URL: "http://a.test"}},
			[]string{"origin_policy.selection:", "origin_policy.probe.interval:"}},
		{"origin fields", PolicyConfig{}, []Config{{URL: "http://a.test"}, {URL: "gopher://b.test", Weight: 2000}},
			[]string{"origins[1].url:", "origins[1].weight: must be 1-1000"}},
		{"tls ca_file", PolicyConfig{}, []Config{{URL: "https://a.test", TLS: TLSConfig{CAFile: "/nonexistent/ca.pem"}}},
			[]string{"origins[0].tls.ca_file: open /nonexistent/ca.pem"}},
		{"everything at once", PolicyConfig{Breaker: BreakerConfig{Trials: 5000}},
			[]Config{{URL: "http://a.test", MaxConns: -3}, {URL: "http://b.test"}, {URL: "http://b.test"}},
			[]string{"origin_policy.breaker.trials:", "origins[0].max_conns:", "origins[2].url: http://b.test is listed twice"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewPool(testSite, c.policy, c.cfgs)
			if err == nil {
				p.Close()
				t.Fatalf("no error, want %q", c.want)
			}
			if p != nil {
				t.Error("a pool returned with the error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want %q", err, w)
				}
			}
		})
	}
}

// NewPool neither probes nor dials: an origin that does not exist is no
// error until traffic or probes reach it.
func TestNewPoolOpensNothing(t *testing.T) {
	p, err := NewPool(testSite, PolicyConfig{}, []Config{{URL: "http://127.0.0.1:1"}, {URL: "http://b.test", Backup: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Site() != testSite {
		t.Errorf("Site() = %q", p.Site())
	}
	snap := p.Snapshot()
	if len(snap) != 2 || snap[0].Origin != "http://127.0.0.1:1" || !snap[0].Selected || !snap[1].Backup || snap[1].Selected {
		t.Errorf("snapshot %+v", snap)
	}
	for _, s := range snap {
		if !s.Up || s.ProbesOK+s.ProbesFail != 0 || s.ConnectionsOpened != 0 || s.Breaker != "closed" || s.Weight != 1 {
			t.Errorf("fresh origin %+v", s)
		}
	}
}

func TestParseStatusRange(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"200", 200, 200, true},
		{"200-399", 200, 399, true},
		{" 200 - 204 ", 200, 204, true},
		{"100-599", 100, 599, true},
		{"99", 0, 0, false},
		{"600", 0, 0, false},
		{"399-200", 0, 0, false},
		{"200-", 0, 0, false},
		{"-200", 0, 0, false},
		{"", 0, 0, false},
		{"2xx", 0, 0, false},
		{"200-300-400", 0, 0, false},
	} {
		lo, hi, err := parseStatusRange(c.in)
		if (err == nil) != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("parseStatusRange(%q) = %d, %d, %v", c.in, lo, hi, err)
		}
	}
}

func TestCanonicalURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://a.test", "http://a.test:80"},
		{"http://a.test/", "http://a.test:80"},
		{"HTTP://A.Test:80", "http://a.test:80"},
		{"https://a.test", "https://a.test:443"},
		{"https://a.test:8443/", "https://a.test:8443"},
		{"http://[::1]", "http://[::1]:80"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"not a url", "not a url"},
	} {
		if got := CanonicalURL(c.in); got != c.want {
			t.Errorf("CanonicalURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if CanonicalURL("http://a.test") == CanonicalURL("https://a.test") || CanonicalURL("http://a.test:81") == CanonicalURL("http://a.test") {
		t.Error("different servers share a canonical URL")
	}
}
