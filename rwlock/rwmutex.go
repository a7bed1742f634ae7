package rwlock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// The state word of an RWMutex. Layout (low to high):
//
//	bit 0       stateWriter      a writer holds the lock
//	bit 1       stateWriterWait  the front waiter is a writer waiting for the
//	                             readers inside to leave; no new reader enters
//	bit 2       stateQueued      the wait queue is not empty; every newcomer
//	                             takes the slow path (no barging past waiters)
//	bits 3..63  readers          readers inside, plus "phantom" readers (below)
//
// States at rest (between slow-path operations, with the queue lock free):
//
//	writer wwait queued readers  meaning
//	  0      0     0       0     free; Lock's CAS 0 -> writer succeeds
//	  0      0     0      >0     read-held; RLock's add enters
//	  1      0     0       0     write-held; Unlock's CAS writer -> 0 succeeds
//	  1      0     1       0     write-held, waiters queued; Unlock dispatches
//	  0      1     1      >0     read-held, a writer at the front waits for the
//	                             readers to drain; the last RUnlock dispatches
//	  0      0     1       *     transient only: the queue lock's holder is
//	                             about to dispatch
//
// A writer that dispatch or passToWriter woke to contend (waitRecheck) is
// out of the queue and has no bit: until it runs, the state is whatever
// the readers and any barging writer make it.
//
// stateWriterWait and stateQueued change only under the queue lock (mu).
// stateWriter is set by Lock's CAS from 0 (the queue is then empty), by
// dispatch under mu for a queued writer, or under mu by a writer woken to
// re-contend (waitRecheck), which may find stateQueued set by waiters that
// queued meanwhile; it is cleared by the holder. The reader count changes
// without the lock.
//
// Phantom readers. RLock is one atomic add: it adds a reader and looks at
// the bits it added to. When any of stateWriter|stateWriterWait|stateQueued
// was set, the reader was not admitted; its count is a phantom until the
// reader, now holding mu, subtracts it again. Phantoms are why the writer's
// grant (readers == 0) is always a CAS and why a reader that removes its
// phantom always dispatches: removing it may be the drain a waiting writer
// needs. sync.RWMutex's RLock is one add too (its readerCount goes negative
// while a writer is pending); a CAS loop here would cost read-heavy
// workloads a retry per collision, which is the contention the add avoids.
const (
	stateWriter      uint64 = 1 << iota // a writer holds the lock
	stateWriterWait                     // the front waiter is a writer waiting for readers to drain
	stateQueued                         // the wait queue is not empty
	stateReaderShift        = iota      // the reader count starts at this bit

	readerUnit = 1 << stateReaderShift

	// closedToReaders: with any of these set, a new reader queues.
	closedToReaders = stateWriter | stateWriterWait | stateQueued

	// minusReader added to the state removes one reader (two's complement).
	minusReader = ^uint64(readerUnit - 1)
	// countNegative is the top bit: set after an RUnlock of an unlocked
	// RWMutex took the count below zero.
	countNegative uint64 = 1 << 63
)

// Waiter kinds, stored in waitq.Waiter.Value.
const (
	waitReader int64 = iota
	waitWriter
	// waitWriterStarving is a writer that lost the race for the lock
	// after a wake-up (waitRecheck) and has been losing for longer than
	// starvationThreshold: dispatch only ever grants it the lock.
	waitWriterStarving
	// waitRecheck is what dispatch sets on a writer it wakes without
	// granting it the lock: see dispatch and passToWriter.
	waitRecheck
)

// isWriter reports whether a queued waiter's Value is a writer's.
func isWriter(v int64) bool { return v == waitWriter || v == waitWriterStarving }

// starvationThreshold bounds how long a writer woken to re-contend keeps
// losing to writers that barge in (sync.Mutex's starvation threshold, for
// the same reason): after that, the lock is handed to it. maxLosses bounds
// how many times: inside a testing/synctest bubble the clock stands still
// while goroutines run, so a writer overtaken by a goroutine that never
// blocks would never reach the threshold.
const (
	starvationThreshold = int64(time.Millisecond)
	maxLosses           = 4
)

// epoch anchors nanotime. time.Since uses the monotonic clock (one clock
// read, where time.Now reads two); inside a testing/synctest bubble, which
// has none, the bubble's fake wall clock, which starts years before epoch.
var epoch = time.Now()

