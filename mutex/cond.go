package mutex

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/waitq"
)

// Cond is a condition variable, a rendezvous point for goroutines waiting
// for or announcing a change of state that a lock protects, like
// sync.Cond, whose Wait takes a context.
//
// Each Cond has an associated [sync.Locker] L (often a *[Mutex], a
// *sync.Mutex or a read locker), which must be held when changing the
// condition and when calling [Cond.Wait]. Any Locker works: Cond parks its
// waiters on its own queue and only calls L.Unlock and L.Lock.
//
// A Cond can be created as part of other structures, with L set, or with
// [NewCond]. The zero value has no L: Signal and Broadcast work on it, and
// Wait panics until L is set. A Cond must not be copied after first use.
//
// In the terminology of the Go memory model, a call to [Cond.Signal] or
// [Cond.Broadcast] "synchronizes before" any call to Wait that it unblocks
// returns. (The state the waiter checks is protected by L, whose own
// guarantee orders it.)
//
// Compared with sync.Cond: Wait takes a ctx and returns its error when ctx
// ends first, having re-locked L all the same; and a Signal is never lost to
// a waiter that gives up at the same moment (see [Cond.Wait]). For simple
// one-shot events a channel, or this module's latch package, is easier to get
// right than a Cond.
type Cond struct {
	_ noCopy

	// L is held while observing or changing the condition.
	L sync.Locker

	// n counts the queued waiters, so that Signal and Broadcast with
	// nobody waiting cost one atomic load. Changed under mu only.
	n  atomic.Int32
	mu sync.Mutex // guards q
	q  waitq.Queue
}

// NewCond returns a new Cond with Locker l. It panics if l is nil.
func NewCond(l sync.Locker) *Cond {
	if l == nil {
		panic("mutex: NewCond with a nil Locker")
	}
	return &Cond{L: l}
}

// signalled is the Value a waker writes into a waiter before waking it, so
// that a waiter can tell, under mu, whether a signal reached it.
const signalled = 1

// Wait atomically unlocks c.L and suspends the calling goroutine until it
// is woken by [Cond.Signal] or [Cond.Broadcast] or until ctx ends. Before
// Wait returns it locks c.L again, on every path: the caller holds c.L
// afterwards whether Wait returned nil or an error.
//
// Wait returns nil when woken, and an error satisfying
// errors.Is(err, ctx.Err()) when ctx ended first. If ctx is already done on
// entry, Wait returns the error at once without unlocking c.L. Wait panics
// if c.L is nil.
//
// The waiter registers before it unlocks c.L, so a Signal or Broadcast
// made after the caller locked c.L, while it decided to wait, cannot be
// missed. A Signal that races with the end of ctx is decided once, under
// the Cond's own lock: if the Signal came first, Wait returns nil (it
// consumed the signal, and the caller should re-check the condition as
// after any wake-up); if the cancellation came first, the waiter has left
// the queue and the Signal wakes the next waiter. A signal is never lost.
//
// As with sync.Cond, a wake-up does not guarantee that the condition
// holds, so call Wait in a loop:
//
//	c.L.Lock()
//	for !condition() {
//		if err := c.Wait(ctx); err != nil {
//			c.L.Unlock()
//			return err
//		}
//	}
//	... make use of condition ...
//	c.L.Unlock()
func (c *Cond) Wait(ctx context.Context) error {
	if c.L == nil {
		panic("mutex: Cond.Wait with a nil L")
	}
	if ctx.Err() != nil {
		return waitq.Err(ctx)
	}
	c.mu.Lock()
	w := c.q.Enqueue(0)
	c.n.Add(1)
	c.mu.Unlock()
	c.unlockL(w)
	var err error
	if ctx.Done() == nil {
		// Cannot be cancelled: park on the waiter's own Cond (no channel
		// is made), with nothing to re-check under mu.
		c.q.WaitNoCtx(nopLocker{}, w)
	} else {
		// Wait resolves a wake racing the cancellation under mu.
		c.mu.Lock()
		err = c.q.Wait(ctx, &c.mu, w, c.abandon)
	}
	w.Recycle()
	c.L.Lock()
	return err
}

// nopLocker stands for a queue lock that is not held.
type nopLocker struct{}

func (nopLocker) Lock()   {}
func (nopLocker) Unlock() {}

// unlockL unlocks c.L. If that panics (Wait called without holding L),
// the registered waiter is removed first, so that it cannot swallow a
// later Signal, and the panic goes on.
func (c *Cond) unlockL(w *waitq.Waiter) {
	ok := false
	defer func() {
		if ok {
			return
		}
		c.mu.Lock()
		if w.Value == signalled {
			// Already signalled: pass the signal on.
			c.signalLocked()
		} else {
			c.q.Cancel(w)
			c.n.Add(-1)
		}
		c.mu.Unlock()
	}()
	c.L.Unlock()
	ok = true
}

// abandon runs under mu when a waiter whose ctx ended has left the queue.
func (c *Cond) abandon(bool) { c.n.Add(-1) }

// Signal wakes one goroutine waiting on c, the one that has waited
// longest, if there is any.
//
// It is allowed but not required for the caller to hold c.L during the
// call.
func (c *Cond) Signal() {
	if c.n.Load() == 0 {
		// Nobody registered. A waiter registers before it unlocks c.L,
		// so one that the caller could have observed waiting (by
		// holding c.L) is counted already.
		return
	}
	c.mu.Lock()
	c.signalLocked()
	c.mu.Unlock()
}

func (c *Cond) signalLocked() {
	if w := c.q.Front(); w != nil {
		w.Value = signalled
		c.n.Add(-1)
		c.q.Wake(w)
	}
}

// Broadcast wakes all goroutines waiting on c.
//
// It is allowed but not required for the caller to hold c.L during the
// call.
func (c *Cond) Broadcast() {
	if c.n.Load() == 0 {
		return
	}
	c.mu.Lock()
	for w := c.q.Front(); w != nil; w = c.q.Front() {
		w.Value = signalled
		c.q.Wake(w)
	}
	c.n.Store(0)
	c.mu.Unlock()
}
