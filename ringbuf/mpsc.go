package ringbuf

import (
	"context"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// MPSC is a bounded first-in first-out queue that any number of goroutines
// may push to, and one goroutine at a time pops from: the consumer. It is
// MPMC's ring (exact capacity, a stamp per slot, pushes claimed with
// compare-and-swap) with a consumer that owns head: a pop checks its slot's
// stamp, takes the item, releases the slot and moves head on with plain
// atomic stores, no claim to win.
//
// Use it where many producers feed one consumer (a worker's inbox, a
// logger, an event loop). With several producers contending at 2 CPUs it
// moved items in a half to two thirds of MPMC's time (BenchmarkMPSC); on
// one goroutine, or with one producer, the two cost the same, because a
// compare-and-swap that never fails costs what a store does (both are one
// locked instruction on amd64). Pops from two goroutines at once are a
// bug that loses or duplicates items; use MPMC for several consumers.
//
// An MPSC must be created with NewMPSC: the zero value has no slots, and
// operations on it panic. An MPSC must not be copied after first use.
//
// In the terminology of the Go memory model, the push (Push, TryPush or
// TryPushN) that stores an item synchronizes before the pop (Pop, TryPop or
// TryPopN) that returns that item, and Close synchronizes before every call
// that fails because of it. A failed TryPush or TryPop, and a push or pop
// that returns an error, establishes no synchronizes-before relation. The
// consumer's calls must be ordered one after another (one goroutine, or
// goroutines that hand the role over through some synchronization).
//
// Progress is MPMC's (see Progress there): pushes are lock-free except that
// a producer preempted between claiming and publishing delays the
// consumer at that slot, and the consumer preempted between taking an item
// and releasing its slot delays the producer one lap later.
type MPSC[T any] struct {
	_ noCopy

	// r is the ring. Pushes, Close, Len, Cap and the blocking layer are
	// MPMC's own; only the consumer's side differs: head is stored by the
	// consumer alone, so it is read and written without a claim.
	r MPMC[T]
}

// NewMPSC returns an empty MPSC queue that holds exactly capacity items.
// It panics if capacity < 1.
func NewMPSC[T any](capacity int) *MPSC[T] {
	if capacity < 1 {
		panic("ringbuf: NewMPSC capacity < 1")
	}
	if uint64(capacity) > maxCapacity {
		panic("ringbuf: NewMPSC capacity too large")
	}
	q := new(MPSC[T])
	q.r.init(uint64(capacity))
	return q
}

// TryPush appends v to the queue if there is room and the queue is not
// closed, and reports whether it did. It fails only when the queue was
// full, or closed, at some instant during the call. Any goroutine may call
// it.
func (q *MPSC[T]) TryPush(v T) bool { return q.r.push(v) == resultOK }

// TryPushN appends a prefix of vs to the queue and returns its length,
// claiming the slots with one compare-and-swap; see [MPMC.TryPushN]. Any
// goroutine may call it.
func (q *MPSC[T]) TryPushN(vs []T) int { return q.r.TryPushN(vs) }

// Push appends v to the queue, waiting while it is full; see [MPMC.Push].
// Any goroutine may call it.
func (q *MPSC[T]) Push(ctx context.Context, v T) error { return q.r.Push(ctx, v) }

// TryPop removes and returns the item at the front of the queue, if there
// is one. It fails only when the queue was empty at some instant during the
// call; if the front item's push has claimed its slot but not yet stored the
// item, TryPop waits for it. Only the consumer may call it.
func (q *MPSC[T]) TryPop() (T, bool) {
	v, r := q.pop()
	return v, r == resultOK
}

// pop takes the item at head and releases its slot. Only the consumer
// stores head, so there is nothing to claim: the stamp says whether the
// item is there, and two stores hand the slot back and move head on.
func (q *MPSC[T]) pop() (T, result) {
	r := &q.r
	head := r.head.Load()
	i := head & r.mask
	if i >= uint64(len(r.slots)) { // a zero MPSC
		r.checkInit()
	}
	s := &r.slots[i]
	if s.stamp.Load() != head+1 {
		// Not published at head: empty (or closed and drained), or a push
		// has claimed head and not yet stored its item (popWait waits).
		var b backoff.Backoff
		for {
			stamp := s.stamp.Load()
			if stamp == head+1 {
				break
			}
			if res := r.popWait(head, stamp, &b); res != resultOK {
				var zero T
				return zero, res
			}
		}
	}
	testhook.Yield() // taken, not yet released
	v := s.val
	var zero T
	s.val = zero                   // let the GC free what v references
	s.stamp.Store(head + r.oneLap) // release the slot to the next lap's push
	// head moves after the release: until it does, a producer that saw
	// the slot still full and reads head finds the queue full, which it
	// was when the producer read the stamp. The store also orders the
	// release before notify's load of the parked count (see waiters).
	r.head.Store(r.next(head))
	r.notify()
	return v, resultOK
}

// TryPopN removes up to len(dst) items from the front of the queue into
// dst and returns how many: at least one unless the queue was empty (or
// closed and drained) at some instant during the call. It may stop short
// at an item whose push has claimed its slot but not yet stored the item.
// Only the consumer may call it.
func (q *MPSC[T]) TryPopN(dst []T) int {
	if len(dst) == 0 {
		return 0
	}
	r := &q.r
	r.checkInit()
	want := min(uint64(len(dst)), r.cap)
	head := r.head.Load()
	var b backoff.Backoff
	n := r.countStamps(head, want, 1)
	for n == 0 {
		if r.popWait(head, r.slots[head&r.mask].stamp.Load(), &b) != resultOK {
			return 0
		}
		n = r.countStamps(head, want, 1)
	}
	testhook.Yield() // counted, not yet released
	var zero T
	idx := head & r.mask
	first := min(n, r.cap-idx)
	run, wrap := r.slots[idx:idx+first], r.slots[:n-first]
	for i := range run {
		dst[i] = run[i].val
		run[i].val = zero
	}
	for i := range wrap {
		dst[first+uint64(i)] = wrap[i].val
		wrap[i].val = zero
	}
	publishStamps(run, head+r.oneLap)
	publishStamps(wrap, head&^r.mask+2*r.oneLap)
	r.head.Store(r.advance(head, n))
	r.notify()
	return int(n)
}

// Pop removes and returns the item at the front of the queue, waiting while
// it is empty. After Close it keeps returning the items pushed before Close,
// then ErrClosed. If ctx ends first it returns the ctx error
// (errors.Is(err, ctx.Err())) and removes nothing. A ctx that is already done
// fails the call even if an item is waiting; use TryPop not to wait. Only
// the consumer may call it.
//
// A waiting Pop yields a few times and then parks: it uses no CPU while
// the queue stays empty.
func (q *MPSC[T]) Pop(ctx context.Context) (T, error) {
	var zero T
	if ctx.Err() != nil {
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
		if err := q.r.w.park(ctx, &q.r.w.popq, q.r.canPop); err != nil {
			return zero, err
		}
	}
}

// Close closes the queue: later pushes fail, the consumer drains what is
// left and then gets ErrClosed, and every parked goroutine wakes; see
// [MPMC.Close]. Close is idempotent, and any goroutine may call it.
func (q *MPSC[T]) Close() { q.r.Close() }

// Len returns the number of items in the queue; see [MPMC.Len]. It is
// always within [0, Cap()].
func (q *MPSC[T]) Len() int { return q.r.Len() }

// Cap returns the capacity given to NewMPSC.
func (q *MPSC[T]) Cap() int { return q.r.Cap() }
