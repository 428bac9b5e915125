package brokertest

import (
	"net"
	"net/url"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func proxyTarget(t *testing.T) string {
	u, err := url.Parse(RequireBroker(t))
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func dialVia(p *Proxy, heartbeat, timeout time.Duration) (*amqp.Connection, error) {
	return amqp.DialConfig(p.URL("guest", "guest"), amqp.Config{
		Heartbeat: heartbeat,
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, timeout)
			if err != nil {
				return nil, err
			}
			_ = c.SetDeadline(time.Now().Add(timeout))
			return c, nil
		},
	})
}

func waitClosed(t *testing.T, ch <-chan *amqp.Error, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("connection not closed within %s", within)
		return 0
	}
}

func TestProxyResetDropsConnectionsUntilHealed(t *testing.T) {
	p := NewProxy(t, proxyTarget(t))
	conn, err := dialVia(p, 10*time.Second, 5*time.Second)
	if err != nil {
		t.Fatalf("through proxy in pass mode: %v", err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	p.SetMode(Reset)
	took := waitClosed(t, closed, 3*time.Second)
	t.Logf("reset noticed by the client in %s", took)
	if c, err := dialVia(p, 10*time.Second, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("new connection passed while resetting")
	}
	p.SetMode(Pass)
	c, err := dialVia(p, 10*time.Second, 5*time.Second)
	if err != nil {
		t.Fatalf("after heal: %v", err)
	}
	c.Close()
}

func TestProxyBlackholeIsNoticedOnlyByHeartbeat(t *testing.T) {
	p := NewProxy(t, proxyTarget(t))
	conn, err := dialVia(p, time.Second, 5*time.Second)
	if err != nil {
		t.Fatalf("through proxy in pass mode: %v", err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	p.SetMode(Blackhole)
	// A call goes out and nothing comes back; the socket stays open.
	go func() { _, _ = ch.QueueDeclarePassive("amq.none", false, false, false, false, nil) }()
	took := waitClosed(t, closed, 8*time.Second)
	t.Logf("blackhole noticed by a 1 s heartbeat in %s", took)
	if took < time.Second {
		t.Fatalf("closed after %s: the blackhole leaked a close", took)
	}
	if c, err := dialVia(p, time.Second, time.Second); err == nil {
		c.Close()
		t.Fatal("handshake passed through the blackhole")
	}
	p.SetMode(Pass)
	c, err := dialVia(p, 10*time.Second, 5*time.Second)
	if err != nil {
		t.Fatalf("after heal: %v", err)
	}
	c.Close()
}
