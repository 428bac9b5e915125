package rpc

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// call is one request waiting for its reply.
type call struct {
	id string
	// where is the path (high 16 bits) and path generation (low 48 bits)
	// the reply will come back on; set just before each publish attempt.
	where atomic.Uint64
	// sent is set once a broker confirmed the request on where.
	sent atomic.Bool
	// done is closed by whoever removed the call from the table, once res
	// is set (finish). A channel of results would cost two heap objects a
	// call, this one.
	done chan struct{}
	res  result
	// badReplies counts replies to it refused for their signature, to
	// explain its timeout.
	badReplies atomic.Uint32
}

// result is a reply or the reason no reply will come.
type result struct {
	body    []byte
	headers amqp.Table
	err     error
	// badReplies: replies refused for their signature while it waited (set
	// with a timeout).
	badReplies uint32
}

// finish hands r to the call's waiter; only whoever removed the call from
// the table calls it, once.
func (c *call) finish(r result) {
	c.res = r
	close(c.done)
}

func packWhere(path int, gen uint64) uint64 { return uint64(path)<<48 | gen&(1<<48-1) }

func unpackWhere(w uint64) (path int, gen uint64) { return int(w >> 48), w & (1<<48 - 1) }

const callShards = 64

// callTable maps correlation ids to waiting calls. It is sharded so that
// thousands of concurrent callers and the reply consumers rarely contend.
type callTable struct {
	seed   maphash.Seed
	shards [callShards]callShard
}

type callShard struct {
	mu sync.Mutex
	m  map[string]*call
	_  [40]byte // keep shards on separate cache lines
}

func newCallTable() *callTable {
	t := &callTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*call)
	}
	return t
}

func (t *callTable) shard(id string) *callShard {
	return &t.shards[maphash.String(t.seed, id)%callShards]
}

func (t *callTable) add(c *call) {
	s := t.shard(c.id)
	s.mu.Lock()
	s.m[c.id] = c
	s.mu.Unlock()
}

// remove takes c out of the table; false means someone else did and will
// deliver (or has delivered) its result.
func (t *callTable) remove(c *call) bool {
	s := t.shard(c.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[c.id] != c {
		return false
	}
	delete(s.m, c.id)
	return true
}

// take removes and returns the call with id if its reply is expected on
// path; found reports whether the id is known at all.
func (t *callTable) take(id string, path int) (c *call, found bool) {
	s := t.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[id]
	if !ok {
		return nil, false
	}
	if p, _ := unpackWhere(c.where.Load()); p != path {
		return nil, true
	}
	delete(s.m, id)
	return c, true
}

// noteBadReply counts a refused reply against the call with id, if any.
func (t *callTable) noteBadReply(id string) {
	s := t.shard(id)
	s.mu.Lock()
	if c, ok := s.m[id]; ok {
		c.badReplies.Add(1)
	}
	s.mu.Unlock()
}

// failPath ends every call that was sent on path generation gen with err.
func (t *callTable) failPath(path int, gen uint64, err error) int {
	want := packWhere(path, gen)
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for id, c := range s.m {
			if c.sent.Load() && c.where.Load() == want {
				delete(s.m, id)
				c.finish(result{err: err})
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// failAll ends every call with err (Close).
func (t *callTable) failAll(err error) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for id, c := range s.m {
			delete(s.m, id)
			c.finish(result{err: err})
		}
		s.mu.Unlock()
	}
}
