package main

import (
	"io"
)

const sendHelp = `Sends a message to a message service and returns once a broker confirmed it
(publisher confirms; the message is persistent on the node's durable queue).
Prints nothing on success. PARAMS_JSON defaults to null; "-" reads it from
standard input.

Exit codes: 0 confirmed, 2 usage or config error (bad flag, bad JSON, bad
target), 3 timeout, no route to the node or no broker reachable, 130
interrupted by SIGINT (143: SIGTERM).`

func runSend(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("send", "send [flags] NODE.CATEGORY.NAME [PARAMS_JSON]", sendHelp)
	conn := addConnFlags(fs)
	conn.addTimeout(0, "deadline for the broker's confirm (default: config call_timeout, 30s)")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	log := newQuietLog("send", *conn.verbose, stderr)
	out := reporter{cmd: "send", stdout: stdout, stderr: stderr, log: log}
	s, target, params, code := conn.openTo(pos, log, out)
	if code >= 0 {
		return code
	}
	defer s.close()
	if err := s.sender.Send(s.op, target, params); err != nil {
		return s.fail(out, err)
	}
	return exitOK
}
