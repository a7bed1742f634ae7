package pool

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// injector is the pool's one global FIFO queue for tasks submitted from
// outside the pool (Submit, SubmitContext, Go). Workers take from it in
// batches, so its lock is taken about once per batch on the consumer side
// and once per task on the producer side.
//
// It is a lock over a growable ring buffer rather than a lock-free queue:
// the ring stays in cache as it is reused, and the bounded policies need a
// lock anyway to park submitters FIFO through waitq. (A linked list of
// 128-slot chunks, tried first, allocated a chunk per 128 tasks whenever
// the queue was longer than one chunk.)
//
// The lock and the queue's length share one word, state, so that a push
// is two atomic read-modify-writes: a CAS that takes the lock and an add
// that releases it and counts the task. A sync.Mutex and a separate
// atomic length, which searching workers need to see an empty injector
// without locking, took three; a lock-free queue needs two as well (in Go
// an atomic store is an exchange): a claim and a publish. That third
// operation was about a quarter of a Submit.
//
// The lock is held for a few instructions at a time and never across a
// block (waitq.Wait releases it), so a contended Lock spins and then
// yields instead of parking. (The runtime's own lock does the same before
// it sleeps; a waiter here is never idle, it waits for a running holder.)
type injector struct {
	// state is n<<1 | locked: bit 0 is the lock, the rest the number of
	// queued tasks. The count changes only together with an unlock, so it
	// is exact whenever the lock is free.
	state atomic.Uint64

	// Guarded by the lock:
	ring   []task // len is a power of two; slot i%len holds task i
	head   uint64 // index of the oldest task
	tail   uint64 // index of the next push
	peak   uint64 // most tasks queued since the queue was last empty
	pushed uint64 // tasks ever pushed, for Stats

	// Bounded mode (limit > 0): at most limit tasks wait here. A task leaves
	// when a worker takes it to run, one at a time, so the bound is exact.
	limit    int
	reserved int         // room promised to woken submitters that have not pushed yet
	blocked  waitq.Queue // Block-policy submitters waiting for room, FIFO
}

const (
	injLocked uint64 = 1 // state bit 0: the lock is held
	injOne    uint64 = 2 // one queued task in state
)

// Lock takes the injector's lock. With Unlock it makes the injector a
// sync.Locker, for waitq.
func (q *injector) Lock() {
	if s := q.state.Load(); s&injLocked == 0 && q.state.CompareAndSwap(s, s|injLocked) {
		return
	}
	q.lockSlow()
}

func (q *injector) lockSlow() {
	var bo backoff.Backoff
	for {
		if s := q.state.Load(); s&injLocked == 0 && q.state.CompareAndSwap(s, s|injLocked) {
			return
		}
		bo.Snooze() // spins, then yields each time: the holder is running
	}
}

// Unlock releases the lock.
func (q *injector) Unlock() { q.unlockAdd(0) }

// unlockAdd releases the lock and changes the count by delta, in one add.
func (q *injector) unlockAdd(delta int64) {
	q.state.Add(uint64(delta)*injOne - injLocked)
}

// len returns the number of queued tasks, without the lock.
func (q *injector) len() int { return int(q.state.Load() >> 1) }

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
// reports false if the pool is closed. closed is set under the lock
// (close), so that no task gets in after Shutdown has seen the queue.
func (q *injector) push(t task, closed *atomic.Bool) (int, bool) {
	q.Lock()
	if closed.Load() {
		q.Unlock()
		return 0, false
	}
	q.pushLocked(t)
	n := q.tail - q.head
	q.unlockAdd(1)
	return int(n), true
}

// close sets closed under the lock and wakes the blocked submitters, which
// then fail with ErrClosed. It reports whether it was the one to close.
func (q *injector) close(closed *atomic.Bool) bool {
	q.Lock()
	defer q.Unlock()
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
	q.Lock()
	if closed.Load() {
		q.Unlock()
		return ErrClosed
	}
	if q.blocked.Len() == 0 && int(q.tail-q.head)+q.reserved < q.limit {
		q.pushLocked(t)
		q.unlockAdd(1)
		return nil
	}
	switch policy {
	case FailFast:
		q.Unlock()
		return ErrQueueFull
	case CallerRuns:
		q.Unlock()
		return errRunHere
	}
	w := q.blocked.Enqueue(0)
	if err := q.blocked.Wait(ctx, q, w, func(wasFront bool) {
		if wasFront {
			q.admitLocked()
		}
	}); err != nil {
		return err
	}
	// Woken: admitLocked reserved room for us (a wake that raced with our
	// cancellation wins, in waitq, so the reservation is never lost), or
	// close woke everyone.
	q.Lock()
	if closed.Load() {
		q.reserved = 0 // close woke every waiter: no reservation is owed
		q.Unlock()
		return ErrClosed
	}
	q.reserved--
	q.pushLocked(t)
	q.unlockAdd(1)
	return nil
}

// admitLocked wakes blocked submitters, front first, while there is room,
// reserving a place for each.
func (q *injector) admitLocked() {
	for w := q.blocked.Front(); w != nil && int(q.tail-q.head)+q.reserved < q.limit; w = q.blocked.Front() {
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
	if q.len() == 0 {
		return nil
	}
	var buf [maxBatch - 1]task
	q.Lock()
	n := int(q.tail - q.head)
	if n == 0 {
		q.Unlock()
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
	if q.blocked.Len() > 0 {
		q.admitLocked()
	}
	// Count the tasks in pending before taking them off the length (with
	// the unlock): Pool.quiet reads the length first, then pending, and
	// must not see both without them.
	w.p.pending.Add(int64(k))
	q.unlockAdd(-int64(k))
	if k > 1 {
		w.batch.fill(buf[:k-1])
	}
	return t
}
