package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// The per-call path without a broker: the steps of one call of math.add
// [1,2] that the exported API reaches, in the order pkg/rpc and pkg/router
// take them (rpc/call.go: Sender.call; router/consume.go: newMessage;
// router/subscribe.go and decode.go: the envelope; token.go: the token;
// router/service.go: RPC; router/reply.go: resultReply), and the service's
// handler as the agent runs it (router.Decode and router.HandleRPC: the
// request, the reply message). The router's delivery handling and the
// sender's request building are unexported, so their own work (metadata,
// contexts, header tables) is not here: the bench's allocs/call columns
// measure it.
//
// Each step has an allocation budget, checked with testing.AllocsPerRun
// (a count, not a time: it cannot flake on a busy machine). A change that
// allocates more per call fails here and must raise the budget on purpose;
// one that allocates less should lower it.

// callPath is the state of one simulated call, reused across runs.
type callPath struct {
	tokens   *token.DailyTokens
	now      time.Time
	params   json.RawMessage
	service  router.RPCService
	delivery amqp.Delivery
	ev       codec.Event
	reply    []byte
	msg      *message.Message    // the delivery as the agent's handler gets it
	handle   message.HandlerFunc // the service's handler under Decode
}

func newPerCall(t testing.TB) *callPath {
	p := &callPath{
		tokens:  benchTokens(),
		now:     time.Now(),
		params:  json.RawMessage(benchParams),
		service: router.RPC(benchSum),
	}
	ev := codec.Event{Version: "1", ID: "0123456789abcdef-1", Category: "math", Service: "add", Params: benchParams}
	if _, err := p.tokens.Sign(&ev, p.now); err != nil {
		t.Fatal(err)
	}
	deadline := p.now.Add(30 * time.Second)
	// A delivery as the agent gets it from the sender.
	p.delivery = amqp.Delivery{
		Headers:       amqp.Table{codec.HeaderDeadline: strconv.FormatInt(deadline.UnixMilli(), 10)},
		DeliveryMode:  amqp.Transient,
		CorrelationId: ev.ID,
		MessageId:     ev.ID,
		ReplyTo:       "amq.gen-reply-queue",
		Expiration:    "30000",
		Timestamp:     p.now,
		Exchange:      "py-servicebus",
		RoutingKey:    "NODE-01",
		Body:          codec.EncodeEvent(&ev),
	}
	p.ev = ev
	p.reply = codec.EncodeResponse(&codec.Response{ID: ev.ID, Message: "3"})
	msg, err := codec.Marshaler{}.Unmarshal(p.delivery)
	if err != nil {
		t.Fatal(err)
	}
	p.msg = msg
	p.handle = router.Decode{}.Middleware(router.HandleRPC(p.service))
	return p
}

// senderEncode: the params as JSON, a signed call envelope.
func (p *callPath) senderEncode() error {
	raw, err := json.Marshal(p.params)
	if err != nil {
		return err
	}
	ev := codec.Event{Version: "1", ID: "0123456789abcdef-1", Category: "math", Service: "add", Params: raw}
	if _, err := p.tokens.Sign(&ev, p.now); err != nil {
		return err
	}
	if len(codec.EncodeEvent(&ev)) == 0 {
		return fmt.Errorf("empty envelope")
	}
	return nil
}

// agentUnmarshal: the delivery as a Watermill message.
func (p *callPath) agentUnmarshal() error {
	msg, err := codec.Marshaler{}.Unmarshal(p.delivery)
	if err != nil || msg.Metadata[codec.MetaReplyTo] == "" {
		return fmt.Errorf("unmarshal: %v", err)
	}
	return nil
}

// agentDecode: the call envelope and its token.
func (p *callPath) agentDecode() error {
	ev, err := codec.DecodeEvent(p.delivery.Body, codec.Options{})
	if err != nil {
		return err
	}
	return p.tokens.Validate(context.Background(), &ev, nil, p.now)
}

// agentServe: the service's typed params, its result as JSON, the response
// envelope.
func (p *callPath) agentServe() error {
	result, err := p.service(context.Background(), &router.Request{ID: p.ev.ID, Category: "math", Service: "add", Params: p.ev.Params})
	if err != nil {
		return err
	}
	text, err := json.Marshal(result)
	if err != nil {
		return err
	}
	if len(codec.EncodeResponse(&codec.Response{ID: p.ev.ID, Message: string(text)})) == 0 {
		return fmt.Errorf("empty response")
	}
	return nil
}

// agentHandle: the envelope decoded into a Request, the service run, its
// reply message with the response envelope.
func (p *callPath) agentHandle() error {
	p.msg.SetContext(context.Background()) // else Decode's contexts pile up
	out, err := p.handle(p.msg)
	if err != nil || len(out) != 1 || len(out[0].Payload) == 0 {
		return fmt.Errorf("handler: %d replies, %v", len(out), err)
	}
	return nil
}

// senderDecode: the response envelope.
func (p *callPath) senderDecode() error {
	resp, err := codec.DecodeResponse(p.reply, codec.Options{})
	if err != nil || resp.Message != "3" {
		return fmt.Errorf("reply %q: %v", resp.Message, err)
	}
	return nil
}

// perCallSteps are the steps with their allocation budgets
// (percall_budget_test.go).
func perCallSteps(p *callPath) []struct {
	name   string
	run    func() error
	budget float64
} {
	return []struct {
		name   string
		run    func() error
		budget float64
	}{
		{"sender encode", p.senderEncode, senderEncodeBudget},
		{"agent unmarshal", p.agentUnmarshal, agentUnmarshalBudget},
		{"agent decode", p.agentDecode, agentDecodeBudget},
		{"agent serve", p.agentServe, agentServeBudget},
		{"agent handle", p.agentHandle, agentHandleBudget},
		{"sender decode", p.senderDecode, senderDecodeBudget},
	}
}

func TestPerCallPathStaysWithinItsAllocationBudget(t *testing.T) {
	p := newPerCall(t)
	total := 0.0
	for _, step := range perCallSteps(p) {
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got := testing.AllocsPerRun(200, func() { _ = step.run() })
		total += got
		if got > step.budget+raceSlack {
			t.Errorf("%s: %.0f allocations per call, budget %.0f (+%d under -race)", step.name, got, step.budget, raceSlack)
		}
		t.Logf("%s: %.0f allocations per call (budget %.0f)", step.name, got, step.budget)
	}
	t.Logf("per-call path: %.0f allocations", total)
}

// BenchmarkPerCallPath times the steps of TestPerCallPathStaysWithinItsAllocationBudget:
// go test -run x -bench PerCallPath -benchmem ./internal/bench
func BenchmarkPerCallPath(b *testing.B) {
	p := newPerCall(b)
	for _, step := range perCallSteps(p) {
		b.Run(step.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := step.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		steps := perCallSteps(p)
		for b.Loop() {
			for _, step := range steps {
				if err := step.run(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
