package router_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// A call is acked only after its reply was confirmed. A reply the broker
// nacks (here: reply_to is a queue that refuses every message) is a failed
// reply: the call is given back once, run again, and rejected when its
// second reply is refused too. Nothing is acked and no reply is counted.
func TestNackedReplyLeavesTheCallUnackedThenRejected(t *testing.T) {
	_, node := freshNode(t, "replynack")
	var runs atomic.Int32
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", func(ctx context.Context, req *router.Request) (any, error) {
			runs.Add(1)
			return add(ctx, req)
		})
	})

	refusing := testkit.UniqueName("sbtest-refusing")
	testkit.DeleteQueues(t, brokerURL(), refusing)
	ch := testkit.Channel(t, brokerURL())
	if _, err := ch.QueueDeclare(refusing, false, false, false, false, amqp.Table{
		"x-max-length": int32(0), "x-overflow": "reject-publish",
	}); err != nil {
		t.Fatal(err)
	}
	pub := amqp.Publishing{Body: testkit.PyCall("1", todayToken(), "math", "add", "[1, 2]"), ReplyTo: refusing, CorrelationId: "c1"}
	if err := ch.PublishWithContext(context.Background(), "", node, false, false, pub); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, 10*time.Second, "the call settled for good", func() bool {
		s := a.Stats()
		return s.Acked+s.Rejected >= 1
	})
	s := a.Stats()
	if s.Acked != 0 || s.Rejected != 1 || s.Requeued != 1 {
		t.Errorf("acked %d, rejected %d, requeued %d; want the call requeued once, then rejected, never acked", s.Acked, s.Rejected, s.Requeued)
	}
	if s.Replies != 0 || s.ReplyFailures != 2 {
		t.Errorf("replies %d, reply failures %d; want 0 and 2 (both refused)", s.Replies, s.ReplyFailures)
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("the service ran %d times, want 2 (the call given back once)", n)
	}
}
