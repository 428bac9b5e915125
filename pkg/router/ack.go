package router

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// settle acks or rejects a delivery once the router acked or nacked its
// message: ack after the work, never before. The router acks an RPC's
// message once its reply was published (and confirmed), a message's once
// its service returned nil; it nacks it on an error.
//
//	router       delivery
//	ack          ack, or reject when bad input was answered (delivery.reject)
//	nack         reject; requeue after a failed reply (once) or a drain timeout
//	(abandoned)  nothing: the broker requeues it when the channel closes
func (a *Agent) settle(msg *message.Message, dl *delivery) {
	defer a.release()
	var err error
	spanErr := errNotAcked
	defer func() { dl.endSpan(spanErr) }()
	select {
	case <-msg.Acked():
		if dl.reject.Load() {
			if err = dl.Reject(false); err == nil {
				a.stats.rejected.Add(1)
			}
			break
		}
		spanErr = nil
		if err = dl.Ack(false); err == nil {
			a.stats.acked.Add(1)
		}
	case <-msg.Nacked():
		requeue := dl.requeue.Load() || a.aborted.Load()
		err = dl.Nack(false, requeue)
		if err == nil {
			if requeue {
				a.stats.requeued.Add(1)
			} else {
				a.stats.rejected.Add(1)
			}
		}
	case <-a.abandon:
		return // Close gave up on it; the broker requeues it when the channel closes
	}
	if err != nil {
		a.logger.Debug("Could not settle delivery; the broker will redeliver it", watermill.LogFields{"broker": dl.pc.broker, "err": err})
	}
}

func (a *Agent) release() {
	<-a.sem
	a.inflight.Done()
}
