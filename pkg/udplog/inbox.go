package udplog

import "sync"

// inboxChunk is the size of the slabs datagrams are packed into.
const inboxChunk = 1 << 20

// inbox is the queue between the goroutine that empties the socket and the
// one that decodes and writes. The reader only copies bytes, so the kernel
// buffer drains at the speed of recvfrom even while a burst is being
// written; datagrams are packed tightly into 1 MiB slabs (the kernel charges
// each one a whole buffer), up to limit bytes.
type inbox struct {
	mu     sync.Mutex
	limit  int
	bytes  int
	items  [][]byte
	chunks [][]byte // slabs full of queued items
	cur    []byte   // slab being filled
	free   [][]byte // slabs to reuse
	ready  chan struct{}
}

func newInbox(limit int) *inbox {
	return &inbox{limit: limit, ready: make(chan struct{}, 1)}
}

// push copies b into the queue; false when the queue is full.
func (q *inbox) push(b []byte) bool {
	q.mu.Lock()
	if q.bytes+len(b) > q.limit {
		q.mu.Unlock()
		return false
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
	q.bytes += len(b)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// take hands over everything queued; give the slabs back with recycle once
// the items are used.
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
	q.bytes = 0
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
