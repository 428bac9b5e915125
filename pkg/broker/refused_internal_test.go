package broker

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Only what cannot heal is a refusal: what the broker said in so many
// words, or what our own TLS verification concluded. Anything that may pass
// (a connection limit, a broker shutting down, a socket closed without a
// word) is retried as any failure.
func TestRefusalsAreOnlyWhatCannotHeal(t *testing.T) {
	server := func(code int, reason string) error {
		return fmt.Errorf("wrapped: %w", &amqp.Error{Code: code, Reason: reason, Server: true})
	}
	for _, tc := range []struct {
		name   string
		err    error
		setup  bool
		reason string // "" = not a refusal
	}{
		{"403 at login", server(403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."), false, "access refused"},
		{"530 vhost not found", server(530, "NOT_ALLOWED - vhost nope not found"), false, "vhost not found"},
		{"530 no permission on vhost", server(530, "NOT_ALLOWED - access to vhost 'v' refused for user 'u'"), false, "access to the vhost refused"},
		{"530 vhost connection limit", server(530, "NOT_ALLOWED - access to vhost '/' refused for user 'u': connection limit (1) is reached"), false, ""},
		{"530 user connection limit", server(530, "NOT_ALLOWED - Connection refused for user 'u': user connection limit (1) is reached"), false, ""},
		{"320 broker shutting down", server(320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"), false, ""},
		{"406 at set-up", server(406, "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'x'"), true, "the topology does not match the broker's"},
		{"406 outside set-up", server(406, "PRECONDITION_FAILED - unknown delivery tag 1"), false, ""},
		{"403 at set-up", server(403, "ACCESS_REFUSED - access to exchange 'x' in vhost '/' refused for user 'u'"), true, "access refused"},
		{"404 at set-up", server(404, "NOT_FOUND - home node of durable queue 'q' is down"), true, ""},
		{"socket closed at login (amqp091-go's guess)", amqp.ErrCredentials, false, ""},
		{"socket closed at vhost (amqp091-go's guess)", amqp.ErrVhost, false, ""},
		{"no SASL mechanism in common", amqp.ErrSASL, false, "no authentication mechanism in common"},
		{"unknown CA", fmt.Errorf("TLS handshake: %w", x509.UnknownAuthorityError{}), false, "TLS certificate verification failed"},
		{"wrong host name", fmt.Errorf("TLS handshake: %w", x509.HostnameError{Host: "h"}), false, "TLS certificate verification failed"},
		{"broker refuses our certificate", fmt.Errorf("TLS: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}), false, "the broker refused the client certificate"},
		{"broker sends another alert", fmt.Errorf("TLS: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: protocol version not supported")}), false, ""},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connect: connection refused")}, false, ""},
		{"nil", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := refusal("amqp://h:5672/", tc.err, tc.setup)
			if tc.reason == "" {
				if ok {
					t.Fatalf("%v is a refusal (%v); it may heal", tc.err, r)
				}
				return
			}
			if !ok {
				t.Fatalf("%v is no refusal, want %q", tc.err, tc.reason)
			}
			if r.Reason != tc.reason || !errors.Is(r, ErrRefused) || !errors.Is(r, tc.err) || r.Broker != "amqp://h:5672/" {
				t.Fatalf("got %#v (%v), want reason %q matching ErrRefused and the error", r, r, tc.reason)
			}
			if again, ok := refusal("other", r, tc.setup); !ok || again != r {
				t.Fatalf("a RefusedError is not taken as it is: %v", again)
			}
		})
	}
}
