package pool

import (
	"sync/atomic"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// deque is a Chase-Lev work-stealing deque of tasks: its owner pushes and
// pops at the bottom (LIFO, so recursive fork-join stays cache-hot and
// depth-first), and thieves steal from the top (FIFO, so a thief takes the
// oldest, usually biggest, piece of work).
//
// Sources:
//   - D. Chase and Y. Lev, "Dynamic Circular Work-Stealing Deque", SPAA 2005
//     (https://doi.org/10.1145/1073970.1073974): the algorithm and the
//     growable circular array.
//   - N. M. Lê, A. Pop, A. Cohen, F. Zappa Nardelli, "Correct and Efficient
//     Work-Stealing for Weak Memory Models", PPoPP 2013
//     (https://doi.org/10.1145/2442516.2442524), Figure 1: the corrected C11
//     version, which this code follows line by line. Its fences are
//     implicit here: every sync/atomic operation is sequentially consistent.
//   - crossbeam-deque (crossbeam-rs/crossbeam, crossbeam-deque/src/deque.rs),
//     Worker::pop and Stealer::steal, for the same structure in a language
//     with a GC-less buffer.
//
// Indices are int64 and only grow, so they never wrap in practice (2^63
// pushes). Slot i of the logical deque lives in ring slot i & mask.
//
// Ownership:
//
//	[top, bottom)  tasks in the deque; the owner may take bottom-1, thieves top
//	bottom         written only by the owner
//	top            advanced only by CAS (thieves, and the owner for the last task)
//
// Slots are read and written with atomic loads and stores. A thief that
// read top long ago may read a slot while the owner, having wrapped around,
// overwrites it; the thief's CAS on top then fails, so the value it read is
// discarded, but the access itself must be atomic to be race-free.
//
// When the ring is full the owner copies [top, bottom) into a ring twice the
// size and publishes it. A thief may still read the old ring; that is safe
// because the owner never writes to a ring it has replaced, and a slot a
// thief can win (index >= the top the owner copied from) holds the same
// task in both. The old ring is garbage once no thief holds it.
type deque struct {
	bottom atomic.Int64
	_      cacheline.Pad // thieves write top; keep it off the owner's line
	top    atomic.Int64
	_      cacheline.Pad
	ring   atomic.Pointer[ring]
}

// minRing is the initial ring size: 2 KiB of slots per worker.
const minRing = 256

type ring struct {
	mask  int64
	slots []unsafe.Pointer
}

func newRing(size int64) *ring {
	return &ring{mask: size - 1, slots: make([]unsafe.Pointer, size)}
}

func (r *ring) load(i int64) task     { return atomic.LoadPointer(&r.slots[i&r.mask]) }
func (r *ring) store(i int64, t task) { atomic.StorePointer(&r.slots[i&r.mask], t) }

func (d *deque) init() { d.ring.Store(newRing(minRing)) }

// push adds t at the bottom. Owner only.
func (d *deque) push(t task) {
	b := d.bottom.Load()
	top := d.top.Load()
	r := d.ring.Load()
	if b-top > r.mask { // b - top == size: full
		r = d.grow(r, top, b)
	}
	r.store(b, t)
	// Publishes the slot: a thief that loads bottom > b reads t.
	d.bottom.Store(b + 1)
}

// grow replaces the ring with one twice the size holding [top, b). Owner only.
func (d *deque) grow(r *ring, top, b int64) *ring {
	nr := newRing(2 * (r.mask + 1))
	for i := top; i < b; i++ {
		nr.slots[i&nr.mask] = r.load(i) // nr is private until the Store below
	}
	d.ring.Store(nr)
	return nr
}

// pop takes the newest task, or returns nil if the deque is empty or a thief
// won the last task. Owner only.
func (d *deque) pop() task {
	b := d.bottom.Load() - 1
	if b < d.top.Load() {
		// Empty, for sure: top only grows, so an older top would only make
		// the deque look fuller. Two plain loads instead of two stores.
		return nil
	}
	r := d.ring.Load()
	// Reserve slot b before looking at top: a thief that loads bottom after
	// this store no longer sees b as available. The store-then-load order is
	// the seq_cst fence of Lê et al.
	d.bottom.Store(b)
	t := d.top.Load()
	if t > b { // it was empty
		d.bottom.Store(b + 1)
		return nil
	}
	x := r.load(b)
	if t < b {
		// More than one task: thieves take top <= b-1 at most, never b.
		// Clear the slot so the ring does not keep the task's closure alive.
		r.store(b, nil)
		return x
	}
	// The last task: the owner and any thief race for it through top.
	testhook.Yield()
	if d.top.CompareAndSwap(t, t+1) {
		r.store(b, nil) // thieves that read the slot now fail their CAS
	} else if !brokenPop {
		x = nil // a thief got it
	}
	d.bottom.Store(b + 1)
	return x
}

// stealResult says why steal returned no task.
type stealResult uint8

const (
	stolen     stealResult = iota // a task was taken
	stealEmpty                    // nothing to steal
	stealRetry                    // lost a race with the owner or another thief
)

// steal takes the oldest task. Any goroutine.
func (d *deque) steal() (task, stealResult) {
	t := d.top.Load()
	// Load top before bottom (the seq_cst fence of Lê et al.): together with
	// pop's store-then-load this means the owner and a thief cannot both
	// believe they took the last task without one of them going to the CAS.
	b := d.bottom.Load()
	if t >= b {
		return nil, stealEmpty
	}
	r := d.ring.Load()
	x := r.load(t)
	testhook.Yield()
	if !d.top.CompareAndSwap(t, t+1) {
		return nil, stealRetry
	}
	if x == nil {
		panic("pool: inconsistent deque: stole an empty slot")
	}
	return x, stolen
}

// len is the number of tasks, as seen by a racy snapshot: exact for the
// owner when no thief is active, a hint for everyone else.
func (d *deque) len() int {
	n := d.bottom.Load() - d.top.Load()
	if n < 0 { // the owner's pop reservation on an empty deque
		return 0
	}
	return int(n)
}

// brokenPop is a test-only seeded bug: when set, pop keeps the last task even
// when a thief won it, so the task runs twice. The deque tests set it to
// prove that they catch exactly this class of error; see export_test.go.
var brokenPop bool
