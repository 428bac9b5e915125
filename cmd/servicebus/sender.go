package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/publish"
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

// giveUpAttempts is how many times every broker must have failed, none
// ever answering, before a command stops waiting for one.
const giveUpAttempts = 2

// errNoBrokerAnswered is why a command gave up before its deadline; the
// error it ends with says why each broker is down.
var errNoBrokerAnswered = fmt.Errorf("no broker answered, each tried %d times", giveUpAttempts)

// untilUnreachable returns ctx, ended with errNoBrokerAnswered as soon as no
// broker of pub has answered and each has been tried giveUpAttempts times
// (or refused for good): a command runs once, and a wrong port or host
// should not cost the whole deadline. A long-lived sender keeps waiting
// for its brokers instead. stop ends the watch.
func untilUnreachable(ctx context.Context, pub *publish.Publisher) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			changed := pub.Changed()
			if pub.Unreachable(giveUpAttempts) {
				cancel(errNoBrokerAnswered)
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, func() {
		cancel(nil)
		<-done
	}
}
