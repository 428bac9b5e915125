package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-servicebus/servicebus/pkg/topology"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The floor is what a careful programmer writes with amqp091-go alone: the
// fastest honest RPC pair and confirmed publisher, with none of servicebus's
// envelope, token, deadline, failover or error replies. servicebus is measured
// against it in the same process and run.

// floorPrefetch matches the servicebus agent's default concurrency, whose
// prefetch is sized to it.
const floorPrefetch = 64

// floorRPC is a plain RPC pair: a server consuming a queue and answering
// reply_to with the correlation id, and a client with one reply queue and a
// correlation map shared by all concurrent callers.
type floorRPC struct {
	srvConn, cliConn *amqp.Connection
	exchange, queue  string
	// confirms makes the pair do what servicebus does on the wire beyond
	// the plain floor: calls published mandatory with publisher confirms,
	// expiration and a deadline header; replies confirmed before the ack.
	// Not the floor: an experiment that shows what those guarantees cost.
	confirms bool
	// serve makes the reply body of a request body (default floorSum);
	// request and check make a call's body and check its reply (default:
	// benchParams, "3"). The bench's mixed experiments swap them for the
	// XML envelope to pair one plain side with one servicebus side.
	serve   func(out, body []byte) []byte
	request func(id string) []byte
	check   func(body []byte) error

	pubCh   *amqp.Channel // client: publishes calls
	replyQ  string
	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[string]chan []byte

	done sync.WaitGroup // server loop and reply consumer
}

// newFloorRPC declares the queue the same way a servicebus node queue is
// declared (compat topology, bound to the exchange by its name), so the broker
// does the same work for both.
func newFloorRPC(url string, topo topology.Topology, queue string, confirms bool) (*floorRPC, error) {
	return newFloorRPCWith(&floorRPC{
		exchange: topo.ExchangeName(), queue: queue, confirms: confirms,
		serve:   floorSum,
		request: func(string) []byte { return benchParams },
		check: func(body []byte) error {
			if string(body) != "3" {
				return fmt.Errorf("floor: got %q, want 3", body)
			}
			return nil
		},
	}, url, topo)
}

// newFloorRPCWith starts f; a nil serve starts no server, a nil request no
// client.
func newFloorRPCWith(f *floorRPC, url string, topo topology.Topology) (*floorRPC, error) {
	f.pending = make(map[string]chan []byte)
	// Labelled like the servicebus sides: -tagfocus side=floor-server.
	var err error
	if f.serve != nil {
		pprof.Do(context.Background(), pprof.Labels("side", "floor-server"), func(context.Context) {
			if f.srvConn, err = amqp.Dial(url); err == nil {
				err = f.startServer(topo)
			}
		})
		if err != nil {
			f.close()
			return nil, err
		}
	}
	if f.request != nil {
		pprof.Do(context.Background(), pprof.Labels("side", "floor-client"), func(context.Context) {
			if f.cliConn, err = amqp.Dial(url); err == nil {
				err = f.startClient()
			}
		})
		if err != nil {
			f.close()
			return nil, err
		}
	}
	return f, nil
}

func (f *floorRPC) startServer(topo topology.Topology) error {
	ch, err := f.srvConn.Channel()
	if err != nil {
		return err
	}
	if err := topo.DeclareNodeQueue(ch, f.queue); err != nil {
		return err
	}
	if err := ch.Qos(floorPrefetch, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.Consume(f.queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	if f.confirms {
		return f.serveConfirmed(ch, deliveries)
	}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		ctx := context.Background()
		var out []byte
		for d := range deliveries {
			out = f.serve(out[:0], d.Body)
			// Reply first, ack after: the same guarantee servicebus gives.
			if err := ch.PublishWithContext(ctx, "", d.ReplyTo, false, false, amqp.Publishing{
				CorrelationId: d.CorrelationId,
				Body:          out,
			}); err != nil {
				return
			}
			if err := d.Ack(false); err != nil {
				return
			}
		}
	}()
	return nil
}

// floorSum is the application work of both sides: the sum of a JSON list.
func floorSum(out, body []byte) []byte {
	var nums []float64
	if err := json.Unmarshal(body, &nums); err != nil {
		return append(out, "null"...)
	}
	var sum float64
	for _, n := range nums {
		sum += n
	}
	return strconv.AppendFloat(out, sum, 'g', -1, 64)
}

// serveConfirmed answers each delivery in a goroutine of its own (up to the
// prefetch), publishing the reply on a confirm-mode channel and acking only
// after the broker confirmed the reply.
func (f *floorRPC) serveConfirmed(ch *amqp.Channel, deliveries <-chan amqp.Delivery) error {
	replyCh, err := f.srvConn.Channel()
	if err != nil {
		return err
	}
	if err := replyCh.Confirm(false); err != nil {
		return err
	}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		ctx := context.Background()
		var wg sync.WaitGroup
		defer wg.Wait()
		for d := range deliveries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dc, err := replyCh.PublishWithDeferredConfirmWithContext(ctx, "", d.ReplyTo, false, false, amqp.Publishing{
					CorrelationId: d.CorrelationId,
					Body:          f.serve(nil, d.Body),
				})
				if err != nil {
					return
				}
				if ok, err := dc.WaitContext(ctx); err != nil || !ok {
					return
				}
				_ = d.Ack(false)
			}()
		}
	}()
	return nil
}

