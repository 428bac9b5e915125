package main

import (
	"context"

	"github.com/go-servicebus/servicebus"
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
	return &session{sender: sender, ctx: ctx, op: op, close: func() {
		cancel()
		stop()
		_ = sender.Close()
	}}, -1
}
