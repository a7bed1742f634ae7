package mutex

import (
	"context"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// Fair is a mutual exclusion lock with strict first-come, first-served
// handoff: once a goroutine is parked waiting for it, Unlock hands ownership
// directly to the goroutine that has waited longest, and the lock never
// becomes free while anyone waits. No goroutine barges ahead of one that
// queued earlier, and every waiter's wait is bounded by the critical
// sections of those queued before it.
//
// The price is throughput under contention: every contended acquisition is
// a park and a wake-up (about 100-150 ns, against about 12 ns for a barging
// [Mutex] that a running goroutine re-takes), and the lock cannot be
// re-taken by a goroutine that is already running while the next owner is
// being scheduled. Use Fair where the order or the spread of wait times
// matters more than throughput; use [Mutex] otherwise.
//
// A goroutine that stops waiting (its ctx ended in [Fair.LockContext])
// loses its place; the ones behind it move up.
//
// The zero value for a Fair is an unlocked mutex.
//
// A Fair must not be copied after first use.
//
// In the terminology of the Go memory model, the n'th call to [Fair.Unlock]
// "synchronizes before" the m'th call to [Fair.Lock] (or a successful
// [Fair.LockContext] or [Fair.TryLock]) returns, for any n < m. A failed
// call to TryLock, and a call to LockContext that returns an error, does
// not establish any "synchronizes before" relation.
type Fair struct {
	_ noCopy

	// state is first because it is the only field the fast paths touch.
	state atomic.Int32

	// arrived counts the waiters that have taken a ticket on parked, and
	// handed those of them that Unlock has handed the lock to, both
	// modulo 2^32: arrived-handed of them are waiting. Both change under
	// qmu; handed is atomic only so that a woken waiter's load of it
	// orders the unlocker's writes before its return for the race
	// detector, which does not see the runtime's parking (see lockSlow).
	arrived uint32
	handed  atomic.Uint32

	// qmu guards q, arrived, handed and parked. While fairQueued is set
	// every change of state happens under qmu: the fast paths only move
	// between 0 and fairLocked.
	qmu sync.Mutex

	// The waiters, in the order they queued, are split in two by what
	// their wait can do, and one order is kept across both:
	//
	// q holds the waiters that can give up (LockContext with a ctx that
	// can end), each parked on its own channel. A waiter's Value is
	// arrived at the moment it queued: that many of the waiters on parked
	// came before it, so Unlock hands the lock to the front of q only
	// once handed has caught up with its Value. A waiter that leaves q
	// changes nobody's place.
	//
	// parked is where the waiters that cannot give up (Lock, or a ctx
	// that never ends) park: one sync.Cond for all of them, made by the
	// first. They take their tickets under qmu, so the tickets follow
	// their arrival, and Signal wakes the oldest ticket: the runtime's
	// notify list keeps the FIFO for us, and a handoff is one Signal.
	// (Before, every waiter queued in q and parked on a Cond of its own;
	// see BENCHMARKS.md, "Fair's parked waiters on one Cond".) A Cond
	// belongs to no testing/synctest bubble and its Wait is durably
	// blocking, so a Fair may be used in one bubble after another.
	q      waitq.Queue
	parked *sync.Cond
}

// fairTicket is the Locker of Fair.parked. Cond.Wait takes the waiter's
// ticket, then calls Unlock, which releases the queue lock: the ticket is
// taken under it, in arrival order. A woken waiter has been handed the
// lock and needs nothing back, so Lock does nothing.
type fairTicket Fair

func (t *fairTicket) Unlock() {
	t.qmu.Unlock()
	testhook.Yield() // racy window: a handoff may signal the ticket before it parks
}

func (t *fairTicket) Lock() {}

// The state word of Fair.
//
//	queued locked  meaning
//	   0      0    unlocked: the only state Lock's and TryLock's fast path take
//	   0      1    locked, nobody waiting: the only state Unlock's fast path releases
//	   1      1    locked, waiters parked (in q or on parked): Unlock hands the lock to the longest one
//
// (queued, unlocked) never occurs: a waiter queues only behind a held lock,
// and the lock passes from owner to owner without being released while
// anyone is queued. That is what makes the handoff strict: there is no
// moment at which a newcomer could barge.
const (
	// fairLocked: the lock is held.
	fairLocked int32 = 1 << iota
	// fairQueued: someone waits, in q or on parked (waiting reports
	// it). Set under qmu by the first waiter, cleared under qmu when the
	// last one leaves (handed the lock, or gone because its ctx ended).
	fairQueued
)

// Lock locks f. If f is locked, the calling goroutine queues behind every
// goroutine already waiting and parks until the lock is handed to it.
func (f *Fair) Lock() {
	// lockdep.FastFree is 0, unless package diag tracks locks: see
	// lockdep.go.
	if f.state.CompareAndSwap(lockdep.FastFreeInt32(), fairLocked) {
		return
	}
	f.lockTracked()
}

// LockContext locks f, or returns an error when ctx ends first.
//
// If ctx is already done, LockContext fails even when f is unlocked (use
// [Fair.TryLock] to lock without waiting). On failure the error satisfies
// errors.Is(err, ctx.Err()) (and errors.Is(err, context.Cause(ctx)) when a
// cause was given), and f is as if LockContext had never been called: the
// waiter has left the queue, and the ones behind it move up.
//
// The race between a handoff and the end of ctx is decided under f's queue
// lock, once: if the handoff came first, LockContext returns nil and the
// caller holds the lock (the grant is kept, never dropped); if the
// cancellation came first, the waiter is gone from the queue and the
// handoff goes to the next waiter.
func (f *Fair) LockContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return waitq.Err(ctx)
	}
	if f.state.CompareAndSwap(lockdep.FastFreeInt32(), fairLocked) {
		return nil
	}
	return f.lockContextTracked(ctx)
}

