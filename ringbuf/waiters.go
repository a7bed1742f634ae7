package ringbuf

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// ErrClosed is returned by Push after Close, and by Pop once the ring is
// closed and every item pushed before Close has been popped.
var ErrClosed = errors.New("ringbuf: closed")

// noCopy may be added to structs which must not be copied after first use.
// Lock is a no-op used by the -copylocks checker of go vet. It must be a
// named field (_ noCopy), never embedded.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// waiters is the blocking layer shared by MPMC and SPSC: goroutines that
// found the ring full (pushers) or empty (poppers), parked on
// internal/waitq.
//
// # Protocol
//
// The lock-free fast paths never take mu. They pay one atomic load of
// parked after each successful operation, and only when it is non-zero do
// they call the ring's wake, which takes mu and wakes the front waiter of
// each queue whose condition now holds.
//
// A lost wakeup would need a popper to decide "empty, park" while a pusher
// decides "nobody parked, no wake". Both sides order their two steps the
// other way round (Dekker's pattern; Go's atomics are sequentially
// consistent, so store-then-load on both sides is enough):
//
//	popper (park)                      pusher (TryPush)
//	parked.Add(1), enqueue under mu    move the ring (see below)
//	re-check the ring under mu         parked.Load()
//	park if still empty                != 0: take mu, wake the front popper
//
// In the total order of these atomics either the re-check sees the move
// (the popper does not park) or the pusher's load sees parked != 0 (it
// takes mu, which the popper holds until it is queued and parked, and
// wakes it). The same holds for pushers waiting for room, with the roles
// swapped. The move is the last sequentially consistent operation before
// parked.Load, and the re-check looks at what it moved: MPMC's claim of
// the position (the compare-and-swap on tail or head; canPop and canPush
// compare head and tail, and a goroutine that then finds the position
// claimed but the stamp not yet stored waits for the stamp instead of
// parking), SPSC's push's compare-and-swap of the stamp (canPop reads the
// stamp) and SPSC's pop's release of the slot's stamp, followed by its
// store of head, the fence (canPush reads the stamp). The stores after
// the move (MPMC's stamps, SPSC's counts of tail) are plain release
// stores on amd64 (internal/relstore) and need no fence. Close marks the
// ring closed with an atomic operation (MPMC ors a bit into tail, SPSC
// stores a flag; both are sequentially consistent) and then wakes
// everybody under mu; a waiter's re-check includes the closed mark, so it
// cannot park after Close either.
//
// # A wake is a notification, not a grant
//
// The woken goroutine retries its Try operation; a goroutine that was not
// parked may have taken the item (or the room) first, and then the woken one
// parks again. To keep that from stranding anybody, every successful
// operation that finds parked != 0 wakes one waiter of each kind whose
// condition holds after it: a pop that leaves items behind wakes the next
// popper, a push that leaves room wakes the next pusher (a chain of wakes,
// one at a time, rather than a thundering herd). A woken waiter always
// retries at least once, even when its ctx ended meanwhile, and keeps what
// the retry gets (rule 3 of the cancellation contract: a wake that races
// with cancellation is not lost); only if the retry fails does it report
// the ctx error. A waiter that gives up without having been woken took
// nothing and owes nobody a wake, so the abandon callback only fixes the
// count: the waiters behind it are woken by the next operation that makes
// their condition true, exactly as if it had never queued (rule 4 holds
// because no waiter ever waits for another waiter, only for the ring).
type waiters struct {
	// parked counts the goroutines queued in pushq and popq. It is read on
	// every successful fast-path operation and written only on the slow
	// path, so it lives on the ring's read-mostly cache line.
	parked atomic.Int32

	_ cacheline.Pad

	mu    sync.Mutex  // protects the two queues
	pushq waitq.Queue // pushers waiting for room
	popq  waitq.Queue // poppers waiting for an item
}

// park queues the caller on wq, re-checks with ready while holding mu (the
// registration is visible to wakers by then), and parks unless ready
// reports that the caller should retry at once. It returns nil after a
// wake or a successful re-check, and the ctx error if ctx ended first.
func (w *waiters) park(ctx context.Context, wq *waitq.Queue, ready func() bool) error {
	w.mu.Lock()
	me := wq.Enqueue(0)
	w.parked.Add(1) // register before the re-check
	testhook.Yield()
	if ready() {
		wq.Cancel(me)
		w.parked.Add(-1)
		w.mu.Unlock()
		me.Recycle()
		return nil
	}
	err := wq.Wait(ctx, &w.mu, me, func(bool) {
		// Never woken, so it holds nothing to pass on (see the type doc).
		w.parked.Add(-1)
	})
	me.Recycle()
	return err
}

