package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/waitq"
)

// injector is the pool's one global FIFO queue for tasks submitted from
// outside the pool (Submit, SubmitContext, Go). Workers take from it in
// batches, so its lock is taken about once per batch on the consumer side
// and once per task on the producer side.
//
// It is a mutex over a growable ring buffer rather than a lock-free queue:
// an uncontended push is then one CAS, one atomic add and one unlock, no
// more than a lock-free segmented queue (crossbeam-deque's Injector: a CAS
// on the tail, a slot store and a ready-bit store), the ring stays in cache
// as it is reused, and the bounded policies need a lock anyway to park
// submitters FIFO through waitq. (A linked list of 128-slot chunks, tried
// first, allocated a chunk per 128 tasks whenever the queue was longer than
// one chunk.) The length is mirrored in an atomic so that searching workers
// can look at an empty injector without taking the lock.
type injector struct {
	mu     sync.Mutex // guards everything below except n
	ring   []task     // len is a power of two; slot i%len holds task i
	head   uint64     // index of the oldest task
	tail   uint64     // index of the next push
	peak   uint64     // most tasks queued since the queue was last empty
	pushed uint64     // tasks ever pushed, for Stats

	// Bounded mode (limit > 0): at most limit tasks wait here. A task leaves
	// when a worker takes it to run, one at a time, so the bound is exact.
	limit    int
	reserved int         // room promised to woken submitters that have not pushed yet
	blocked  waitq.Queue // Block-policy submitters waiting for room, FIFO

	n atomic.Int64 // tasks queued; changed under mu, read anywhere
}

// minInjector is the ring's initial size: 2 KiB. When the queue empties,
// a ring more than four times the size the busy period just ended needed
// is dropped (and regrown on demand), so that a burst does not pin memory
// while a steady load does not reallocate it every time.
const minInjector = 256

// maxBatch caps how many tasks a worker takes from the injector at once
// (tokio moves up to half its local queue's capacity; rayon takes one at a
// time). Batched tasks stay stealable (see batch).
const maxBatch = 32

func (q *injector) pushLocked(t task) {
	if q.tail-q.head == uint64(len(q.ring)) {
		q.grow()
	}
	q.ring[q.tail&uint64(len(q.ring)-1)] = t
	q.tail++
	q.peak = max(q.peak, q.tail-q.head)
	q.pushed++
	q.n.Add(1)
}

func (q *injector) grow() {
	size := max(2*len(q.ring), minInjector)
	r := make([]task, size)
	for i := q.head; i < q.tail; i++ {
		r[i&uint64(size-1)] = q.ring[i&uint64(len(q.ring)-1)]
	}
	q.ring = r
}

// popLocked removes the oldest task; the injector must not be empty.
func (q *injector) popLocked() task {
	i := q.head & uint64(len(q.ring)-1)
	t := q.ring[i]
	q.ring[i] = nil // do not keep the closure alive
	q.head++
	if q.head == q.tail {
		if uint64(len(q.ring)) > 4*max(q.peak, minInjector) {
			q.ring = nil
		}
		q.peak = 0
	}
	return t
}

// push queues t in an unbounded injector and returns the queue length, or
// reports false if the pool is closed. closed is set under q.mu (close), so
// that no task gets in after Shutdown has seen the queue.
func (q *injector) push(t task, closed *atomic.Bool) (int, bool) {
	q.mu.Lock()
	if closed.Load() {
		q.mu.Unlock()
		return 0, false
	}
	q.pushLocked(t)
	n := q.tail - q.head
	q.mu.Unlock()
	return int(n), true
}

// close sets closed under q.mu and wakes the blocked submitters, which then
// fail with ErrClosed. It reports whether it was the one to close.
func (q *injector) close(closed *atomic.Bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if closed.Load() {
		return false
	}
	closed.Store(true)
	q.blocked.WakeAll()
	return true
}

// errRunHere tells the caller of pushBounded to run the task itself.
var errRunHere = errors.New("pool: caller runs")

// pushBounded queues t in a bounded injector, applying policy when it is
// full. Under Block, a submitter never jumps past blocked ones, nor past
// room reserved for the ones just woken, so the wait is FIFO.
func (q *injector) pushBounded(ctx context.Context, t task, policy Policy, closed *atomic.Bool) error {
	// FailFast and CallerRuns see a full queue without the lock: reserved
	// and blocked serve Block alone, so for them full means n >= limit. n
	// is read before closed, and closed never goes back to false, so at
	// the instant n was read the pool was open and the queue full: the
	// call takes effect there. (A CallerRuns submitter that finds the
	// queue full on every call, as one that outruns its workers does,
	// then pays no lock per task.)
	if policy != Block && int(q.n.Load()) >= q.limit && !closed.Load() {
		if policy == FailFast {
			return ErrQueueFull
		}
		return errRunHere
	}
	q.mu.Lock()
	if closed.Load() {
		q.mu.Unlock()
		return ErrClosed
	}
	if q.blocked.Len() == 0 && int(q.n.Load())+q.reserved < q.limit {
		q.pushLocked(t)
		q.mu.Unlock()
		return nil
	}
	switch policy {
	case FailFast:
		q.mu.Unlock()
		return ErrQueueFull
	case CallerRuns:
		q.mu.Unlock()
		return errRunHere
	}
	w := q.blocked.Enqueue(0)
	err := q.blocked.Wait(ctx, &q.mu, w, func(wasFront bool) {
		if wasFront {
			q.admitLocked()
		}
	})
	w.Recycle()
	if err != nil {
		return err
	}
	// Woken: admitLocked reserved room for us (a wake that raced with our
	// cancellation wins, in waitq, so the reservation is never lost), or
	// close woke everyone.
	q.mu.Lock()
	if closed.Load() {
		q.reserved = 0 // close woke every waiter: no reservation is owed
		q.mu.Unlock()
		return ErrClosed
	}
	q.reserved--
	q.pushLocked(t)
	q.mu.Unlock()
	return nil
}

// admitLocked wakes blocked submitters, front first, while there is room,
// reserving a place for each.
func (q *injector) admitLocked() {
	for w := q.blocked.Front(); w != nil && int(q.n.Load())+q.reserved < q.limit; w = q.blocked.Front() {
		q.reserved++
		q.blocked.Wake(w)
	}
}

// pop takes the oldest task for worker w. If wantBatch is set it also takes
// the next ones of w's share (len/workers + 1, but at least minBatch and at
// most maxBatch) and installs them as w's batch, where they stay stealable,
// so a share larger than fair costs nothing but a steal. Returns nil if the injector is
// empty. A bounded injector always hands out one task at a time, so that
// its limit counts exactly the tasks not yet started.
func (q *injector) pop(w *Worker, workers int, wantBatch bool) task {
	if q.n.Load() == 0 {
		return nil
	}
	var buf [maxBatch - 1]task
	q.mu.Lock()
	n := int(q.n.Load())
	if n == 0 {
		q.mu.Unlock()
		return nil
	}
	k := 1
	if wantBatch && q.limit == 0 {
		k = min(max(n/max(workers, 1)+1, minBatch), n, maxBatch)
	}
	t := q.popLocked()
	for i := range k - 1 {
		buf[i] = q.popLocked()
	}
	// Count the tasks in pending before taking them off n: Pool.quiet
	// reads n first, then pending, and must not see both without them.
	w.p.pending.Add(int64(k))
	q.n.Add(int64(-k))
	if q.blocked.Len() > 0 {
		q.admitLocked()
	}
	q.mu.Unlock()
	if k > 1 {
		w.batch.fill(buf[:k-1])
	}
	return t
}
