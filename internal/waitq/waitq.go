// Package waitq is where lockstep's blocking calls park: Queue, the FIFO
// queue of parked goroutines behind the locks, the semaphore, the ring
// buffers and the pool, and Gate, its broadcast counterpart for the
// barriers, which release every waiter of a round at once. Both implement
// the cancellation contract (in the module's guide, package lockstep) once,
// so that each primitive only decides who may proceed. For Queue:
//
//  1. A waiter parks on its own channel and selects on it together with
//     ctx.Done(), so cancellation needs no helper goroutine and
//     testing/synctest sees the wait as durably blocking (x/sync's
//     semaphore parks the same way).
//  2. A wake that races with cancellation is never lost: under the queue's
//     lock the waiter looks again, and if it was woken the wake wins and
//     Wait reports success. The caller keeps what it was given (the lock,
//     the permits); it never silently drops it.
//  3. A waiter that gives up is unlinked under the lock, and the primitive's
//     abandon callback runs right there, told whether the waiter was at the
//     front, so it can wake those behind it that can now proceed
//     (golang/go#37852: a cancelled head waiter stranded the waiters behind
//     it in x/sync's semaphore).
//  4. Waiters register (Enqueue, under the lock) before they re-check and
//     park, and wakers change state under the same lock before they wake,
//     so a wake cannot fall between a waiter's check and its park.
//
// A Queue is not safe for concurrent use on its own: the primitive guards it
// with its own mutex (the "queue lock") and holds that lock for every call
// except Wait, which takes it over. Holding the primitive's state and its
// queue under one lock is what makes the check-then-park of rule 4 atomic.
//
// A waiter parks on a sync.Cond embedded in it when the wait cannot be
// cancelled (WaitNoCtx, or a ctx whose Done is nil), and on a channel,
// selected together with ctx.Done(), when it can; the channel is made only
// then. A primitive hands a waiter back with Recycle once its wait is over,
// and Enqueue takes waiters from a sync.Pool, so an uncancellable park
// allocates nothing and a cancellable one only its channel (112 bytes in
// Go 1.26). Before, every park allocated its waiter, which parked on a
// WaitGroup; recycled waiters parked on a Cond made mutex.Fair's handoffs
// 19-28% faster with more goroutines than processors (BENCHMARKS.md,
// "Waiters recycled").
//
// Why a Cond: nothing in it belongs to a testing/synctest bubble, so a
// recycled waiter may move in and out of bubbles, and a goroutine parked on
// a Cond is durably blocking inside a bubble. A WaitGroup becomes bound to
// the bubble that adds to it, and a channel to the bubble that makes it,
// which is why the channel of a cancellable wait is never reused.
//
// A waiter parked outside a bubble may be woken from inside one (a lock
// shared by a synctest test and a parallel test): only its channel or its
// Cond is touched. The other way round is the runtime's rule for every
// parked goroutine: one parked inside a bubble must not be woken from
// outside it.
package waitq

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/testhook"
)

// Waiter states. A waiter moves queued -> woken (a waker chose it) or
// queued -> abandoned (its ctx ended first); both moves happen under the
// queue lock, so exactly one of them happens.
//
// stateAnnounced is a flag on stateQueued: the waiter has taken its ticket on
// its Cond and parks there, so Wake must Signal it (see parkCond). Only a
// waiter that parks on the Cond sets it, itself, possibly without the queue
// lock (WaitNoCtx after the caller released it), hence the atomic. A
// cancellable wait never touches the Cond: Wake closes its channel. (Found
// by an adversarial review, when the park was a WaitGroup: Wake called Done
// unconditionally, which a WaitGroup added to on the other side of a
// testing/synctest bubble boundary answers by aborting the process.)
const (
	stateQueued uint32 = iota
	stateWoken
	stateAbandoned

	stateAnnounced uint32 = 1 << 8
)

// Waiter is one goroutine parked in a Queue.
type Waiter struct {
	next, prev *Waiter
	ready      chan struct{} // made by Wait for a cancellable wait; closed by Wake
	park       sync.Cond     // an uncancellable wait parks here (parkCond); L is the waiter's announcer
	state      atomic.Uint32

	// Value is the primitive's own record of the request: a semaphore's
	// weight, whether an rwlock waiter reads or writes. Read and write it
	// under the queue lock; the waiter's own goroutine may also read it
	// without the lock once Wait or WaitNoCtx returned nil, since a waker
	// writes it before Wake, which synchronizes before that return, and
	// nobody writes it after.
	Value int64
}

// Next returns the waiter behind w, or nil. Use it under the queue lock to
// walk the queue, for example to admit a batch of readers.
func (w *Waiter) Next() *Waiter { return w.next }

// Queue is a FIFO of parked waiters. The zero value is an empty queue.
type Queue struct {
	head, tail *Waiter
	n          int
}

