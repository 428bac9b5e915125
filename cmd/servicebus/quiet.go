package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/sirupsen/logrus"

	"github.com/go-servicebus/servicebus"
)

// quietLog is the CLI's logger. With --verbose it logs everything at debug
// level and up. Without, the command's outcome is one line on stderr, so it
// shows only error-level records without an error value — warnings such as
// "TLS verification is OFF" or an unknown SERVICEBUS_* variable — each once;
// records that carry an error (a broker set-up that failed, at every
// reconnect) are held back for the final line, which names their cause.
type quietLog struct {
	out     watermill.LoggerAdapter // --verbose
	cmd     string
	stderr  io.Writer
	verbose bool
	fields  watermill.LogFields
	state   *quietState
}

type quietState struct {
	mu   sync.Mutex
	seen map[string]bool
	errs []string // distinct held-back errors, oldest first
}

func newQuietLog(cmd string, verbose bool, stderr io.Writer) *quietLog {
	l := logrus.New()
	l.SetOutput(stderr)
	l.SetLevel(logrus.DebugLevel)
	return &quietLog{out: servicebus.LogrusLogger(l), cmd: cmd, stderr: stderr, verbose: verbose,
		state: &quietState{seen: map[string]bool{}}}
}

func (q *quietLog) Error(msg string, err error, fields watermill.LogFields) {
	all := q.fields.Add(fields)
	if q.verbose {
		q.out.Error(msg, err, all)
		return
	}
	s := q.state
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		text := oneLine(err)
		if !s.seen["err\x00"+text] {
			s.seen["err\x00"+text] = true
			s.errs = append(s.errs, text)
		}
		return
	}
	line := warningLine(msg, all)
	if !s.seen[line] {
		s.seen[line] = true
		prefix := "servicebus"
		if q.cmd != "" {
			prefix += " " + q.cmd
		}
		fmt.Fprintf(q.stderr, "%s: warning: %s\n", prefix, line)
	}
}

func (q *quietLog) Info(msg string, fields watermill.LogFields) {
	if q.verbose {
		q.out.Info(msg, q.fields.Add(fields))
	}
}

func (q *quietLog) Debug(msg string, fields watermill.LogFields) {
	if q.verbose {
		q.out.Debug(msg, q.fields.Add(fields))
	}
}

func (q *quietLog) Trace(msg string, fields watermill.LogFields) {
	if q.verbose {
		q.out.Trace(msg, q.fields.Add(fields))
	}
}

func (q *quietLog) With(fields watermill.LogFields) watermill.LoggerAdapter {
	c := *q
	c.fields = q.fields.Add(fields)
	return &c
}

// held is the errors held back so far, each once.
func (q *quietLog) held() []string {
	q.state.mu.Lock()
	defer q.state.mu.Unlock()
	return append([]string(nil), q.state.errs...)
}

// warningLine is msg with the fields whose values it does not already show,
// in key order.
func warningLine(msg string, f watermill.LogFields) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(msg)
	for _, k := range keys {
		v := fmt.Sprint(f[k])
		if !strings.Contains(msg, v) {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	return b.String()
}

// cliLogger is the logger of a command: quiet (warnings once, failures held
// for the final line) unless --verbose.
func cliLogger(verbose bool, stderr io.Writer) watermill.LoggerAdapter {
	return newQuietLog("", verbose, stderr)
}
