package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/internal/tlstest"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// timedCLI runs the binary and returns what it did and how long it took,
// process start and exit included.
func timedCLI(t *testing.T, env []string, args ...string) (cliResult, time.Duration) {
	t.Helper()
	cliBinary(t) // built before the clock starts
	start := time.Now()
	r := runCLI(t, env, args...)
	return r, time.Since(start)
}

// fakeEnv points the CLI at a fake broker on 127.0.0.1:port, with a
// socket_timeout far longer than the deadline under test.
func fakeEnv(port int) []string {
	return []string{
		"SERVICEBUS_HOSTS=127.0.0.1:" + strconv.Itoa(port),
		"SERVICEBUS_SECRET_TOKEN=" + testSecret,
		"SERVICEBUS_SOCKET_TIMEOUT=60",
	}
}

// commands are the three that talk to a node, each with a 1 s deadline.
var deadlineCommands = [][]string{
	{"call", "--timeout", "1", "NODE-01.math.add", "[1,2]"},
	{"send", "--timeout", "1", "NODE-01.math.add", "[1,2]"},
	{"ping", "--timeout", "1", "NODE-01"},
}

// The command returns by its deadline whatever the connect attempt is doing
// (socket_timeout is 60 s here): exit 3 and one line. Bound: the 1 s
// deadline + 100 ms + the start and exit of a process on a busy machine.
func TestCLIKeepsItsDeadlineWhateverTheConnectAttemptIsDoing(t *testing.T) {
	const bound = 1500 * time.Millisecond
	silent := brokertest.NewSilentBroker(t)
	slow := brokertest.NewSlowRefusal(t, time.Minute, 403, "ACCESS_REFUSED - Login was refused")
	tlsEnv := []string{
		"SERVICEBUS_HOSTS=127.0.0.1", "SERVICEBUS_USE_SSL=true", "SERVICEBUS_SSL_PORT=" + strconv.Itoa(silent.Port()),
		"SERVICEBUS_SECRET_TOKEN=" + testSecret, "SERVICEBUS_SOCKET_TIMEOUT=60",
	}
	for _, b := range []struct {
		name string
		env  []string
	}{
		{"broker that accepts TCP and never speaks", fakeEnv(silent.Port())},
		{"stalled TLS handshake", tlsEnv},
		{"slow refusal", fakeEnv(slow.Port())},
	} {
		for _, args := range deadlineCommands {
			t.Run(b.name+"/"+args[0], func(t *testing.T) {
				r, took := timedCLI(t, b.env, args...)
				r.wantCode(t, exitUnavailable)
				oneLineWith(t, r.stderr, "stderr", "servicebus "+args[0]+": ")
				if took > bound {
					t.Errorf("servicebus %s took %s with --timeout 1", args[0], took)
				}
				t.Logf("servicebus %s: %s: %s", args[0], took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
			})
		}
	}
}

// Refusals that cannot heal are reported within a second with their cause,
// exit 3, one line (--json: code "refused"), whatever the timeout.
func TestCLIReportsRefusalsThatCannotHealAtOnce(t *testing.T) {
	url := brokertest.RequireBroker(t)
	env := brokerEnv(t, url, testSecret)
	certs := tlstest.Generate(t)
	tlsBroker := brokertest.NewTLSBroker(t, certs.ServerCertFile, certs.ServerKeyFile)
	exchange := testkit.TransientExchange(t, url, "cli-compat-exchange")

	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		cause string
	}{
		{"wrong password", env, []string{"--password", "not-the-password"}, "access refused"},
		{"vhost not found", env, []string{"--vhost", testkit.UniqueName("no-vhost")}, "vhost not found"},
		{"TLS certificate verification", []string{
			"SERVICEBUS_HOSTS=127.0.0.1", "SERVICEBUS_USE_SSL=true", "SERVICEBUS_SSL_PORT=" + strconv.Itoa(tlsBroker.Port()),
			"SERVICEBUS_TLS_CA_FILE=" + certs.OtherCACertFile, "SERVICEBUS_SECRET_TOKEN=" + testSecret,
		}, nil, "certificate signed by unknown authority"},
		{"topology mismatch", env, []string{"--exchange", exchange, "--topology", "durable"}, "PRECONDITION_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{
				{"call", "NODE-01.math.add", "[1,2]"},
				{"send", "NODE-01.math.add", "[1,2]"},
				{"ping", "NODE-01"},
			} {
				args := append(append([]string{cmd[0], "--timeout", "30"}, tc.args...), cmd[1:]...)
				r, took := timedCLI(t, tc.env, args...)
				r.wantCode(t, exitUnavailable)
				oneLineWith(t, r.stderr, "stderr", "servicebus "+cmd[0]+": ", "refused", tc.cause)
				if took > time.Second {
					t.Errorf("servicebus %s took %s to report the refusal", cmd[0], took)
				}
				if strings.Contains(r.stderr, "not-the-password") {
					t.Errorf("the password is on stderr: %s", r.stderr)
				}
				t.Logf("servicebus %s: %s: %s", cmd[0], took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
			}
			r := runCLI(t, tc.env, append(append([]string{"call", "--json", "--timeout", "30"}, tc.args...), "NODE-01.math.add")...)
			r.wantCode(t, exitUnavailable)
			var out struct{ Error, Code string }
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Code != "refused" || !strings.Contains(out.Error, tc.cause) {
				t.Errorf("--json: %q (%v)", r.stdout, err)
			}
		})
	}
}

