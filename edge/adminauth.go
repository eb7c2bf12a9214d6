package edge

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Admin scopes.
const (
	scopeRead  = "read"
	scopePurge = "purge"
	scopeAdmin = "admin"
)

var allScopes = []string{scopeRead, scopePurge, scopeAdmin}

// minTokenLen is the shortest token accepted.
const minTokenLen = 16

func (a *AdminConfig) validate() []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("admin.%s: %s", path, fmt.Sprintf(format, args...)))
	}
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		add("listen", "%q is not host:port", a.Listen)
	} else if !isLoopbackHost(host) && len(a.Tokens) == 0 && (a.TLS == nil || a.TLS.ClientCAFile == "") {
		add("listen", "%q is not a loopback address: configure admin.tokens or admin.tls.client_ca_file first, the API must not be open to the network", a.Listen)
	}
	names := map[string]bool{}
	for i, t := range a.Tokens {
		p := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" {
			add(p+".name", "required (it names the token in the audit log)")
		} else if names[t.Name] {
			add(p+".name", "%q is used twice", t.Name)
		}
		names[t.Name] = true
		switch {
		case t.Token != "" && t.TokenFile != "":
			add(p, "set token or token_file, not both")
		case t.Token == "" && t.TokenFile == "":
			add(p+".token", "required (or token_file)")
		case t.Token != "" && len(t.Token) < minTokenLen:
			add(p+".token", "must be at least %d characters", minTokenLen)
		case t.TokenFile != "":
			if _, err := readTokenFile(t.TokenFile); err != nil {
				add(p+".token_file", "%v", err)
			}
		}
		if len(t.Scopes) == 0 {
			add(p+".scopes", "required: some of read, purge, admin")
		}
		for j, s := range t.Scopes {
			if !slices.Contains(allScopes, s) {
				add(fmt.Sprintf("%s.scopes[%d]", p, j), "%q is not read, purge or admin", s)
			}
		}
	}
	if a.TLS != nil {
		if a.TLS.CertFile == "" || a.TLS.KeyFile == "" {
			add("tls", "cert_file and key_file are required")
		} else if _, err := tls.LoadX509KeyPair(a.TLS.CertFile, a.TLS.KeyFile); err != nil {
			add("tls.cert_file", "%v", err)
		}
		if a.TLS.ClientCAFile != "" {
			if _, err := loadCAPool(a.TLS.ClientCAFile); err != nil {
				add("tls.client_ca_file", "%v", err)
			}
		}
	}
	if a.AuditLog != "" && !strings.HasPrefix(a.AuditLog, "/") {
		add("audit_log", "%q must be an absolute path", a.AuditLog)
	}
	if a.PurgeRate <= 0 || a.PurgeRate > 100000 {
		add("purge_rate", "must be above 0 and at most 100000, got %g", a.PurgeRate)
	}
	if a.MaxPurgeSelectors < 1 || a.MaxPurgeSelectors > 1000000 {
		add("max_purge_selectors", "must be 1-1000000, got %d", a.MaxPurgeSelectors)
	}
	return errs
}

func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if len(t) < minTokenLen {
		return "", fmt.Errorf("%s: the token must be at least %d characters", path, minTokenLen)
	}
	return t, nil
}

func loadCAPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// adminTLSConfig builds the admin listener's TLS config (nil without TLS).
func adminTLSConfig(a *AdminConfig) (*tls.Config, error) {
	if a.TLS == nil {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(a.TLS.CertFile, a.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("admin.tls: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if a.TLS.ClientCAFile != "" {
		pool, err := loadCAPool(a.TLS.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("admin.tls.client_ca_file: %w", err)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// credential is a resolved token.
type credential struct {
	name   string
	token  []byte
	scopes []string
}

// authority checks admin requests against the configured tokens.
type authority struct {
	mu    sync.RWMutex
	creds []credential
	open  bool // no tokens: loopback (or mTLS) clients may do everything
}

// load resolves the tokens of a (token files are read now).
func (au *authority) load(a *AdminConfig) error {
	var creds []credential
	for i, t := range a.Tokens {
		tok := t.Token
		if t.TokenFile != "" {
			var err error
			if tok, err = readTokenFile(t.TokenFile); err != nil {
				return fmt.Errorf("admin.tokens[%d].token_file: %w", i, err)
			}
		}
		creds = append(creds, credential{name: t.Name, token: []byte(tok), scopes: t.Scopes})
	}
	au.mu.Lock()
	au.creds, au.open = creds, len(creds) == 0
	au.mu.Unlock()
	return nil
}

// errUnauthorized and errForbidden are the two refusals.
var (
	errUnauthorized = errors.New("missing or unknown bearer token")
	errForbidden    = errors.New("the token lacks the scope")
)

// authenticate returns who is asking, or why not. Without tokens, a
// client that reached the listener is trusted: the listener is loopback
// or demands a client certificate (Validate enforces one of the two).
func (au *authority) authenticate(r *http.Request, scope string) (who string, err error) {
	au.mu.RLock()
	defer au.mu.RUnlock()
	if au.open {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			return "cert:" + r.TLS.PeerCertificates[0].Subject.CommonName, nil
		}
		return "local", nil
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", errUnauthorized
	}
	var found *credential
	for i := range au.creds { // every token compared, in constant time each
		if subtle.ConstantTimeCompare(au.creds[i].token, []byte(tok)) == 1 {
			found = &au.creds[i]
		}
	}
	if found == nil {
		return "", errUnauthorized
	}
	if !slices.Contains(found.scopes, scope) && !slices.Contains(found.scopes, scopeAdmin) {
		return found.name, fmt.Errorf("%w %q", errForbidden, scope)
	}
	return found.name, nil
}

// rateLimiter is a token bucket.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (l *rateLimiter) setRate(r float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate == 0 {
		l.tokens = 2 * r
	}
	l.rate, l.burst = r, 2*r
}

// allow takes one token, or reports how long until one is available.
func (l *rateLimiter) allow(now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true, 0
	}
	return false, time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
}
