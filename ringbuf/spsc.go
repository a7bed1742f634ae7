package ringbuf

import (
	"context"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// spscClosed is the bit of SPSC.tail that Close sets. Positions count items
// and never come near it.
const spscClosed = 1 << 63

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
// Lamport's single-producer single-consumer ring with cached indices, as in
// Erik Rigtorp's SPSCQueue (https://rigtorp.se/ringbuffer/,
// github.com/rigtorp/SPSCQueue, include/rigtorp/SPSCQueue.h) and folly's
// ProducerConsumerQueue (folly/ProducerConsumerQueue.h). The producer owns
// tail and the consumer owns head, each on its own cache line; each side
// keeps a private copy of the other side's index and reloads it only when
// the copy says full (or empty), so in steady state neither side reads the
// other's cache line. head and tail are 64-bit counts of items pushed and
// popped, never wrapped: the ring is full when tail-head == capacity, and
// every slot can be used (folly and Rigtorp leave one slot empty).
//
// The producer publishes with a compare-and-swap on tail rather than a
// store, so that an item cannot be published after Close set the closed bit
// in tail: a consumer that sees the bit and tail == head knows nothing more
// can arrive. On amd64 a compare-and-swap costs the same as the atomic
// store (an XCHG) it replaces.
type SPSC[T any] struct {
	_ noCopy

	_ cacheline.Pad

	// Consumer side.
	head      atomic.Uint64 // items popped; stored by the consumer only
	headIdx   uint64        // head % cap
	tailCache uint64        // the consumer's last view of tail (no closed bit)

	_ cacheline.Pad

	// Producer side.
	tail      atomic.Uint64 // items pushed, | spscClosed once closed; CAS by the producer and Close
	tailIdx   uint64        // tail % cap
	headCache uint64        // the producer's last view of head

	_ cacheline.Pad

	// Read-only after NewSPSC.
	slots []T
	cap   uint64

	w waiters // blocking layer; w.parked shares the read-only line above
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
	return &SPSC[T]{slots: make([]T, capacity), cap: uint64(capacity)}
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
	if tail-q.headCache >= q.cap { // full by the cached head, or closed (bit 63)
		q.checkInit() // before the closed bit: a closed zero SPSC panics too
		if tail&spscClosed != 0 {
			return resultClosed
		}
		q.headCache = q.head.Load()
		if tail-q.headCache == q.cap {
			return resultFailed
		}
	}
	i := q.tailIdx
	q.slots[i] = v
	if !q.tail.CompareAndSwap(tail, tail+1) { // publish
		// Close set the closed bit; the slot was never visible.
		var zero T
		q.slots[i] = zero
		return resultClosed
	}
	if i++; i == q.cap {
		i = 0
	}
	q.tailIdx = i
	q.notify()
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
	if head == q.tailCache {
		tail := q.tail.Load()
		q.tailCache = tail &^ spscClosed
		if head == q.tailCache {
			q.checkInit() // before the closed bit: a closed zero SPSC panics too
			if tail&spscClosed != 0 {
				return zero, resultClosed
			}
			return zero, resultFailed
		}
	}
	i := q.headIdx
	v := q.slots[i]
	q.slots[i] = zero // let the GC free what v references
	if i++; i == q.cap {
		i = 0
	}
	q.headIdx = i
	q.head.Store(head + 1) // release the slot to the producer
	q.notify()
	return v, resultOK
}

// TryPushN appends a prefix of vs, as much as there is room for, and returns
// its length; the batch is published with a single atomic operation. Only
// the producer may call it.
func (q *SPSC[T]) TryPushN(vs []T) int {
	if len(vs) == 0 {
		q.checkInit() // an empty batch must not hide the misuse
		return 0
	}
	tail := q.tail.Load()
	if tail&spscClosed != 0 {
		q.checkInit()
		return 0
	}
	want := uint64(len(vs))
	if q.cap-(tail-q.headCache) < want {
		q.headCache = q.head.Load()
	}
	n := min(want, q.cap-(tail-q.headCache))
	if n == 0 {
		q.checkInit()
		return 0
	}
	i := q.tailIdx
	k := uint64(copy(q.slots[i:min(i+n, q.cap)], vs[:n]))
	copy(q.slots[:n-k], vs[k:n]) // the part that wraps around
	if !q.tail.CompareAndSwap(tail, tail+n) {
		clear(q.slots[i:min(i+n, q.cap)])
		clear(q.slots[:n-k])
		return 0
	}
	if i += n; i >= q.cap {
		i -= q.cap
	}
	q.tailIdx = i
	q.notify()
	return int(n)
}

// TryPopN removes up to len(dst) items from the front of the queue into dst
// and returns how many; the slots are released with a single atomic
// operation. Only the consumer may call it.
func (q *SPSC[T]) TryPopN(dst []T) int {
	if len(dst) == 0 {
		q.checkInit() // an empty batch must not hide the misuse
		return 0
	}
	head := q.head.Load()
	want := uint64(len(dst))
	if q.tailCache-head < want {
		q.tailCache = q.tail.Load() &^ spscClosed
	}
	n := min(want, q.tailCache-head)
	if n == 0 {
		q.checkInit()
		return 0
	}
	i := q.headIdx
	first := q.slots[i:min(i+n, q.cap)]
	k := uint64(copy(dst, first))
	clear(first)
	copy(dst[k:n], q.slots[:n-k])
	clear(q.slots[:n-k])
	if i += n; i >= q.cap {
		i -= q.cap
	}
	q.headIdx = i
	q.head.Store(head + n)
	q.notify()
	return int(n)
}

// notify is called after every successful push or pop: one atomic load,
// and the slow path only when somebody is parked.
func (q *SPSC[T]) notify() {
	if q.w.parked.Load() != 0 {
		q.wake()
	}
}

// wake wakes the parked consumer if there is an item and the parked
// producer if there is room.
func (q *SPSC[T]) wake() {
	w := &q.w
	w.mu.Lock()
	head := q.head.Load()
	tail := q.tail.Load() &^ spscClosed
	if tail != head {
		w.wakeFront(&w.popq)
	}
	if tail-head != q.cap {
		w.wakeFront(&w.pushq)
	}
	w.mu.Unlock()
}

func (q *SPSC[T]) canPush() bool {
	head := q.head.Load()
	tail := q.tail.Load()
	return tail&spscClosed != 0 || tail-head != q.cap
}

func (q *SPSC[T]) canPop() bool {
	head := q.head.Load()
	return q.tail.Load() != head // the closed bit makes them differ too
}

// Push appends v to the queue, waiting while it is full. It returns nil once
// v is in the queue, ErrClosed if the queue is closed first, and the ctx
// error (errors.Is(err, ctx.Err())) if ctx ends first, in which case v was
// not pushed. A ctx that is already done fails the call even if there is
// room. Only the producer may call it. A waiting Push yields a few times
// and then parks.
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
// A waiting Pop yields a few times and then parks.
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
	q.tail.Or(spscClosed) // the producer's publishing compare-and-swap now fails
	q.w.wakeAll()
}

// Len returns the number of items in the queue. Under concurrent use it is
// only a snapshot that may be stale on return: the number of items at one
// instant during the call, so always within [0, Cap()].
func (q *SPSC[T]) Len() int {
	// tail, head, tail again, as MPMC.Len: if tail did not move, tail-head
	// is the length at the instant head was loaded.
	for {
		tail := q.tail.Load()
		head := q.head.Load()
		if q.tail.Load() != tail {
			continue // a push (or Close) moved tail meanwhile
		}
		return int(min((tail&^spscClosed)-head, q.cap))
	}
}

// Cap returns the capacity given to NewSPSC.
func (q *SPSC[T]) Cap() int { return int(q.cap) }
