package rpc_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// standIn is a test agent written with raw amqp091-go (pkg/rpc must not
// import pkg/router): it consumes a node queue and answers calls like our
// agent (error headers) or like a py-servicebus agent (plain texts only).
type standIn struct {
	t      *testing.T
	node   string
	python bool   // answer like py-servicebus: no error headers
	token  string // expected token; "" accepts any
	// validator, when set, checks credentials instead of token.
	validator token.Validator

	conn *amqp.Connection
	wg   sync.WaitGroup

	mu  sync.Mutex
	ran map[string]int // service name -> times run
}

// startStandIn declares node's queue on url and serves it until the test ends.
func startStandIn(t *testing.T, url, node string, python bool, token string, opts ...func(*standIn)) *standIn {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("stand-in: dial: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("stand-in: channel: %v", err)
	}
	if err := (topology.Topology{}).DeclareNodeQueue(ch, node); err != nil {
		t.Fatalf("stand-in: declare: %v", err)
	}
	if err := ch.Qos(256, 0, false); err != nil {
		t.Fatalf("stand-in: qos: %v", err)
	}
	deliveries, err := ch.Consume(node, "", false, true, false, false, nil)
	if err != nil {
		t.Fatalf("stand-in: consume: %v", err)
	}
	pubCh, err := conn.Channel()
	if err != nil {
		t.Fatalf("stand-in: channel: %v", err)
	}
	a := &standIn{t: t, node: node, python: python, token: token, conn: conn, ran: map[string]int{}}
	for _, opt := range opts {
		opt(a)
	}
	var pubMu sync.Mutex
	sem := make(chan struct{}, 64)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		var inner sync.WaitGroup
		defer inner.Wait()
		for d := range deliveries {
			sem <- struct{}{}
			inner.Add(1)
			go func() {
				defer inner.Done()
				defer func() { <-sem }()
				out, ok := a.answer(d)
				if ok && d.ReplyTo != "" {
					out.CorrelationId = d.CorrelationId
					a.signReply(&out)
					pubMu.Lock()
					err := pubCh.Publish("", d.ReplyTo, false, false, out)
					pubMu.Unlock()
					if err != nil && !conn.IsClosed() {
						t.Logf("stand-in: reply: %v", err)
					}
				}
				_ = d.Ack(false)
			}()
		}
	}()
	t.Cleanup(func() {
		if c, err := conn.Channel(); err == nil {
			_, _ = c.QueueDelete(node, false, false, false)
		}
		_ = conn.Close()
		a.wg.Wait()
	})
	return a
}

func (a *standIn) runs(service string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ran[service]
}

// signReply signs out as an agent of hmac mode does; our senders use the
// call's id as its correlation id.
func (a *standIn) signReply(out *amqp.Publishing) {
	signer, ok := a.validator.(token.ReplySigner)
	if !ok {
		return
	}
	code, _ := out.Headers[codec.HeaderErrorCode].(string)
	text, _ := out.Headers[codec.HeaderErrorMessage].(string)
	if out.Headers == nil {
		out.Headers = amqp.Table{}
	}
	out.Headers[token.HeaderSignature] = signer.SignReply(&token.Reply{
		CallID: out.CorrelationId, CorrelationID: out.CorrelationId, Body: out.Body, ErrorCode: code, ErrorMessage: text,
	})
}

// answer runs the call in d; false means no reply is sent.
func (a *standIn) answer(d amqp.Delivery) (amqp.Publishing, bool) {
	if codec.IsPing(d.Body) {
		return amqp.Publishing{Body: codec.PongBody}, true
	}
	ev, err := codec.DecodeEvent(d.Body, codec.Options{})
	if err != nil {
		return a.fail(ev, codec.CodeBadRequest, err.Error()), true
	}
	if dl, ok := d.Headers[codec.HeaderDeadline].(string); ok {
		ms, _ := strconv.ParseInt(dl, 10, 64)
		if time.Now().UnixMilli() > ms {
			return amqp.Publishing{}, false // nobody waits: do not run
		}
	}
	if a.validator != nil {
		headers := map[string]string{}
		for k, v := range d.Headers {
			if s, ok := v.(string); ok {
				headers[k] = s
			}
		}
		if err := a.validator.Validate(context.Background(), &ev, headers, time.Now()); err != nil {
			return a.fail(ev, codec.CodeBadToken, codec.TextTokenNotValid), true
		}
	} else if a.token != "" && ev.Token != a.token {
		return a.fail(ev, codec.CodeBadToken, codec.TextTokenNotValid), true
	}
	a.mu.Lock()
	a.ran[ev.Service]++
	a.mu.Unlock()
	switch ev.Category + "." + ev.Service {
	case "math.add":
		var xs []float64
		if err := json.Unmarshal(ev.Params, &xs); err != nil {
			return a.fail(ev, codec.CodeServiceError, err.Error()), true
		}
		sum := 0.0
		for _, x := range xs {
			sum += x
		}
		return a.ok(ev, strconv.FormatFloat(sum, 'f', -1, 64)), true
	case "py.dict":
		return a.ok(ev, "{'a': 1}"), true
	case "py.none":
		return a.ok(ev, "None"), true
	case "util.echo":
		return a.ok(ev, string(ev.Params)), true
	case "util.fail":
		return a.fail(ev, codec.CodeServiceError, "boom"), true
	case "util.sleep":
		var ms int
		_ = json.Unmarshal(ev.Params, &ms)
		v, _ := sleepingCalls.LoadOrStore(a.node, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		defer v.(*atomic.Int64).Add(-1)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return a.ok(ev, "null"), true
	}
	return a.fail(ev, codec.CodeUnknownService, codec.UnknownServiceText(ev.Category, ev.Service)), true
}

func (a *standIn) ok(ev codec.Event, msg string) amqp.Publishing {
	return amqp.Publishing{Body: codec.EncodeResponse(&codec.Response{ID: ev.ID, Message: msg})}
}

func (a *standIn) fail(ev codec.Event, code codec.ErrorCode, msg string) amqp.Publishing {
	p := amqp.Publishing{Body: codec.EncodeResponse(&codec.Response{ID: ev.ID, Message: msg})}
	if !a.python {
		p.Headers = amqp.Table{codec.HeaderErrorCode: string(code), codec.HeaderErrorMessage: msg}
	}
	if a.python && code == codec.CodeServiceError {
		// py-servicebus sends nothing for a service exception; keep the
		// text so tests can see it if they ask.
		p.Headers = nil
	}
	return p
}

func itoa(n int) string { return strconv.Itoa(n) }

// declareNodeQueue declares node's queue without consuming it and deletes it
// when the test ends.
func declareNodeQueue(t *testing.T, url, node string) {
	t.Helper()
	testkit.DeleteQueues(t, url, node)
	if err := (topology.Topology{}).DeclareNodeQueue(testkit.Channel(t, url), node); err != nil {
		t.Fatal(err)
	}
}
