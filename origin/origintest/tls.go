package origintest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSOptions configures an origin made by [NewTLS].
type TLSOptions struct {
	// HTTP2 offers "h2" before "http/1.1" in ALPN, so clients that can
	// speak HTTP/2 do. False serves HTTP/1.1 only.
	HTTP2 bool
	// RequireClientCert makes the origin demand a client certificate signed
	// by its CA (tls.RequireAndVerifyClientCert) and writes one for the test
	// to ClientCertFile and ClientKeyFile.
	RequireClientCert bool
}

// ServerName is the DNS name in the server certificate of a TLS origin,
// besides the IP address 127.0.0.1.
const ServerName = "origin.test"

type tlsSetup struct {
	config    *tls.Config
	protocols *http.Protocols
}

// NewTLS starts an HTTPS origin on 127.0.0.1 and closes it when the test
// ends. It makes a fresh CA (ECDSA P-256, valid from an hour ago for 24
// hours) and a server certificate it signs for [ServerName] and 127.0.0.1,
// and writes the CA certificate to CAFile for clients to trust. Kill, Revive
// and the other controls work as with [New]; the certificates stay the same
// across Revive.
func NewTLS(t testing.TB, opts TLSOptions) *Server {
	t.Helper()
	pki := NewPKI(t)
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pki.Server},
		NextProtos:   []string{"http/1.1"},
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if opts.HTTP2 {
		protocols.SetHTTP2(true)
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	var certFile, keyFile string
	if opts.RequireClientCert {
		cfg.ClientCAs = pki.Pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		certFile, keyFile = pki.ClientCertFile, pki.ClientKeyFile
	}
	s := newServer(t, &tlsSetup{config: cfg, protocols: protocols})
	s.CAFile, s.ClientCertFile, s.ClientKeyFile = pki.CAFile, certFile, keyFile
	return s
}

// PKI is a test CA with a server certificate it signed (for [ServerName]
// and 127.0.0.1) and a client certificate, as PEM files in a temporary
// directory and as loaded values.
type PKI struct {
	// CAFile, ServerCertFile (with the CA in the chain), ServerKeyFile,
	// ClientCertFile and ClientKeyFile are the PEM files.
	CAFile, ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile string
	// Pool holds the CA; Server and Client are the key pairs.
	Pool           *x509.CertPool
	Server, Client tls.Certificate
}

// NewPKI makes a fresh CA (ECDSA P-256, valid from an hour ago for 24
// hours) and the server and client certificates it signs.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	notBefore := time.Now().Add(-time.Hour)
	ca, caKey := newCert(t, nil, nil, notBefore, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "origintest CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	})
	srv, srvKey := newCert(t, ca, caKey, notBefore, &x509.Certificate{
		Subject:     pkix.Name{CommonName: ServerName},
		DNSNames:    []string{ServerName},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	cli, cliKey := newCert(t, ca, caKey, notBefore, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "origintest client"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p := &PKI{
		CAFile: filepath.Join(dir, "ca.pem"), ServerCertFile: filepath.Join(dir, "server.pem"),
		ServerKeyFile: filepath.Join(dir, "server-key.pem"), ClientCertFile: filepath.Join(dir, "client.pem"),
		ClientKeyFile: filepath.Join(dir, "client-key.pem"), Pool: x509.NewCertPool(),
		Server: tls.Certificate{Certificate: [][]byte{srv.Raw, ca.Raw}, PrivateKey: srvKey, Leaf: srv},
		Client: tls.Certificate{Certificate: [][]byte{cli.Raw}, PrivateKey: cliKey, Leaf: cli},
	}
	p.Pool.AddCert(ca)
	writePEM(t, p.CAFile, "CERTIFICATE", ca.Raw)
	writePEM(t, p.ServerCertFile, "CERTIFICATE", srv.Raw, ca.Raw)
	writePEM(t, p.ServerKeyFile, "PRIVATE KEY", pkcs8(t, srvKey))
	writePEM(t, p.ClientCertFile, "CERTIFICATE", cli.Raw)
	writePEM(t, p.ClientKeyFile, "PRIVATE KEY", pkcs8(t, cliKey))
	return p
}

func pkcs8(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("origintest: key: %v", err)
	}
	return der
}

// newCert fills in tmpl's serial number and validity, gives it a fresh
// P-256 key and signs it with parent (self-signed when parent is nil).
func newCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notBefore time.Time, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("origintest: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("origintest: serial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = notBefore
	tmpl.NotAfter = notBefore.Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("origintest: certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("origintest: certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	return cert, key
}

// writePEM writes the DER blocks to path as PEM blocks of type typ.
func writePEM(t testing.TB, path, typ string, ders ...[]byte) {
	t.Helper()
	var b []byte
	for _, der := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("origintest: %v", err)
	}
}