// wakeFront wakes the longest-waiting goroutine of wq, if any. w.mu must be
// held.
func (w *waiters) wakeFront(wq *waitq.Queue) {
	if f := wq.Front(); f != nil {
		wq.Wake(f)
		w.parked.Add(-1)
	}
}

// wakeAll wakes every parked goroutine (Close).
func (w *waiters) wakeAll() {
	w.mu.Lock()
	n := w.pushq.WakeAll() + w.popq.WakeAll()
	w.parked.Add(-int32(n))
	w.mu.Unlock()
}

// pause is the bounded wait of a blocking Push or Pop between a failed try
// and parking: it yields the processor up to backoff.ParkYields times, the
// caller retrying after each (wait) or once a poll says a retry would
// succeed (waitUntil), and then tells the caller to park; in a stream it
// tells the caller to park at once (see streaming). The zero value is
// ready; it lives on the caller's stack.
//
// It never busy-spins. A spin only pays when the goroutine that will make
// progress is running on another core at that moment; when it is not (one
// P, more goroutines than cores, or a loaded machine), every cycle spent
// spinning delays it, and a goroutine this one just woke sits in this P's
// run-next slot until this one yields. A yield lets it run here at once
// and costs about what a failed spin round does when nobody else is
// runnable. Measured on the loaded 2-core CI machine, in paired runs of the
// ping-pong benchmark (medians of 25): a round trip took 350-470 ns with
// yields only, 1.0-3.5 µs when the wait first spun through backoff.Snooze's
// spin steps, 4.7-6.0 µs when it parked at once (every park allocates a
// waitq record), and 500-760 ns through a pair of channels; 2, 4 or 8
// yields made no clear difference, 16 was slower. (In the streaming
// benchmarks the choice made no difference then; since, a stream parks at
// once: see streaming.)
type pause struct {
	yields  int
	checked bool // first has run
}

// first reports true the first time it is called on p, so that a blocking
// call checks for a stream (see streaming) once per call, at its first
// wait.
func (p *pause) first() bool {
	if p.checked {
		return false
	}
	p.checked = true
	return true
}

// streaming makes the wait park at once, without yielding. A blocking call
// calls it when more than one item has moved through its side of the queue
// since that side last had to wait.
//
// A side that moved several items between two waits is in a stream: the
// other side is slower, and each time this one catches up it finds the
// queue empty (or full) again. Yielding retries as soon as the other side
// has moved one more item, so the two chase each other slot by slot and
// move the slots' cache lines between their cores on nearly every item, and
// each yield is a trip through the scheduler; parked, this side lets the
// other run ahead (the other wakes it at its next operation, and it finds
// several items, or several free slots, by the time it runs). A side that
// moved one item since its last wait is in a ping-pong, where the reply
// comes within a few yields and a park and a wake would cost more. Measured
// on the Turin host (see BENCHMARKS.md, "Streams park at once"): parking at
// once always took 35-47% off a stream's time at 2 CPUs and made a
// ping-pong 2.2-2.9x slower; parking at once in streams only kept the first
// and not the second. The count is the side's, not the caller's: with
// several goroutines on one side of an MPMC, each doing its own ping-pong,
// the side moves several items between one caller's waits, and they park at
// once (no benchmark covers that yet).
func (p *pause) streaming() {
	p.yields = backoff.ParkYields
}

// wait yields once and reports true, or reports false when the caller
// should park.
func (p *pause) wait() bool {
	if p.yields == backoff.ParkYields {
		return false
	}
	p.yields++
	runtime.Gosched()
	return true
}

// waitUntil yields until ready reports true, and then reports true (the
// caller retries its operation), or, after backoff.ParkYields yields,
// reports false (the caller parks). ready is a cheap poll of the one slot
// the caller's retry would use: a retry of the full operation loads the
// other side's index too, whose cache line the other side writes on every
// operation, and taking it from that core's cache on every yield slowed
// the other side.
func (p *pause) waitUntil(ready func() bool) bool {
	for p.wait() {
		if ready() {
			return true
		}
	}
	return false
}