// Len returns the number of queued waiters.
func (q *Queue) Len() int { return q.n }

// Front returns the waiter that has waited longest, or nil.
func (q *Queue) Front() *Waiter { return q.head }

// Enqueue appends a new waiter carrying value and returns it. The caller
// then re-checks its condition (the wait may no longer be needed; then it
// calls Cancel) and, still holding the lock, calls Wait.
func (q *Queue) Enqueue(value int64) *Waiter {
	w := newWaiter(value)
	if q.tail == nil {
		q.head, q.tail = w, w
	} else {
		w.prev = q.tail
		q.tail.next = w
		q.tail = w
	}
	q.n++
	return w
}

// EnqueueFront puts a new waiter at the front. A primitive whose woken
// waiters compete with newcomers (mutex.Mutex) uses it to requeue a waiter
// that lost the race, so it does not go to the back of the line again.
func (q *Queue) EnqueueFront(value int64) *Waiter {
	w := newWaiter(value)
	if q.head == nil {
		q.head, q.tail = w, w
	} else {
		w.next = q.head
		q.head.prev = w
		q.head = w
	}
	q.n++
	return w
}

// newWaiter returns a queued waiter, recycled if the pool has one. Its Cond
// is untouched until the waiter parks on it (parkCond).
func newWaiter(value int64) *Waiter {
	w := waiterPool.Get().(*Waiter)
	w.Value = value
	return w
}

var waiterPool = sync.Pool{New: func() any {
	w := new(Waiter)
	w.park.L = (*announcer)(w) // for good: Recycle leaves park alone
	return w
}}

// Recycle hands w back for reuse by a later Enqueue, of any queue. Only
// w's own goroutine may call it, after its Wait or WaitNoCtx returned or
// after Cancel, and only when nothing refers to w any more: from the call
// on, w may be another goroutine's waiter. It panics if w is still queued.
// (A primitive that kept a pointer to a recycled waiter and woke it would
// wake whoever holds the record now, where a dropped record made Wake
// panic: keep no pointer to a waiter past its wait.)
func (w *Waiter) Recycle() {
	if st := w.state.Load(); st != stateWoken && st != stateAbandoned {
		panic("waitq: Recycle of a queued waiter")
	}
	w.ready = nil
	w.Value = 0
	w.state.Store(stateQueued)
	waiterPool.Put(w)
}

// parkCond parks the calling goroutine, which owns w, on w's Cond until w
// is woken; it returns at once if w was woken already. The queue lock need
// not be held.
//
// The handshake with Wake: Cond.Wait takes its ticket first and then calls
// L.Unlock, which is w's announcer: it sets stateAnnounced with a CAS, after
// which Wake (whose CAS sees the flag) signals, and the signal finds the
// ticket taken, whether or not Wait has parked yet. If Wake's CAS came
// first, it saw no flag and will not signal, so the announcer signals the
// ticket itself and Wait returns at once.
func (w *Waiter) parkCond() {
	if w.state.Load() != stateWoken {
		w.park.Wait() // L is w's announcer, set when the pool made w
	}
	// This load also orders the waker's writes (Value, the primitive's
	// state) before our return for the race detector, which does not see
	// the runtime's parking.
	if w.state.Load() != stateWoken {
		panic("waitq: wait on a waiter that is not queued")
	}
}

// announcer is the Locker of a waiter's Cond: Cond.Wait calls Unlock after
// it has taken its ticket, and Lock after it wakes.
type announcer Waiter

func (a *announcer) Unlock() {
	w := (*Waiter)(a)
	if !w.state.CompareAndSwap(stateQueued, stateQueued|stateAnnounced) {
		// Woken (or abandoned) before we announced: nobody will signal
		// our ticket, so consume it, and Wait returns at once.
		w.park.Signal()
	}
}

func (a *announcer) Lock() {}

func (q *Queue) unlink(w *Waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.next, w.prev = nil, nil
	q.n--
}

// Wake removes w from the queue and wakes it. What a wake means (the lock is
// now yours, your permits are taken, look again) is the primitive's to
// define; the primitive updates its state for w before calling Wake. w must
// be queued in q.
func (q *Queue) Wake(w *Waiter) {
	q.WakeLater(w).Do()
}

// Wakeup is the second half of a WakeLater: the readying of the woken
// goroutine, which its Do performs.
type Wakeup struct {
	ready chan struct{}
	w     *Waiter // set when w parks on its Cond and must be signalled
}

