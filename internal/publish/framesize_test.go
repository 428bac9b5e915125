package publish_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

func TestPublishOfHeadersOverFrameMaxIsRefusedBeforeItIsWritten(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("sbtest-big-headers")
	declareQueue(t, url, q, nil)
	p := readyPublisher(t, url)
	conn := p.Path(0).Conn()
	_, err := p.PublishAMQP(context.Background(), "", q, amqp.Publishing{Headers: amqp.Table{"x-huge": strings.Repeat("h", 200<<10)}})
	if !errors.Is(err, broker.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := p.PublishAMQP(context.Background(), "", q, amqp.Publishing{Body: []byte("fine")}); err != nil {
		t.Fatalf("the next publish: %v", err)
	}
	if p.Path(0).Conn() != conn {
		t.Fatal("the connection was lost: the oversized publish was written")
	}
}
