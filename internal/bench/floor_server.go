package bench

import (
	"context"
	"encoding/json"
	"runtime/pprof"
	"strconv"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/topology"
)

// The floor is what a careful programmer writes with amqp091-go alone: the
// fastest honest RPC pair and confirmed publisher, with none of servicebus's
// envelope, token, deadline, failover or error replies. servicebus is measured
// against it on the same broker in the same run.

// floorWire is what a floor pair does on the wire beyond plain amqp091-go,
// in the experiments that measure what servicebus's guarantees and trace
// context cost without servicebus.
type floorWire struct {
	// mandatory: calls go mandatory, with an expiration and the deadline
	// header, as a servicebus sender's do.
	mandatory bool
	// confirms: calls are published with publisher confirms, and a call
	// waits for its confirm, as a servicebus sender's does.
	confirms bool
	// replyConfirms: the server publishes each reply with a publisher
	// confirm and acks the request only once the reply is confirmed, as a
	// servicebus agent does; without it, it acks right after publishing.
	replyConfirms bool
	// traceparent, when not empty, goes as a header on every call and
	// reply (and every publish of send mode): what carrying W3C trace
	// context costs in amqp091-go's header tables and in the broker, with
	// no span made.
	traceparent string
}

// headerTraceparent is the W3C trace context header, and benchTraceparent a
// sampled value of it, as long as every real one.
const (
	headerTraceparent = "traceparent"
	benchTraceparent  = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
)

// floorPrefetch matches the servicebus agent's default concurrency, whose
// prefetch is sized to it.
const floorPrefetch = 64

// floorServer is the server of the plain RPC pair: it consumes a queue and
// answers reply_to with the correlation id.
type floorServer struct {
	conn *amqp.Connection
	wire floorWire
	// serve makes the reply body of a request body: floorSum, or the XML
	// envelope in the mixed experiments.
	serve func(out, body []byte) []byte
	done  sync.WaitGroup
}

// startFloorServer declares the queue the way a servicebus node queue is
// declared (compat topology, bound to the exchange by its name), so the
// broker does the same work for both, and starts consuming.
func startFloorServer(url string, topo topology.Topology, queue string, wire floorWire, serve func(out, body []byte) []byte) (*floorServer, error) {
	s := &floorServer{wire: wire, serve: serve}
	var err error
	// Labelled like the agent: -tagfocus side=floor-server.
	pprof.Do(context.Background(), pprof.Labels("side", "floor-server"), func(context.Context) {
		if s.conn, err = amqp.Dial(url); err == nil {
			err = s.start(topo, queue)
		}
	})
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *floorServer) start(topo topology.Topology, queue string) error {
	ch, err := s.conn.Channel()
	if err != nil {
		return err
	}
	if err := topo.DeclareNodeQueue(ch, queue); err != nil {
		return err
	}
	if err := ch.Qos(floorPrefetch, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	if s.wire.replyConfirms {
		return s.serveConfirmed(deliveries)
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		ctx := context.Background()
		var out []byte
		for d := range deliveries {
			out = s.serve(out[:0], d.Body)
			// Reply first, ack after: the same guarantee servicebus gives.
			if err := ch.PublishWithContext(ctx, "", d.ReplyTo, false, false, amqp.Publishing{
				Headers:       s.replyHeaders(),
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

// serveConfirmed answers each delivery in a goroutine of its own (up to the
// prefetch), publishing the reply on a confirm-mode channel and acking only
// after the broker confirmed the reply.
func (s *floorServer) serveConfirmed(deliveries <-chan amqp.Delivery) error {
	replyCh, err := s.conn.Channel()
	if err != nil {
		return err
	}
	if err := replyCh.Confirm(false); err != nil {
		return err
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		ctx := context.Background()
		var wg sync.WaitGroup
		defer wg.Wait()
		for d := range deliveries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dc, err := replyCh.PublishWithDeferredConfirmWithContext(ctx, "", d.ReplyTo, false, false, amqp.Publishing{
					Headers:       s.replyHeaders(),
					CorrelationId: d.CorrelationId,
					Body:          s.serve(nil, d.Body),
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

// replyHeaders are the headers of a reply: a table per reply, as a traced
// server makes one, or none.
func (s *floorServer) replyHeaders() amqp.Table {
	if s.wire.traceparent == "" {
		return nil
	}
	return amqp.Table{headerTraceparent: s.wire.traceparent}
}

// close closes the connection; the serving goroutines end when their
// delivery channel closes. The bench process deletes the queue.
func (s *floorServer) close() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.done.Wait()
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
