package broker

import (
	"context"
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
	// DialTimeout bounds the TCP connect, the TLS and the AMQP handshake
	// (py-servicebus socket_timeout); DialContext's context, or the Close
	// of a Path, ends them sooner. 0 means DefaultDialTimeout.
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

// Dial opens a connection to the broker within DialTimeout; it is
// DialContext without a context.
func (e Endpoint) Dial() (*amqp.Connection, error) {
	return e.DialContext(context.Background())
}

// DialContext opens a connection to the broker: TCP, TLS and the AMQP
// handshake, all within DialTimeout and ctx's deadline, whichever comes
// first. When ctx ends before the connection is open, its socket is closed
// at once, so that no step (a broker that accepts TCP and never speaks, a
// TLS handshake that stalls) holds the caller; the error then wraps
// context.Cause(ctx).
//
// For amqps it does the TLS handshake itself, so that a certificate the
// broker refuses after the handshake (TLS 1.3 reports that only on the
// first read) is named in the error. A refusal that retrying cannot heal
// (a wrong user or password, a vhost that does not exist, a certificate
// that fails verification) is a *RefusedError, matching ErrRefused.
func (e Endpoint) DialContext(ctx context.Context) (*amqp.Connection, error) {
	hb := e.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	timeout := e.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("broker: connect %s: %w", e.String(), context.Cause(ctx))
	}
	deadline := time.Now().Add(timeout)
	ctxBound := false // the socket deadline is ctx's
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxBound = d, true
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
	var (
		tc    *tlsConn
		raw   net.Conn
		abort = func() bool { return true } // stops the close on ctx's end
	)
	cfg := amqp.Config{
		Heartbeat: hb,
		Locale:    "en_US",
		Vhost:     u.Vhost,
		Properties: amqp.Table{
			"product":         "servicebus",
			"connection_name": "servicebus",
			"platform":        "Go",
		},
		Dial: func(network, addr string) (net.Conn, error) {
			dialer := net.Dialer{Deadline: deadline}
			tcp, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Writes never hold a caller on a stalled socket (stallconn.go);
			// under TLS too, so it sits below the TLS layer.
			sc := newStallConn(tcp)
			raw = sc
			// amqp091-go's handshake takes no context: closing the socket
			// is what ends it when ctx does.
			abort = context.AfterFunc(ctx, func() { _ = sc.Close() })
			// The handshakes must finish by the deadline too; amqp091
			// clears it once the AMQP connection is open.
			if err := sc.SetDeadline(deadline); err != nil {
				return nil, err
			}
			if tlsConf == nil {
				return newAuthCapConn(sc), nil
			}
			client := tls.Client(sc, tlsConf)
			if err := client.HandshakeContext(ctx); err != nil {
				return nil, fmt.Errorf("TLS handshake: %w", err)
			}
			tc = &tlsConn{Conn: client}
			return newAuthCapConn(tc), nil
		},
	}
	conn, err := amqp.DialConfig(u.String(), cfg)
	if !abort() && err == nil {
		// ctx ended as the handshake finished: its socket is closed.
		_ = conn.CloseDeadline(time.Now())
		err = context.Cause(ctx)
	}
	if err != nil {
		if raw != nil {
			// amqp091-go leaves the socket of a failed handshake open.
			_ = raw.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("broker: connect %s: %w", e.String(), context.Cause(ctx))
		}
		if ctxBound && !time.Now().Before(deadline) {
			// The socket's deadline, which is ctx's, fired a moment
			// before ctx's own timer.
			return nil, fmt.Errorf("broker: connect %s: %w", e.String(), context.DeadlineExceeded)
		}
		if tc != nil {
			err = tc.explain(err)
		}
		if r, ok := refusal(e.String(), err, false); ok {
			return nil, r
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
