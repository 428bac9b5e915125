package servicebus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/tlstest"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

func TestEndpointsURLs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		scheme []string
		hosts  []string // host:port as amqp091 parses it
	}{
		{"defaults", func(c *Config) {}, []string{"amqp"}, []string{"127.0.0.1:5672"}},
		{"host ports", func(c *Config) { c.Hosts = []string{"a", "b:5673", "[::1]:5674", "::1", "[::2]"} },
			[]string{"amqp", "amqp", "amqp", "amqp", "amqp"},
			[]string{"a:5672", "b:5673", "::1:5674", "::1:5672", "::2:5672"}},
		{"port key", func(c *Config) { c.Port = 6000 }, []string{"amqp"}, []string{"127.0.0.1:6000"}},
		{"use_ssl takes ssl_port", func(c *Config) { c.UseSSL, c.SSLPort, c.Hosts = true, 6001, []string{"a", "b:7000", "amqps://c"} },
			[]string{"amqps", "amqps", "amqps"}, []string{"a:6001", "b:7000", "c:6001"}},
		{"scheme per host", func(c *Config) { c.Hosts = []string{"amqp://a", "amqps://b", "amqps://c:7001/", "d"} },
			[]string{"amqp", "amqps", "amqps", "amqp"}, []string{"a:5672", "b:5671", "c:7001", "d:5672"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			eps, err := c.Endpoints(watermill.NopLogger{})
			if err != nil {
				t.Fatal(err)
			}
			if len(eps) != len(tc.hosts) {
				t.Fatalf("%d endpoints, want %d", len(eps), len(tc.hosts))
			}
			for i, ep := range eps {
				u, err := amqp.ParseURI(ep.URL)
				if err != nil {
					t.Fatalf("%s: %v", ep, err)
				}
				if got := u.Host + ":" + strconv.Itoa(u.Port); u.Scheme != tc.scheme[i] || got != tc.hosts[i] {
					t.Errorf("endpoint %d = %s %s, want %s %s", i, u.Scheme, got, tc.scheme[i], tc.hosts[i])
				}
				if (u.Scheme == "amqps") != (ep.TLS != nil) {
					t.Errorf("endpoint %d: scheme %s but TLS config %v", i, u.Scheme, ep.TLS != nil)
				}
				if ep.Heartbeat != c.HeartbeatInterval || ep.DialTimeout != c.SocketTimeout {
					t.Errorf("endpoint %d: heartbeat %v dial timeout %v", i, ep.Heartbeat, ep.DialTimeout)
				}
			}
		})
	}
}

func TestEndpointsEscapeCredentialsAndVHost(t *testing.T) {
	for _, tc := range []struct{ user, pass, vhost string }{
		{"guest", "guest", "/"},
		{"us@r:x", "p@ss:w/rd?#%20 ", "/prod"},
		{"ü", "ÿ/", "a b%2F/c"},
	} {
		c := validConfig()
		c.User, c.Password, c.VHost = tc.user, Secret(tc.pass), tc.vhost
		eps, err := c.Endpoints(nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := amqp.ParseURI(eps[0].URL)
		if err != nil {
			t.Fatalf("%q: %v", tc, err)
		}
		if u.Username != tc.user || u.Password != tc.pass || u.Vhost != tc.vhost {
			t.Errorf("got user %q pass %q vhost %q, want %q", u.Username, u.Password, u.Vhost, tc)
		}
		if strings.Contains(eps[0].String(), tc.pass) && tc.pass != "guest" {
			t.Errorf("Endpoint.String shows the password: %s", eps[0])
		}
	}
}

func TestEndpointsRejectsBadHosts(t *testing.T) {
	c := validConfig()
	c.Hosts = []string{"ok", "b c", "amqp://u:SENTINEL@h"}
	_, err := c.Endpoints(nil)
	if err == nil || !strings.Contains(err.Error(), "hosts[1]") || !strings.Contains(err.Error(), "hosts[2]") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "SENTINEL") {
		t.Fatalf("error shows a password: %v", err)
	}
}

