// Package dashboardtest loads the dashboard in headless Chromium for
// tests, and reads the values it shows: every element carrying a
// data-field attribute (and, for per-region values, data-region).
//
// Chromium is run by its command line (--dump-dom and --screenshot with a
// virtual time budget), so no browser driver or Go module is needed. Tests
// skip when Chromium is not installed (at /usr/bin/chromium, or the path
// in EDGECDN_CHROMIUM) and in -short mode.
package dashboardtest

import (
	"bytes"
	"context"
	"html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultChromium is where Debian's chromium package puts the browser.
const DefaultChromium = "/usr/bin/chromium"

// Chromium returns the path of the Chromium binary, or skips the test:
// in -short mode, and when it is not installed.
func Chromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("dashboardtest: headless Chromium tests do not run in -short mode")
	}
	path := os.Getenv("EDGECDN_CHROMIUM")
	if path == "" {
		path = DefaultChromium
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Skipf("dashboardtest: Chromium not found at %s (apt-get install -y chromium, or set EDGECDN_CHROMIUM): %v", path, err)
	}
	return path
}

// ArtefactPath returns the path of a test artefact called name: in the
// folder EDGECDN_ARTEFACTS names when that is set (created if needed),
// else in a temporary folder of the test.
func ArtefactPath(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("EDGECDN_ARTEFACTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("dashboardtest: artefacts: %v", err)
	}
	return filepath.Join(dir, name)
}

// Options tune Load. The zero value is a 1366×900 window and a virtual
// time budget of 5 s.
type Options struct {
	// Width and Height of the window in CSS pixels; 1366 and 900 if zero.
	Width, Height int
	// Budget is the virtual time the page gets to run its scripts (fetch
	// and render) before the DOM is dumped; 5s if zero.
	Budget time.Duration
	// Timeout bounds the whole Chromium run in real time; 60s if zero.
	// Chromium and its children are killed when it passes.
	Timeout time.Duration
}

// Page is a page as headless Chromium rendered it.
type Page struct {
	// DOM is the serialised DOM after the scripts ran.
	DOM string
	// Screenshot is the path of the PNG of the window.
	Screenshot string
	// Log is what Chromium wrote to stderr, console messages included.
	Log string
}

// Load renders url in a fresh headless Chromium with an empty profile,
// writes a screenshot to screenshot and returns the page. Fatal when
// Chromium fails or writes no DOM.
func Load(t testing.TB, url, screenshot string, o Options) *Page {
	t.Helper()
	bin := Chromium(t)
	if o.Width == 0 {
		o.Width = 1366
	}
	if o.Height == 0 {
		o.Height = 900
	}
	if o.Budget == 0 {
		o.Budget = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	// Not t.TempDir: Chromium's helpers may still be writing to the
	// profile for a moment after it exits, and a failed clean-up there
	// would fail the test.
	profile, err := os.MkdirTemp("", "dashboardtest-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile,
		"--enable-logging=stderr", "--v=0",
		"--hide-scrollbars",
		"--window-size="+strconv.Itoa(o.Width)+","+strconv.Itoa(o.Height),
		"--virtual-time-budget="+strconv.FormatInt(o.Budget.Milliseconds(), 10),
		"--dump-dom",
		"--screenshot="+screenshot,
		url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ownGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	p := &Page{DOM: stdout.String(), Screenshot: screenshot, Log: stderr.String()}
	if err != nil || ctx.Err() != nil {
		t.Fatalf("dashboardtest: chromium %s after %v: %v (ctx %v)\n%s", url, time.Since(start).Round(time.Millisecond), err, ctx.Err(), tail(p.Log, 40))
	}
	if !strings.Contains(p.DOM, "<html") {
		t.Fatalf("dashboardtest: chromium wrote no DOM for %s\n%s", url, tail(p.Log, 40))
	}
	if _, err := os.Stat(screenshot); err != nil {
		t.Fatalf("dashboardtest: no screenshot: %v\n%s", err, tail(p.Log, 40))
	}
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var consoleRE = regexp.MustCompile(`(?m):CONSOLE[^\]]*\] (.*)$`)

// Console returns the messages the page left on the browser console:
// its own, uncaught exceptions, failed loads and refusals by the content
// security policy alike (Chromium logs them all at one level). The
// dashboard writes nothing to the console, so any message is a fault.
func (p *Page) Console() []string {
	var out []string
	for _, m := range consoleRE.FindAllStringSubmatch(p.Log, -1) {
		out = append(out, m[1])
	}
	return out
}

// Field is an element of the page that carries a data-field attribute.
type Field struct {
	Region string // data-region, "" when absent
	Name   string // data-field
	Text   string // text content, tags stripped, entities decoded, spaces collapsed
	Attrs  map[string]string
}

var (
	startTagRE = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9]*)(\s[^>]*\bdata-field="[^"]*"[^>]*)>`)
	attrRE     = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?`)
	tagRE      = regexp.MustCompile(`<[^>]*>`)
)

// Fields returns every element with a data-field attribute, in document
// order. It reads the serialised DOM with regular expressions, which is
// enough for the dashboard's own markup (an element with a data-field
// holds no element of its own kind).
func (p *Page) Fields() []Field {
	var out []Field
	for _, m := range startTagRE.FindAllStringSubmatchIndex(p.DOM, -1) {
		tag := p.DOM[m[2]:m[3]]
		f := Field{Attrs: map[string]string{}}
		for _, a := range attrRE.FindAllStringSubmatch(p.DOM[m[4]:m[5]], -1) {
			f.Attrs[a[1]] = html.UnescapeString(a[2])
		}
		f.Region, f.Name = f.Attrs["data-region"], f.Attrs["data-field"]
		rest := p.DOM[m[1]:]
		if end := strings.Index(rest, "</"+tag+">"); end >= 0 {
			rest = rest[:end]
		}
		f.Text = strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(rest, " "))), " ")
		out = append(out, f)
	}
	return out
}

// Cells returns the per-region fields: text by region, then field.
func (p *Page) Cells() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, f := range p.Fields() {
		if f.Region == "" {
			continue
		}
		if out[f.Region] == nil {
			out[f.Region] = map[string]string{}
		}
		out[f.Region][f.Name] = f.Text
	}
	return out
}

// RootAttr returns an attribute of the <html> element.
func (p *Page) RootAttr(name string) (string, bool) {
	m := regexp.MustCompile(`<html\b[^>]*>`).FindString(p.DOM)
	for _, a := range attrRE.FindAllStringSubmatch(m, -1) {
		if a[1] == name {
			return html.UnescapeString(a[2]), true
		}
	}
	return "", false
}

var numberRE = regexp.MustCompile(`-?\d[\d,]*(?:\.(\d+))?`)

// Number reads the first number of a displayed value ("1,234 req",
// "0.052 ms", "97.5 %") and returns it with the rounding of the display:
// half a unit of its last digit. ok is false when there is no number
// (the page shows "—" for no data).
func Number(s string) (v, tolerance float64, ok bool) {
	m := numberRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(m[0], ",", ""), 64)
	if err != nil {
		return 0, 0, false
	}
	return v, 0.5 * math.Pow(10, -float64(len(m[1]))), true
}
