package testkit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

func TestVectorsLoadAndPyCallMatchesTheirLayout(t *testing.T) {
	v := testkit.LoadVectors(t)
	if len(v.Tokens) == 0 || len(v.CallMessages) == 0 || len(v.ResponseMessages) == 0 {
		t.Fatalf("vectors incomplete: %d tokens, %d calls, %d responses", len(v.Tokens), len(v.CallMessages), len(v.ResponseMessages))
	}
	first := v.CallMessages[0]
	p := first.ParsedByPython
	params := first.XML[strings.Index(first.XML, "<![CDATA[")+len("<![CDATA[") : strings.Index(first.XML, "]]>")]
	got := string(testkit.PyCall(p.ID, p.Token, first.Category, first.Service, params))
	if got != first.XML {
		t.Fatalf("PyCall lays out\n%q\npy-servicebus wrote\n%q", got, first.XML)
	}
	if testkit.WithToken(first.XML, "T") == first.XML || !strings.Contains(testkit.WithToken(first.XML, "T"), "<token>T</token>") {
		t.Fatal("WithToken did not replace the token")
	}
}

func TestUniqueNamesDiffer(t *testing.T) {
	if a, b := testkit.UniqueName("x"), testkit.UniqueName("x"); a == b || !strings.HasPrefix(a, "x-") {
		t.Fatalf("UniqueName: %q, %q", a, b)
	}
}

func TestChannelQueueStateAndDeleteQueues(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("testkit")
	t.Run("declare", func(t *testing.T) {
		testkit.DeleteQueues(t, url, q)
		ch := testkit.Channel(t, url)
		if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.Publish("", q, false, false, amqp.Publishing{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 5*time.Second, "the message in the queue", func() bool {
			c, r, err := testkit.QueueState(url, q)
			return err == nil && c == 0 && r == 1
		})
	})
	// The subtest's cleanups ran: the queue is gone.
	var amqpErr *amqp.Error
	if _, _, err := testkit.QueueState(url, q); !errors.As(err, &amqpErr) || amqpErr.Code != amqp.NotFound {
		t.Fatalf("after the test the queue state is %v, want NOT_FOUND", err)
	}
}
