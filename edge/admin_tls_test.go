package edge_test

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/edgecdn/edgecdn/edge/edgetest"
	"github.com/edgecdn/edgecdn/origin/origintest"
)

// With admin.tls and a client CA, the API answers only clients with a
// certificate that CA signed.
func TestAdminMutualTLS(t *testing.T) {
	o, _ := taggedOrigin(t)
	p := origintest.NewPKI(t)
	n := edgetest.Start(t, edgetest.SiteConfig(o.URL)+"admin:\n  tls: {cert_file: "+p.ServerCertFile+", key_file: "+p.ServerKeyFile+
		", client_ca_file: "+p.CAFile+"}\n")
	url := "https://" + n.AdminAddr() + "/status"
	with := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}}}}
	resp, err := with.Get(url)
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with a client certificate: %d", resp.StatusCode)
	}
	without := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}}}
	if resp, err := without.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("without a client certificate: %d, want a TLS failure", resp.StatusCode)
	}
}