func TestEndpointsTLSConfig(t *testing.T) {
	certs := tlstest.Generate(t)
	c := validConfig()
	c.UseSSL = true
	c.Hosts = []string{"127.0.0.1", "rabbit-b"}
	c.TLS = TLSConfig{CAFile: certs.CACertFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	eps, err := c.Endpoints(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"127.0.0.1", "rabbit-b"} {
		tc := eps[i].TLS
		if tc.ServerName != want || tc.InsecureSkipVerify || tc.MinVersion != tls.VersionTLS12 ||
			tc.RootCAs == nil || len(tc.Certificates) != 1 || eps[i].OnInsecureConnect != nil {
			t.Errorf("endpoint %d TLS: server name %q insecure %v min %x roots %v certs %d",
				i, tc.ServerName, tc.InsecureSkipVerify, tc.MinVersion, tc.RootCAs != nil, len(tc.Certificates))
		}
	}
	if eps[0].TLS == eps[1].TLS {
		t.Error("endpoints share one *tls.Config")
	}
	c.TLS.ServerName = "rabbit.example"
	eps, _ = c.Endpoints(nil)
	if eps[0].TLS.ServerName != "rabbit.example" || eps[1].TLS.ServerName != "rabbit.example" {
		t.Error("tls.server_name not used")
	}

	// Default: system roots, no client certificate, still verifying.
	c.TLS = TLSConfig{}
	eps, _ = c.Endpoints(nil)
	if tc := eps[0].TLS; tc.RootCAs != nil || tc.InsecureSkipVerify || len(tc.Certificates) != 0 {
		t.Errorf("default TLS config: %+v", tc)
	}
}

func TestEndpointsTLSFileErrors(t *testing.T) {
	certs := tlstest.Generate(t)
	for _, tc := range []struct {
		name string
		tls  TLSConfig
		want string
	}{
		{"ca is a key", TLSConfig{CAFile: certs.ClientKeyFile}, "tls.ca_file: " + certs.ClientKeyFile + " holds no PEM certificate"},
		{"missing ca", TLSConfig{CAFile: certs.Dir + "/nope.pem"}, "tls.ca_file: open"},
		{"key mismatch", TLSConfig{CertFile: certs.ClientCertFile, KeyFile: certs.ServerKeyFile}, "tls.cert_file/tls.key_file"},
		{"cert alone", TLSConfig{CertFile: certs.ClientCertFile}, "must be set together"},
	} {
		c := validConfig()
		c.UseSSL, c.TLS = true, tc.tls
		_, err := c.Endpoints(nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// handshake dials a Go TLS server that presents the given certificate with the
// endpoint's TLS config and returns the client's handshake error.
func handshake(t *testing.T, ep broker.Endpoint, certFile, keyFile string) error {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_ = conn.(*tls.Conn).Handshake()
	}()
	defer func() { <-done }()
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	return tls.Client(raw, ep.TLS).Handshake()
}

func TestEndpointsTLSVerifiesTheServer(t *testing.T) {
	certs := tlstest.Generate(t)
	endpoint := func(edit func(*Config)) broker.Endpoint {
		c := validConfig()
		c.Hosts = []string{"amqps://127.0.0.1"}
		c.TLS.CAFile = certs.CACertFile
		edit(&c)
		eps, err := c.Endpoints(watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		return eps[0]
	}
	var unknownAuthority x509.UnknownAuthorityError
	for _, tc := range []struct {
		name      string
		edit      func(*Config)
		cert, key string
		ok        bool
		check     func(error) bool
	}{
		{"good", func(*Config) {}, certs.ServerCertFile, certs.ServerKeyFile, true, nil},
		{"wrong name", func(*Config) {}, certs.WrongNameCertFile, certs.WrongNameKeyFile, false,
			func(err error) bool { return strings.Contains(err.Error(), "127.0.0.1") }},
		{"unknown CA", func(c *Config) { c.TLS.CAFile = certs.OtherCACertFile }, certs.ServerCertFile, certs.ServerKeyFile, false,
			func(err error) bool { return errors.As(err, &unknownAuthority) }},
		{"server name key", func(c *Config) { c.TLS.ServerName = tlstest.WrongName }, certs.WrongNameCertFile, certs.WrongNameKeyFile, true, nil},
		{"insecure skip verify", func(c *Config) { c.TLS.InsecureSkipVerify = true; c.TLS.CAFile = certs.OtherCACertFile },
			certs.WrongNameCertFile, certs.WrongNameKeyFile, true, nil},
	} {
		err := handshake(t, endpoint(tc.edit), tc.cert, tc.key)
		if tc.ok != (err == nil) {
			t.Errorf("%s: handshake err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && tc.check != nil && !tc.check(err) {
			t.Errorf("%s: error does not say why: %v", tc.name, err)
		}
	}
}

func TestInsecureSkipVerifyWarnsAtConnect(t *testing.T) {
	c := validConfig()
	c.Hosts = []string{"amqps://127.0.0.1", "127.0.0.2"}
	c.TLS.InsecureSkipVerify = true
	logger := watermill.NewCaptureLogger()
	eps, err := c.Endpoints(logger)
	if err != nil {
		t.Fatal(err)
	}
	if eps[1].OnInsecureConnect != nil || eps[1].TLS != nil {
		t.Error("plain endpoint has a TLS hook")
	}
	if eps[0].OnInsecureConnect == nil {
		t.Fatal("no warning hook on the insecure endpoint")
	}
	eps[0].OnInsecureConnect(eps[0])
	errs := logger.Captured()[watermill.ErrorLogLevel]
	if len(errs) != 1 || !strings.Contains(errs[0].Msg, "insecure_skip_verify") {
		t.Fatalf("captured %+v", logger.Captured())
	}
}
