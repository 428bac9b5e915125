package router_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// add is the seed's AddService: a list of numbers or {"a":x,"b":y}.
func add(ctx context.Context, req *router.Request) (any, error) {
	var list []float64
	if err := req.Decode(&list); err == nil {
		sum := 0.0
		for _, x := range list {
			sum += x
		}
		return sum, nil
	}
	var ab struct{ A, B float64 }
	if err := req.Decode(&ab); err != nil {
		return nil, err
	}
	return ab.A + ab.B, nil
}

func TestRPCAnswersPyServicebusCallsWithListAndObjectParams(t *testing.T) {
	conn, node := freshNode(t, "rpc")
	a := startAgent(t, node, func(a *router.Agent) { a.AddRPCService("math", "add", add) })
	c := newPyClient(t, conn, node)

	for _, tc := range []struct{ params, id, want string }{
		{"[1, 2]", "1", "3"},
		{`{"a": 1, "b": 2}`, "2", "3"},
	} {
		d := c.call(vectorXML(t, "math", "add", tc.params), 5*time.Second)
		r := response(t, d)
		if r.ID != tc.id || r.Message != tc.want {
			t.Errorf("params %s: reply id %q message %q, want %q %q", tc.params, r.ID, r.Message, tc.id, tc.want)
		}
		if _, ok := d.Headers[codec.HeaderErrorCode]; ok {
			t.Errorf("params %s: success carries an error header: %v", tc.params, d.Headers)
		}
	}
	testkit.Eventually(t, 5*time.Second, "both calls acked", func() bool { return a.Stats().Acked == 2 })
}

func TestRPCErrorsCarryPyServicebusTextsAndErrorHeaders(t *testing.T) {
	conn, node := freshNode(t, "rpcerr")
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add)
		a.AddRPCService("math", "fail", func(context.Context, *router.Request) (any, error) {
			return nil, errors.New("division by zero")
		})
		a.AddRPCService("math", "typed", func(context.Context, *router.Request) (any, error) {
			return nil, router.NewError(codec.CodeUnavailable, "try later")
		})
	})
	c := newPyClient(t, conn, node)

	for _, tc := range []struct {
		name, body, text string
		code             codec.ErrorCode
	}{
		{"unknown service", string(testkit.PyCall("7", todayToken(), "math", "mul", "[1, 2]")), "Cannot Find RPC Service: math.mul", codec.CodeUnknownService},
		{"wrong token", string(testkit.PyCall("8", "0000000000000000000000000000000000000000", "math", "add", "[1, 2]")), "Token not valid!", codec.CodeBadToken},
		{"service error", string(testkit.PyCall("9", todayToken(), "math", "fail", "[]")), "division by zero", codec.CodeServiceError},
		{"typed error", string(testkit.PyCall("10", todayToken(), "math", "typed", "[]")), "try later", codec.CodeUnavailable},
		{"params of the wrong shape", string(testkit.PyCall("11", todayToken(), "math", "add", `"x"`)), "", codec.CodeBadRequest},
	} {
		d := c.call([]byte(tc.body), 5*time.Second)
		r := response(t, d)
		if tc.text != "" && r.Message != tc.text {
			t.Errorf("%s: body message %q, want %q", tc.name, r.Message, tc.text)
		}
		if got := d.Headers[codec.HeaderErrorCode]; got != string(tc.code) {
			t.Errorf("%s: %s = %v, want %s", tc.name, codec.HeaderErrorCode, got, tc.code)
		}
		if got := d.Headers[codec.HeaderErrorMessage]; got != r.Message {
			t.Errorf("%s: %s = %v, want the body text %q", tc.name, codec.HeaderErrorMessage, got, r.Message)
		}
	}
	testkit.Eventually(t, 5*time.Second, "5 replies counted, 4 calls acked, the bad token rejected", func() bool {
		s := a.Stats()
		return s.Replies == 5 && s.Acked == 4 && s.Rejected == 1
	})
	s := a.Stats()
	if s.UnknownService != 1 || s.BadToken != 1 || s.ServiceErrors != 1 {
		t.Errorf("stats %+v: want 1 unknown service, 1 bad token, 1 service error", s)
	}
}

func TestPingIsAnsweredWithPong(t *testing.T) {
	conn, node := freshNode(t, "ping")
	a := startAgent(t, node, nil)
	c := newPyClient(t, conn, node)
	d := c.call(codec.PingBody, 5*time.Second)
	if string(d.Body) != "PONG" {
		t.Fatalf("reply to PING: %q", d.Body)
	}
	if s := a.Stats(); s.Pongs != 1 {
		t.Errorf("stats %+v: want 1 pong", s)
	}
}

func TestPanicIsAnsweredAndTheAgentKeepsServing(t *testing.T) {
	conn, node := freshNode(t, "panic")
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add)
		a.AddRPCService("math", "boom", func(context.Context, *router.Request) (any, error) { panic("boom") })
	})
	c := newPyClient(t, conn, node)
	d := c.call(testkit.PyCall("1", todayToken(), "math", "boom", "null"), 5*time.Second)
	if got := d.Headers[codec.HeaderErrorCode]; got != string(codec.CodePanic) {
		t.Errorf("panic reply code %v, body %q", got, d.Body)
	}
	r := response(t, c.call(testkit.PyCall("2", todayToken(), "math", "add", "[40, 2]"), 5*time.Second))
	if r.Message != "42" {
		t.Errorf("after the panic: %q", r.Message)
	}
	if s := a.Stats(); s.Panics != 1 {
		t.Errorf("stats %+v: want 1 panic", s)
	}
}

func TestBadInputIsAnsweredRejectedAndCounted(t *testing.T) {
	conn, node := freshNode(t, "bad")
	a := startAgent(t, node, func(a *router.Agent) { a.AddRPCService("math", "add", add) })
	c := newPyClient(t, conn, node)

	big := testkit.PyCall("1", todayToken(), "math", "add", "["+strings.Repeat("1,", 1<<20)+"1]") // 2 MiB
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"malformed", []byte("<event version=\"1\"><id>1</id>")},
		{"not xml", []byte("not xml")},
		{"2 MiB", big},
	} {
		d := c.call(tc.body, 10*time.Second)
		if got := d.Headers[codec.HeaderErrorCode]; got != string(codec.CodeBadRequest) {
			t.Errorf("%s: reply code %v body %.80q", tc.name, got, d.Body)
		}
	}
	// The same garbage as messages: nobody to answer, rejected.
	c.send([]byte("not xml"))
	c.send(big)
	testkit.Eventually(t, 5*time.Second, "bad calls and messages rejected", func() bool { return a.Stats().Rejected == 5 })
	s := a.Stats()
	if s.Malformed != 3 || s.TooLarge != 2 {
		t.Errorf("stats %+v: want 3 malformed, 2 too large", s)
	}
	r := response(t, c.call(testkit.PyCall("2", todayToken(), "math", "add", "[1, 1]"), 5*time.Second))
	if r.Message != "2" {
		t.Errorf("after bad input: %q", r.Message)
	}
}
