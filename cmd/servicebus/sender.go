package main

import (
	"io"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// cliLogger is the logger of a command: quiet (warnings once, failures held
// for the final line) unless --verbose.
func cliLogger(verbose bool, stderr io.Writer) watermill.LoggerAdapter {
	return newQuietLog("", verbose, stderr)
}

// newSender builds the sender of a validated config.
func newSender(cfg servicebus.Config, log *quietLog) (*rpc.Sender, error) {
	return servicebus.NewSender(cfg, log)
}