// When no broker has ever answered and each has been tried twice, the
// command reports it then, not at its deadline.
func TestCLIGivesUpWhenNoBrokerAnswered(t *testing.T) {
	hosts := "127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t)) + ",127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t))
	for _, args := range [][]string{
		{"call", "--hosts", hosts, "--timeout", "30", "NODE-01.math.add", "[1,2]"},
		{"send", "--hosts", hosts, "--timeout", "30", "NODE-01.math.add", "[1,2]"},
		{"ping", "--hosts", hosts, "--timeout", "30", "NODE-01"},
	} {
		r, took := timedCLI(t, []string{"SERVICEBUS_SECRET_TOKEN=" + testSecret}, args...)
		r.wantCode(t, exitUnavailable)
		oneLineWith(t, r.stderr, "stderr", "servicebus "+args[0]+": ", "no broker answered, each tried 2 times", "connection refused")
		if took > 2*time.Second {
			t.Errorf("servicebus %s gave up after %s (timeout 30 s)", args[0], took)
		}
		t.Logf("servicebus %s: %s: %s", args[0], took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
	}
}

// A command gives up only when no broker was ever connected and each has
// failed twice in a row, or refused for good.
func TestUnreachableOnlyWhenNoBrokerEverAnswered(t *testing.T) {
	down := errors.New("connection refused")
	refused := &broker.RefusedError{Broker: "b", Reason: "access refused", Err: down}
	for _, tc := range []struct {
		name    string
		brokers []rpc.BrokerStatus
		want    bool
	}{
		{"no brokers", nil, false},
		{"each failed twice", []rpc.BrokerStatus{{Failures: 2, Err: down}, {Failures: 3, Err: down}}, true},
		{"one failed once", []rpc.BrokerStatus{{Failures: 2, Err: down}, {Failures: 1, Err: down}}, false},
		{"one still on its first connect", []rpc.BrokerStatus{{Failures: 2, Err: down}, {}}, false},
		{"one refused at once, one failed twice", []rpc.BrokerStatus{{Failures: 1, Err: refused}, {Failures: 2, Err: down}}, true},
		{"one was connected before", []rpc.BrokerStatus{{Failures: 5, Err: down, Connects: 1}, {Failures: 2, Err: down}}, false},
		{"one ready", []rpc.BrokerStatus{{Ready: true, Connects: 1}, {Failures: 2, Err: down}}, false},
	} {
		if got := unreachable(tc.brokers); got != tc.want {
			t.Errorf("%s: unreachable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
