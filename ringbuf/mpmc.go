package ringbuf

import (
	"context"
	"math/bits"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/relstore"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// maxCapacity bounds the capacity so that a position keeps at least 2^22
// laps of headroom below 2^64 (see the position layout on MPMC).
const maxCapacity = 1 << 40

// MPMC is a bounded first-in first-out queue that any number of goroutines
// may push to and pop from concurrently. It holds exactly the capacity given
// to NewMPMC, stores items in a fixed array (no allocation per item) and
// claims slots with compare-and-swap instead of a lock.
//
// TryPush and TryPop never park: they fail when the queue is full or empty.
// One that loses its slot to a concurrent call of the same kind pauses
// briefly (30 spin-wait hints) and yields the processor before it tries
// the next slot. Push and Pop wait, yielding the processor a few times
// and then parking (at once in a stream: see the package doc), until they
// succeed, the queue is closed, or ctx ends.
// TryPushN and TryPopN move a batch with one compare-and-swap.
//
// An MPMC must be created with NewMPMC: the zero value has no slots, and
// every operation on it but Len and Cap (which report 0) panics. An MPMC
// must not be copied after first use.
//
// In the terminology of the Go memory model, the push (Push, TryPush or
// TryPushN) that stores an item synchronizes before the pop (Pop, TryPop or
// TryPopN) that returns that item, and Close synchronizes before every call
// that fails because of it. A failed TryPush or TryPop, and a push or pop
// that returns an error, establishes no synchronizes-before relation.
//
// # Algorithm
//
// This is Dmitry Vyukov's bounded MPMC queue (1024cores.net, "Bounded MPMC
// queue", https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue)
// in the form of crossbeam's ArrayQueue, which keeps the capacity exact by
// counting laps (crossbeam-rs/crossbeam, crossbeam-queue/src/array_queue.rs
// at 7de845aa), with the closed mark of crossbeam-channel's array flavour
// (crossbeam-channel/src/flavors/array.rs).
//
// A position is a 64-bit word, index in the low bits, then the closed
// bit, then the lap:
//
//	position = lap*oneLap + index   index < capacity < closedBit, oneLap = 2*closedBit
//	head     = position of the next pop
//	tail     = position of the next push, plus closedBit once Close was called
//
// Each slot carries a stamp that says, for the position p that refers to it,
// what it holds:
//
//	stamp      meaning                                 set by
//	p          empty: ready for the push at p          NewMPMC, or the pop at p-oneLap
//	p+1        full: holds the item pushed at p         the push at p (publish)
//	p+oneLap   empty again: ready for the next lap      the pop at p (release)
//
// A push loads tail, checks that its slot's stamp is tail, claims the
// position by moving tail on with a compare-and-swap, writes the item and
// only then publishes it by storing the stamp; a pop does the same with head
// and the stamp head+1, zeroes the slot so the garbage collector can free
// what the item referenced (a batch pop skips that when T holds no
// pointers), and releases the slot by storing the stamp of the next lap.
// The stamp store is what publishes: the push's store of p+1
// synchronizes before the pop's load that sees it, and the pop's store of
// p+oneLap before the next lap's push. (On amd64 without -race these two
// stores are plain release stores, outside sync/atomic, and those edges
// rest on amd64's total store order; see internal/relstore, and waiters
// for why the blocking layer needs no fence after them.) Positions are 64
// bits and only grow, so a stalled goroutine cannot mistake a later lap
// for its own (no ABA): at the largest capacity, wrapping would take 2^22
// laps of 2^40 items.
//
// head and tail sit on cache lines of their own. Slots cannot be padded:
// Go cannot size padding from a type parameter, so neighbouring slots share
// cache lines; a consumer reading slot i and a producer writing slot i+1
// contend for the line, which costs throughput under heavy two-sided
// contention but no memory per slot.
//
// # Progress
//
// Like every array queue built on per-slot sequence numbers, MPMC is not
// strictly lock-free. A producer that is preempted between claiming a slot
// and publishing it delays the consumer of that slot (and, once the queue
// has wrapped around, the producer one lap later), and a preempted consumer
// likewise delays the next lap's producer of its slot. The delayed
// goroutine spins briefly and then yields the processor with
// runtime.Gosched until the preempted one has run its few remaining
// instructions; it does not report empty or full meanwhile, because the
// item is already counted in the queue. A batch (TryPushN, TryPopN) waits
// the same way for each slot it claimed, after claiming them all, so a
// preempted goroutine also delays the batch that claimed its slot, and
// through it the later users of that batch's other slots. Goroutines at
// slots no waiting operation has claimed are not delayed.
type MPMC[T any] struct {
	_ noCopy

	_          cacheline.Pad
	head       atomic.Uint64 // position of the next pop
	popWaitAt  atomic.Uint64 // head when a Pop last found the queue empty (see pause.streaming)
	_          cacheline.Pad
	tail       atomic.Uint64 // position of the next push, | closedBit once closed
	pushWaitAt atomic.Uint64 // tail when a Push last found the queue full (see pause.streaming)
	_          cacheline.Pad

	// Read-only after NewMPMC, and read on every operation.
	slots     []slot[T]
	cap       uint64 // len(slots)
	mask      uint64 // closedBit-1: position & mask is the index
	closedBit uint64 // smallest power of two > cap
	oneLap    uint64 // 2*closedBit: the distance between laps
	lapShift  uint   // log2(oneLap)

	// pointerFree reports that T holds no pointers, so that TryPopN need
	// not zero the slots it empties (see pointerFree in pointers.go).
	pointerFree bool

	w waiters // blocking layer; w.parked shares the read-mostly line above
}

type slot[T any] struct {
	stamp atomic.Uint64 // see the table on MPMC
	val   T
}

// initChunk is how many slots NewMPMC and NewSPSC stamp per call of the
// batches' store routine. On amd64 that routine is assembly, which the
// runtime cannot preempt, so one call for a ring of millions of slots
// would hold off the scheduler and the garbage collector's stop-the-world
// for milliseconds; 65,536 slots take about 50 µs.
const initChunk = 1 << 16

// NewMPMC returns an empty MPMC queue that holds exactly capacity items.
// It panics if capacity < 1.
func NewMPMC[T any](capacity int) *MPMC[T] {
	if capacity < 1 {
		panic("ringbuf: NewMPMC capacity < 1")
	}
	if uint64(capacity) > maxCapacity {
		panic("ringbuf: NewMPMC capacity too large")
	}
	c := uint64(capacity)
	closedBit := uint64(1) << bits.Len64(c) // > c, as a push's stamp p+1 may reach index c
	q := &MPMC[T]{
		slots:     make([]slot[T], c),
		cap:       c,
		mask:      closedBit - 1,
		closedBit: closedBit,
		oneLap:    closedBit << 1,
		lapShift:  uint(bits.Len64(closedBit)),

		pointerFree: pointerFree[T](),
	}
	// Slot i empty for position i (see the table above), a chunk at a
	// time: the runtime cannot preempt the assembly that stores them.
	for i := 0; i < len(q.slots); i += initChunk {
		publishStamps(q.slots[i:min(i+initChunk, len(q.slots))], uint64(i))
	}
	return q
}

// checkInit panics if q is a zero MPMC, on the slow paths only.
func (q *MPMC[T]) checkInit() {
	if q.cap == 0 {
		panic("ringbuf: MPMC not created by NewMPMC")
	}
}

// result is the outcome of a try operation.
type result uint8

const (
	resultOK     result = iota // the item was pushed or popped
	resultFailed               // full (push) or empty (pop)
	resultClosed               // closed (push), or closed and drained (pop)
)

// movedPast reports whether position p has moved more than one place on
// from last (p is neither last nor the one after it).
func (q *MPMC[T]) movedPast(last, p uint64) bool {
	return p != last && p != q.next(last)
}

// next returns the position after p (p carries no closed bit).
func (q *MPMC[T]) next(p uint64) uint64 {
	if p&q.mask+1 < q.cap {
		return p + 1
	}
	// Set to {lap: lap+1, index: 0}.
	return p&^(q.oneLap-1) + q.oneLap
}

// TryPush appends v to the queue if there is room and the queue is not
// closed, and reports whether it did. It fails only when the queue was
// full, or closed, at some instant during the call.
func (q *MPMC[T]) TryPush(v T) bool {
	return q.push(v) == resultOK
}

// push claims a slot for v, stores v and publishes it.
func (q *MPMC[T]) push(v T) result {
	// Fast path: the slot is empty for this lap and the claim succeeds at
	// the first attempt. A closed tail never equals a stamp, so after
	// Close every push takes the slow path.
	tail := q.tail.Load()
	var s *slot[T]
	if i := tail & q.mask; i < uint64(len(q.slots)) && // false only for a zero MPMC
		q.slots[i].stamp.Load() == tail && q.tail.CompareAndSwap(tail, q.next(tail)) {
		s = &q.slots[i]
	} else {
		var r result
		if s, tail, r = q.claimPush(); r != resultOK {
			return r
		}
	}
	testhook.Yield() // claimed, not yet published
	s.val = v
	// Publish: synchronizes with the pop's Load. A release store is
	// enough: notify's load needs no fence after it, since a parking pop
	// re-checks tail, which the claim's compare-and-swap moved, and a pop
	// that finds the position claimed but the stamp not yet visible waits
	// for it (popWait).
	relstore.Uint64(&s.stamp, tail+1)
	q.notify()
	return resultOK
}

// claimPush is push's slow path: it claims the slot at tail, waiting for a
// goroutine in the middle of its own operation on that slot, or reports
// full or closed.
func (q *MPMC[T]) claimPush() (*slot[T], uint64, result) {
	q.checkInit()
	var b backoff.Backoff
	tail := q.tail.Load()
	for {
		if tail&q.closedBit != 0 {
			return nil, 0, resultClosed
		}
		s := &q.slots[tail&q.mask]
		stamp := s.stamp.Load()
		if stamp == tail {
			// The slot is empty for this lap: claim the position.
			if q.tail.CompareAndSwap(tail, q.next(tail)) {
				return s, tail, resultOK
			}
			lostClaim() // another push (or Close) moved tail first
			tail = q.tail.Load()
			continue
		}
		if !q.pushWait(tail, stamp, &b) {
			return nil, 0, resultFailed
		}
		tail = q.tail.Load()
	}
}

// lostClaimPauses is how many spin-wait hints lostClaim waits before it
// yields: 0.6 µs on the AMD EPYC (Zen 5) machine it was measured on.
const lostClaimPauses = 30

// lostClaim backs off after a claim lost its position to another
// goroutine on the same side: a compare-and-swap on head or tail that
// failed, or a position found already taken. It pauses off the index's
// cache line, then yields the processor.
//
// A lost claim means another pusher (or popper) is running right now on
// the same index. Retrying at once, as crossbeam's ArrayQueue does with a
// bounded spin, pulls the index's and the slot's cache lines back to this
// core while the winner still needs them; yielding lets the winner run a
// streak, and, where goroutines outnumber processors, lets the other side
// run. xsync's MPMCQueue gets the same effect another way: its TryEnqueue
// and TryDequeue fail at once on a lost claim (which is why they can
// report full or empty spuriously), and its callers yield. In the
// comparison suite at 2 CPUs (4 producers and 4 consumers, queue of 1024,
// on a 2-vCPU AMD EPYC Turin virtual machine, 8 interleaved runs) a spin
// took 212 ns an item through Push and Pop and 210 through the TryPush and
// TryPop retry loop; this took 42 and 47, against xsync's 40. A bare yield
// and a spin before the yield measured within each other's intervals;
// one goroutine, and every run at 1 CPU, did not move.
func lostClaim() { backoff.PauseYield(lostClaimPauses) }

// pushWait handles a push whose slot at position tail has the given stamp,
// not tail. It reports false if the queue is full; otherwise it has backed
// off and the caller reloads tail and retries.
func (q *MPMC[T]) pushWait(tail, stamp uint64, b *backoff.Backoff) bool {
	if stamp > tail {
		// tail is stale: another push has claimed this position.
		lostClaim()
		return true
	}
	// The slot still belongs to the previous lap: its item is not popped
	// yet, or a pop has claimed it and not released it, or a push of the
	// previous lap has not published it. If head is a whole lap behind,
	// capacity items are counted in the queue: it is full.
	if q.head.Load()+q.oneLap == tail {
		return false
	}
	b.Snooze() // wait for the goroutine that holds the slot
	return true
}

// TryPop removes and returns the item at the front of the queue, if there
// is one. It fails only when the queue was empty at some instant during the
// call; if the front item's push has claimed its slot but not yet stored the
// item, TryPop waits for it (see Progress on MPMC).
func (q *MPMC[T]) TryPop() (T, bool) {
	v, r := q.pop()
	return v, r == resultOK
}

// pop claims the slot at head, takes its item and releases the slot.
func (q *MPMC[T]) pop() (T, result) {
	// Fast path: the slot holds the item pushed at head and the claim
	// succeeds at the first attempt.
	head := q.head.Load()
	var s *slot[T]
	if i := head & q.mask; i < uint64(len(q.slots)) && // false only for a zero MPMC
		q.slots[i].stamp.Load() == head+1 && q.head.CompareAndSwap(head, q.next(head)) {
		s = &q.slots[i]
	} else {
		var r result
		if s, head, r = q.claimPop(); r != resultOK {
			var zero T
			return zero, r
		}
	}
	testhook.Yield() // claimed, not yet released
	v := s.val
	var zero T
	s.val = zero // let the GC free what v references
	// Release the slot to the next lap's push; a release store, as in
	// push: a parking push re-checks head, and pushWait waits for a slot
	// whose position is popped but whose stamp is not yet visible.
	relstore.Uint64(&s.stamp, head+q.oneLap)
	q.notify()
	return v, resultOK
}

// claimPop is pop's slow path, like claimPush.
func (q *MPMC[T]) claimPop() (*slot[T], uint64, result) {
	q.checkInit()
	var b backoff.Backoff
	head := q.head.Load()
	for {
		s := &q.slots[head&q.mask]
		stamp := s.stamp.Load()
		if stamp == head+1 {
			// The slot holds the item pushed at head: claim it.
			if q.head.CompareAndSwap(head, q.next(head)) {
				return s, head, resultOK
			}
			lostClaim() // another pop took it first
			head = q.head.Load()
			continue
		}
		if r := q.popWait(head, stamp, &b); r != resultOK {
			return nil, 0, r
		}
		head = q.head.Load()
	}
}

// popWait handles a pop whose slot at position head has the given stamp,
// not head+1. It reports resultFailed if the queue is empty, resultClosed if
// it is closed and empty; otherwise it has backed off and returns resultOK,
// and the caller reloads head and retries.
func (q *MPMC[T]) popWait(head, stamp uint64, b *backoff.Backoff) result {
	if stamp > head+1 {
		// head is stale: another pop has taken this position.
		lostClaim()
		return resultOK
	}
	// No item published at head yet. If tail equals head, nothing is
	// claimed either: the queue is empty (head cannot pass tail, so it
	// equalled tail at the instant tail was loaded).
	tail := q.tail.Load()
	if tail&^q.closedBit == head {
		if tail&q.closedBit != 0 {
			return resultClosed
		}
		return resultFailed
	}
	b.Snooze() // a push has claimed head and not yet published it
	return resultOK
}

// TryPushN appends a prefix of vs to the queue and returns its length. It
// claims, with one compare-and-swap, as many consecutive slots as the queue
// has room for when it looks (all of vs if there is room): at least one
// unless the queue was full (or closed) at some instant during the call.
// The items stay contiguous in the queue, not interleaved with other
// pushes, and become visible to poppers one by one, in order. Like TryPush,
// it waits for a pop that has claimed one of its slots but not yet
// released it (see Progress on MPMC).
func (q *MPMC[T]) TryPushN(vs []T) int {
	q.checkInit() // before the length check: an empty batch must not hide the misuse
	if len(vs) == 0 {
		return 0
	}
	want := min(uint64(len(vs)), q.cap)
	tail := q.tail.Load()
	for {
		if tail&q.closedBit != 0 {
			return 0
		}
		// Room by count, not by stamps: every position below head+cap has
		// had its previous lap's item claimed by a pop, which releases the
		// slot once it has read the item (a batch pop may itself be
		// waiting for a push first). One load of head where checking each
		// slot first took a second pass over the batch; the pass that
		// writes the items checks the stamps instead.
		testhook.Yield() // between the load of tail and the load of head
		head := q.head.Load()
		testhook.Yield() // between the loads and the claim
		used := int64(q.linear(tail) - q.linear(head))
		if used < 0 {
			lostClaim() // tail is stale: pushes, then pops, have passed it
			tail = q.tail.Load()
			continue
		}
		if uint64(used) >= q.cap {
			// tail has not moved back since it was loaded, so the queue
			// held at least used items when head was loaded: full then.
			return 0
		}
		n := min(want, q.cap-uint64(used))
		if q.tail.CompareAndSwap(tail, q.advance(tail, n)) {
			testhook.Yield() // claimed, not yet written or published
			// Write and publish each slot, in at most two runs: up to
			// the end of the array, and from its start one lap later.
			idx := tail & q.mask
			first := min(n, q.cap-idx)
			run, wrap := q.slots[idx:idx+first], q.slots[:n-first]
			next := tail&^q.mask + q.oneLap // the position of slot 0 one lap on
			if !fill(run, vs[:first], tail) {
				fillWait(run, vs[:first], tail)
			}
			if first < n && !fill(wrap, vs[first:n], next) {
				fillWait(wrap, vs[first:n], next)
			}
			publishStamps(run, tail+1)
			publishStamps(wrap, next+1)
			q.notify()
			return int(n)
		}
		lostClaim()
		tail = q.tail.Load()
	}
}

// fill writes vs into the slots of run, which the caller has claimed for
// the positions p, p+1, ... (run is at least as long as vs), and reports
// whether it wrote them all. It stops at the first slot whose stamp does
// not yet show it empty for its position: a pop of the last lap still
// holds it. The caller then writes them all again with fillWait.
//
// fill and drain are loops with no call in them, compiled on their own
// (not inlined) so that they run in registers. With the wait inside the
// loop, the compiler reloaded four values from the stack on every item,
// and inlined into TryPushN, among its many live values, it kept the loop
// index on the stack; a batch took 3.3-3.8 ns an item either way, against
// 3.0 like this.
//
//go:noinline
func fill[T any](run []slot[T], vs []T, p uint64) bool {
	run = run[:len(vs)]
	for i := range vs {
		if run[i].stamp.Load() != p+uint64(i) {
			return false
		}
		run[i].val = vs[i]
	}
	return true
}

// fillWait is fill that waits for each slot to be released. Writing a
// slot that fill has written already is harmless: no pop reads it before
// the batch publishes it.
func fillWait[T any](run []slot[T], vs []T, p uint64) {
	for i, v := range vs {
		awaitStamp(&run[i].stamp, p+uint64(i))
		run[i].val = v
	}
}

// drain copies the items of run, which the caller has claimed and whose
// stamps are p, p+1, ... once published, into dst (run is at least as
// long), and reports whether it copied them all. It stops at the first
// item not yet published; the caller then copies them all again with
// drainWait. See fill for why it returns no index.
//
//go:noinline
func drain[T any](dst []T, run []slot[T], p uint64) bool {
	run = run[:len(dst)]
	for i := range dst {
		if run[i].stamp.Load() != p+uint64(i) {
			return false
		}
		dst[i] = run[i].val
	}
	return true
}

// drainWait is drain that waits for each item to be published.
func drainWait[T any](dst []T, run []slot[T], p uint64) {
	for i := range dst {
		awaitStamp(&run[i].stamp, p+uint64(i))
		dst[i] = run[i].val
	}
}

// awaitStamp waits until a slot that the caller has claimed shows the
// stamp want: the operation before the caller's on that slot (the pop one
// lap back, or the push whose item the caller pops) has claimed it and not
// yet published.
func awaitStamp(stamp *atomic.Uint64, want uint64) {
	if stamp.Load() == want {
		return
	}
	if awaitHook != nil {
		awaitHook()
	}
	var b backoff.Backoff
	for stamp.Load() != want {
		b.Snooze()
	}
}

// awaitHook, when non-nil, is called by awaitStamp before it waits. Tests
// use it to see a batch wait for another goroutine's operation, and to make
// a goroutine alone on its queue fail at once where it would wait forever;
// it is nil otherwise.
var awaitHook func()

// advance returns the position n after p, for 0 < n <= cap.
func (q *MPMC[T]) advance(p, n uint64) uint64 {
	idx := p&q.mask + n
	if idx < q.cap {
		return p + n
	}
	return p&^q.mask + q.oneLap + (idx - q.cap) // into the next lap
}

// TryPopN removes items from the front of the queue into dst, claiming
// with one compare-and-swap as many consecutive items as the queue holds
// when it looks (up to len(dst)), and returns how many: at least one unless
// the queue was empty (or closed and drained) at some instant during the
// call. Like TryPop, it waits for an item whose push has claimed its slot
// but not yet stored the item (see Progress on MPMC).
func (q *MPMC[T]) TryPopN(dst []T) int {
	q.checkInit() // before the length check, as in TryPushN
	if len(dst) == 0 {
		return 0
	}
	want := min(uint64(len(dst)), q.cap)
	for {
		// Items by count, as in TryPushN. head is loaded first, so the
		// tail loaded after it is not behind it; if they are equal, the
		// queue was empty when tail was loaded.
		head := q.head.Load()
		testhook.Yield() // between the load of head and the load of tail
		tail := q.tail.Load() &^ q.closedBit
		if tail == head {
			return 0
		}
		testhook.Yield() // between the loads and the claim
		n := min(want, q.linear(tail)-q.linear(head))
		if q.head.CompareAndSwap(head, q.advance(head, n)) {
			testhook.Yield() // claimed, not yet read or released
			idx := head & q.mask
			first := min(n, q.cap-idx)
			run, wrap := q.slots[idx:idx+first], q.slots[:n-first]
			next := head&^q.mask + q.oneLap
			if !drain(dst[:first], run, head+1) {
				drainWait(dst[:first], run, head+1)
			}
			if first < n && !drain(dst[first:n], wrap, next+1) {
				drainWait(dst[first:n], wrap, next+1)
			}
			if !q.pointerFree {
				// Let the garbage collector free what the items
				// reference. A queue of pointer-free items skips this:
				// it was a quarter of such a batch's stores.
				zeroVals(run)
				zeroVals(wrap)
			}
			publishStamps(run, head+q.oneLap)
			publishStamps(wrap, next+q.oneLap)
			q.notify()
			return int(n)
		}
		lostClaim()
	}
}

// notify is called after every successful push or pop: one atomic load,
// and the slow path only when somebody is parked.
func (q *MPMC[T]) notify() {
	if q.w.parked.Load() != 0 {
		q.wake()
	}
}

// wake wakes the front popper if there is an item and the front pusher if
// there is room (see waiters for why one of each, every time).
func (q *MPMC[T]) wake() {
	w := &q.w
	w.mu.Lock()
	head := q.head.Load()
	tail := q.tail.Load() &^ q.closedBit
	if tail != head {
		w.wakeFront(&w.popq)
	}
	if head+q.oneLap != tail {
		w.wakeFront(&w.pushq)
	}
	w.mu.Unlock()
}

// canPush is a parking pusher's re-check, made after it registered: room,
// or closed.
func (q *MPMC[T]) canPush() bool {
	head := q.head.Load()
	tail := q.tail.Load()
	return tail&q.closedBit != 0 || head+q.oneLap != tail
}

// slotFree reports whether the slot at tail is empty for tail's lap: a
// push would find room there. It is a waiting Push's poll between yields,
// and loads tail and the slot's stamp, not head, the cache line every pop
// writes. It misses Close: the park's re-check sees that, and the push
// then retries and fails.
func (q *MPMC[T]) slotFree() bool {
	tail := q.tail.Load()
	return q.slots[tail&q.mask].stamp.Load() == tail
}

// slotFull reports whether the slot at head holds head's item: a pop would
// find it there. It is a waiting Pop's poll between yields, like slotFree,
// and does not load tail, the cache line every push writes.
func (q *MPMC[T]) slotFull() bool {
	head := q.head.Load()
	return q.slots[head&q.mask].stamp.Load() == head+1
}

// canPop is a parking popper's re-check, made after it registered: an item
// (claimed, at least), or closed.
func (q *MPMC[T]) canPop() bool {
	head := q.head.Load()
	return q.tail.Load() != head // the closed bit makes them differ too
}

// Push appends v to the queue, waiting while it is full. It returns nil once
// v is in the queue, ErrClosed if the queue is closed first, and the ctx
// error (errors.Is(err, ctx.Err())) if ctx ends first, in which case v was
// not pushed. A ctx that is already done fails the call even if there is
// room; use TryPush not to wait.
//
// A waiting Push yields a few times and then parks (at once in a stream:
// see the package doc): it uses no CPU while the queue stays full.
func (q *MPMC[T]) Push(ctx context.Context, v T) error {
	if ctx.Err() != nil {
		q.checkInit() // misuse first: a done ctx must not hide it
		return waitq.Err(ctx)
	}
	var b pause
	for {
		switch q.push(v) {
		case resultOK:
			return nil
		case resultClosed:
			return ErrClosed
		}
		if b.first() { // full: a stream if pushes moved tail more than one place since the last wait
			tail := q.tail.Load() &^ q.closedBit // closed since push: no matter
			if q.movedPast(q.pushWaitAt.Load(), tail) {
				b.streaming()
			}
			relstore.Uint64(&q.pushWaitAt, tail) // a hint: racing waits may overwrite it
		}
		if b.waitUntil(q.slotFree) {
			continue
		}
		if err := q.w.park(ctx, &q.w.pushq, q.canPush); err != nil {
			return err
		}
	}
}

// Pop removes and returns the item at the front of the queue, waiting while
// it is empty. After Close it keeps returning the items pushed before Close,
// then ErrClosed. If ctx ends first it returns the ctx error
// (errors.Is(err, ctx.Err())) and removes nothing. A ctx that is already done
// fails the call even if an item is waiting; use TryPop not to wait.
//
// A waiting Pop yields a few times and then parks (at once in a stream:
// see the package doc): it uses no CPU while the queue stays empty.
func (q *MPMC[T]) Pop(ctx context.Context) (T, error) {
	var zero T
	if ctx.Err() != nil {
		q.checkInit()
		return zero, waitq.Err(ctx)
	}
	var b pause
	for {
		v, r := q.pop()
		switch r {
		case resultOK:
			return v, nil
		case resultClosed:
			return zero, ErrClosed
		}
		if b.first() { // empty: a stream if pops moved head more than one place since the last wait
			head := q.head.Load()
			if q.movedPast(q.popWaitAt.Load(), head) {
				b.streaming()
			}
			relstore.Uint64(&q.popWaitAt, head) // a hint: racing waits may overwrite it
		}
		if b.waitUntil(q.slotFull) {
			continue
		}
		if err := q.w.park(ctx, &q.w.popq, q.canPop); err != nil {
			return zero, err
		}
	}
}

// Close closes the queue: later pushes fail (TryPush reports false, Push
// returns ErrClosed), pops return the items already in the queue and then
// fail (Pop returns ErrClosed), and every goroutine parked in Push or Pop
// wakes. A push that claimed its slot before Close completes, and its item
// is popped like the others. Close is idempotent.
func (q *MPMC[T]) Close() {
	q.checkInit()
	q.tail.Or(q.closedBit) // every later claim's compare-and-swap fails
	q.w.wakeAll()
}

// Len returns the number of items in the queue, counting those whose push
// has claimed a slot but not yet stored the item. Under concurrent use it is
// only a snapshot that may be stale on return: the number of items at one
// instant during the call, so always within [0, Cap()].
func (q *MPMC[T]) Len() int {
	// As crossbeam's ArrayQueue::len: tail, head, then tail again. If tail
	// did not move, it had that value when head was loaded, and the
	// difference is the length at that instant. Loading head and then tail
	// once could count pushes made after pops that the loaded head missed,
	// and report up to Cap items for a queue that never held two.
	for {
		tail := q.tail.Load()
		head := q.head.Load()
		if q.tail.Load() != tail {
			continue // a push (or Close) moved tail meanwhile
		}
		tail &^= q.closedBit
		n := int64(q.linear(tail) - q.linear(head))
		return int(min(max(n, 0), int64(q.cap)))
	}
}

// linear maps a position to the count of positions before it.
func (q *MPMC[T]) linear(p uint64) uint64 {
	return p>>q.lapShift*q.cap + p&q.mask
}

// Cap returns the capacity given to NewMPMC.
func (q *MPMC[T]) Cap() int { return int(q.cap) }
