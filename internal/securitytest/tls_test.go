package securitytest

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/tlstest"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// tlsNode is a throwaway RabbitMQ node with an amqps listener that demands a
// client certificate signed by certs' CA (verify_peer, fail_if_no_peer_cert).
func tlsNode(t *testing.T) (*brokertest.Node, *tlstest.Files) {
	t.Helper()
	certs := tlstest.Generate(t)
	node := brokertest.StartNode(t, brokertest.NodeOptions{TLS: &brokertest.TLSListener{
		CACertFile:       certs.CACertFile,
		CertFile:         certs.ServerCertFile,
		KeyFile:          certs.ServerKeyFile,
		VerifyPeer:       true,
		FailIfNoPeerCert: true,
	}})
	return node, certs
}

// tlsConfig is a config for node's TLS listener as an operator writes it:
// use_ssl, ssl_port, the tls.* files; tokens off (not what these tests prove).
func tlsConfig(node *brokertest.Node, certs *tlstest.Files) servicebus.Config {
	cfg := servicebus.DefaultConfig()
	cfg.Hosts = []string{"127.0.0.1"}
	cfg.UseSSL = true
	cfg.SSLPort = node.TLSPort()
	cfg.Port = node.Port()
	cfg.TLS = servicebus.TLSConfig{CAFile: certs.CACertFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}
	cfg.TokenMode = servicebus.TokenOff
	cfg.SocketTimeout = 10 * time.Second
	return cfg
}

