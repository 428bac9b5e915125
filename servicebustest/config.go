package servicebustest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

// DefaultURL is the broker StartNode uses when neither its url nor
// SERVICEBUS_TEST_URL says otherwise.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// BrokerURL is SERVICEBUS_TEST_URL, else DefaultURL.
func BrokerURL() string {
	if u := os.Getenv("SERVICEBUS_TEST_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Config is servicebus.DefaultConfig with daily tokens of a random secret
// and a short drain, for a test; each option then changes it.
func Config(opts ...func(*servicebus.Config)) servicebus.Config {
	cfg := servicebus.DefaultConfig()
	cfg.SecretToken = servicebus.Secret(randomHex(16))
	cfg.TokenMode = servicebus.TokenDaily
	cfg.DrainTimeout = 5 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// NodeName is a node name no other test uses: "sbtest-" and random hex.
func NodeName() string { return "sbtest-" + randomHex(6) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requireBroker dials url once: without a broker the test is skipped, or
// fails in CI (CI set to anything but "false" or "0").
func requireBroker(t testing.TB, url string) {
	t.Helper()
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		msg := "servicebustest: no broker at " + redact(url) + ": " + err.Error()
		testkit.Unavailable(t, msg)
	}
	_ = conn.Close()
}
