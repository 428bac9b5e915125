package router

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
)

// A reply that makes the broker close the connection (a frame it cannot
// take, a direct reply-to name it cannot decode) leaves its request
// unsettled: the broker hands it out again at the next connect, the reply
// closes the connection again, and the node serves nothing while it loops.
// The known causes are refused before they are written (bounds.go,
// broker.CheckSize); this is the net for the unknown ones.
//
// When the broker closes a connection, or its reply channel, with an error
// of its own (not a shutdown), every delivery whose reply was being
// published on it is suspected once. A suspect that comes back (redelivered)
// is run again, but its reply is published alone on its connection, with no
// other reply in flight, so that if the connection dies again the cause is
// certain: the delivery is then blamed a second time. A delivery blamed
// twice is rejected on sight, without being run: dead-lettered in durable
// topology, dropped in compat topology, logged and counted
// (Stats.Poisoned). A suspect whose reply goes through is forgiven.
const (
	poisonLimit   = 2    // blames after which a delivery is rejected on sight
	poisonEntries = 4096 // deliveries remembered, oldest forgotten first
)

type poisonTable struct {
	seed  maphash.Seed
	size  atomic.Int32 // len(count), read without the lock on the hot path
	mu    sync.Mutex
	count map[uint64]int
	order []uint64
}

func newPoisonTable() *poisonTable {
	return &poisonTable{seed: maphash.MakeSeed(), count: map[uint64]int{}}
}

// id names a delivery across its redeliveries.
func (t *poisonTable) id(d *amqp.Delivery) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	for _, s := range []string{d.MessageId, d.CorrelationId, d.ReplyTo, d.Exchange, d.RoutingKey} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	h.Write(d.Body)
	return h.Sum64()
}

// blames returns how often d was blamed; 0 without hashing when nothing is.
func (t *poisonTable) blames(d *amqp.Delivery) (uint64, int) {
	if t.size.Load() == 0 {
		return 0, 0
	}
	id := t.id(d)
	t.mu.Lock()
	defer t.mu.Unlock()
	return id, t.count[id]
}

func (t *poisonTable) blame(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.count[id]; !ok {
		if len(t.order) >= poisonEntries {
			delete(t.count, t.order[0])
			t.order = t.order[1:]
		}
		t.order = append(t.order, id)
	}
	t.count[id]++
	t.size.Store(int32(len(t.count)))
}

func (t *poisonTable) forgive(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.count[id]; !ok {
		return
	}
	delete(t.count, id)
	for i, o := range t.order {
		if o == id {
			t.order = append(t.order[:i], t.order[i+1:]...)
			break
		}
	}
	t.size.Store(int32(len(t.count)))
}

// closedByBroker reports whether the broker closed the connection or a
// channel over something the agent sent: an error of the broker's own,
// other than a shutdown or an operator's close.
func closedByBroker(reason error) bool {
	var e *amqp.Error
	return errors.As(reason, &e) && e.Server && e.Code != amqp.ConnectionForced
}

// track records that dl's reply is being published on pc.
func (pc *pathConn) track(dl *delivery) {
	pc.replyingMu.Lock()
	pc.replying[dl] = struct{}{}
	pc.replyingMu.Unlock()
}

func (pc *pathConn) untrack(dl *delivery) {
	pc.replyingMu.Lock()
	delete(pc.replying, dl)
	pc.replyingMu.Unlock()
}

// blameReplying blames every delivery whose reply was being published on
// pc when the broker closed it.
func (a *Agent) blameReplying(pc *pathConn) {
	pc.replyingMu.Lock()
	defer pc.replyingMu.Unlock()
	for dl := range pc.replying {
		a.poison.blame(a.poison.id(&dl.Delivery))
	}
}

// admitRedelivery rejects a redelivered delivery that was blamed
// poisonLimit times, and marks one blamed once as a suspect.
func (a *Agent) admitRedelivery(dl *delivery) bool {
	id, n := a.poison.blames(&dl.Delivery)
	switch {
	case n >= poisonLimit:
		err := dl.Reject(false)
		if err == nil {
			a.poison.forgive(id) // gone from the queue
			a.stats.poisoned.Add(1)
			a.stats.rejected.Add(1)
		}
		a.logRejection("poisoned", "Delivery rejected unrun: publishing its reply closed the connection twice", err, watermill.LogFields{
			"broker": dl.pc.broker, "reply_to": clipLog(dl.ReplyTo), "correlation_id": clipLog(dl.CorrelationId), "bytes": len(dl.Body),
		})
		return false
	case n > 0:
		dl.suspect, dl.suspectID = true, id
	}
	return true
}
