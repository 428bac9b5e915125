package rpc

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestExplainQueuesSaysWhichCaseApplies(t *testing.T) {
	for _, tc := range []struct {
		states []queueState
		want   string
	}{
		{[]queueState{{consumers: 0}}, "queue N has no consumer: is its agent running?"},
		{[]queueState{{consumers: 0, ready: 3}}, "queue N has no consumer and 3 messages waiting: is its agent running?"},
		{[]queueState{{consumers: 1, ready: 1}}, "1 message waiting in queue N: the agent is behind"},
		{[]queueState{{consumers: 2, ready: 7}}, "7 messages waiting in queue N: the agent is behind"},
		{[]queueState{{consumers: 1}}, "the agent took the call but did not answer in time: queue N has 1 consumer and no message waiting"},
		{[]queueState{{err: &amqp.Error{Code: amqp.NotFound}}}, "queue N no longer exists: is its agent running?"},
		{[]queueState{{err: amqp.ErrClosed}}, ""},
		{nil, ""},
		{[]queueState{{broker: "amqp://a/", consumers: 1}, {broker: "amqp://b/", consumers: 0}},
			"amqp://a/: the agent took the call but did not answer in time: queue N has 1 consumer and no message waiting; amqp://b/: queue N has no consumer: is its agent running?"},
	} {
		if got := explainQueues("N", tc.states); got != tc.want {
			t.Errorf("explainQueues(%+v)\n got %q\nwant %q", tc.states, got, tc.want)
		}
	}
	if strings.Contains(explainQueues("N", []queueState{{consumers: 2}}), "1 consumer") {
		t.Error("plural")
	}
}