// nanotime returns a positive time in nanoseconds (0 stays free to mean
// "none"); the offset keeps bubble times positive too.
func nanotime() int64 { return int64(time.Since(epoch)) + 1<<62 }

func readers(s uint64) uint64 { return s >> stateReaderShift }

// An RWMutex is a reader/writer mutual exclusion lock. The lock can be held
// by any number of readers or by a single writer. The zero value is an
// unlocked mutex.
//
// An RWMutex must not be copied after first use.
//
// Neither side starves. Waiters queue first come, first served. A writer
// that waits (in Lock or LockContext) closes the lock to new readers, so
// continuous overlapping readers cannot starve it, and when a writer
// unlocks, every reader queued before the next queued writer is admitted as
// one batch, so continuous writers cannot starve readers. One relaxation,
// the one sync.Mutex makes: when the only waiter is a writer, it is woken
// to take the lock when it runs rather than having the lock held for it
// while it wakes up, so a newcomer (often the goroutine that just unlocked)
// may get in first; a writer that loses this way more than four times, or
// for more than a millisecond, is then handed the lock. Without it,
// back-to-back writers formed a lock convoy, each of them parking on
// every Lock.
// Because a waiting writer blocks new readers, a goroutine that already
// holds a read lock must not call RLock again: if a writer queues between
// the two calls, the second RLock waits for the writer, which waits for the
// first read lock, and the goroutine deadlocks (as with sync.RWMutex).
//
// LockContext and RLockContext follow lockstep's cancellation contract: a
// done context fails the call even when the lock is free, a call that fails
// leaves the lock as if it had never been made, a grant that races with
// cancellation is kept, and a writer that gives up while queued admits the
// readers that were queued behind it (golang/go#37852 was this bug in a
// cancelable RWMutex built on x/sync's semaphore).
//
// Downgrade turns a write lock into a read lock without letting any other
// writer in between; the readers queued behind the writer are admitted with
// it.
//
// In the terminology of the Go memory model, the n'th call to Unlock
// "synchronizes before" the m'th call to Lock returns for any n < m, just as
// for sync.Mutex. For any call to RLock there exists an n such that the n'th
// Unlock (or Downgrade) synchronizes before that RLock returns, and the
// matching RUnlock synchronizes before the n+1'th Lock returns. A failed
// TryLock or TryRLock, and a LockContext or RLockContext that returns an
// error, establish no "synchronizes before" relation.
//
// Unlike sync.RWMutex, which hides its reader count from the race detector,
// readers of an RWMutex synchronize with each other through the lock's
// state word as far as -race can tell, so the race detector may miss a race
// between two readers that both write the same variable under RLock.
type RWMutex struct {
	_ noCopy

	// state is first: it is the hot word of every fast path.
	state atomic.Uint64

	mu sync.Mutex  // the queue lock: guards q and the slow-path transitions
	q  waitq.Queue // parked waiters; Value is waitReader, waitWriter or waitWriterStarving
}

// Lock locks rw for writing. If the lock is held for reading or writing, or
// other goroutines are waiting for it, Lock waits its turn.
func (rw *RWMutex) Lock() {
	// lockdep.FastFree is 0, unless package diag tracks locks: then the
	// CAS fails and lockTracked (lockdep.go) runs the hooks.
	if rw.state.CompareAndSwap(lockdep.FastFree64(), stateWriter) {
		return
	}
	rw.lockTracked()
}

// LockContext locks rw for writing like Lock, or returns an error when ctx
// ends first; errors.Is(err, ctx.Err()) holds. A ctx that is already done
// fails the call even when the lock is free. On error the lock is as if the
// call had never been made, and readers that queued behind this writer are
// admitted if they can now proceed.
func (rw *RWMutex) LockContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return waitq.Err(ctx)
	}
	if rw.state.CompareAndSwap(lockdep.FastFree64(), stateWriter) {
		return nil
	}
	return rw.lockContextTracked(ctx)
}

// TryLock tries to lock rw for writing without waiting and reports whether
// it succeeded. It does not jump the queue: it fails while other goroutines
// are queued (a lone writer woken to re-contend is not queued, and may be
// overtaken, as by Lock). It may also fail, rarely, while a concurrent
// RLock is on its way to waiting (see the phantom readers of the state
// word).
func (rw *RWMutex) TryLock() bool {
	return rw.state.CompareAndSwap(lockdep.FastFree64(), stateWriter) || rw.tryLockTracked()
}

