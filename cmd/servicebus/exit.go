package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// exitCode maps an error of a call, send or ping to the process exit code.
func exitCode(err error) int {
	var remote *rpc.RemoteError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &remote):
		switch remote.Code {
		case codec.CodeDeadlineExceeded, codec.CodeUnavailable:
			// The agent answered that the call's time ran out, or that it
			// is shutting down: no result, try again later, like a timeout.
			return exitUnavailable
		}
		return exitRemote
	case errors.Is(err, rpc.ErrBadTarget), errors.Is(err, errUsage):
		return exitUsage
	default:
		// ErrTimeout, ErrNoRoute, ErrUnavailable, ErrClosed, an interrupt,
		// and anything else local: the call did not get an answer.
		return exitUnavailable
	}
}

// errUsage marks errors that are the command line's fault.
var errUsage = errors.New("usage")

// withBrokerErrors adds why the brokers are unreachable to an ErrUnavailable
// that does not say it (a publish that never found a broker up).
func withBrokerErrors(err error, pub *failover.Publisher) error {
	if !errors.Is(err, rpc.ErrUnavailable) || errors.Is(err, rpc.ErrConnectionLost) {
		return err
	}
	var why []string
	for i := range pub.Paths() {
		if perr := pub.Path(i).Err(); perr != nil && !strings.Contains(err.Error(), perr.Error()) {
			why = append(why, perr.Error())
		}
	}
	if len(why) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(why, "; "))
}

// fail prints err in one line on stderr and returns its exit code.
func fail(stderr io.Writer, cmd string, err error) int {
	code := exitCode(err)
	if code == exitUsage {
		return usageErr(stderr, cmd, err)
	}
	msg := oneLine(err)
	switch {
	case errors.Is(err, rpc.ErrNoRoute):
		msg += " (no queue serves that node: is its agent running?)"
	case errors.Is(err, context.Canceled):
		msg = "interrupted"
	}
	fmt.Fprintf(stderr, "servicebus %s: %s\n", cmd, msg)
	return code
}
