package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/broker"
)

// A delivery whose properties amqp091-go cannot parse (headers nested deeper
// than it reads, an unknown field type) is accepted by RabbitMQ but kills the
// consuming connection before it can be acked or rejected. The broker
// requeues it and hands it out again at the next connect, so without help a
// path would reconnect forever and serve nothing. Durable topology bounds
// this with the queue's delivery limit; for compat topology (a classic queue)
// the path clears the queue head itself: after parseLossLimit losses in a row
// it takes messages off the head with basic.get and no ack before consuming.
// A readable one is published back to the node queue (at its tail) and the
// next is taken; the unreadable one kills the connection once more, and the
// broker, having handed it out without ack, has then dropped it. That is
// logged as an error and counted in Stats.Unreadable: no Go agent could ever
// run it.
const parseLossLimit = 2

// isParseFailure reports whether a path was lost because amqp091-go could not
// parse what the broker sent, rather than because the link or broker failed.
func isParseFailure(reason error) bool { return broker.IsParseFailure(reason) }

// clearUnreadable runs in onUp before consuming. An error ends this
// connection; the path then connects again and consumes normally.
func (a *Agent) clearUnreadable(i int, broker string, conn *amqp.Connection) error {
	a.mu.Lock()
	losses := a.parseLosses[i]
	if losses >= parseLossLimit {
		a.parseLosses[i] = 0
	}
	a.mu.Unlock()
	if losses < parseLossLimit || a.cfg.Topology.DeadLetterExchange() != "" {
		return nil
	}
	log := a.logger.With(watermill.LogFields{"broker": broker, "queue": a.cfg.NodeName})
	log.Info("Connection lost twice to an unreadable delivery; clearing the queue head", nil)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel to clear the queue head: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode to clear the queue head: %w", err)
	}
	// The unreadable delivery sits among the first Concurrency messages: those
	// that were in flight went back to the head with it.
	for range a.cfg.Concurrency + 1 {
		d, ok, err := ch.Get(a.cfg.NodeName, true)
		if err != nil {
			if conn.IsClosed() {
				a.stats.unreadable.Add(1)
				log.Error("Dropped a delivery amqp091-go cannot parse (e.g. headers nested deeper than 32 levels); "+
					"it could never be run by a Go agent", err, nil)
			}
			return fmt.Errorf("clear the queue head: %w", err)
		}
		if !ok {
			return nil // the queue is empty: whatever it was is gone
		}
		if err := a.putBack(ch, d); err != nil {
			log.Error("Could not put a readable message back on the node queue; it is lost", err,
				watermill.LogFields{"message_id": d.MessageId, "correlation_id": d.CorrelationId})
			return err
		}
	}
	return nil
}

// putBack publishes a message taken with basic.get (no ack) to the tail of
// the node queue, as it was, and waits for the broker's confirm.
func (a *Agent) putBack(ch *amqp.Channel, d amqp.Delivery) error {
	dc, err := ch.PublishWithDeferredConfirm("", a.cfg.NodeName, false, false, amqp.Publishing{
		Headers: d.Headers, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: amqp.Persistent, Priority: d.Priority, CorrelationId: d.CorrelationId,
		ReplyTo: d.ReplyTo, Expiration: d.Expiration, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Type: d.Type, AppId: d.AppId, Body: d.Body, // not UserId: the broker checks it against our user
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ReplyTimeout)
	defer cancel()
	acked, err := dc.WaitContext(ctx)
	if err == nil && !acked {
		err = errors.New("broker nacked the message put back")
	}
	return err
}