// lockSlow queues a writer. rm is the ReadMostly lock built on rw, or nil:
// it is told, under mu, when its writer queues and when one gives up.
func (rw *RWMutex) lockSlow(ctx context.Context, rm *ReadMostly) error {
	rw.mu.Lock()
	if ctx.Err() != nil {
		rw.mu.Unlock()
		return waitq.Err(ctx)
	}
	var bo backoff.Backoff
	for {
		s := rw.state.Load()
		if s != 0 {
			break
		}
		// Free and nobody queued (stateQueued changes only under mu, which
		// we hold); the CAS fails only if a reader slipped in.
		testhook.Yield()
		if rw.state.CompareAndSwap(0, stateWriter) {
			rw.mu.Unlock()
			return nil
		}
		bo.Spin()
	}
	// Register, then let dispatch re-check: the holder may have left between
	// our load and the setting of stateQueued, without seeing it.
	abandon := rw.abandon
	if rm != nil {
		abandon = func(bool) {
			rw.abandon(false)
			rm.writerLeft()
		}
	}
	w := rw.q.Enqueue(waitWriter)
	var lostAt int64 // when this writer first lost a re-contention
	losses := 0      // re-contentions lost
	for {
		rw.state.Or(stateQueued)
		rw.dispatch()
		if rm != nil {
			rm.writerQueued() // harmless if dispatch already granted w
		}
		err := rw.q.Wait(ctx, &rw.mu, w, abandon)
		recheck := w.Value == waitRecheck
		w.Recycle()
		if err != nil {
			return err
		}
		if !recheck {
			// Handed the lock by dispatch. The handoff is counted here,
			// where the lock package diag knows is at hand.
			if rm != nil {
				lockdep.Handoff(unsafe.Pointer(rm))
			} else {
				lockdep.Handoff(unsafe.Pointer(rw))
			}
			return nil
		}
		// Woken to re-contend (waitRecheck; dispatch or passToWriter set it
		// under mu before the wake, which the wake publishes): take the
		// lock if it is free, else go back to the front of the queue,
		// ahead of anyone who queued while we were waking.
		rw.mu.Lock()
		if ctx.Err() != nil {
			rw.dispatch() // readers that queued meanwhile may now be at the front
			if rm != nil {
				rm.writerLeft()
			}
			rw.mu.Unlock()
			return waitq.Err(ctx)
		}
		for {
			s := rw.state.Load()
			if s&stateWriter != 0 || readers(s) != 0 {
				break
			}
			testhook.Yield()
			if rw.state.CompareAndSwap(s, (s|stateWriter)&^stateWriterWait) {
				rw.mu.Unlock()
				return nil
			}
			bo.Spin()
		}
		kind := waitWriter
		if losses++; losses == 1 {
			lostAt = nanotime()
		} else if losses > maxLosses || nanotime()-lostAt > starvationThreshold {
			kind = waitWriterStarving
		}
		w = rw.q.EnqueueFront(kind)
	}
}

// Unlock unlocks rw for writing. It panics if rw is not locked for writing.
//
// As with sync.RWMutex, a locked RWMutex is not associated with a particular
// goroutine: one goroutine may Lock and another Unlock.
func (rw *RWMutex) Unlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(rw), &rwMutexType, lockdep.Write)
	}
	if rw.state.CompareAndSwap(stateWriter, 0) {
		return
	}
	rw.unlockSlow("RWMutex")
}

// unlockSlow, runlockSlow and downgradeSlow take the name of the type the
// caller used, RWMutex or ReadMostly, for their misuse panics.
func (rw *RWMutex) unlockSlow(typ string) {
	var bo backoff.Backoff
	for {
		s := rw.state.Load()
		if s&stateWriter == 0 {
			panic("rwlock: Unlock of unlocked " + typ)
		}
		if s&stateQueued != 0 {
			break
		}
		// Only phantom readers besides us; nobody to hand over to.
		testhook.Yield()
		if rw.state.CompareAndSwap(s, s&^stateWriter) {
			return
		}
		bo.Spin()
	}
	rw.mu.Lock()
	// We hold the writer bit, and stateQueued (set when we loaded) is still
	// set unless waiters left; either way the state stays closed to
	// newcomers until dispatch has served the queue, or passToWriter has
	// opened it for a lone writer to re-contend.
	rw.state.Add(^(stateWriter - 1)) // subtracts stateWriter
	if !rw.passToWriter() {
		rw.dispatch()
	}
	rw.mu.Unlock()
}

