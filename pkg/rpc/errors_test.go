package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

func TestParseTargetSplitsNodeWithDots(t *testing.T) {
	cases := []struct {
		in              string
		node, cat, name string
		wantErr         bool
	}{
		{in: "NODE-01.math.add", node: "NODE-01", cat: "math", name: "add"},
		{in: "host.example.com.math.add", node: "host.example.com", cat: "math", name: "add"},
		{in: "math.add", wantErr: true},
		{in: "add", wantErr: true},
		{in: "", wantErr: true},
		{in: ".math.add", wantErr: true},
		{in: "node..add", wantErr: true},
		{in: "node.math.", wantErr: true},
		{in: "a..b.math.add", wantErr: true},
	}
	for _, c := range cases {
		got, err := rpc.ParseTarget(c.in)
		if c.wantErr {
			if !errors.Is(err, rpc.ErrBadTarget) {
				t.Errorf("ParseTarget(%q) err = %v, want ErrBadTarget", c.in, err)
			}
			continue
		}
		if err != nil || got.Node != c.node || got.Category != c.cat || got.Name != c.name {
			t.Errorf("ParseTarget(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func TestNewSenderNamesEveryConfigProblem(t *testing.T) {
	_, err := rpc.NewSender(rpc.Config{ReplyMode: "carrier-pigeon", CallTimeout: -1, Topology: topology.Topology{Kind: "x"}}, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, field := range []string{"Endpoints", "Signer", "ReplyMode", "CallTimeout", "Topology"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}

func TestRemoteErrorMatchesByCode(t *testing.T) {
	err := error(&rpc.RemoteError{Code: codec.CodeBadToken, Message: "Token not valid!"})
	if !errors.Is(err, &rpc.RemoteError{Code: codec.CodeBadToken}) || !errors.Is(err, &rpc.RemoteError{}) {
		t.Fatal("RemoteError should match its code and the empty code")
	}
	if errors.Is(err, &rpc.RemoteError{Code: codec.CodeServiceError}) {
		t.Fatal("RemoteError matched another code")
	}
	if rpc.IsRetryable(err) {
		t.Fatal("a bad token is not retryable")
	}
	if !rpc.IsRetryable(rpc.ErrConnectionLost) || !errors.Is(rpc.ErrConnectionLost, rpc.ErrUnavailable) {
		t.Fatal("ErrConnectionLost must be retryable and match ErrUnavailable")
	}
}

func TestMalformedTargetFailsBeforeSending(t *testing.T) {
	// No broker needed: the target is checked before anything is published.
	s, err := rpc.NewSender(rpc.Config{Endpoints: []broker.Endpoint{{URL: "amqp://guest:guest@127.0.0.1:1/"}}, Signer: token.NoTokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Call(context.Background(), "math.add", nil); !errors.Is(err, rpc.ErrBadTarget) {
		t.Fatalf("Call err = %v, want ErrBadTarget", err)
	}
	if err := s.Send(context.Background(), "nonode", nil); !errors.Is(err, rpc.ErrBadTarget) {
		t.Fatalf("Send err = %v, want ErrBadTarget", err)
	}
}

func TestCallWithNoBrokerFailsWithErrUnavailableByTheDeadline(t *testing.T) {
	port := brokertest.FreePort(t)
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, "amqp://guest:guest@127.0.0.1:"+itoa(port)+"/")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Call(ctx, "n.math.add", []int{1})
	if !errors.Is(err, rpc.ErrUnavailable) || !rpc.IsRetryable(err) {
		t.Fatalf("err = %v, want retryable ErrUnavailable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %s, want about the 300ms deadline", took)
	}
}

func TestCallPastDeadlineFailsWithErrTimeoutAndIsNotRun(t *testing.T) {
	url := brokertest.RequireBroker(t)
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	node := testkit.UniqueName("sbtest-rpc")
	declareNodeQueue(t, url, node) // nobody consumes yet

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Call(ctx, node+".util.echo", "late")
	if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout (and DeadlineExceeded)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("timeout took %s", took)
	}
	// The agent comes up after the deadline: the request expired in the
	// queue (AMQP expiration) or is skipped by its deadline header.
	agent := startStandIn(t, url, node, false, "")
	if _, err := s.Ping(context.Background(), node); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if n := agent.runs("echo"); n != 0 {
		t.Fatalf("expired call was run %d times", n)
	}

	// A slow service: the caller gives up at its deadline.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, err := s.Call(ctx2, node+".util.sleep", 1000); !errors.Is(err, rpc.ErrTimeout) {
		t.Fatalf("slow call err = %v, want ErrTimeout", err)
	}
}

func TestPythonAgentRepliesComeBackAsRawText(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := testkit.UniqueName("sbtest-py")
	startStandIn(t, url, node, true, "")
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	for service, want := range map[string]string{"py.dict": "{'a': 1}", "py.none": "None", "math.add": "3"} {
		reply, err := s.Call(context.Background(), node+"."+service, []int{1, 2})
		if err != nil {
			t.Fatalf("%s: %v", service, err)
		}
		if reply.Raw != want {
			t.Errorf("%s: raw %q, want %q", service, reply.Raw, want)
		}
	}
}

func TestRemoteErrorCarriesTheCode(t *testing.T) {
	url := brokertest.RequireBroker(t)
	secret := "s3cr3t"
	good := token.NewDailyTokens(secret, time.UTC)
	goodEv := codec.Event{}
	if _, err := good.Sign(&goodEv, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, python := range []bool{false, true} {
		name := "ours"
		if python {
			name = "python"
		}
		t.Run(name, func(t *testing.T) {
			node := testkit.UniqueName("sbtest-err")
			startStandIn(t, url, node, python, goodEv.Token)
			s := newSender(t, rpc.ReplyQueue, good, url)
			bad := newSender(t, rpc.ReplyQueue, token.NewDailyTokens("wrong", time.UTC), url)
			ctx := context.Background()

			_, err := s.Call(ctx, node+".math.nothere", nil)
			assertRemote(t, err, codec.CodeUnknownService, "Cannot Find RPC Service: math.nothere")
			_, err = bad.Call(ctx, node+".math.add", []int{1})
			assertRemote(t, err, codec.CodeBadToken, codec.TextTokenNotValid)
			if !python {
				_, err = s.Call(ctx, node+".util.fail", nil)
				assertRemote(t, err, codec.CodeServiceError, "boom")
			}
		})
	}
}

func assertRemote(t *testing.T, err error, code codec.ErrorCode, msg string) {
	t.Helper()
	var re *rpc.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RemoteError %s", err, code)
	}
	if re.Code != code || re.Message != msg {
		t.Fatalf("RemoteError = {%s %q}, want {%s %q}", re.Code, re.Message, code, msg)
	}
}

func TestHMACSignedCallsPassAnHMACValidatingAgent(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := testkit.UniqueName("sbtest-hmac")
	startStandIn(t, url, node, false, "", func(a *standIn) {
		a.validator = token.NewHMACTokens("hmac secret", token.HMACOptions{})
	})
	good := newSender(t, rpc.ReplyQueue, token.NewHMACTokens("hmac secret", token.HMACOptions{}), url)
	bad := newSender(t, rpc.ReplyQueue, token.NewHMACTokens("other", token.HMACOptions{}), url)
	reply, err := good.Call(context.Background(), node+".math.add", []int{2, 3})
	if err != nil || reply.Raw != "5" {
		t.Fatalf("signed call: %v, %v", reply, err)
	}
	// The agent's "Token not valid!" is signed with a secret the bad sender
	// does not have: it cannot tell it from a forgery, ignores it, and
	// says so when the call times out.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = bad.Call(ctx, node+".math.add", []int{2, 3})
	if !errors.Is(err, rpc.ErrTimeout) || !strings.Contains(err.Error(), "replies to it ignored for want of a good signature: 1;") {
		t.Fatalf("call with another secret: %v, want a timeout naming the ignored reply", err)
	}
	if got := bad.Stats().BadReplies; got != 1 {
		t.Errorf("Stats().BadReplies = %d, want 1", got)
	}
}

// rpc's errors speak of rpc yet match the failover and broker errors they
// stand for, so a caller may test either.
func TestErrorsMatchAcrossLayers(t *testing.T) {
	noRoute := fmt.Errorf("%w: N.math.add", rpc.ErrNoRoute)
	if !errors.Is(noRoute, rpc.ErrNoRoute) || !errors.Is(noRoute, failover.ErrNoRoute) {
		t.Errorf("%v: want both rpc.ErrNoRoute and failover.ErrNoRoute", noRoute)
	}
	if strings.Contains(rpc.ErrNoRoute.Error(), "failover") || !strings.HasPrefix(rpc.ErrNoRoute.Error(), "rpc: ") {
		t.Errorf("rpc.ErrNoRoute prints %q, want an rpc: text", rpc.ErrNoRoute)
	}
	if rpc.IsRetryable(failover.ErrNoRoute) || rpc.IsRetryable(noRoute) {
		t.Error("no route must not be retryable, whichever layer says it")
	}
	for _, err := range []error{rpc.ErrClosed, failover.ErrClosed} {
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("%v does not match broker.ErrClosed", err)
		}
	}
	if errors.Is(failover.ErrClosed, rpc.ErrClosed) {
		t.Error("a closed publisher must not read as a closed sender")
	}
}
