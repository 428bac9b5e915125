package failover

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
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
	return u.Scheme + "://" + u.Host + u.Path
}

// Dial opens a connection to the broker.
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
		return nil, fmt.Errorf("failover: broker url %s: %w", e.String(), err)
	}
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
			conn, err := net.DialTimeout(network, addr, timeout)
			if err != nil {
				return nil, err
			}
			// The handshake must finish within the timeout too; amqp091
			// clears the deadline once the connection is open.
			if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		},
	}
	if u.Scheme == "amqps" {
		tc := e.TLS
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if tc.InsecureSkipVerify && e.OnInsecureConnect != nil {
			e.OnInsecureConnect(e)
		}
		cfg.TLSClientConfig = tc
	}
	conn, err := amqp.DialConfig(e.URL, cfg)
	if err != nil {
		return nil, fmt.Errorf("failover: connect %s: %w", e.String(), err)
	}
	return conn, nil
}