// passToWriter runs under mu after a writer's Unlock, when the one waiter
// queued is a writer that is not starving: it wakes that writer to
// re-contend (waitRecheck) and opens the lock, instead of holding the lock
// for it while it wakes. The unlocking goroutine, or any other, may then
// take the lock first, as with sync.Mutex (and with sync.RWMutex, whose
// writers exclude each other with a sync.Mutex). Handing the lock to a
// parked writer made a lock convoy of back-to-back writers: each of them
// parked on every Lock, because the lock it came back for was already
// promised to a goroutine that was still waking up.
//
// The woken writer requeues at the front if it loses, and after losing for
// starvationThreshold it is granted the lock (waitWriterStarving), so a
// stream of barging writers delays it by about that much at most.
func (rw *RWMutex) passToWriter() bool {
	front := rw.q.Front()
	if front == nil || front.Value != waitWriter || rw.q.Len() != 1 {
		return false
	}
	var bo backoff.Backoff
	for {
		s := rw.state.Load()
		if s&stateWriter != 0 {
			return false // cannot happen: the unlocking writer still counted on mu
		}
		testhook.Yield()
		if rw.state.CompareAndSwap(s, s&^(stateQueued|stateWriterWait)) {
			break
		}
		bo.Spin() // phantom readers moved the count
	}
	front.Value = waitRecheck
	rw.q.Wake(front)
	return true
}

// RLock locks rw for reading. It waits while a writer holds the lock or is
// queued; see the type's documentation on recursive read locking.
func (rw *RWMutex) RLock() {
	if lockdep.Enabled {
		rw.rlockTracked(rw.state.Add(readerUnit)) // debug build: lockdep.go
		return
	}
	// One atomic add, as sync.RWMutex's RLock, and inlined as it is: the
	// add and the load are sync/atomic's functions on the bare words, not
	// atomic.Uint64's methods and lockdep.FastFree64, whose inlined calls
	// cost 8 more towards the inlining budget, and RLock had 6 too many
	// (not inlined, it took 5.6 ns a read where sync.RWMutex takes 4.3).
	// The assertion below keeps the cast sound. lockdep's word is 0,
	// unless package diag tracks locks: then every RLock takes
	// rlockTracked (lockdep.go).
	if s := atomic.AddUint64((*uint64)(unsafe.Pointer(&rw.state)), readerUnit); s&(closedToReaders|atomic.LoadUint64(&lockdep.FastFreeWord64)) != 0 {
		rw.rlockTracked(s)
	}
}

// RLock reads rw.state as a bare uint64. That is sound while atomic.Uint64
// is a single uint64 behind zero-size fields (its noCopy and alignment
// markers), at offset 0: these two array lengths are negative, and the
// package does not compile, if its size is ever anything but 8.
var (
	_ [unsafe.Sizeof(atomic.Uint64{}) - 8]byte
	_ [8 - unsafe.Sizeof(atomic.Uint64{})]byte
)

// RLockContext locks rw for reading like RLock, or returns an error when ctx
// ends first; errors.Is(err, ctx.Err()) holds. A ctx that is already done
// fails the call even when the lock could be taken. On error the lock is as
// if the call had never been made.
func (rw *RWMutex) RLockContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return waitq.Err(ctx)
	}
	if lockdep.Active() {
		return rw.rlockContextTracked(ctx)
	}
	if rw.state.Add(readerUnit)&closedToReaders == 0 {
		return nil
	}
	return rw.rlockSlow(ctx, unsafe.Pointer(rw))
}

// TryRLock tries to lock rw for reading without waiting and reports whether
// it succeeded. It fails while a writer holds the lock or anyone waits.
func (rw *RWMutex) TryRLock() bool {
	if rw.tryRLock() {
		if lockdep.Active() {
			lockdep.TryAcquired(unsafe.Pointer(rw), &rwMutexType, lockdep.Read)
		}
		return true
	}
	return false
}

func (rw *RWMutex) tryRLock() bool {
	var bo backoff.Backoff
	for {
		s := rw.state.Load()
		if s&closedToReaders != 0 {
			return false
		}
		testhook.Yield()
		if rw.state.CompareAndSwap(s, s+readerUnit) {
			return true
		}
		bo.Spin() // another reader moved the count; it is running
	}
}

