package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// refusal tells whether err, from a connect (setup false) or from the
// set-up of a new connection (setup true), is a refusal that retrying cannot
// heal (see ErrRefused), and if so returns it as a *RefusedError. Only what
// the broker said in so many words, or what our own TLS verification
// concluded, counts: a connection closed without a word, a timeout or a
// limit that may lift is not a refusal, and the Path keeps retrying it as
// any failure.
func refusal(broker string, err error, setup bool) (*RefusedError, bool) {
	if err == nil {
		return nil, false
	}
	var already *RefusedError
	if errors.As(err, &already) {
		return already, true
	}
	reason, code := refusalReason(err, setup)
	if reason == "" {
		return nil, false
	}
	return &RefusedError{Broker: broker, Reason: reason, Code: code, Err: err}, true
}

func refusalReason(err error, setup bool) (string, int) {
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) {
		if amqpErr == amqp.ErrSASL {
			// Concluded by amqp091-go from the broker's list of mechanisms.
			return "no authentication mechanism in common", amqp.AccessRefused
		}
		if !amqpErr.Server {
			// amqp091-go's guess when the socket closed without a reply
			// (its ErrCredentials, ErrVhost): could be anything.
			return "", 0
		}
		reason := strings.ToLower(amqpErr.Reason)
		if strings.Contains(reason, "limit") {
			// "connection limit (N) is reached": it passes once others
			// disconnect.
			return "", 0
		}
		switch {
		case amqpErr.Code == amqp.AccessRefused:
			return "access refused", amqpErr.Code
		case amqpErr.Code == amqp.NotAllowed && strings.Contains(reason, "not found"):
			return "vhost not found", amqpErr.Code
		case amqpErr.Code == amqp.NotAllowed && strings.Contains(reason, "refused for user"):
			return "access to the vhost refused", amqpErr.Code
		case setup && amqpErr.Code == amqp.PreconditionFailed:
			return "the topology does not match the broker's", amqpErr.Code
		}
		// 530 for a connection limit, 320 for a broker shutting down, ...
		// may pass.
		return "", 0
	}
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return "TLS certificate verification failed", 0
	}
	// A TLS alert from the broker about our certificate (none sent, unknown
	// authority, expired...): crypto/tls reports a received alert as a
	// net.OpError "remote error".
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		alert := op.Err.Error()
		if strings.Contains(alert, "certificate") || strings.Contains(alert, "access denied") {
			return "the broker refused the client certificate", 0
		}
	}
	return "", 0
}
