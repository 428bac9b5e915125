package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// exitCode maps an error of a call, send or ping to the process exit code.
func exitCode(err error) int {
	var remote *rpc.RemoteError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &remote):
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