// WakeLater is Wake in two halves, for a waker that would rather not hold
// the queue lock while the woken goroutine is readied (a lock handoff,
// where the next Lock needs the queue lock): it does everything Wake does
// but the readying, which the returned Wakeup's Do does, after the caller
// has released the queue lock. Until then the woken goroutine stays
// parked, and w stays its own (it cannot have been recycled); a woken
// goroutine that is not parked yet returns at once, and its Wakeup touches
// nothing of w's.
func (q *Queue) WakeLater(w *Waiter) Wakeup {
	if w.state.Load()&^stateAnnounced != stateQueued {
		panic("waitq: Wake of a waiter that is not queued")
	}
	// Everything Wake does to w comes before the CAS that marks it woken:
	// from then on its goroutine may return and Recycle it. (Abandoning
	// takes the queue lock, which the caller holds, so the only move that
	// can race with this one is the announcer's, which adds stateAnnounced.)
	q.unlink(w)
	ready := w.ready
	old := w.state.Load()
	for !w.state.CompareAndSwap(old, stateWoken) {
		old = w.state.Load()
	}
	testhook.Yield() // woken: its goroutine may return and Recycle w now
	if ready != nil {
		return Wakeup{ready: ready}
	}
	if old&stateAnnounced != 0 {
		// Parked, or about to park, on its ticket: it cannot return
		// before the Signal.
		return Wakeup{w: w}
	}
	return Wakeup{}
}

// Do readies the goroutine that WakeLater woke, if it is parked. Call it
// once.
func (k Wakeup) Do() {
	if k.ready != nil {
		close(k.ready)
	} else if k.w != nil {
		k.w.park.Signal()
	}
}

// WakeAll wakes every queued waiter, front first, and returns how many.
func (q *Queue) WakeAll() int {
	n := 0
	for q.head != nil {
		q.Wake(q.head)
		n++
	}
	return n
}

// Cancel removes a waiter that its goroutine decided not to wait for after
// all (its re-check after Enqueue succeeded). w must be queued in q.
func (q *Queue) Cancel(w *Waiter) {
	if !w.state.CompareAndSwap(stateQueued, stateAbandoned) {
		panic("waitq: Cancel of a waiter that is not queued")
	}
	q.unlink(w)
}

// Wait parks the calling goroutine until w is woken or ctx is done.
//
// The queue lock mu must be held on entry; Wait releases it while parked and
// returns with it released. On a wake it returns nil. If ctx ends first,
// Wait re-takes mu and looks again: a wake that raced with the cancellation
// wins, and Wait returns nil, so nothing handed to w is lost. Otherwise it
// unlinks w, calls abandon (when non-nil) with mu held and wasFront telling
// whether w was at the front of the queue, releases mu, and returns Err(ctx),
// or context.Canceled if a broken Context closed Done while Err reports nil:
// a waiter that left the queue never gets nil.
//
// The abandon callback is where a primitive honours rule 3 of the contract:
// a waiter that leaves the front may unblock those behind it.
func (q *Queue) Wait(ctx context.Context, mu sync.Locker, w *Waiter, abandon func(wasFront bool)) error {
	if st := w.state.Load(); st == stateWoken {
		mu.Unlock()
		return nil
	} else if st != stateQueued {
		mu.Unlock()
		panic("waitq: Wait on a waiter that is not queued")
	}
	done := ctx.Done()
	if done == nil {
		mu.Unlock()
		w.parkCond()
		return nil
	}
	w.ready = make(chan struct{}) // under mu: Wake sees it or has not run
	mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-done:
	}
	mu.Lock()
	if !w.state.CompareAndSwap(stateQueued, stateAbandoned) {
		// The wake happened before we re-took the lock: it wins.
		mu.Unlock()
		return nil
	}
	wasFront := q.head == w
	q.unlink(w)
	if abandon != nil {
		abandon(wasFront)
	}
	mu.Unlock()
	if err := Err(ctx); err != nil {
		return err
	}
	// A broken Context closed Done while its Err still reports nil. The
	// waiter has left the queue and holds nothing, so Wait must fail: nil
	// would tell the caller it was handed the lock or the permits.
	// (Found by an adversarial review.)
	return context.Canceled
}

// WaitNoCtx is Wait for a wait that cannot be cancelled (a plain Lock). It
// releases mu and parks until w is woken; a wake that came before, even
// after mu was released, returns at once. mu may be a no-op locker when the
// caller released the queue lock itself after Enqueue.
func (q *Queue) WaitNoCtx(mu sync.Locker, w *Waiter) {
	mu.Unlock()
	w.parkCond()
}

// Err returns the error a blocking lockstep call reports when ctx ends:
// ctx.Err(), so that errors.Is(err, ctx.Err()) holds, wrapped together with
// context.Cause(ctx) when a cause was given, so that errors.Is matches the
// cause too.
func Err(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	// errors.Is, not ==: a custom Context's error (and so its Cause, which
	// falls back to Err) may have an uncomparable type, and == on such
	// interface values panics. (Found by an adversarial review.)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return &causeError{err: err, cause: cause}
	}
	return err
}

type causeError struct{ err, cause error }

func (e *causeError) Error() string   { return e.err.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() []error { return []error{e.err, e.cause} }
