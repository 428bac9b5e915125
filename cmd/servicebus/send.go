package main

import (
	"context"
	"io"
)

const sendHelp = `Sends a message to a message service and returns once a broker confirmed it
(publisher confirms; the message is persistent on the node's durable queue).
Prints nothing on success. PARAMS_JSON defaults to null; "-" reads it from
standard input.

Exit codes: 0 confirmed, 2 usage or config error (bad flag, bad JSON, bad
target), 3 timeout, no route to the node or no broker reachable.`

func runSend(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("send", "send [flags] NODE.CATEGORY.NAME [PARAMS_JSON]", sendHelp)
	conn := addConnFlags(fs)
	timeout := fs.Duration("timeout", 0, "deadline for the broker's confirm (default: config call_timeout, 30s)")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	target, params, err := targetAndParams(pos)
	if err != nil {
		return usageErr(stderr, "send", err)
	}
	cfg, err := conn.load(*timeout)
	if err != nil {
		return usageErr(stderr, "send", err)
	}
	sender, err := newSender(cfg, *conn.verbose, stderr)
	if err != nil {
		return usageErr(stderr, "send", err)
	}
	defer sender.Close()

	ctx, stop := signalContext()
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	if err := sender.Send(ctx, target, params); err != nil {
		return fail(stderr, "send", withBrokerErrors(err, sender.Publisher()))
	}
	return exitOK
}
