package main

import (
	"io"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/sirupsen/logrus"

	"github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// cliLogger logs errors only unless --verbose: the CLI reports its outcome in
// one line on stderr, connection events only on request.
func cliLogger(verbose bool, stderr io.Writer) watermill.LoggerAdapter {
	l := logrus.New()
	l.SetOutput(stderr)
	// Errors are always shown: among them the warning that TLS
	// verification is off (tls.insecure_skip_verify).
	l.SetLevel(logrus.ErrorLevel)
	if verbose {
		l.SetLevel(logrus.DebugLevel)
	}
	return servicebus.LogrusLogger(l)
}

// newSender builds the sender of a validated config.
func newSender(cfg servicebus.Config, verbose bool, stderr io.Writer) (*rpc.Sender, error) {
	return servicebus.NewSender(cfg, cliLogger(verbose, stderr))
}