// dialOK opens a connection and a channel, and closes both.
func dialOK(t *testing.T, ep broker.Endpoint) {
	t.Helper()
	conn, err := ep.Dial()
	if err != nil {
		t.Fatalf("dial %s: %v", ep, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel on %s: %v", ep, err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
}

// dialFails dials and returns the error, failing the test if it connected.
func dialFails(t *testing.T, ep broker.Endpoint) error {
	t.Helper()
	conn, err := ep.Dial()
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s connected; want a failure", ep)
	}
	t.Logf("dial %s: %v", ep, err)
	return err
}

func errContainsAny(err error, subs ...string) bool {
	s := strings.ToLower(err.Error())
	for _, sub := range subs {
		if strings.Contains(s, strings.ToLower(sub)) {
			return true
		}
	}
	return false
}

// TestTLS runs every TLS case against one throwaway node: starting a node
// costs seconds on a shared 2-core machine.
func TestTLS(t *testing.T) {
	node, certs := tlsNode(t)
	t.Run("MutualTLSConnects", func(t *testing.T) {
		dialOK(t, broker.Endpoint{URL: node.TLSURL(), TLS: certs.MutualConfig(t), DialTimeout: 10 * time.Second})
	})

	t.Run("UnknownCAFailsNamingTheAuthority", func(t *testing.T) {
		tc := tlstest.ClientConfig(t, certs.OtherCACertFile, certs.ClientCertFile, certs.ClientKeyFile, "")
		err := dialFails(t, broker.Endpoint{URL: node.TLSURL(), TLS: tc, DialTimeout: 10 * time.Second})
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) || !errContainsAny(err, "unknown authority") {
			t.Fatalf("error %q does not say the certificate's authority is unknown", err)
		}
	})

	t.Run("WrongServerNameFailsNamingTheName", func(t *testing.T) {
		tc := certs.MutualConfig(t)
		tc.ServerName = tlstest.WrongName
		err := dialFails(t, broker.Endpoint{URL: node.TLSURL(), TLS: tc, DialTimeout: 10 * time.Second})
		var he x509.HostnameError
		if !errors.As(err, &he) || !errContainsAny(err, tlstest.WrongName) {
			t.Fatalf("error %q does not name the wrong server name", err)
		}
	})

	t.Run("MissingClientCertificateIsRefusedByBroker", func(t *testing.T) {
		// The broker refuses after the client's last handshake flight (TLS
		// 1.3): the client learns it on its first read, in a race with its
		// own first write. Several dials, so that the race goes both ways.
		for i := 0; i < 5; i++ {
			tc := tlstest.ClientConfig(t, certs.CACertFile, "", "", "")
			err := dialFails(t, broker.Endpoint{URL: node.TLSURL(), TLS: tc, DialTimeout: 10 * time.Second})
			if !errContainsAny(err, "certificate") {
				t.Fatalf("dial %d: error %q does not say certificate", i, err)
			}
		}
	})

	t.Run("ClientCertificateOfUnknownCAIsRefusedByBroker", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			tc := tlstest.ClientConfig(t, certs.CACertFile, certs.OtherClientCertFile, certs.OtherClientKeyFile, "")
			err := dialFails(t, broker.Endpoint{URL: node.TLSURL(), TLS: tc, DialTimeout: 10 * time.Second})
			if !errContainsAny(err, "certificate") {
				t.Fatalf("dial %d: error %q does not say certificate", i, err)
			}
		}
	})

	t.Run("AmqpsToPlainPortFails", func(t *testing.T) {
		url := "amqps://guest:guest@127.0.0.1:" + strconv.Itoa(node.Port()) + "/"
		err := dialFails(t, broker.Endpoint{URL: url, TLS: certs.MutualConfig(t), DialTimeout: 10 * time.Second})
		if !errContainsAny(err, "tls", "handshake") {
			t.Fatalf("error %q does not say the TLS handshake failed", err)
		}
	})

	t.Run("ConfigWithUseSSLConnectsVerified", func(t *testing.T) {
		cfg := tlsConfig(node, certs)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		eps, err := cfg.Endpoints(newCaptureLog())
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			if !strings.HasPrefix(ep.URL, "amqps://") || ep.TLS == nil || ep.TLS.InsecureSkipVerify {
				t.Fatalf("endpoint %s: want amqps with verification on, got TLS %+v", ep, ep.TLS)
			}
			dialOK(t, ep)
		}
	})

	t.Run("ConfigWithUseSSLNeverDialsPlain", func(t *testing.T) {
		// ssl_port points at the plain AMQP listener: the dial must fail
		// rather than speak AMQP in the clear there.
		cfg := tlsConfig(node, certs)
		cfg.SSLPort = node.Port()
		eps, err := cfg.Endpoints(newCaptureLog())
		if err != nil {
			t.Fatal(err)
		}
		dialFails(t, eps[0])

		// A host written amqp:// under use_ssl is a config error, not a
		// plain connection.
		plain := tlsConfig(node, certs)
		plain.Hosts = []string{"amqp://127.0.0.1:" + strconv.Itoa(node.Port())}
		if err := plain.Validate(); err == nil {
			t.Fatal("use_ssl with an amqp:// host validated")
		}
		if eps, err := plain.Endpoints(newCaptureLog()); err == nil {
			t.Fatalf("use_ssl with an amqp:// host gave endpoints %v", eps)
		}

		// And on the wire: the first bytes a use_ssl endpoint sends are a
		// TLS handshake record, never the AMQP protocol header.
		spy := newFirstBytesSpy(t)
		cfg.SSLPort = spy.port
		cfg.SocketTimeout = 2 * time.Second
		eps, err = cfg.Endpoints(newCaptureLog())
		if err != nil {
			t.Fatal(err)
		}
		dialFails(t, eps[0])
		first := spy.wait(t)
		if len(first) == 0 || first[0] != 0x16 || strings.HasPrefix(string(first), "AMQP") {
			t.Fatalf("first bytes on the wire %q: want a TLS handshake record (0x16)", first)
		}
	})

	t.Run("DefaultRootsRefuseThePrivateCA", func(t *testing.T) {
		// use_ssl without tls.ca_file verifies against the system roots,
		// which do not hold the test CA: no silent trust.
		cfg := tlsConfig(node, certs)
		cfg.TLS.CAFile = ""
		eps, err := cfg.Endpoints(newCaptureLog())
		if err != nil {
			t.Fatal(err)
		}
		err = dialFails(t, eps[0])
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("error %q: want unknown authority", err)
		}
	})

	t.Run("EnvironmentOnlyConfigConnectsOverMutualTLS", func(t *testing.T) {
		// The settings of docs/security.md by their environment names.
		for k, v := range map[string]string{
			"SERVICEBUS_HOSTS":           "127.0.0.1",
			"SERVICEBUS_PORT":            strconv.Itoa(node.Port()),
			"SERVICEBUS_USE_SSL":         "true",
			"SERVICEBUS_SSL_PORT":        strconv.Itoa(node.TLSPort()),
			"SERVICEBUS_TLS_CA_FILE":     certs.CACertFile,
			"SERVICEBUS_TLS_CERT_FILE":   certs.ClientCertFile,
			"SERVICEBUS_TLS_KEY_FILE":    certs.ClientKeyFile,
			"SERVICEBUS_TLS_SERVER_NAME": "localhost",
			"SERVICEBUS_TOKEN_MODE":      "off",
		} {
			t.Setenv(k, v)
		}
		cfg, err := servicebus.LoadConfig("")
		if err != nil {
			t.Fatal(err)
		}
		eps, err := cfg.Endpoints(newCaptureLog())
		if err != nil {
			t.Fatal(err)
		}
		if len(eps) != 1 || !strings.HasPrefix(eps[0].URL, "amqps://") || eps[0].TLS.ServerName != "localhost" {
			t.Fatalf("endpoints %v", eps)
		}
		dialOK(t, eps[0])
		t.Setenv("SERVICEBUS_TLS_SERVER_NAME", tlstest.WrongName)
		if cfg, err = servicebus.LoadConfig(""); err != nil {
			t.Fatal(err)
		}
		if eps, err = cfg.Endpoints(newCaptureLog()); err != nil {
			t.Fatal(err)
		}
		if err := dialFails(t, eps[0]); !errContainsAny(err, tlstest.WrongName) {
			t.Fatalf("error %q does not name %s", err, tlstest.WrongName)
		}
	})

	t.Run("AgentAndSenderOverMutualTLS", func(t *testing.T) {
		cfg := tlsConfig(node, certs)
		cfg.TokenMode = servicebus.TokenHMAC
		cfg.SecretToken = servicebus.Secret(uniq("secret"))
		log := newCaptureLog()
		eps, err := cfg.Endpoints(log)
		if err != nil {
			t.Fatal(err)
		}
		validator, err := cfg.TokenValidator()
		if err != nil {
			t.Fatal(err)
		}
		signer, err := cfg.TokenSigner()
		if err != nil {
			t.Fatal(err)
		}
		w := newWorldAt(t, "tls", eps...)
		w.startAgent(validator, log)
		s := w.startSender(signer, log)
		r, err := s.Call(context.Background(), w.node+".math.add", []int{40, 2})
		if err != nil || r.Raw != "42" {
			t.Fatalf("call over mutual TLS: %v %v", r, err)
		}
		if err := s.Send(context.Background(), w.node+".math.add", []int{1}); err != nil {
			t.Fatalf("send over mutual TLS: %v", err)
		}
		if n := log.Count("verification is off"); n != 0 {
			t.Fatalf("insecure warnings on a verified link:\n%s", log.All())
		}

		// A sender without client certificate never gets a connection: its
		// call fails at its deadline instead of going anywhere in the clear.
		cfg.TLS.CertFile, cfg.TLS.KeyFile = "", ""
		eps, err = cfg.Endpoints(log)
		if err != nil {
			t.Fatal(err)
		}
		noCert := newWorldAt(t, "tls-nocert", eps...)
		noCert.node, noCert.topology = w.node, w.topology
		s2 := noCert.startSender(signer, log, func(c *rpc.Config) { c.CallTimeout = 2 * time.Second })
		if _, err := s2.Call(context.Background(), w.node+".math.add", []int{1}); err == nil {
			t.Fatal("a sender without client certificate called through the TLS listener")
		} else {
			t.Logf("call without client certificate: %v", err)
		}
	})

	t.Run("RootAgentAndSenderOverMutualTLS", func(t *testing.T) {
		cfg := tlsConfig(node, certs)
		cfg.TokenMode = servicebus.TokenHMAC
		cfg.SecretToken = servicebus.Secret(uniq("secret"))
		cfg.NodeName = uniq("root-tls")
		cfg.ExchangeName = uniq("root-tls-x")
		cfg.DrainTimeout = 5 * time.Second
		log := newCaptureLog()
		startRoot(t, cfg, log)
		s, err := servicebus.NewSender(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if r, err := s.Call(context.Background(), cfg.NodeName+".math.add", []int{2, 3}); err != nil || r.Raw != "5" {
			t.Fatalf("call: %v %v", r, err)
		}

		// The same with verification off: it works, and every connect of
		// agent and sender warned.
		insecure := cfg
		insecure.TLS.CAFile = ""
		insecure.TLS.InsecureSkipVerify = true
		insecure.NodeName = uniq("root-insecure")
		ilog := newCaptureLog()
		startRoot(t, insecure, ilog)
		s2, err := servicebus.NewSender(insecure, ilog)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if _, err := s2.Call(context.Background(), insecure.NodeName+".math.add", []int{1}); err != nil {
			t.Fatal(err)
		}
		if n := ilog.Count("verification is off"); n < 3 {
			t.Fatalf("%d insecure warnings for an agent and two senders; log:\n%s", n, ilog.All())
		}
	})

	t.Run("HMACReplayThroughAnotherBrokerIsRejected", func(t *testing.T) {
		// One agent on two brokers (this TLS node and the shared broker)
		// shares one replay cache: a call captured on one broker and
		// replayed on the other is refused.
		cfg := tlsConfig(node, certs)
		eps, err := cfg.Endpoints(newCaptureLog())
		if err != nil {
			t.Fatal(err)
		}
		shared := newWorld(t, "hmac-2brokers") // fails in CI without the shared broker
		w := newWorldAt(t, "hmac-2brokers", eps[0], shared.endpoints[0])
		shared.node, shared.topology = w.node, w.topology
		secret := uniq("secret")
		log := newCaptureLog()
		agent := w.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), log)
		onTLS := *w
		onTLS.endpoints = eps
		s := onTLS.startSender(token.NewHMACTokens(secret, token.HMACOptions{}), nil)
		captured := onTLS.rawClient().capture()
		if r, err := s.Call(context.Background(), w.node+".math.add", []int{1, 2}); err != nil || r.Raw != "3" {
			t.Fatalf("call: %v %v", r, err)
		}
		orig := captured()
		before := agent.Stats().BadToken
		expectBadToken(t, shared.rawClient().call(orig.Body, orig.Headers), "replay through the other broker")
		if agent.Stats().BadToken != before+1 {
			t.Fatal("the replay was not counted as a bad token")
		}
	})

	t.Run("InsecureSkipVerifyWarnsAtEveryConnect", func(t *testing.T) {
		cfg := tlsConfig(node, certs)
		cfg.TLS.CAFile = ""
		cfg.TLS.InsecureSkipVerify = true
		log := newCaptureLog()
		eps, err := cfg.Endpoints(log)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 2; i++ {
			dialOK(t, eps[0])
			if n := log.Count("verification", "off"); n != i {
				t.Fatalf("after %d connects %d warnings; log:\n%s", i, n, log.All())
			}
		}
		if !strings.Contains(log.All(), "ERROR") {
			t.Fatalf("the warning is not at error level:\n%s", log.All())
		}
	})
}

// firstBytesSpy is a TCP listener that records what the first client sends
// and then hangs up.
type firstBytesSpy struct {
	port int
	got  chan []byte
}

func newFirstBytesSpy(t *testing.T) *firstBytesSpy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &firstBytesSpy{port: ln.Addr().(*net.TCPAddr).Port, got: make(chan []byte, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			s.got <- nil
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 8)
		n, _ := io.ReadAtLeast(c, buf, 1)
		s.got <- buf[:n]
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

func (s *firstBytesSpy) wait(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-s.got:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("nothing connected to the spy listener")
		return nil
	}
}
