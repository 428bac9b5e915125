package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/topology"
)

// floorClient is the client of the plain RPC pair: one reply queue and a
// correlation map shared by all concurrent callers.
type floorClient struct {
	conn            *amqp.Connection
	exchange, queue string
	wire            floorWire
	// request makes a call's body and check checks its reply: the JSON
	// params [1,2] and "3", or the XML envelope in the mixed experiments.
	request func(id string) []byte
	check   func(body []byte) error

	pubCh   *amqp.Channel
	replyQ  string
	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[string]chan []byte
	done    sync.WaitGroup // the reply consumer
}

// plainRequest and plainCheck are the floor's call: params [1,2], reply 3.
func plainRequest(string) []byte { return benchParams }

func plainCheck(body []byte) error {
	if string(body) != "3" {
		return fmt.Errorf("bench: floor answered %q, want 3", body)
	}
	return nil
}

func newFloorClient(url string, topo topology.Topology, queue string, wire floorWire, request func(string) []byte, check func([]byte) error) (*floorClient, error) {
	f := &floorClient{
		exchange: topo.ExchangeName(), queue: queue, wire: wire,
		request: request, check: check, pending: make(map[string]chan []byte),
	}
	var err error
	// Labelled like the sender: -tagfocus side=floor-client.
	pprof.Do(context.Background(), pprof.Labels("side", "floor-client"), func(context.Context) {
		if f.conn, err = amqp.Dial(url); err == nil {
			err = f.start()
		}
	})
	if err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *floorClient) start() error {
	var err error
	if f.pubCh, err = f.conn.Channel(); err != nil {
		return err
	}
	if f.wire.confirms {
		if err := f.pubCh.Confirm(false); err != nil {
			return err
		}
	}
	replyCh, err := f.conn.Channel()
	if err != nil {
		return err
	}
	q, err := replyCh.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return err
	}
	f.replyQ = q.Name
	replies, err := replyCh.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return err
	}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		for d := range replies {
			f.mu.Lock()
			c := f.pending[d.CorrelationId]
			delete(f.pending, d.CorrelationId)
			f.mu.Unlock()
			if c != nil {
				c <- d.Body
			}
		}
	}()
	return nil
}

// call is one round trip.
func (f *floorClient) call(ctx context.Context) error {
	id := strconv.FormatUint(f.seq.Add(1), 36)
	c := make(chan []byte, 1)
	f.mu.Lock()
	f.pending[id] = c
	f.mu.Unlock()
	msg := amqp.Publishing{
		ReplyTo:       f.replyQ,
		CorrelationId: id,
		Body:          f.request(id),
	}
	if f.wire.traceparent != "" {
		msg.Headers = amqp.Table{headerTraceparent: f.wire.traceparent}
	}
	if f.wire.mandatory {
		deadline, _ := ctx.Deadline()
		msg.Expiration = strconv.FormatInt(time.Until(deadline).Milliseconds(), 10)
		if msg.Headers == nil {
			msg.Headers = amqp.Table{}
		}
		msg.Headers["x-sb-deadline"] = strconv.FormatInt(deadline.UnixMilli(), 10)
	}
	var err error
	if !f.wire.confirms {
		err = f.pubCh.PublishWithContext(ctx, f.exchange, f.queue, f.wire.mandatory, false, msg)
	} else {
		var dc *amqp.DeferredConfirmation
		if dc, err = f.pubCh.PublishWithDeferredConfirmWithContext(ctx, f.exchange, f.queue, f.wire.mandatory, false, msg); err == nil {
			var ok bool
			if ok, err = dc.WaitContext(ctx); err == nil && !ok {
				err = errors.New("bench: floor call nacked")
			}
		}
	}
	if err != nil {
		f.forget(id)
		return err
	}
	select {
	case body := <-c:
		return f.check(body)
	case <-ctx.Done():
		f.forget(id)
		return ctx.Err()
	}
}

func (f *floorClient) forget(id string) {
	f.mu.Lock()
	delete(f.pending, id)
	f.mu.Unlock()
}

// close closes the connection; the reply consumer ends when its delivery
// channel closes.
func (f *floorClient) close() {
	if f.conn != nil {
		f.conn.Close()
	}
	f.done.Wait()
}
