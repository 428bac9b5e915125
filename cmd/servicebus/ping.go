package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-servicebus/servicebus/pkg/rpc"
)

const pingHelp = `Sends PING to the node's queue and prints the round-trip time of its PONG
(servicebus and py-servicebus agents both answer). With --all the node is
pinged over every configured broker at once, one line per broker.

Exit codes: 0 the node answered (with --all: over every broker), 2 usage or
config error, 3 no answer (timeout, no route to the node, no broker reachable;
with --all: over at least one broker), 130 interrupted by SIGINT (143: SIGTERM).`

func runPing(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ping", "ping [flags] NODE", pingHelp)
	conn := addConnFlags(fs)
	conn.addTimeout(5*time.Second, "deadline of the ping")
	all := fs.Bool("all", false, "ping over every broker and print one line per broker")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	log := newQuietLog("ping", *conn.verbose, stderr)
	out := reporter{cmd: "ping", stdout: stdout, stderr: stderr, log: log}
	if len(pos) != 1 {
		return out.usage(errors.New("want exactly one NODE"))
	}
	node := pos[0]
	s, code := conn.open(log, out)
	if code >= 0 {
		return code
	}
	defer s.close()
	if !*all {
		// The round trip should not include connecting: wait for a broker.
		waitPaths(s.op, s.sender, false)
		if s.op.Err() != nil {
			// No broker came up in time: say why each is down, rather
			// than that the deadline passed before sending.
			err := fmt.Errorf("%w: %w", rpc.ErrUnavailable, context.Cause(s.op))
			return s.fail(out, err)
		}
		rtt, err := s.sender.Ping(s.op, node)
		if err != nil {
			return s.fail(out, err)
		}
		fmt.Fprintf(stdout, "PONG from %s in %s\n", node, roundRTT(rtt))
		return exitOK
	}
	waitPaths(s.op, s.sender, true)
	res, err := s.sender.PingAll(s.op, node)
	if err != nil && s.ctx.Err() != nil {
		return out.fail(interrupted(s.ctx, err))
	}
	for _, p := range res.Paths {
		if p.Err != nil {
			fmt.Fprintf(stdout, "%s: no answer: %s\n", p.Endpoint, oneLine(p.Err))
			continue
		}
		fmt.Fprintf(stdout, "%s: PONG from %s in %s\n", p.Endpoint, node, roundRTT(p.RTT))
	}
	if err != nil && res.Brokers == 0 {
		return out.fail(err)
	}
	fmt.Fprintf(stdout, "%d of %d brokers answered\n", res.Answered, res.Brokers)
	if res.Answered < res.Brokers {
		if err == nil {
			err = fmt.Errorf("%d of %d brokers did not answer", res.Brokers-res.Answered, res.Brokers)
		}
		return out.fail(err)
	}
	return exitOK
}

// roundRTT keeps three significant figures or so.
func roundRTT(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// waitPaths waits until every broker is either ready or has failed to
// connect at least once (with any: until one is ready, or all failed): a
// sender that just started is still connecting, PingAll pings each broker
// once, and a round trip should not include the connect.
func waitPaths(ctx context.Context, sender *rpc.Sender, all bool) {
	for {
		changed := sender.Changed()
		settled, ready := true, false
		for _, b := range sender.Status() {
			ready = ready || b.Ready
			if !b.Ready && b.Err == nil {
				settled = false
			}
		}
		if settled || (ready && !all) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
