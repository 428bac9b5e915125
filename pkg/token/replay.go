package token

import "sync"

// replayCache remembers accepted ids until they expire, at most size of them.
type replayCache struct {
	mu    sync.Mutex
	size  int
	seen  map[string]int64 // id -> expiry (Unix ms)
	order []replayEntry    // ring of ids in the order admitted
	head  int              // index of the oldest entry in order
	n     int              // entries in order
	floor int64            // highest timestamp of an id forgotten before it expired
}

type replayEntry struct {
	id      string
	ts      int64
	expires int64
}

func (c *replayCache) init(size int) {
	c.size = size
	c.seen = make(map[string]int64)
	c.floor = -1 << 63
}

// admit records id, or returns why it is refused.
func (c *replayCache) admit(id string, ts, now, expires int64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Forget expired ids from the oldest on; an id that outlives its
	// successors in the ring is forgotten a little late, which is safe.
	for c.n > 0 {
		e := &c.order[c.head]
		if e.expires > now {
			break
		}
		if c.seen[e.id] == e.expires {
			delete(c.seen, e.id)
		}
		c.pop()
	}
	if exp, ok := c.seen[id]; ok && exp > now {
		return "the event id was seen before (replay)"
	}
	if ts <= c.floor {
		return "the timestamp is older than the replay cache still covers (cache full)"
	}
	if c.n == c.size {
		e := c.order[c.head]
		if c.seen[e.id] == e.expires {
			delete(c.seen, e.id)
		}
		c.floor = max(c.floor, e.ts)
		c.pop()
	}
	if len(c.order) < c.size && c.n == len(c.order) {
		// Grow the ring lazily, unwrapping it.
		grown := make([]replayEntry, min(c.size, max(64, 2*len(c.order))))
		for i := 0; i < c.n; i++ {
			grown[i] = c.order[(c.head+i)%len(c.order)]
		}
		c.order, c.head = grown, 0
	}
	c.order[(c.head+c.n)%len(c.order)] = replayEntry{id: id, ts: ts, expires: expires}
	c.n++
	c.seen[id] = expires
	return ""
}

func (c *replayCache) pop() {
	c.order[c.head] = replayEntry{}
	c.head = (c.head + 1) % len(c.order)
	c.n--
}
