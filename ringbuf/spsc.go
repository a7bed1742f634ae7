package ringbuf

import (
	"context"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/relstore"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// spscClosedMark is the stamp the consumer leaves in its slot once it finds
// the queue closed and drained (see the table on SPSC). A real stamp would
// need 2^64-1 items pushed, so it equals none of them.
const spscClosedMark = ^uint64(0)

// SPSC is a bounded first-in first-out queue for exactly one producer
// goroutine and one consumer goroutine at a time. It holds exactly the
// capacity given to NewSPSC, stores items in a fixed array (no allocation
// per item), and its TryPush and TryPop are wait-free: each finishes in a
// bounded number of its own steps whatever the other side does.
//
// At most one goroutine may push (TryPush, TryPushN, Push) and at most one
// may pop (TryPop, TryPopN, Pop) at any time; the two may differ, and the
// roles may pass from goroutine to goroutine when the handover itself
// synchronizes (a channel, a mutex, a WaitGroup). Concurrent pushes, or
// concurrent pops, are a data race that the race detector reports. Close,
// Len and Cap may be called from any goroutine. Use MPMC when there are
// several producers or consumers.
//
// An SPSC must be created with NewSPSC: the zero value has no slots, and
// every operation on it but Len and Cap (which report 0) panics. An SPSC
// must not be copied after first use.
//
// In the terminology of the Go memory model, the push that stores an item
// synchronizes before the pop that returns it, and Close synchronizes before
// every call that fails because of it. A failed TryPush or TryPop, and a
// push or pop that returns an error, establishes no synchronizes-before
// relation.
//
// # Algorithm
//
// Lamport's single-producer single-consumer ring, in which readiness
// travels in a stamp per slot, as in Dmitry Vyukov's bounded queue (the
// one MPMC implements), rather than in the other side's index, as in Erik
// Rigtorp's SPSCQueue (https://rigtorp.se/ringbuffer/) and folly's
// ProducerConsumerQueue. head and tail count the items popped and pushed,
// each on a cache line of its own and stored by its own side after every
// operation, for Len, the batches and the blocking layer; the single
// operations' fast paths never load the other side's count. A consumer
// that has caught up with the producer finds the next item on the cache
// line of the item itself, where a ring of cached indices reloads the
// producer's index on nearly every item: one more cache line moved between
// the cores per item (measured at 2 CPUs: 0.60-0.74x a channel's time
// per item that way, 0.27-0.48x this way; see BENCHMARKS.md, "SPSC on
// stamps"). Nor does a producer that finds the queue full load head: it
// waits on its slot's stamp, which every pop releases, where loading head
// on every retry took that line from the consumer's core each time (see
// BENCHMARKS.md, "SPSC's full producer"). An item costs two locked
// instructions, as in xsync's SPSCQueue: the push's compare-and-swap and
// the pop's store of head, each the full fence the blocking layer needs.
// The pop's release of the slot and the push's count of tail need no fence
// of their own and are plain release stores on amd64 (internal/relstore);
// with sync/atomic's stores there, four locked instructions an item, this
// way was 13-27% slower than a ring of cached indices at 1 CPU, where
// nothing crosses between cores (see BENCHMARKS.md, "Release stores in
// the rings").
//
// The stamp of the slot that item c maps to (c mod capacity):
//
//	stamp         meaning                           set by
//	2c+1          holds item c                      the push of item c
//	2c            free for item c                   the pop of item c-capacity, or NewSPSC
//	closed mark   closed, and drained up to item c  the pop that found no item c after Close
//
// (Behind the closed mark, slots a TryPushN wrote before its
// compare-and-swap lost to the mark keep 2c+1 with their values zeroed;
// the consumer never looks past the mark, so nobody reads them.)
// (Doubling keeps "holds item c" and "free for item c+1" apart when the
// capacity is 1.) A push writes the item and publishes it by moving the
// stamp to 2c+1 with a compare-and-swap; TryPushN writes a batch's stamps
// with plain stores (atomic ones where there is no assembly for it, and
// under -race) and publishes the batch by the compare-and-swap of its
// first slot's stamp, which the consumer must pass first. A pop takes item c
// when the stamp is 2c+1, zeroes the slot so that the garbage collector
// can free what the item referenced, and releases it with a store of
// 2(c+capacity). TryPopN releases a batch's slots the same way, its first
// slot last, so that a producer that finds the first free finds the whole
// batch free (TryPushN counts its room by head, which every pop stores
// after its stamps, and past what head shows by the stamps, and so sees a
// batch pop whole or not at all). A push writes into a slot only once it
// has seen the slot's release, or a head stored after it, so no store of
// the consumer's to it is still in flight. Stamps only grow, until the
// closed mark, which is final, so a stamp seen once cannot come back (no
// ABA). The push's compare-and-swap synchronizes before the pop's load that
// sees it, and the pop's store of the stamp before the push one lap on
// that loads it; for the slots TryPushN counts by head, the pop's store of
// head before the producer's load of it, and for the items TryPopN counts
// by tail, the push's store of tail before the consumer's load of it. (On
// amd64 without -race the pops' stores of stamps and the pushes' stores of
// tail are plain release stores, outside sync/atomic: those edges rest on
// amd64's total store order, as the batches' stamps do; see
// internal/relstore.)
//
// Close sets a flag, which a push checks before it writes. A pop that finds
// no item c checks the flag too, and if it is set, moves the slot's stamp
// from the value it saw to the closed mark with a compare-and-swap, where
// the push of item c moves it from that same value to 2c+1. Exactly one of
// the two succeeds: a push racing with Close either lands before the
// consumer's last look, and is popped, or fails, and is never stranded in
// the ring after a pop has reported ErrClosed.
type SPSC[T any] struct {
	_ noCopy

	_ cacheline.Pad

	// Consumer side.
	head       atomic.Uint64 // items popped; stored by the consumer only
	headIdx    uint64        // head % cap
	tailCache  uint64        // the consumer's last view of tail (TryPopN only)
	headAtWait uint64        // head when Pop last found the queue empty (see pause.streaming)

	_ cacheline.Pad

	// Producer side.
	tail       atomic.Uint64 // items pushed; stored by the producer only
	tailIdx    uint64        // tail % cap
	headCache  uint64        // the producer's last view of head (TryPushN only)
	tailAtWait uint64        // tail when Push last found the queue full (see pause.streaming)

	_ cacheline.Pad

	// Read-mostly: set by NewSPSC, and closed by Close.
	slots       []slot[T]
	cap         uint64
	pointerFree bool // T holds no pointers: TryPopN need not zero its slots
	closed      atomic.Bool

	w waiters // blocking layer; w.parked shares the read-mostly line above
}

// NewSPSC returns an empty SPSC queue that holds exactly capacity items. It
// panics if capacity < 1.
func NewSPSC[T any](capacity int) *SPSC[T] {
	if capacity < 1 {
		panic("ringbuf: NewSPSC capacity < 1")
	}
	if uint64(capacity) > maxCapacity {
		panic("ringbuf: NewSPSC capacity too large")
	}
	slots := make([]slot[T], capacity)
	// Each slot free for item i: 0, 2, 4, ... Plain stores where
	// publishRun has them: nobody else has the ring yet, and whatever
	// hands it over synchronizes. A chunk at a time, as in NewMPMC.
	for i := 0; i < len(slots); i += initChunk {
		publishRun(slots[i:min(i+initChunk, len(slots))], 2*uint64(i))
	}
	return &SPSC[T]{
		slots:       slots,
		cap:         uint64(capacity),
		pointerFree: pointerFree[T](),
	}
}

// checkInit panics if q is a zero SPSC; called on the slow paths, where a
// zero SPSC would look full or empty forever (or closed, after a Close).
func (q *SPSC[T]) checkInit() {
	if q.cap == 0 {
		panic("ringbuf: SPSC not created by NewSPSC")
	}
}

// TryPush appends v to the queue if there is room and the queue is not
// closed, and reports whether it did. Only the producer may call it.
func (q *SPSC[T]) TryPush(v T) bool {
	return q.push(v) == resultOK
}

func (q *SPSC[T]) push(v T) result {
	tail := q.tail.Load()
	i := q.tailIdx
	if i >= uint64(len(q.slots)) { // only for a zero SPSC
		q.checkInit()
	}
	stamp := &q.slots[i].stamp
	seen := stamp.Load()
	testhook.Yield() // seen, not yet checked
	if seen != 2*tail {
		// Not free for item tail: full (item tail-cap not popped yet),
		// or marked closed by the consumer. The stamp alone decides, as
		// every pop releases its slots by their stamps, and head is left
		// alone: the consumer stores it on every pop, and a producer
		// that waits at a full queue and loads head on every retry takes
		// that cache line from the consumer's core each time (it made a
		// stream at 2 CPUs 10-21% slower; see BENCHMARKS.md, "SPSC's
		// full producer").
		if q.closed.Load() || seen == spscClosedMark {
			return resultClosed
		}
		return resultFailed
	}
	if q.closed.Load() {
		return resultClosed
	}
	testhook.Yield() // checked, not yet published
	q.slots[i].val = v
	if !stamp.CompareAndSwap(seen, 2*tail+1) { // publish
		// The consumer found no item here after Close and marked the
		// slot; the item was never visible.
		var zero T
		q.slots[i].val = zero
		return resultClosed
	}
	// Count it, for Len, TryPopN and wake. A release store will do: the
	// compare-and-swap is the fence the blocking layer needs, and a
	// parked consumer re-checks the stamp, not tail.
	relstore.Uint64(&q.tail, tail+1)
	if i++; i == q.cap {
		i = 0
	}
	q.tailIdx = i
	q.notify() // after the compare-and-swap, a full fence
	return resultOK
}

// TryPop removes and returns the item at the front of the queue, if there
// is one. Only the consumer may call it.
func (q *SPSC[T]) TryPop() (T, bool) {
	v, r := q.pop()
	return v, r == resultOK
}

func (q *SPSC[T]) pop() (T, result) {
	var zero T
	head := q.head.Load()
	i := q.headIdx
	if i >= uint64(len(q.slots)) { // only for a zero SPSC
		q.checkInit()
	}
	stamp := &q.slots[i].stamp
	if stamp.Load() != 2*head+1 {
		if r := q.popEmpty(stamp, head); r != resultOK {
			return zero, r
		}
	}
	v := q.slots[i].val
	q.slots[i].val = zero                  // let the GC free what v references
	relstore.Uint64(stamp, 2*(head+q.cap)) // release the slot to the push one lap on
	q.head.Store(head + 1)                 // and count it; a full fence, before notify's load
	if i++; i == q.cap {
		i = 0
	}
	q.headIdx = i
	q.notify()
	return v, resultOK
}

// popEmpty is pop's slow path, for the consumer's slot, whose stamp is
// *stamp, when it did not hold item head as pop looked. It reports
// resultFailed (empty), resultClosed (closed and drained), or resultOK if
// the item has arrived since.
func (q *SPSC[T]) popEmpty(stamp *atomic.Uint64, head uint64) result {
	testhook.Yield() // found no item; the push may publish it now
	seen := stamp.Load()
	if seen == 2*head+1 {
		return resultOK // published since pop looked
	}
	testhook.Yield() // found no item, closed flag not yet loaded
	if !q.closed.Load() {
		// Empty. (Not the closed mark either: the mark follows the flag.)
		return resultFailed
	}
	// Closed: nothing may be published after the consumer's last look.
	// Either this compare-and-swap marks the slot, and the push racing
	// for it (if any) fails, or that push published first.
	if seen == spscClosedMark || stamp.CompareAndSwap(seen, spscClosedMark) {
		return resultClosed
	}
	// The stamp moved since seen, and only the push of item head moves
	// it (to 2*head+1).
	return resultOK
}

// TryPushN appends a prefix of vs, as much as there is room for, and returns
// its length. The batch becomes visible to the consumer at once, with the
// compare-and-swap of its first slot's stamp. Only the producer may call
// it.
func (q *SPSC[T]) TryPushN(vs []T) int {
	q.checkInit() // before the length check: an empty batch must not hide the misuse
	if len(vs) == 0 || q.closed.Load() {
		return 0
	}
	tail := q.tail.Load()
	i := q.tailIdx
	if q.slots[i].stamp.Load() != 2*tail {
		return 0 // full, or marked closed after the flag check (see push)
	}
	// Room: the slots from tail on whose release the producer has seen,
	// so that no store of the consumer's to them is still in flight.
	// Every pop stores its release stamps before head, so the slots that
	// head shows free are such slots: one load for the batch, from a
	// copy of head that is reloaded only when it shows too little room,
	// where checking the stamps is a load a slot (a batch of 16 took 1.5x
	// as long; see BENCHMARKS.md, "SPSC's full producer"). head may lag
	// behind the stamps, as a pop stores it last, so where it shows less
	// room than wanted the stamps beyond it are counted too. TryPopN
	// releases its first slot last, so that count stops at a boundary
	// between pops and sees a batch pop whole or not at all: a push that
	// found the batch's first slot free must not find the rest full.
	want := uint64(len(vs))
	room := q.room(tail)
	if room < want {
		q.headCache = q.head.Load()
		room = q.room(tail)
	}
	n := max(min(want, room), 1) // the first slot's release is seen above
	for j := i + n; n < want; j++ {
		if j >= q.cap {
			j -= q.cap
		}
		if q.slots[j].stamp.Load() != 2*(tail+n) {
			break
		}
		n++
	}
	testhook.Yield() // checked, not yet published
	seen := 2 * tail
	// The slots from tail on, in at most two runs: up to the end of the
	// array, and from its start.
	end := min(i+n, q.cap)
	run, wrap := q.slots[i:end], q.slots[:n-(end-i)]
	k := uint64(len(run))
	storeVals(run, vs[:k])
	storeVals(wrap, vs[k:n])
	// Publish every slot but the first with plain stores, and then the
	// first with the compare-and-swap that may race with Close. The
	// consumer reaches the others only through the first, so the batch
	// appears whole or not at all.
	publishRun(run[1:], 2*(tail+1)+1)
	publishRun(wrap, 2*(tail+k)+1)
	if !run[0].stamp.CompareAndSwap(seen, 2*tail+1) {
		// Closed and marked by the consumer since the check, and the
		// consumer never looks past the mark: no item was visible.
		zeroVals(run)
		zeroVals(wrap)
		return 0
	}
	// A release store after the compare-and-swap (internal/relstore): a
	// parked consumer re-checks the stamp, not tail. Unlike the single
	// push's, this one measured faster at 2 CPUs too (BENCHMARKS.md,
	// "Release stores in the rings").
	relstore.Uint64(&q.tail, tail+n)
	if i += n; i >= q.cap {
		i -= q.cap
	}
	q.tailIdx = i
	q.notify()
	return int(n)
}

// TryPopN removes up to len(dst) items from the front of the queue into dst
// and returns how many. Only the consumer may call it.
func (q *SPSC[T]) TryPopN(dst []T) int {
	q.checkInit() // before the length check, as in TryPushN
	if len(dst) == 0 {
		return 0
	}
	// Items by the producer's count, which it stores after publishing the
	// items it counts: one load where checking each slot's stamp would be
	// one per item. If it shows none, the stamp decides: an item whose
	// count is not stored yet, or the closed mark.
	head := q.head.Load()
	i := q.headIdx
	want := uint64(len(dst))
	avail := q.avail(head)
	if avail < want {
		q.tailCache = q.tail.Load()
		avail = q.avail(head)
	}
	n := min(want, avail)
	if n == 0 {
		if stamp := &q.slots[i].stamp; stamp.Load() != 2*head+1 && q.popEmpty(stamp, head) != resultOK {
			return 0
		}
		n = 1
	}
	end := min(i+n, q.cap)
	run, wrap := q.slots[i:end], q.slots[:n-(end-i)]
	k := uint64(len(run))
	copyVals(dst[:k], run)
	copyVals(dst[k:n], wrap)
	if !q.pointerFree {
		zeroVals(run) // let the GC free what the items reference
		zeroVals(wrap)
	}
	// Release the slots by their stamps, as pop does (the single push and
	// a parked producer look at the stamps alone), with plain stores (see
	// publishRun), and the first slot's last: a producer that finds it
	// free finds the whole batch free, as TryPushN's count of room needs.
	publishRun(run[1:], 2*(head+1+q.cap))
	publishRun(wrap, 2*(head+k+q.cap))
	relstore.Uint64(&run[0].stamp, 2*(head+q.cap))
	testhook.Yield()       // released, not yet counted
	q.head.Store(head + n) // and count them; a full fence, before notify's load
	if i += n; i >= q.cap {
		i -= q.cap
	}
	q.headIdx = i
	q.notify()
	return int(n)
}

// room returns how many slots from tail on are free by the producer's view
// of head. headCache may be far behind, since only a TryPushN that finds
// too little room by it reloads it.
func (q *SPSC[T]) room(tail uint64) uint64 {
	return q.cap - min(tail-q.headCache, q.cap)
}

// avail returns how many items from head on are published by the
// consumer's view of tail, which may be behind head: single pops do not
// reload it, and the producer stores tail after publishing.
func (q *SPSC[T]) avail(head uint64) uint64 {
	if q.tailCache > head {
		return q.tailCache - head
	}
	return 0
}

// notify is called after every successful push or pop: one atomic load,
// and the slow path only when somebody is parked.
func (q *SPSC[T]) notify() {
	if q.w.parked.Load() != 0 {
		q.wake()
	}
}

// wake wakes the parked consumer if there is an item and the parked
// producer if there is room. tail may lag behind the stamps: by the push in
// progress, and on amd64, where pushes store it with a release store, also
// by a push that has returned, until the producer's store buffer drains
// (at its next locked instruction at the latest). A tail that lags
// is never ahead of the real one, so it can cost a spurious wake of the
// producer (it retries and parks again) but never a missed one: only the
// side that just moved calls wake, and its own count is current.
func (q *SPSC[T]) wake() {
	w := &q.w
	w.mu.Lock()
	head := q.head.Load()
	tail := q.tail.Load()
	if tail != head {
		w.wakeFront(&w.popq)
	}
	if tail-head != q.cap {
		w.wakeFront(&w.pushq)
	}
	w.mu.Unlock()
}

// canPush is the parking producer's re-check: its slot released (every
// pop stores the release stamps before head, its fence), or closed.
func (q *SPSC[T]) canPush() bool {
	return q.slots[q.tailIdx].stamp.Load() == 2*q.tail.Load() || q.closed.Load()
}

// canPop is the parking consumer's re-check: its slot holds the next item,
// or the queue is closed. It reads the stamp, not tail, which the producer
// stores after publishing.
func (q *SPSC[T]) canPop() bool {
	return q.slots[q.headIdx].stamp.Load() == 2*q.head.Load()+1 || q.closed.Load()
}

// Push appends v to the queue, waiting while it is full. It returns nil once
// v is in the queue, ErrClosed if the queue is closed first, and the ctx
// error (errors.Is(err, ctx.Err())) if ctx ends first, in which case v was
// not pushed. A ctx that is already done fails the call even if there is
// room. Only the producer may call it. A waiting Push yields a few times
// and then parks (at once in a stream: see the package doc).
func (q *SPSC[T]) Push(ctx context.Context, v T) error {
	// Push and Pop repeat MPMC's loops rather than share a helper that
	// takes the try operation as a func value: the indirect call and the
	// closure cost 7-14 ns per item on the blocking fast path (measured in
	// paired runs).
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
		if b.first() { // full: a stream if it pushed more than one item since its last wait
			tail := q.tail.Load()
			if tail-q.tailAtWait > 1 {
				b.streaming()
			}
			q.tailAtWait = tail
		}
		if b.wait() {
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
// fails the call even if an item is waiting. Only the consumer may call it.
// A waiting Pop yields a few times and then parks (at once in a stream:
// see the package doc).
func (q *SPSC[T]) Pop(ctx context.Context) (T, error) {
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
		if b.first() { // empty: a stream if it popped more than one item since its last wait
			head := q.head.Load()
			if head-q.headAtWait > 1 {
				b.streaming()
			}
			q.headAtWait = head
		}
		if b.wait() {
			continue
		}
		if err := q.w.park(ctx, &q.w.popq, q.canPop); err != nil {
			return zero, err
		}
	}
}

// Close closes the queue: later pushes fail (TryPush reports false, Push
// returns ErrClosed), pops return the items already in the queue and then
// fail (Pop returns ErrClosed), and a producer or consumer parked in Push or
// Pop wakes. Close may be called from any goroutine and is idempotent.
func (q *SPSC[T]) Close() {
	q.checkInit()
	q.closed.Store(true)
	q.w.wakeAll()
}

// Len returns the number of items in the queue. Under concurrent use it is
// only a snapshot that may be stale on return: the number of items at one
// instant during the call, give or take the push or pop in progress at that
// instant (on amd64, an item or batch the producer has just pushed may
// still be uncounted for the few nanoseconds its count spends in the store
// buffer, even by a goroutine that has popped one of its items), and
// always within [0, Cap()].
func (q *SPSC[T]) Len() int {
	// tail, head, tail again, as MPMC.Len: if tail did not move, tail-head
	// is the length at the instant head was loaded. The counts are stored
	// after the stamps, and tail with a release store on amd64, so head
	// may be ahead of tail for a moment.
	for {
		tail := q.tail.Load()
		head := q.head.Load()
		if q.tail.Load() != tail {
			continue // a push moved tail meanwhile
		}
		return int(min(max(int64(tail-head), 0), int64(q.cap)))
	}
}

// Cap returns the capacity given to NewSPSC.
func (q *SPSC[T]) Cap() int { return int(q.cap) }

// copyVals copies the items of run into dst, which is as long.
func copyVals[T any](dst []T, run []slot[T]) {
	for j := range dst {
		dst[j] = run[j].val
	}
}

// storeVals writes vs into the items of run, which is as long.
func storeVals[T any](run []slot[T], vs []T) {
	for j, v := range vs {
		run[j].val = v
	}
}

// zeroVals zeroes the items of run, so that the garbage collector can
// free what they referenced.
func zeroVals[T any](run []slot[T]) {
	var zero T
	for j := range run {
		run[j].val = zero
	}
}
