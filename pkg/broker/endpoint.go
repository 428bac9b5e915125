package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Endpoint is one broker: where it is and how to open a connection to it.
type Endpoint struct {
	// URL is amqp:// or amqps:// with credentials and vhost.
	URL string
	// TLS is used for amqps URLs; nil means the system roots and the URL's
	// host name are verified.
	TLS *tls.Config
	// Heartbeat is the AMQP heartbeat interval; a link silent for three
	// intervals is declared dead. 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// DialTimeout bounds the TCP connect and the AMQP handshake
	// (py-servicebus socket_timeout). 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// OnInsecureConnect, when set, is called at every connect whose TLS
	// config skips certificate verification, so the caller can warn.
	OnInsecureConnect func(ep Endpoint)
}

const (
	DefaultHeartbeat   = 10 * time.Second
	DefaultDialTimeout = 5 * time.Second
)

// String is the endpoint's address without credentials, for logs and errors.
func (e Endpoint) String() string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return "invalid-url"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// GoString keeps the credentials out of %#v as well.
func (e Endpoint) GoString() string {
	return fmt.Sprintf("broker.Endpoint{URL: %q, TLS: %t, Heartbeat: %s, DialTimeout: %s}",
		e.String(), e.TLS != nil, e.Heartbeat, e.DialTimeout)
}

// Dial opens a connection to the broker. For amqps it does the TLS handshake
// itself, so that a certificate the broker refuses after the handshake (TLS
// 1.3 reports that only on the first read) is named in the error.
func (e Endpoint) Dial() (*amqp.Connection, error) {
	hb := e.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	timeout := e.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	u, err := amqp.ParseURI(e.URL)
	if err != nil {
		return nil, fmt.Errorf("broker: broker url %s: %w", e.String(), err)
	}
	var tlsConf *tls.Config
	if u.Scheme == "amqps" {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
		if e.TLS != nil {
			tlsConf = e.TLS.Clone()
		}
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = u.Host
		}
		if tlsConf.InsecureSkipVerify && e.OnInsecureConnect != nil {
			e.OnInsecureConnect(e)
		}
		u.Scheme = "amqp" // TLS is done by our dialer below; the port stays
	}
	var tc *tlsConn
	cfg := amqp.Config{
		Heartbeat: hb,
		Locale:    "en_US",
		Vhost:     u.Vhost,
		Properties: amqp.Table{
			"product":         "servicebus",
			"connection_name": "servicebus",
			"platform":        "Go",
			"capabilities":    amqp.Table{"connection.blocked": true},
		},
		Dial: func(network, addr string) (net.Conn, error) {
			tcp, err := net.DialTimeout(network, addr, timeout)
			if err != nil {
				return nil, err
			}
			// Writes never hold a caller on a stalled socket (stallconn.go);
			// under TLS too, so it sits below the TLS layer.
			raw := newStallConn(tcp)
			// The handshakes must finish within the timeout too; amqp091
			// clears the deadline once the AMQP connection is open.
			if err := raw.SetDeadline(time.Now().Add(timeout)); err != nil {
				raw.Close()
				return nil, err
			}
			if tlsConf == nil {
				return raw, nil
			}
			client := tls.Client(raw, tlsConf)
			if err := client.Handshake(); err != nil {
				raw.Close()
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			tc = &tlsConn{Conn: client}
			return tc, nil
		},
	}
	conn, err := amqp.DialConfig(u.String(), cfg)
	if err != nil {
		if tc != nil {
			err = tc.explain(err)
		}
		return nil, fmt.Errorf("broker: connect %s: %w", e.String(), err)
	}
	return conn, nil
}

// tlsConn remembers the first read error of a TLS connection: the alert a
// broker sends when it refuses the client certificate after the handshake.
type tlsConn struct {
	*tls.Conn
	mu      sync.Mutex
	readErr error
}

func (c *tlsConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.mu.Lock()
		if c.readErr == nil {
			c.readErr = err
		}
		c.mu.Unlock()
	}
	return n, err
}

// errClientCertRefused explains a TLS link the broker closed before AMQP
// started: with verify_peer and fail_if_no_peer_cert that is its answer to a
// missing or untrusted client certificate.
var errClientCertRefused = errors.New("the broker closed the TLS connection right after the handshake: " +
	"it most likely refused the client certificate (none sent, or not signed by a CA the broker trusts)")

func (c *tlsConn) explain(dialErr error) error {
	c.mu.Lock()
	readErr := c.readErr
	c.mu.Unlock()
	var alert tls.AlertError
	if errors.As(readErr, &alert) || (readErr != nil && strings.Contains(readErr.Error(), "tls: ")) {
		return fmt.Errorf("TLS: %w", readErr)
	}
	var amqpErr *amqp.Error
	if errors.Is(dialErr, amqp.ErrCredentials) || errors.Is(dialErr, amqp.ErrVhost) ||
		(errors.As(dialErr, &amqpErr) && amqpErr.Code != amqp.ChannelError) {
		return dialErr // the broker spoke AMQP: its own reason is the right one
	}
	return fmt.Errorf("%w (%v)", errClientCertRefused, dialErr)
}
