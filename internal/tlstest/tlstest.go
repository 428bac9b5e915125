// Package tlstest makes throwaway certificates for TLS tests at run time: a
// certificate authority, a server certificate for 127.0.0.1 and localhost
// signed by it, a client certificate signed by it, a second CA that trusts
// nothing of the first, a client certificate from that second CA, and a
// server certificate from the first CA for a host name nobody dials.
//
// Everything is written as PEM into a t.TempDir(), so a RabbitMQ node started
// by internal/brokertest can read the same files the Go side uses.
//
// Keys are ECDSA P-256 in SEC 1 form ("EC PRIVATE KEY"), which both Go's
// crypto/tls and Erlang's ssl read; they are fast to make even under -race.
package tlstest

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
	"os"
	"path/filepath"
	"testing"
	"time"
)

// WrongName is the only DNS name in the wrong-name server certificate.
const WrongName = "wrong-name.servicebus.invalid"

// ServerName is a DNS name in the good server certificate besides 127.0.0.1
// and localhost.
const ServerName = "localhost"

// Files are the paths of the PEM files one Generate call wrote.
type Files struct {
	Dir string

	// CACertFile is the authority that signed the server, client and
	// wrong-name certificates.
	CACertFile string
	// ServerCertFile/ServerKeyFile: for 127.0.0.1, ::1 and localhost.
	ServerCertFile string
	ServerKeyFile  string
	// ClientCertFile/ClientKeyFile: a client certificate (mutual TLS).
	ClientCertFile string
	ClientKeyFile  string

	// OtherCACertFile is an authority unrelated to CACertFile.
	OtherCACertFile string
	// OtherClientCertFile/OtherClientKeyFile: a client certificate signed
	// by the other CA, which a broker trusting CACertFile must refuse.
	OtherClientCertFile string
	OtherClientKeyFile  string

	// WrongNameCertFile/WrongNameKeyFile: signed by CACertFile but only
	// for WrongName, so a client dialing 127.0.0.1 must refuse it.
	WrongNameCertFile string
	WrongNameKeyFile  string
}

// Generate makes all certificates and writes them under a new t.TempDir().
// It fails the test on any error.
func Generate(t testing.TB) *Files {
	t.Helper()
	dir := t.TempDir()
	f, err := GenerateInto(dir)
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	return f
}

// GenerateInto is Generate for callers without a testing.TB (a TestMain):
// it writes into dir, which must exist.
func GenerateInto(dir string) (*Files, error) {
	f := &Files{
		Dir:                 dir,
		CACertFile:          filepath.Join(dir, "ca.pem"),
		ServerCertFile:      filepath.Join(dir, "server.pem"),
		ServerKeyFile:       filepath.Join(dir, "server-key.pem"),
		ClientCertFile:      filepath.Join(dir, "client.pem"),
		ClientKeyFile:       filepath.Join(dir, "client-key.pem"),
		OtherCACertFile:     filepath.Join(dir, "other-ca.pem"),
		OtherClientCertFile: filepath.Join(dir, "other-client.pem"),
		OtherClientKeyFile:  filepath.Join(dir, "other-client-key.pem"),
		WrongNameCertFile:   filepath.Join(dir, "wrong-name.pem"),
		WrongNameKeyFile:    filepath.Join(dir, "wrong-name-key.pem"),
	}
	ca, err := newCA("servicebus test CA")
	if err != nil {
		return nil, err
	}
	other, err := newCA("servicebus unrelated test CA")
	if err != nil {
		return nil, err
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	steps := []struct {
		issuer   *authority
		leaf     leafSpec
		certFile string
		keyFile  string
	}{
		{ca, leafSpec{cn: "127.0.0.1", dns: []string{ServerName}, ips: loopback, server: true}, f.ServerCertFile, f.ServerKeyFile},
		{ca, leafSpec{cn: "servicebus-client", client: true}, f.ClientCertFile, f.ClientKeyFile},
		{other, leafSpec{cn: "servicebus-stranger", client: true}, f.OtherClientCertFile, f.OtherClientKeyFile},
		{ca, leafSpec{cn: WrongName, dns: []string{WrongName}, server: true}, f.WrongNameCertFile, f.WrongNameKeyFile},
	}
	if err := writePEM(f.CACertFile, "CERTIFICATE", ca.der, 0o644); err != nil {
		return nil, err
	}
	if err := writePEM(f.OtherCACertFile, "CERTIFICATE", other.der, 0o644); err != nil {
		return nil, err
	}
	for _, s := range steps {
		der, key, err := s.issuer.sign(s.leaf)
		if err != nil {
			return nil, err
		}
		if err := writePEM(s.certFile, "CERTIFICATE", der, 0o644); err != nil {
			return nil, err
		}
		if err := writePEM(s.keyFile, "EC PRIVATE KEY", key, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// ClientConfig is a verifying client config: roots = caFile, the client
// certificate when certFile is not empty, and serverName (empty: taken from
// the dialed host).
func ClientConfig(t testing.TB, caFile, certFile, keyFile, serverName string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("tlstest: no certificate in %s", caFile)
	}
	c := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("tlstest: %v", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

// MutualConfig is the client config that a broker serving ServerCertFile and
// demanding a CACertFile-signed client certificate accepts.
func (f *Files) MutualConfig(t testing.TB) *tls.Config {
	t.Helper()
	return ClientConfig(t, f.CACertFile, f.ClientCertFile, f.ClientKeyFile, "")
}

type authority struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

type leafSpec struct {
	cn     string
	dns    []string
	ips    []net.IP
	server bool
	client bool
}

func newCA(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"servicebus tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, der: der, key: key}, nil
}

// sign makes a leaf key and certificate; it returns the certificate DER and
// the key in SEC 1 DER.
func (a *authority) sign(s leafSpec) (certDER, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	var usage []x509.ExtKeyUsage
	if s.server {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	if s.client {
		usage = append(usage, x509.ExtKeyUsageClientAuth)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: s.cn, Organization: []string{"servicebus tests"}},
		DNSNames:              s.dns,
		IPAddresses:           s.ips,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           usage,
		BasicConstraintsValid: true,
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err = x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certDER, keyDER, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}
