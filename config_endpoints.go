package servicebus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// hostEntry is one parsed entry of hosts.
type hostEntry struct {
	host string // name or IP, without brackets
	port int
	tls  bool
}

// parseHost reads "host", "host:port", "[v6]:port", "amqp://host[:port]" or
// "amqps://host[:port]", filling in the port and TLS from the config.
func (c Config) parseHost(h string) (hostEntry, error) {
	b := hostEntry{tls: c.UseSSL}
	hostport := h
	if scheme, _, ok := strings.Cut(h, "://"); ok {
		switch scheme {
		case "amqp":
			if c.UseSSL {
				return b, fmt.Errorf("%q is plain amqp:// but use_ssl is true: drop the scheme or write amqps://", h)
			}
		case "amqps":
			b.tls = true
		default:
			return b, fmt.Errorf("scheme %q: want amqp:// or amqps://", scheme)
		}
		u, err := url.Parse(h)
		if err != nil {
			return b, fmt.Errorf("%q is not a broker address", redactHost(h))
		}
		if u.User != nil {
			return b, fmt.Errorf("%q: credentials go in user and password, not in hosts", redactHost(h))
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return b, fmt.Errorf("%q: a host has no path or query; the vhost goes in vhost", h)
		}
		hostport = u.Host
	}
	if strings.ContainsAny(hostport, "@/?# \t") {
		return b, fmt.Errorf("%q is not a host or host:port", redactHost(h))
	}
	b.port = c.Port
	if b.tls {
		b.port = c.SSLPort
	}
	host := hostport
	// A bare IPv6 address has several colons and no brackets: no port then.
	if strings.HasPrefix(hostport, "[") || strings.Count(hostport, ":") == 1 {
		hp, p, err := net.SplitHostPort(hostport)
		if err != nil {
			if !strings.HasPrefix(hostport, "[") || !strings.HasSuffix(hostport, "]") {
				return b, fmt.Errorf("%q is not a host or host:port", h)
			}
			hp = hostport[1 : len(hostport)-1] // "[::1]"
		} else {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return b, fmt.Errorf("%q: port %q is not a TCP port (1-65535)", h, p)
			}
			b.port = n
		}
		host = hp
	}
	if host == "" {
		return b, fmt.Errorf("%q has no host name", h)
	}
	b.host = host
	return b, nil
}

// brokers parses every host, reporting every bad one.
func (c Config) brokers() ([]hostEntry, error) {
	var errs []error
	out := make([]hostEntry, 0, len(c.Hosts))
	for i, h := range c.Hosts {
		b, err := c.parseHost(h)
		if err != nil {
			errs = append(errs, &keyError{key: "hosts", err: fmt.Errorf("hosts[%d]: %w", i, err)})
			continue
		}
		out = append(out, b)
	}
	if len(c.Hosts) == 0 {
		errs = append(errs, &keyError{key: "hosts", err: errors.New("hosts: no broker given")})
	}
	return out, errors.Join(errs...)
}

// Endpoints are the brokers of hosts, in order, ready to dial: amqp:// or
// amqps:// (use_ssl or an amqps:// host), user and password and vhost in the
// URL, heartbeat_interval and socket_timeout, and for amqps a verifying TLS
// config from the tls.* keys (TLS 1.2 or newer, CA from tls.ca_file or the
// system roots, the client certificate, server name tls.server_name or the
// host). With tls.insecure_skip_verify every connect logs an error-level
// warning through logger; a nil logger writes it to standard error.
func (c Config) Endpoints(logger watermill.LoggerAdapter) ([]broker.Endpoint, error) {
	brokers, err := c.brokers()
	if err != nil {
		return nil, err
	}
	var base *tls.Config
	for _, b := range brokers {
		if b.tls {
			if base, err = c.TLS.clientConfig(); err != nil {
				return nil, err
			}
			break
		}
	}
	if logger == nil {
		logger = watermill.NewStdLogger(false, false)
	}
	userinfo := url.UserPassword(c.User, string(c.Password)).String()
	out := make([]broker.Endpoint, 0, len(brokers))
	for _, b := range brokers {
		scheme := "amqp"
		if b.tls {
			scheme = "amqps"
		}
		ep := broker.Endpoint{
			URL:         scheme + "://" + userinfo + "@" + net.JoinHostPort(b.host, strconv.Itoa(b.port)) + "/" + url.PathEscape(c.VHost),
			Heartbeat:   c.HeartbeatInterval,
			DialTimeout: c.SocketTimeout,
		}
		if b.tls {
			tc := base.Clone()
			if tc.ServerName == "" {
				tc.ServerName = b.host
			}
			ep.TLS = tc
			if tc.InsecureSkipVerify {
				ep.OnInsecureConnect = func(ep broker.Endpoint) {
					logger.Error("TLS certificate verification is OFF (tls.insecure_skip_verify: true): "+
						"the broker is not authenticated and the link can be intercepted", nil,
						watermill.LogFields{"broker": ep.String()})
				}
			}
		}
		out = append(out, ep)
	}
	return out, nil
}

// clientConfig builds the TLS client config of the tls.* keys, without a
// server name (Endpoints sets one per host).
func (t TLSConfig) clientConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, errors.New("tls.cert_file: tls.cert_file and tls.key_file must be set together")
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
