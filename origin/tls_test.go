package origin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/origin/origintest"
)

func startTLSOrigin(t *testing.T, opts origintest.TLSOptions) *origintest.Server {
	t.Helper()
	s := origintest.NewTLS(t, opts)
	s.HandleFallback(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	return s
}

// tlsGet sends one GET through a one-origin pool built on cfg (probes
// off) and returns the protocol of the answer.
func tlsGet(t *testing.T, cfg Config) (proto int, err error) {
	t.Helper()
	pol := noProbes()
	pol.Retry.Disabled = true
	p := newTestPool(t, pol, []Config{cfg})
	req, _ := http.NewRequest(http.MethodGet, "http://"+testSite+"/obj", nil)
	resp, err := p.Do(t.Context(), req, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		return 0, errors.Join(err, errors.New("body "+string(b)))
	}
	return resp.ProtoMajor, nil
}

func TestTLS(t *testing.T) {
	h2 := startTLSOrigin(t, origintest.TLSOptions{HTTP2: true})
	h1 := startTLSOrigin(t, origintest.TLSOptions{})
	mtls := startTLSOrigin(t, origintest.TLSOptions{HTTP2: true, RequireClientCert: true})
	other := startTLSOrigin(t, origintest.TLSOptions{}) // another CA

	for _, c := range []struct {
		name      string
		cfg       Config
		wantProto int                // 0: want an error
		wantErr   func(error) bool   // checked when wantProto is 0
		srv       *origintest.Server // for Protos
	}{
		{name: "h2 with ca_file", cfg: Config{URL: h2.URL, TLS: TLSConfig{CAFile: h2.CAFile}}, wantProto: 2, srv: h2},
		{name: "http/1.1 only origin", cfg: Config{URL: h1.URL, TLS: TLSConfig{CAFile: h1.CAFile}}, wantProto: 1, srv: h1},
		{name: "no ca_file: unknown authority", cfg: Config{URL: h2.URL}, wantErr: isUnknownAuthority},
		{name: "wrong CA", cfg: Config{URL: h2.URL, TLS: TLSConfig{CAFile: other.CAFile}}, wantErr: isUnknownAuthority},
		{name: "insecure_skip_verify", cfg: Config{URL: h2.URL, TLS: TLSConfig{InsecureSkipVerify: true}}, wantProto: 2},
		{name: "server_name matches", cfg: Config{URL: h2.URL, TLS: TLSConfig{CAFile: h2.CAFile, ServerName: origintest.ServerName}}, wantProto: 2},
		{name: "server_name wrong", cfg: Config{URL: h2.URL, TLS: TLSConfig{CAFile: h2.CAFile, ServerName: "other.test"}},
			wantErr: func(err error) bool {
				var he x509.HostnameError
				return errors.As(err, &he)
			}},
		{name: "client cert required, none sent", cfg: Config{URL: mtls.URL, TLS: TLSConfig{CAFile: mtls.CAFile}},
			// The server's alert ("certificate required") or, when it has
			// already closed, a reset.
			wantErr: func(error) bool { return true }},
		{name: "client cert", cfg: Config{URL: mtls.URL, TLS: TLSConfig{CAFile: mtls.CAFile, CertFile: mtls.ClientCertFile, KeyFile: mtls.ClientKeyFile}}, wantProto: 2, srv: mtls},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := 0
			if c.srv != nil {
				before = c.srv.Protos()[protoName(c.wantProto)]
			}
			proto, err := tlsGet(t, c.cfg)
			if c.wantProto == 0 {
				if err == nil {
					t.Fatal("request succeeded, want a TLS error")
				}
				if !c.wantErr(err) {
					t.Errorf("err %v: not the expected kind", err)
				}
				if IsConnect(err) || IsUnavailable(err) {
					t.Errorf("a TLS failure reported as a connect error/unavailable: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if proto != c.wantProto {
				t.Errorf("HTTP/%d, want HTTP/%d", proto, c.wantProto)
			}
			if c.srv != nil && c.srv.Protos()[protoName(c.wantProto)] != before+1 {
				t.Errorf("origin saw %v", c.srv.Protos())
			}
		})
	}
}

func protoName(major int) string {
	if major == 2 {
		return "HTTP/2.0"
	}
	return "HTTP/1.1"
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &cv)
}

// Probes and requests share the origin's pool: over HTTP/2 one connection
// carries them all, and the probes see the origin up.
func TestTLSProbesHTTP2(t *testing.T) {
	o := startTLSOrigin(t, origintest.TLSOptions{HTTP2: true})
	p := newTestPool(t, probePolicy(20*time.Millisecond), []Config{{URL: o.URL, TLS: TLSConfig{CAFile: o.CAFile, ServerName: origintest.ServerName}}})
	p.Start(context.Background())
	waitProbes(t, p, 3)
	mustGet(t, p, "/obj", 20)
	if got := o.Protos(); got["HTTP/1.1"] != 0 || got["HTTP/2.0"] < 23 {
		t.Errorf("protocols %v, want HTTP/2 only", got)
	}
	if got := o.Conns(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
	if got := o.Last("/probe"); got == nil || got.Host != strings.TrimPrefix(o.URL, "https://") || got.Header.Get("User-Agent") != "edgecdn-probe" {
		t.Errorf("probe request %+v", got)
	}
}

// A bad ca_file is a config error naming the field, from Validate and
// from NewPool.
func TestTLSConfigErrors(t *testing.T) {
	c := Config{URL: "https://127.0.0.1:8443", TLS: TLSConfig{CAFile: t.TempDir() + "/missing.pem"}}
	c.SetDefaults()
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "tls.ca_file: ") {
		t.Errorf("Validate: %v, want tls.ca_file: ...", err)
	}
	_, err := NewPool(testSite, PolicyConfig{}, []Config{{URL: "http://a.test"}, c})
	if err == nil || !strings.Contains(err.Error(), "origins[1].tls.ca_file: ") {
		t.Errorf("NewPool: %v", err)
	}
}
