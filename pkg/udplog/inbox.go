package udplog

import "sync"

// inboxChunk is the size of the slabs small datagrams are packed into.
const inboxChunk = 1 << 20

// pickleCost is what a byte of a pickle costs to decode, counted in bytes of
// JSON: a pickle of small values allocates for each, and costs at worst 7
// times a typical JSON record per byte, which is about as costly per byte as
// JSON gets (BenchmarkDecodeWorstCase reports ns/B for each kind).
const pickleCost = 8

// largeSlots is how many large datagrams may wait to be decoded; one that
// finds every slot taken is shed (Stats.Shed). The slots hold at most
// largeSlots × MaxRecordSize bytes (3.75 MiB).
const largeSlots = 64

// smallCost is the largest cost (see datagramCost) that takes the queue of
// small datagrams: JSON up to 32 KiB, a pickle up to 4 KiB (a Python record
// with a short traceback). Larger ones wait in largeSlots slots.
const smallCost = 32 << 10

// datagramCost estimates the work of decoding b before any is done: its
// size, weighted for pickles. Decoding costs about this much because of the
// work budget (limits.go).
func datagramCost(b []byte) int {
	if isPython(b) {
		return pickleCost * len(b)
	}
	return len(b)
}

// pushResult says what became of a datagram handed to the inbox.
type pushResult int

const (
	queued    pushResult = iota
	queueFull            // small, and the queue was full (Stats.QueueDrops)
	shed                 // large, and every slot was taken (Stats.Shed)
)

// inbox is the queue between the goroutine that empties the socket and the
// one that decodes and writes. The reader only copies bytes, so the kernel
// buffer drains at the speed of recvfrom even while a burst is being
// written.
//
// It has two lanes. Small datagrams, which are nearly all log records, are
// packed tightly into 1 MiB slabs (the kernel charges each one a whole
// buffer), up to limit in cost: a full queue drains in about the same time
// whatever it holds. Large ones take one of largeSlots fixed buffers, and
// the writer takes one only between two batches of small ones: a flood of
// large datagrams fills the slots and is shed, while small records keep
// their queue and wait for at most one large decode.
type inbox struct {
	mu     sync.Mutex
	limit  int
	cost   int // of the small datagrams queued
	items  [][]byte
	chunks [][]byte // slabs full of queued items
	cur    []byte   // slab being filled
	free   [][]byte // slabs to reuse

	large     [][]byte // large datagrams queued, oldest first
	largeFree [][]byte // slot buffers to reuse
	largeUsed int      // slots queued or being decoded

	ready chan struct{}
}

func newInbox(limit int) *inbox {
	return &inbox{limit: limit, ready: make(chan struct{}, 1)}
}

// push copies b into its lane.
func (q *inbox) push(b []byte) pushResult {
	cost := datagramCost(b)
	q.mu.Lock()
	var r pushResult
	if cost > smallCost {
		r = q.pushLarge(b)
	} else {
		r = q.pushSmall(b, cost)
	}
	q.mu.Unlock()
	if r == queued {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return r
}

func (q *inbox) pushSmall(b []byte, cost int) pushResult {
	if q.cost+cost > q.limit {
		return queueFull
	}
	if cap(q.cur)-len(q.cur) < len(b) {
		if q.cur != nil {
			q.chunks = append(q.chunks, q.cur)
		}
		if n := len(q.free); n > 0 {
			q.cur, q.free = q.free[n-1][:0], q.free[:n-1]
		} else {
			q.cur = make([]byte, 0, inboxChunk)
		}
	}
	start := len(q.cur)
	q.cur = append(q.cur, b...)
	q.items = append(q.items, q.cur[start:len(q.cur):len(q.cur)])
	q.cost += cost
	return queued
}

func (q *inbox) pushLarge(b []byte) pushResult {
	if q.largeUsed >= largeSlots {
		return shed
	}
	var buf []byte
	if n := len(q.largeFree); n > 0 {
		buf, q.largeFree = q.largeFree[n-1], q.largeFree[:n-1]
	} else {
		buf = make([]byte, 0, MaxRecordSize)
	}
	q.largeUsed++
	q.large = append(q.large, append(buf[:0], b...))
	return queued
}

// take hands over every small datagram queued; give the slabs back with
// recycle once the items are used.
func (q *inbox) take(items, chunks [][]byte) ([][]byte, [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, q.items = q.items, items[:0]
	chunks = append(chunks[:0], q.chunks...)
	q.chunks = q.chunks[:0]
	if q.cur != nil {
		chunks = append(chunks, q.cur)
		q.cur = nil
	}
	q.cost = 0
	return items, chunks
}

func (q *inbox) recycle(chunks [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range chunks {
		if len(q.free) < 8 {
			q.free = append(q.free, c)
		}
	}
}

// takeLarge hands over the oldest large datagram; give its slot back with
// releaseLarge once it is used.
func (q *inbox) takeLarge() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.large) == 0 {
		return nil, false
	}
	b := q.large[0]
	n := copy(q.large, q.large[1:])
	q.large[n] = nil
	q.large = q.large[:n]
	return b, true
}

func (q *inbox) releaseLarge(b []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.largeUsed--
	q.largeFree = append(q.largeFree, b[:0])
}