func (f *floorRPC) startClient() error {
	var err error
	if f.pubCh, err = f.cliConn.Channel(); err != nil {
		return err
	}
	if f.confirms {
		if err := f.pubCh.Confirm(false); err != nil {
			return err
		}
	}
	replyCh, err := f.cliConn.Channel()
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

var errFloorLost = errors.New("floor: reply consumer stopped")

// call is one round trip with params [1,2].
func (f *floorRPC) call(ctx context.Context) error {
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
	var err error
	if !f.confirms {
		err = f.pubCh.PublishWithContext(ctx, f.exchange, f.queue, false, false, msg)
	} else {
		deadline, _ := ctx.Deadline()
		msg.Expiration = strconv.FormatInt(time.Until(deadline).Milliseconds(), 10)
		msg.Headers = amqp.Table{"x-sb-deadline": strconv.FormatInt(deadline.UnixMilli(), 10)}
		var dc *amqp.DeferredConfirmation
		if dc, err = f.pubCh.PublishWithDeferredConfirmWithContext(ctx, f.exchange, f.queue, true, false, msg); err == nil {
			var ok bool
			if ok, err = dc.WaitContext(ctx); err == nil && !ok {
				err = errors.New("floor: call nacked")
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

func (f *floorRPC) forget(id string) {
	f.mu.Lock()
	delete(f.pending, id)
	f.mu.Unlock()
}

// close deletes the queue and closes both connections; the goroutines end
// when their delivery channels close.
func (f *floorRPC) close() {
	if f.srvConn != nil && !f.srvConn.IsClosed() {
		if ch, err := f.srvConn.Channel(); err == nil {
			ch.QueueDelete(f.queue, false, false, false)
			ch.Close()
		}
		f.srvConn.Close()
	}
	if f.cliConn != nil {
		f.cliConn.Close()
	}
	f.done.Wait()
}

// floorSend publishes persistent, mandatory messages on one confirm-mode
// channel shared by all callers; confirms are pipelined (each caller waits
// for its own deferred confirmation while others publish).
type floorSend struct {
	conn     *amqp.Connection
	ch       *amqp.Channel
	exchange string
	queue    string
	body     []byte
}

func newFloorSend(url string, topo topology.Topology, queue string, body []byte) (*floorSend, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	f := &floorSend{conn: conn, exchange: topo.ExchangeName(), queue: queue, body: body}
	if f.ch, err = conn.Channel(); err != nil {
		conn.Close()
		return nil, err
	}
	if err := topo.DeclareNodeQueue(f.ch, queue); err != nil {
		conn.Close()
		return nil, err
	}
	if err := f.ch.Confirm(false); err != nil {
		conn.Close()
		return nil, err
	}
	return f, nil
}

func (f *floorSend) send(ctx context.Context) error {
	dc, err := f.ch.PublishWithDeferredConfirmWithContext(ctx, f.exchange, f.queue, true, false, amqp.Publishing{
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
		return errors.New("floor: publish nacked")
	}
	return nil
}

func (f *floorSend) close() {
	if ch, err := f.conn.Channel(); err == nil {
		ch.QueueDelete(f.queue, false, false, false)
		ch.Close()
	}
	f.conn.Close()
}
