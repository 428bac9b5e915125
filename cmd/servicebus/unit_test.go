package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/bench"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

func TestExitCodeOfEachError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{&rpc.RemoteError{Code: codec.CodeServiceError, Message: "boom"}, exitRemote},
		{fmt.Errorf("wrapped: %w", &rpc.RemoteError{Code: codec.CodeBadToken}), exitRemote},
		{&rpc.RemoteError{Code: codec.CodeDeadlineExceeded}, exitUnavailable},
		{&rpc.RemoteError{Code: codec.CodeUnavailable}, exitUnavailable},
		{&rpc.RemoteError{Code: codec.CodeUnknownService}, exitRemote},
		{fmt.Errorf("%w: x", rpc.ErrBadTarget), exitUsage},
		{rpc.ErrTimeout, exitUnavailable},
		{context.DeadlineExceeded, exitUnavailable},
		{fmt.Errorf("%w: N.a.b", rpc.ErrNoRoute), exitUnavailable},
		{rpc.ErrUnavailable, exitUnavailable},
		{rpc.ErrConnectionLost, exitUnavailable},
		{rpc.ErrClosed, exitUnavailable},
		{context.Canceled, exitUnavailable},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestFailPrintsOneLine(t *testing.T) {
	var buf bytes.Buffer
	code := fail(&buf, "call", errors.Join(errors.New("first"), &rpc.RemoteError{Code: codec.CodeServiceError, Message: "second"}))
	if code != exitRemote {
		t.Errorf("code %d", code)
	}
	if got := buf.String(); got != "servicebus call: first; rpc: remote error service_error: second\n" {
		t.Errorf("got %q", got)
	}
}

func TestParseArgsTakesFlagsAnywhere(t *testing.T) {
	fs := newFlagSet("x", "x", "")
	j := fs.Bool("json", false, "")
	d := fs.Duration("timeout", 0, "")
	var out, errw bytes.Buffer
	pos, code := parseArgs(fs, []string{"--json", "T", "--timeout", "2s", "P", "--", "--not-a-flag"}, &out, &errw)
	if code != -1 || !*j || *d != 2*time.Second {
		t.Fatalf("code %d json %v timeout %v stderr %q", code, *j, *d, errw.String())
	}
	if strings.Join(pos, " ") != "T P --not-a-flag" {
		t.Errorf("positional %q", pos)
	}
	// A negative number after "--" is an argument, not a flag.
	fs = newFlagSet("x", "x", "")
	pos, code = parseArgs(fs, []string{"T", "--", "-1"}, &out, &errw)
	if code != -1 || strings.Join(pos, " ") != "T -1" {
		t.Errorf("code %d positional %q", code, pos)
	}
}

func TestParseArgsHelpAndBadFlag(t *testing.T) {
	fs := newFlagSet("x", "x [flags] ARG", "Does x.")
	fs.Bool("json", false, "print JSON")
	var out, errw bytes.Buffer
	if _, code := parseArgs(fs, []string{"-h"}, &out, &errw); code != exitOK {
		t.Errorf("-h: code %d", code)
	}
	if !strings.Contains(out.String(), "Usage: servicebus x [flags] ARG") || !strings.Contains(out.String(), "-json") {
		t.Errorf("help: %q", out.String())
	}
	out.Reset()
	fs = newFlagSet("x", "x", "")
	if _, code := parseArgs(fs, []string{"--nope"}, &out, &errw); code != exitUsage {
		t.Errorf("--nope: code %d", code)
	}
	if out.Len() != 0 || strings.Count(errw.String(), "\n") != 1 {
		t.Errorf("stdout %q stderr %q", out.String(), errw.String())
	}
}

func TestTargetAndParams(t *testing.T) {
	target, params, err := targetAndParams([]string{"N.math.add", " [1, 2] "})
	if err != nil || target != "N.math.add" || string(params) != "[1, 2]" {
		t.Errorf("got %q %q %v", target, params, err)
	}
	if _, params, err := targetAndParams([]string{"host.example.com.math.add"}); err != nil || string(params) != "null" {
		t.Errorf("no params: %q %v", params, err)
	}
	for _, bad := range [][]string{{}, {"math.add"}, {"N.math.add", "{"}, {"N.math.add", "1", "2"}, {"N..add", "1"}} {
		if _, _, err := targetAndParams(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseIntList(t *testing.T) {
	got, err := parseIntList("1, 16,64")
	if err != nil || fmt.Sprint(got) != "[1 16 64]" {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-4"} {
		if _, err := parseIntList(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestBenchTableShowsRatioAndBothSides(t *testing.T) {
	var buf bytes.Buffer
	printBenchTable(&buf, []bench.Row{
		{Mode: "rpc", Impl: bench.ImplFloor, Concurrency: 64, CallsPerS: 10000, P50us: 4000, P99us: 12000, CPUusPerCall: 50,
			Caller: bench.Side{CPUusPerCall: 20, AllocsPerCall: 12.5}, Server: &bench.Side{CPUusPerCall: 30, AllocsPerCall: 9}},
		{Mode: "rpc", Impl: bench.ImplServicebus, Concurrency: 64, CallsPerS: 7000, P50us: 900, P99us: 15000, CPUusPerCall: 80, Ratio: 0.7,
			Caller: bench.Side{CPUusPerCall: 35, AllocsPerCall: 60}, Server: &bench.Side{CPUusPerCall: 45, AllocsPerCall: 80}, BrokerCPUusPerCall: 71.4},
		{Mode: "send", Impl: bench.ImplServicebus, Concurrency: 1, CallsPerS: 900, P50us: 1000, P99us: 2000, CPUusPerCall: 40, Ratio: 0.9,
			Caller: bench.Side{CPUusPerCall: 40, AllocsPerCall: 30}},
	})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", buf.String())
	}
	if h := strings.Join(strings.Fields(lines[0]), " "); h != "mode impl concurrency calls/s p50 p99 ratio cpu/call caller cpu caller allocs server cpu server allocs broker cpu" {
		t.Errorf("header %q", lines[0])
	}
	for i, want := range []string{
		"rpc amqp091 64 10000 4.00ms 12.00ms 50µs 20µs 12.5 30µs 9.0 -",
		"rpc servicebus 64 7000 900µs 15.00ms 0.70 80µs 35µs 60.0 45µs 80.0 71µs",
		"send servicebus 1 900 1.00ms 2.00ms 0.90 40µs 40µs 30.0 - - -",
	} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}
}
