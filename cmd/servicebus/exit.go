package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// exitCode maps an error of a call, send or ping to the process exit code.
func exitCode(err error) int {
	var remote *rpc.RemoteError
	var sig *signalError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &sig):
		return sig.exitCode()
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
		// ErrTimeout, ErrNoRoute, ErrUnavailable, ErrClosed and anything
		// else local: the call did not get an answer.
		return exitUnavailable
	}
}

// errUsage marks errors that are the command line's fault.
var errUsage = errors.New("usage")

// errorCode is the "code" of a --json error object: the agent's error code
// for a remote error, else what went wrong locally.
func errorCode(err error, exit int) string {
	var remote *rpc.RemoteError
	var sig *signalError
	switch {
	case errors.As(err, &sig):
		return "interrupted"
	case errors.As(err, &remote):
		return string(remote.Code)
	case exit == exitUsage:
		return "usage"
	case errors.Is(err, rpc.ErrNoRoute):
		return "no_route"
	case errors.Is(err, rpc.ErrTimeout):
		return "timeout"
	case errors.Is(err, broker.ErrRefused):
		return "refused"
	case errors.Is(err, rpc.ErrConnectionLost):
		return "connection_lost"
	case errors.Is(err, rpc.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, rpc.ErrClosed):
		return "closed"
	}
	return "error"
}

// withBrokerErrors adds why the brokers are unreachable to an ErrUnavailable
// that does not say it (a publish that never found a broker up).
func withBrokerErrors(err error, sender *rpc.Sender) error {
	if !errors.Is(err, rpc.ErrUnavailable) || errors.Is(err, rpc.ErrConnectionLost) {
		return err
	}
	var why []string
	for _, b := range sender.Status() {
		switch {
		case b.Ready || b.Blocked:
		case b.Err != nil && !strings.Contains(err.Error(), b.Err.Error()):
			why = append(why, b.Err.Error())
		case b.Err == nil && b.Connects == 0 && !strings.Contains(err.Error(), b.Endpoint):
			why = append(why, b.Endpoint+": no answer yet to the first connect")
		}
	}
	if len(why) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(why, "; "))
}

// reporter prints the outcome of a failed command: one line on stderr, or
// with --json one object {"error": TEXT, "code": CODE} on stdout.
type reporter struct {
	cmd            string
	stdout, stderr io.Writer
	json           bool
	log            *quietLog // causes the quiet logger held back; may be nil
}

// fail reports err and returns its exit code.
func (r reporter) fail(err error) int {
	code := exitCode(err)
	msg := oneLine(err)
	var remote *rpc.RemoteError
	switch {
	case code == exitUsage:
		return r.usage(err)
	case errors.Is(err, rpc.ErrNoRoute):
		msg += " (no queue serves that node: is its agent running?)"
	case errors.As(err, &remote) && remote.Code == codec.CodeBadToken:
		msg += " (the agent refused the token: secret_token and token_mode must be the agent's)"
	}
	if r.log != nil {
		// What the logger held back (a broker set-up failure, say) is the
		// cause when the error itself does not say it.
		for _, cause := range r.log.held() {
			if !strings.Contains(msg, cause) {
				msg += " (" + cause + ")"
			}
		}
	}
	r.print(msg, errorCode(err, code), false)
	return code
}

// usage reports a usage or config error and returns exitUsage.
func (r reporter) usage(err error) int {
	r.print(oneLine(err), "usage", true)
	return exitUsage
}

func (r reporter) print(msg, code string, usage bool) {
	if r.json {
		out, _ := json.Marshal(struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}{msg, code})
		fmt.Fprintf(r.stdout, "%s\n", out)
		return
	}
	if usage {
		fmt.Fprintf(r.stderr, "servicebus %s: %s (run 'servicebus help %s')\n", r.cmd, msg, r.cmd)
		return
	}
	fmt.Fprintf(r.stderr, "servicebus %s: %s\n", r.cmd, msg)
}

// fail prints err in one line on stderr and returns its exit code.
func fail(stderr io.Writer, cmd string, err error) int {
	return reporter{cmd: cmd, stderr: stderr}.fail(err)
}
