package brokertest

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// DefaultURL is the shared broker of integration tests when
// SERVICEBUS_TEST_URL is not set.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// RequireBroker returns SERVICEBUS_TEST_URL (default DefaultURL) after
// checking that an AMQP connection to it opens. If it does not, the test
// fails in CI (any CI but "", "false" or "0") and is skipped otherwise.
func RequireBroker(t testing.TB) string {
	t.Helper()
	url := os.Getenv("SERVICEBUS_TEST_URL")
	if url == "" {
		url = DefaultURL
	}
	if err := ping(url, 5*time.Second); err != nil {
		unavailable(t, fmt.Sprintf("brokertest: no broker at SERVICEBUS_TEST_URL (%s): %v", redact(url), err))
	}
	return url
}

// unavailable fails the test in CI (testkit.InCI) and skips it otherwise.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	testkit.Unavailable(t, msg)
}

// ping opens and closes one AMQP connection within timeout.
func ping(url string, timeout time.Duration) error {
	conn, err := amqp.DialConfig(url, amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, timeout)
			if err != nil {
				return nil, err
			}
			_ = c.SetDeadline(time.Now().Add(timeout))
			return c, nil
		},
	})
	if err != nil {
		return err
	}
	return conn.Close()
}

// redact drops the password from an AMQP URL for messages.
func redact(raw string) string {
	u, err := amqp.ParseURI(raw)
	if err != nil {
		return "invalid-url"
	}
	u.Password = ""
	return u.String()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("brokertest: free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