// TryLock locks f if it is unlocked and reports whether it did.
//
// TryLock never barges: it fails whenever f is held, and f is held whenever
// anyone is queued, so it cannot take the lock ahead of a waiter. (Java's
// ReentrantLock.tryLock() barges even on a fair lock; lockstep keeps Fair
// strictly FIFO instead, as x/sync's semaphore does for TryAcquire. A
// caller that wants to barge wants [Mutex].)
func (f *Fair) TryLock() bool {
	return f.state.CompareAndSwap(lockdep.FastFreeInt32(), fairLocked) || f.tryLockTracked()
}

// Unlock unlocks f, handing it to the longest waiter if there is one. It
// panics with "mutex: unlock of unlocked Fair" if f is not locked on entry,
// and leaves f unchanged then.
func (f *Fair) Unlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(f), &fairType, lockdep.Write)
	}
	if f.state.CompareAndSwap(fairLocked, 0) {
		return
	}
	f.unlockSlow()
}

func (f *Fair) lockSlow(ctx context.Context) error {
	// No spinning before queueing, unlike Mutex. In a convoy the owner is
	// usually a goroutine that an Unlock has just handed the lock to and
	// readied onto the unlocker's own P, where it cannot run until the
	// unlocker (about to lock again) parks; spinning here would only delay
	// it. Strict FIFO leaves nothing to gain by spinning once a queue
	// exists.
	lockQueue(&f.qmu)
	for {
		old := f.state.Load()
		if old == 0 {
			// Unlocked and nobody queued (the queue is ours to
			// inspect): take it.
			if f.state.CompareAndSwap(0, fairLocked) {
				f.qmu.Unlock()
				return nil
			}
			continue
		}
		if old&fairQueued != 0 {
			break
		}
		testhook.Yield()
		if f.state.CompareAndSwap(fairLocked, fairLocked|fairQueued) {
			break
		}
	}
	if ctx != nil && ctx.Done() != nil {
		w := f.q.Enqueue(int64(f.arrived))
		// Woken means Unlock handed us the lock; it stayed locked.
		err := f.q.Wait(ctx, &f.qmu, w, f.abandon)
		w.Recycle()
		return err
	}
	if f.parked == nil {
		f.parked = &sync.Cond{L: (*fairTicket)(f)}
	}
	f.arrived++
	// Wait takes a ticket, then releases qmu; it returns once Unlock has
	// handed us the lock. The load is for the race detector: see handed.
	f.parked.Wait()
	_ = f.handed.Load()
	return nil
}

// waiting reports whether anyone waits. Call it under qmu.
func (f *Fair) waiting() bool {
	return f.q.Len() != 0 || f.arrived != f.handed.Load()
}

// abandon runs under qmu when a waiter whose ctx ended has left the queue.
// Rule 4 of the cancellation contract needs nothing more here: the lock is
// held, and its Unlock hands it to the new front. Nor does the order: the
// Values of the waiters behind it count parked waiters, not places. Only
// the last waiter's departure must clear fairQueued, so that the holder's
// Unlock takes the fast path and frees the lock.
func (f *Fair) abandon(bool) {
	if !f.waiting() {
		f.state.Store(fairLocked) // from fairLocked|fairQueued; nothing else can move it now
	}
}

func (f *Fair) unlockSlow() {
	lockQueue(&f.qmu)
	switch old := f.state.Load(); old {
	case fairLocked:
		// The last waiter left between our fast path and qmu.
		f.state.Store(0)
		f.qmu.Unlock()
	case fairLocked | fairQueued:
		// Hand off: the lock stays locked and passes to the longest
		// waiter, which is readied once qmu is free, for the Lock calls
		// that need it: the front of q if every parked waiter that came
		// before it has been handed the lock, else the oldest ticket.
		lockdep.Handoff(unsafe.Pointer(f))
		var k waitq.Wakeup
		var parked *sync.Cond
		handed := f.handed.Load()
		// handed never passes the front's Value: the waiters on parked
		// that came after it wait for it.
		if w := f.q.Front(); w != nil && uint32(w.Value) == handed {
			k = f.q.WakeLater(w)
		} else if f.arrived != handed {
			f.handed.Store(handed + 1)
			parked = f.parked
		} else {
			f.qmu.Unlock()
			panic("mutex: inconsistent Fair state")
		}
		if !f.waiting() {
			f.state.Store(fairLocked)
		}
		f.qmu.Unlock()
		testhook.Yield() // racy window: handed over, not yet readied
		if parked != nil {
			parked.Signal()
		} else {
			k.Do()
		}
	case 0:
		f.qmu.Unlock()
		panic("mutex: unlock of unlocked Fair")
	default:
		f.qmu.Unlock()
		panic("mutex: inconsistent Fair state")
	}
}
