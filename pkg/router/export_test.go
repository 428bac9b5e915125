package router

import "errors"

// CancelConsumer cancels the agent's consumer on broker i from the client
// side: its deliveries channel closes under a live connection, as when the
// broker cancels it (basic.cancel), but on that broker alone.
func CancelConsumer(a *Agent, i int) error {
	a.mu.Lock()
	pc := a.conns[i]
	a.mu.Unlock()
	if pc == nil {
		return errors.New("not consuming on that broker")
	}
	return pc.ch.Cancel(pc.tag, false)
}

// WaitClusterChecks waits until the checks that a cancelled consumer
// started (which other paths reach the same cluster) are done.
func WaitClusterChecks(a *Agent) { a.checksWG.Wait() }

// WatchQueue makes the agent's queue check (watchQueue) look for queue
// instead of its node queue: a queue that does not exist stands for a node
// queue deleted without a cancel. Call it before Start.
func WatchQueue(a *Agent, queue string) { a.watched = queue }
