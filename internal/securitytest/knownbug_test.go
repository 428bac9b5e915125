//go:build knownbug

package securitytest

import (
	"fmt"
	"testing"
	"time"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/tlstest"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestRefusedClientCertificateErrorSaysCertificate shows a bug in
// failover.Endpoint.Dial: when the broker refuses the client certificate
// (none sent, or one of a CA it does not trust), the error is, depending on
// a race, "remote error: tls: certificate required", or
// `Exception (504) Reason: "channel/connection is not open"`, or
// "write: connection reset by peer" — the last two do not say why.
// Run: go test -race -tags knownbug -run RefusedClientCertificate ./internal/securitytest/
func TestRefusedClientCertificateErrorSaysCertificate(t *testing.T) {
	node, certs := tlsNode(t)
	cases := map[string][2]string{
		"none":       {"", ""},
		"unknown-ca": {certs.OtherClientCertFile, certs.OtherClientKeyFile},
	}
	for name, files := range cases {
		for i := 0; i < 10; i++ {
			tc := tlstest.ClientConfig(t, certs.CACertFile, files[0], files[1], "")
			err := dialFails(t, failover.Endpoint{URL: node.TLSURL(), TLS: tc, DialTimeout: 10 * time.Second})
			if !errContainsAny(err, "certificate") {
				t.Errorf("client certificate %s, dial %d: error %q does not say certificate", name, i, err)
			}
		}
	}
}

// TestEndpointGoStringHidesThePassword shows that fmt's %#v of a
// failover.Endpoint (and of any config holding one: router.Config,
// rpc.Config) prints the URL with its password: Endpoint has String but no
// GoString. Fix: func (e Endpoint) GoString() string returning a redacted form.
func TestEndpointGoStringHidesThePassword(t *testing.T) {
	password := uniq("password")
	ep := failover.Endpoint{URL: "amqp://guest:" + password + "@127.0.0.1:5672/"}
	noSecret(t, "Endpoint %#v", fmt.Sprintf("%#v", ep), password)
	noSecret(t, "[]Endpoint %#v", fmt.Sprintf("%#v", []failover.Endpoint{ep}), password)
}

// TestBlankSecretTokenIsRefused shows that a secret_token of only spaces
// passes Validate: a secret anyone can guess, as open as no secret at all.
func TestBlankSecretTokenIsRefused(t *testing.T) {
	for _, s := range []string{" ", "   ", "\t", "\n"} {
		c := servicebus.DefaultConfig()
		c.SecretToken = servicebus.Secret(s)
		if err := c.Validate(); err == nil {
			t.Errorf("secret_token %q: Validate accepted it", s)
		}
	}
}

// TestPoisonHeaderDoesNotStopTheAgent shows a denial of service by one
// message: AMQP headers nested deeper than 32 tables/arrays are accepted by
// RabbitMQ, but amqp091-go (read.go, maxFieldDepth = 32) fails to parse the
// delivery with ErrSyntax and closes the whole connection. The delivery was
// unacked, so the broker requeues it and hands it to the agent again at the
// next connect: the agent reconnects ~10 times a second and serves nothing on
// that broker, for as long as the message stays in the queue.
//
// Measured: compat topology, 210 connection losses in 20 s, Consuming() 0.
// With durable topology and a delivery limit on the quorum node queue
// (policy {"delivery-limit": 3}) the broker drops/dead-letters it after 4
// losses and the agent serves again — so durable topology should declare
// x-delivery-limit; compat topology (classic queue) has no such remedy.
func TestPoisonHeaderDoesNotStopTheAgent(t *testing.T) {
	w := newWorld(t, "poison")
	log := newCaptureLog()
	w.startAgent(codec.NoTokens, log)
	raw := w.rawClient()
	deep := amqp.Table{"v": "leaf"}
	for range 40 {
		deep = amqp.Table{"t": deep}
	}
	raw.publish(pyCall(uniq("ev"), "", "math", "add", "[1, 2]"), amqp.Table{"x-deep": deep}, false)
	log.WaitFor(t, 10*time.Second, 1, "connection lost")
	expectResult(t, raw.call(pyCall(uniq("ev"), "", "math", "add", "[40, 2]"), nil), "42")
}
