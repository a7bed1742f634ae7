// Package waitq is the FIFO queue of parked goroutines behind every blocking
// call in lockstep. It implements the cancellation contract of DESIGN.md
// once, so that each primitive only decides who may proceed:
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
// A waiter is used for one wait and then dropped: one allocation per park.
// It parks on a sync.WaitGroup embedded in it when the wait cannot be
// cancelled (WaitNoCtx, or a ctx whose Done is nil), and on a channel,
// selected together with ctx.Done(), when it can; the channel is made only
// then. Contended profiles of the locks showed the second allocation (the
// channel, 96 bytes) and the garbage it makes as a large share of the slow
// path. Waiters are not pooled: a channel or WaitGroup first used inside a
// testing/synctest bubble must not be used outside it, so a pooled waiter
// would break users' synctest tests; both park kinds are durably blocking
// inside a bubble as long as they are fresh.
package waitq

import (
	"context"
	"sync"
)

// Waiter states. A waiter moves queued -> woken (a waker chose it) or
// queued -> abandoned (its ctx ended first); both moves happen under the
// queue lock, so exactly one of them happens.
const (
	stateQueued uint8 = iota
	stateWoken
	stateAbandoned
)

// Waiter is one goroutine parked in a Queue.
type Waiter struct {
	next, prev *Waiter
	ready      chan struct{}  // made by Wait for a cancellable wait; closed by Wake
	sema       sync.WaitGroup // count 1 from Enqueue to Wake; WaitNoCtx parks on it
	state      uint8

	// Value is the primitive's own record of the request: a semaphore's
	// weight, whether an rwlock waiter reads or writes. Read it under the
	// queue lock.
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

// newWaiter returns a waiter whose WaitGroup counts the wake still to come.
func newWaiter(value int64) *Waiter {
	w := &Waiter{Value: value}
	w.sema.Add(1)
	return w
}

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
	if w.state != stateQueued {
		panic("waitq: Wake of a waiter that is not queued")
	}
	q.unlink(w)
	w.state = stateWoken
	if w.ready != nil {
		close(w.ready)
	}
	w.sema.Done()
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
	if w.state != stateQueued {
		panic("waitq: Cancel of a waiter that is not queued")
	}
	q.unlink(w)
	w.state = stateAbandoned
}

// Wait parks the calling goroutine until w is woken or ctx is done.
//
// The queue lock mu must be held on entry; Wait releases it while parked and
// returns with it released. On a wake it returns nil. If ctx ends first,
// Wait re-takes mu and looks again: a wake that raced with the cancellation
// wins, and Wait returns nil, so nothing handed to w is lost. Otherwise it
// unlinks w, calls abandon (when non-nil) with mu held and wasFront telling
// whether w was at the front of the queue, releases mu, and returns Err(ctx).
//
// The abandon callback is where a primitive honours rule 3 of the contract:
// a waiter that leaves the front may unblock those behind it.
func (q *Queue) Wait(ctx context.Context, mu sync.Locker, w *Waiter, abandon func(wasFront bool)) error {
	if w.state == stateWoken {
		mu.Unlock()
		return nil
	}
	done := ctx.Done()
	if done == nil {
		mu.Unlock()
		w.sema.Wait()
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
	if w.state == stateWoken {
		// The wake happened before we re-took the lock: it wins.
		mu.Unlock()
		return nil
	}
	wasFront := q.head == w
	q.unlink(w)
	w.state = stateAbandoned
	if abandon != nil {
		abandon(wasFront)
	}
	mu.Unlock()
	return Err(ctx)
}

// WaitNoCtx is Wait for a wait that cannot be cancelled (a plain Lock). It
// releases mu and parks until w is woken; a wake that came before, even
// after mu was released, returns at once. mu may be a no-op locker when the
// caller released the queue lock itself after Enqueue.
func (q *Queue) WaitNoCtx(mu sync.Locker, w *Waiter) {
	mu.Unlock()
	w.sema.Wait()
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
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return &causeError{err: err, cause: cause}
	}
	return err
}

type causeError struct{ err, cause error }

func (e *causeError) Error() string   { return e.err.Error() + ": " + e.cause.Error() }
func (e *causeError) Unwrap() []error { return []error{e.err, e.cause} }
