package bench

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// TestTraceContextFloorCarriesTheHeaderEveryWay checks on the broker what
// the floor experiments claim to put on the wire: amqp091+tracecontext's
// call carries traceparent next to the deadline header, its server's reply
// carries traceparent, and so does its send-mode publish; the unconfirmed
// pair's calls still carry the deadline header and an expiration; the plain
// floor's messages carry no header at all.
func TestTraceContextFloorCarriesTheHeaderEveryWay(t *testing.T) {
	url := brokerURL(t)
	topo := topology.Topology{}
	suffix := randomSuffix()
	ch := testkit.Channel(t, url)
	if err := topo.DeclareExchange(ch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// tap declares queue and returns the first message that reaches it.
	tap := func(queue string) <-chan amqp.Delivery {
		t.Helper()
		if err := topo.DeclareNodeQueue(ch, queue); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = ch.QueueDelete(queue, false, false, false) })
		d, err := ch.Consume(queue, "", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := func(what string, d <-chan amqp.Delivery) amqp.Delivery {
		t.Helper()
		select {
		case m := <-d:
			return m
		case <-ctx.Done():
			t.Fatalf("%s: nothing arrived", what)
		}
		return amqp.Delivery{}
	}

	for _, tc := range []struct {
		impl   string
		traced bool
	}{{ImplFloor, false}, {ImplTraceContext, true}, {ImplUnconfirmed, false}} {
		t.Run(tc.impl, func(t *testing.T) {
			want := func(what string, h amqp.Table) {
				t.Helper()
				got, _ := h[headerTraceparent].(string)
				switch {
				case tc.traced && got != benchTraceparent:
					t.Errorf("%s: traceparent %q, want %q (headers %v)", what, got, benchTraceparent, h)
				case !tc.traced && got != "":
					t.Errorf("%s: traceparent %q, want none", what, got)
				case tc.impl == ImplFloor && h != nil:
					t.Errorf("%s: headers %v, want none", what, h)
				}
			}

			// The client's call, taken off the node queue.
			calls := tap(queueName(ModeRPC, tc.impl, suffix))
			c, err := newFloorClient(url, topo, queueName(ModeRPC, tc.impl, suffix), wireOf(tc.impl), plainRequest, plainCheck)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			callCtx, stop := context.WithTimeout(ctx, time.Second)
			defer stop()
			go func() { _ = c.call(callCtx) }() // nobody answers: it times out
			call := first("call", calls)
			want("call", call.Headers)
			_, deadline := call.Headers["x-sb-deadline"]
			if mandatory := wireOf(tc.impl).mandatory; deadline != mandatory || (call.Expiration != "") != mandatory {
				t.Errorf("call headers %v, expiration %q: want the deadline header and an expiration: %v", call.Headers, call.Expiration, mandatory)
			}

			// The server's reply, to a call of our own.
			serverQueue := queueName(ModeRPC, tc.impl, suffix) + "-server"
			s, err := startFloorServer(url, topo, serverQueue, wireOf(tc.impl), floorSum)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _, _ = ch.QueueDelete(serverQueue, false, false, false) }()
			defer s.close()
			replies := tap(serverQueue + "-replies")
			if err := ch.PublishWithContext(ctx, topo.ExchangeName(), serverQueue, false, false, amqp.Publishing{
				ReplyTo: serverQueue + "-replies", CorrelationId: "1", Body: benchParams,
			}); err != nil {
				t.Fatal(err)
			}
			reply := first("reply", replies)
			if string(reply.Body) != "3" {
				t.Errorf("reply %q, want 3", reply.Body)
			}
			want("reply", reply.Headers)

			// A send-mode publish.
			sends := tap(queueName(ModeSend, tc.impl, suffix))
			f, err := newFloorSend(url, topo, queueName(ModeSend, tc.impl, suffix), []byte("x"), wireOf(tc.impl).traceparent)
			if err != nil {
				t.Fatal(err)
			}
			defer f.close()
			if err := f.send(ctx); err != nil {
				t.Fatal(err)
			}
			want("send", first("send", sends).Headers)
		})
	}
}
