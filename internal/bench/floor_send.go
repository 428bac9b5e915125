package bench

import (
	"context"
	"errors"
	"runtime/pprof"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/topology"
)

// floorSend publishes persistent, mandatory messages on one confirm-mode
// channel shared by all callers; confirms are pipelined (each caller waits
// for its own deferred confirmation while others publish).
type floorSend struct {
	conn     *amqp.Connection
	ch       *amqp.Channel
	exchange string
	queue    string
	body     []byte
	// traceparent, when not empty, goes as a header on every publish
	// (floorWire).
	traceparent string
}

// newFloorSend publishes body to queue, which the bench process declared.
func newFloorSend(url string, topo topology.Topology, queue string, body []byte, traceparent string) (*floorSend, error) {
	f := &floorSend{exchange: topo.ExchangeName(), queue: queue, body: body, traceparent: traceparent}
	var err error
	pprof.Do(context.Background(), pprof.Labels("side", "floor-client"), func(context.Context) {
		if f.conn, err = amqp.Dial(url); err != nil {
			return
		}
		if f.ch, err = f.conn.Channel(); err == nil {
			err = f.ch.Confirm(false)
		}
	})
	if err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *floorSend) send(ctx context.Context) error {
	var headers amqp.Table
	if f.traceparent != "" {
		headers = amqp.Table{headerTraceparent: f.traceparent}
	}
	dc, err := f.ch.PublishWithDeferredConfirmWithContext(ctx, f.exchange, f.queue, true, false, amqp.Publishing{
		Headers:      headers,
		DeliveryMode: amqp.Persistent,
		Body:         f.body,
	})
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("bench: floor publish nacked")
	}
	return nil
}

func (f *floorSend) close() {
	if f.conn != nil {
		f.conn.Close()
	}
}
