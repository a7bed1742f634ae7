package pool

import (
	"sync/atomic"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// batch is a run of tasks a worker took from the injector in one go. The
// worker runs them in submission order, and thieves may take them too: a
// task is claimed by one CAS on the state word, whoever runs it. That costs
// one atomic operation per task, where pushing the batch onto the
// Chase-Lev deque and popping it back costs three (a slot store, a bottom
// store, a slot clear); the tasks stay stealable either way, which matters
// for balance and for the starvation guarantee (a worker blocked in a task
// must not strand the rest of its batch).
//
// Each worker has one batch and refills it when it is spent, so taking a
// batch allocates nothing. (Allocating a fresh batch each time, tried
// first, cost 9 bytes a task and, through the garbage collections that
// caused, write barriers on every slot store.) Reuse is safe because the
// state word carries a generation: a thief that read the state before a
// refill fails its CAS after it, so the slot it read, old or new, is
// discarded. The slots are read and written atomically because such a
// stale read can overlap the refill.
//
// The generation is 32 bits: a thief would have to stall across exactly
// 2^32 refills of one worker's batch between its load and its CAS to be
// fooled.
type batch struct {
	// state is gen<<32 | n<<16 | next: the refill generation, the number of
	// tasks in this generation, and the index of the next unclaimed one.
	// Only the owner changes gen and n (in fill, when next == n); anyone
	// advances next by CAS.
	state atomic.Uint64
	tasks [maxBatch - 1]unsafe.Pointer
}

const (
	batchIndexMask = 1<<16 - 1
	batchGenOne    = 1 << 32
)

// minBatch: a worker takes at least this many tasks from the injector when
// there are that many, even when its fair share is smaller. At many workers
// and a short queue the fair share is one task, and every task would then
// cost a trip through the injector's lock, contended by the producer.
const minBatch = 4

// claim takes the next task, or returns nil when all are claimed.
func (b *batch) claim() task {
	var bo backoff.Backoff
	for {
		s := b.state.Load()
		next, n := s&batchIndexMask, s>>16&batchIndexMask
		if next >= n {
			return nil
		}
		t := atomic.LoadPointer(&b.tasks[next])
		testhook.Yield()
		if b.state.CompareAndSwap(s, s+1) {
			return t
		}
		bo.Spin() // another claimer won: it is running
	}
}

// left is the number of unclaimed tasks, as a hint.
func (b *batch) left() int {
	s := b.state.Load()
	return int(s>>16&batchIndexMask - s&batchIndexMask)
}

// fill starts a new generation holding ts. Owner only, on a spent batch.
func (b *batch) fill(ts []task) {
	for i, t := range ts {
		atomic.StorePointer(&b.tasks[i], t)
	}
	s := b.state.Load()
	// Publishes the slots: a claimer that loads this state reads them.
	b.state.Store((s>>32+1)<<32 | uint64(len(ts))<<16)
}

// clear drops the references a spent batch still holds, so that the GC can
// free the tasks' closures. Owner only, on a spent batch.
func (b *batch) clear() {
	s := b.state.Load()
	for i := range s >> 16 & batchIndexMask {
		atomic.StorePointer(&b.tasks[i], nil)
	}
	b.state.Store((s>>32 + 1) << 32) // a new, empty generation
}
