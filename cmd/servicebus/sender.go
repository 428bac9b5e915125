package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// session is what call, send and ping run in: the sender of the loaded
// config, the context a signal cancels, and that context bounded by the
// command's deadline (call_timeout, or --timeout).
type session struct {
	sender *rpc.Sender
	ctx    context.Context // cancelled by SIGINT or SIGTERM (see interrupted)
	op     context.Context // ctx with the command's deadline
	close  func()
}

// open loads the config (reporting a bad one as a usage error) and builds
// the session; code >= 0 means the command is done with that exit code.
// The caller defers s.close().
func (c *connFlags) open(log *quietLog, out reporter) (s *session, code int) {
	cfg, err := c.load(log)
	if err != nil {
		return nil, out.usage(err)
	}
	sender, err := servicebus.NewSender(cfg, log)
	if err != nil {
		return nil, out.usage(err)
	}
	ctx, stop := signalContext()
	op, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	op, stopWatch := untilUnreachable(op, sender)
	return &session{sender: sender, ctx: ctx, op: op, close: func() {
		stopWatch()
		cancel()
		stop()
		_ = sender.Close()
	}}, -1
}

// openTo reads the TARGET [PARAMS_JSON] of a call or a send (a bad one is a
// usage error), then opens the session it goes out on, as open does.
func (c *connFlags) openTo(pos []string, log *quietLog, out reporter) (s *session, target string, params json.RawMessage, code int) {
	target, params, err := targetAndParams(pos)
	if err != nil {
		return nil, "", nil, out.usage(err)
	}
	s, code = c.open(log, out)
	return s, target, params, code
}

// fail reports the failed command's err, naming each broker's cause, or the
// signal that ended it; it returns the exit code.
func (s *session) fail(out reporter, err error) int {
	return out.fail(interrupted(s.ctx, withBrokerErrors(err, s.sender)))
}

// giveUpAttempts is how many times every broker must have failed, none
// ever answering, before a command stops waiting for one.
const giveUpAttempts = 2

// errNoBrokerAnswered is why a command gave up before its deadline; the
// error it ends with says why each broker is down.
var errNoBrokerAnswered = fmt.Errorf("no broker answered, each tried %d times", giveUpAttempts)

// untilUnreachable returns ctx, ended with errNoBrokerAnswered as soon as
// no broker has been connected while each has failed giveUpAttempts times
// in a row, or refused for good (a refusal every broker gives ends a call
// at once without this): a command runs once, and a wrong host or port
// should not cost it the whole deadline. A long-lived sender keeps waiting
// for its brokers instead. stop ends the watch.
func untilUnreachable(ctx context.Context, sender *rpc.Sender) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			changed := sender.Changed()
			if unreachable(sender.Status()) {
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

func unreachable(brokers []rpc.BrokerStatus) bool {
	for _, b := range brokers {
		if b.Ready || b.Connects > 0 || (b.Failures < giveUpAttempts && !errors.Is(b.Err, broker.ErrRefused)) {
			return false
		}
	}
	return len(brokers) > 0
}
