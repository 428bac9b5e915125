package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// handshake runs one TLS handshake over an in-memory pipe between a server
// serving certFile/keyFile that demands a client certificate from
// f.CACertFile, and a client with config c. It returns the client's error and
// the server's error.
func handshake(t *testing.T, f *Files, certFile, keyFile string, c *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	sc := &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	a, b := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, sc)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 clients learn of a refused certificate only on read.
			_, err = s.Write([]byte("x"))
		}
		done <- err
	}()
	cl := tls.Client(b, c)
	clientErr = cl.Handshake()
	if clientErr == nil {
		buf := make([]byte, 1)
		_, clientErr = cl.Read(buf)
	}
	// Close the pipe, not the TLS conns: a close_notify on an unbuffered
	// pipe nobody reads would block until the deadline.
	b.Close()
	serverErr = <-done
	a.Close()
	return clientErr, serverErr
}

func TestMutualTLSHandshakeSucceedsFor127001AndLocalhost(t *testing.T) {
	f := Generate(t)
	for _, name := range []string{"127.0.0.1", "localhost", "::1"} {
		c := f.MutualConfig(t)
		c.ServerName = name
		if ce, se := handshake(t, f, f.ServerCertFile, f.ServerKeyFile, c); ce != nil || se != nil {
			t.Fatalf("%s: client %v, server %v", name, ce, se)
		}
	}
}

func TestUnrelatedCAIsNotTrusted(t *testing.T) {
	f := Generate(t)
	c := ClientConfig(t, f.OtherCACertFile, f.ClientCertFile, f.ClientKeyFile, "127.0.0.1")
	ce, _ := handshake(t, f, f.ServerCertFile, f.ServerKeyFile, c)
	var ua x509.UnknownAuthorityError
	if !errors.As(ce, &ua) {
		t.Fatalf("client error = %v, want unknown authority", ce)
	}
}

func TestWrongNameCertificateIsRefused(t *testing.T) {
	f := Generate(t)
	c := f.MutualConfig(t)
	c.ServerName = "127.0.0.1"
	ce, _ := handshake(t, f, f.WrongNameCertFile, f.WrongNameKeyFile, c)
	var he x509.HostnameError
	if !errors.As(ce, &he) {
		t.Fatalf("client error = %v, want host name error", ce)
	}
	// The same certificate is good for the name it carries.
	c = f.MutualConfig(t)
	c.ServerName = WrongName
	if ce, se := handshake(t, f, f.WrongNameCertFile, f.WrongNameKeyFile, c); ce != nil || se != nil {
		t.Fatalf("client %v, server %v", ce, se)
	}
}

func TestClientCertificateOfOtherCAIsRefusedByServer(t *testing.T) {
	f := Generate(t)
	c := ClientConfig(t, f.CACertFile, f.OtherClientCertFile, f.OtherClientKeyFile, "127.0.0.1")
	_, se := handshake(t, f, f.ServerCertFile, f.ServerKeyFile, c)
	if se == nil || !strings.Contains(se.Error(), "certificate") {
		t.Fatalf("server error = %v, want a certificate error", se)
	}
}

func TestMissingClientCertificateIsRefusedByServer(t *testing.T) {
	f := Generate(t)
	c := ClientConfig(t, f.CACertFile, "", "", "127.0.0.1")
	ce, se := handshake(t, f, f.ServerCertFile, f.ServerKeyFile, c)
	if se == nil || ce == nil {
		t.Fatalf("client %v, server %v: want both to fail", ce, se)
	}
}

func TestKeysAreNotWorldReadable(t *testing.T) {
	f := Generate(t)
	for _, k := range []string{f.ServerKeyFile, f.ClientKeyFile, f.OtherClientKeyFile, f.WrongNameKeyFile} {
		st, err := os.Stat(k)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", k, st.Mode().Perm())
		}
	}
}