// rlockSlow runs after RLock's add found the lock closed to readers: the
// reader's count is a phantom to remove. owner is the lock package diag
// knows (rw, or the ReadMostly built on it), for the handoff count.
func (rw *RWMutex) rlockSlow(ctx context.Context, owner unsafe.Pointer) error {
	rw.mu.Lock()
	rw.state.Add(minusReader)
	if ctx.Err() != nil {
		rw.dispatch() // removing the phantom may have drained the readers
		rw.mu.Unlock()
		return waitq.Err(ctx)
	}
	var bo backoff.Backoff
	for {
		s := rw.state.Load()
		if s&closedToReaders != 0 {
			break
		}
		// Opened again before we took mu (the writer left, the queue
		// emptied): enter. The CAS fails only when readers move the count.
		testhook.Yield()
		if rw.state.CompareAndSwap(s, s+readerUnit) {
			rw.mu.Unlock()
			return nil
		}
		bo.Spin()
	}
	w := rw.q.Enqueue(waitReader)
	rw.state.Or(stateQueued)
	rw.dispatch() // also hands a drained lock to a waiting writer
	err := rw.q.Wait(ctx, &rw.mu, w, rw.abandon)
	w.Recycle()
	if err != nil {
		return err
	}
	lockdep.Handoff(owner) // a reader is woken only when admitted
	return nil
}

// RUnlock undoes a single RLock call; it does not affect other readers. It
// panics if rw is not locked for reading.
func (rw *RWMutex) RUnlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(rw), &rwMutexType, lockdep.Read)
	}
	s := rw.state.Add(minusReader)
	if s&(stateWriterWait|countNegative) != 0 {
		rw.runlockSlow(s, "RWMutex")
	}
}

func (rw *RWMutex) runlockSlow(s uint64, typ string) {
	if s&countNegative != 0 { // the count went below zero
		// Until the count is restored, a writer that queues reads it as
		// readers inside: it sets stateWriterWait and waits for the last
		// reader out to dispatch. Restoring the count makes us that
		// reader, so dispatch as one would, or the writer stays parked on
		// a free lock.
		testhook.Yield()
		if s = rw.state.Add(readerUnit); s&stateWriterWait != 0 && readers(s) == 0 {
			rw.mu.Lock()
			rw.dispatch()
			rw.mu.Unlock()
		}
		panic("rwlock: RUnlock of unlocked " + typ)
	}
	if readers(s) != 0 {
		return // not the last reader out
	}
	// The last reader out hands the lock to the writer waiting at the front.
	rw.mu.Lock()
	rw.dispatch()
	rw.mu.Unlock()
}

// Downgrade atomically turns rw's write lock into a read lock: no writer can
// take the lock in between. Readers queued before the next queued writer are
// admitted together with the caller. The caller then holds a read lock and
// releases it with RUnlock. Downgrade panics if rw is not locked for writing.
//
// The Unlock-to-Lock ordering of the type's memory-model statement applies
// to Downgrade as to Unlock: Downgrade synchronizes before the RLocks it
// admits return.
func (rw *RWMutex) Downgrade() {
	if lockdep.Enabled {
		lockdep.Downgrade(unsafe.Pointer(rw))
	}
	if rw.state.CompareAndSwap(stateWriter, readerUnit) {
		return
	}
	rw.downgradeSlow("RWMutex")
}

func (rw *RWMutex) downgradeSlow(typ string) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	var bo backoff.Backoff
	for {
		s := rw.state.Load()
		if s&stateWriter == 0 {
			panic("rwlock: Downgrade of unlocked " + typ)
		}
		testhook.Yield()
		if rw.state.CompareAndSwap(s, s-stateWriter+readerUnit) {
			break
		}
		bo.Spin() // phantom readers moved the count
	}
	// Still closed to newcomers (stateQueued) if anyone waits; dispatch
	// admits the readers at the front and makes a writer behind them wait.
	rw.dispatch()
}

// RLocker returns a sync.Locker whose Lock and Unlock call rw.RLock and
// rw.RUnlock.
func (rw *RWMutex) RLocker() sync.Locker { return (*rlocker)(rw) }

type rlocker RWMutex

func (r *rlocker) Lock()   { (*RWMutex)(r).RLock() }
func (r *rlocker) Unlock() { (*RWMutex)(r).RUnlock() }

// abandon runs under mu when a queued waiter's ctx ended and it left the
// queue (waitq.Queue.Wait). Whatever it was, the waiters behind it may now
// proceed: a writer that gave up at the front re-admits the readers behind
// it (rule 4 of the cancellation contract), and the queue bits must follow
// the queue.
func (rw *RWMutex) abandon(bool) {
	if onAbandon != nil {
		onAbandon()
	}
	rw.dispatch()
}

// onAbandon is nil except in tests, which count how many waiters gave up
// while queued (set before any goroutine uses a lock; see export_test.go).
var onAbandon func()

// dispatch grants the lock to the waiters at the front of the queue that
// can have it now and brings stateWriterWait and stateQueued in line with
// the queue. It is the only place that grants to queued waiters. It runs
// under mu, any number of times (it is idempotent), after every change that
// may let a waiter proceed: an unlock with waiters, the last reader out of a
// drain, a waiter leaving, a newcomer registering.
//
// Every update is one CAS on the whole state word computed from a fresh
// load, because the reader count moves without mu (readers leaving, phantom
// readers arriving); so there is never an intermediate state in which the
// lock looks open to newcomers while the queue still has a waiter that
// should go first.
func (rw *RWMutex) dispatch() {
	var bo backoff.Backoff
	for ; ; bo.Spin() {
		s := rw.state.Load()
		front := rw.q.Front()
		if front == nil {
			next := s &^ (stateQueued | stateWriterWait)
			testhook.Yield()
			if next == s || rw.state.CompareAndSwap(s, next) {
				return
			}
			continue
		}
		if s&stateWriter != 0 {
			return // the writer's Unlock or Downgrade dispatches again
		}
		if isWriter(front.Value) {
			if readers(s) != 0 {
				if s&stateWriterWait != 0 {
					return // the last reader out dispatches again
				}
				// Close the lock to new readers, then look again: the
				// readers may all have left before they could see the bit.
				rw.state.CompareAndSwap(s, s|stateWriterWait)
				continue
			}
			next := (s | stateWriter) &^ stateWriterWait
			if rw.q.Len() == 1 {
				next &^= stateQueued
			}
			testhook.Yield()
			if rw.state.CompareAndSwap(s, next) {
				rw.q.Wake(front)
				return
			}
			continue // a phantom reader arrived: it will dispatch when it leaves
		}
		// A batch of readers at the front: admit all of them up to the next
		// writer, who then waits for the batch to drain.
		//
		// Except when that writer is the last waiter: then it is woken to
		// re-contend (waitRecheck) and the lock stays open meanwhile. A
		// writer that waits for readers closes the lock to new ones, and a
		// writer still parked cannot use the lock; closing it for the whole
		// of the writer's wake-up made readers that arrived meanwhile park
		// too, about ten times as many reader parks as sync.RWMutex under
		// contention (block profile of BenchmarkParallel/reads=90, -cpu 8).
		// sync.RWMutex's writer likewise announces itself only once it
		// runs. The woken writer puts itself back at the front, so it is
		// not overtaken by a queued waiter; a newcomer may enter before it
		// runs, once per wake-up, which bounds the delay.
		n := 0
		var last *waitq.Waiter
		for w := front; w != nil && w.Value == waitReader; w = w.Next() {
			n++
			last = w
		}
		recheck := last.Next()
		next := (s + uint64(n)*readerUnit) &^ (stateQueued | stateWriterWait)
		if n+1 < rw.q.Len() || (recheck != nil && recheck.Value == waitWriterStarving) {
			next |= stateQueued | stateWriterWait
			recheck = nil
		}
		testhook.Yield()
		if rw.state.CompareAndSwap(s, next) {
			for range n {
				rw.q.Wake(rw.q.Front())
			}
			if recheck != nil {
				recheck.Value = waitRecheck
				rw.q.Wake(recheck)
			}
			return
		}
	}
}

// noCopy may be added to structs which must not be copied after first use.
// Its Lock and Unlock are no-ops used by the -copylocks checker of go vet.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// writerWaitingBehind reports whether a writer is queued. It runs under mu.
func (rw *RWMutex) writerWaitingBehind() bool {
	for w := rw.q.Front(); w != nil; w = w.Next() {
		if isWriter(w.Value) {
			return true
		}
	}
	return false
}

// writerWaiting reports whether a writer holds the lock or is queued. It
// runs under mu, where queueing is serialized; a writer can still take a
// free lock by Lock's CAS meanwhile, which ReadMostly's writerLeft allows
// for.
func (rw *RWMutex) writerWaiting() bool {
	return rw.state.Load()&stateWriter != 0 || rw.writerWaitingBehind()
}
