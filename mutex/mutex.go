package mutex

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// A Mutex is a mutual exclusion lock, a drop-in for sync.Mutex that can also
// give up waiting when a context ends ([Mutex.LockContext]).
//
// It barges for throughput: an unlocked Mutex goes to whichever goroutine
// asks first, even when others are parked, because handing the lock to a
// parked goroutine costs a wake-up (about 100-150 ns) that a running
// goroutine does not. It is eventually fair: once the longest waiter has
// waited more than about 1 ms, an Unlock hands ownership directly to it
// (further such handoffs follow at most every 0.5 ms, so that fairness does
// not cost the throughput of a convoy), and a woken waiter that has waited
// that long and still loses the race switches the Mutex to starvation mode,
// in which every Unlock hands off and newcomers queue behind the waiters.
// No waiter starves. Use [Fair] when every acquisition must be first come,
// first served.
//
// The zero value for a Mutex is an unlocked mutex.
//
// A Mutex must not be copied after first use.
//
// In the terminology of the Go memory model, the n'th call to
// [Mutex.Unlock] "synchronizes before" the m'th call to [Mutex.Lock] (or a
// successful [Mutex.LockContext] or [Mutex.TryLock]) returns, for any
// n < m. A failed call to TryLock, and a call to LockContext that returns
// an error, does not establish any "synchronizes before" relation.
//
// A locked Mutex is not associated with a particular goroutine: one
// goroutine may lock it and arrange for another to unlock it.
type Mutex struct {
	_ noCopy

	// state is first because it is the only field the fast paths touch.
	state atomic.Int32

	// ticks counts slow-path Unlocks, to sample the fair-unlock check. It
	// is written only by the goroutine holding the mutex, before it lets
	// go, so the mutex itself orders the writes. It fills the hole before
	// q's 8-byte alignment.
	ticks uint32

	// qmu, the queue lock, guards q and every change of the waiter count
	// and of mutexStarving in state (see the state table). Waiters register
	// (count up, enqueue) and wakers pick (count down, wake) under it, so
	// under qmu the waiter count equals q.Len().
	qmu sync.Mutex
	q   waitq.Queue // parked waiters, oldest first

	// fairAt is when the next fair unlock is due (0: q is empty): the
	// front waiter's park time plus starvationThreshold, but no sooner
	// than fairInterval after the last fair unlock. Written under qmu
	// after every change of the front; Unlock reads it without qmu.
	fairAt atomic.Int64
}

// The state word, after Go's internal/sync/mutex.go (the "Mutex fairness"
// essay there) and parking_lot's raw_mutex.rs (Amanieu/parking_lot,
// src/raw_mutex.rs: the LOCKED_BIT/PARKED_BIT state table).
//
// Bits, low to high: locked, woken, starving, then the count of parked
// waiters (bits 3..31).
//
//	starving woken locked waiters  meaning
//	   0       0     0      0      unlocked, idle: the only state Lock's fast path takes
//	   0       0     1      0      locked, nobody waiting: the only state Unlock's fast path releases
//	   0       0     1      n      locked, n parked: Unlock will wake the front waiter
//	   0       1     1      n      locked, and one goroutine is awake and competing (a
//	                               woken waiter or a spinner): Unlock wakes nobody
//	   0       1     0      n      unlocked; the awake goroutine, or a barging newcomer,
//	                               will take it
//	   1       x     1     n>0     starvation mode: Unlock hands ownership to the front
//	                               waiter without unlocking; newcomers queue at the back
//
// Invariants:
//   - unlocked with waiters implies woken: whoever unlocks with waiters and
//     no woken goroutine sets woken and wakes one (wakeOne), so a parked
//     waiter is never stranded behind a free lock;
//   - mutexWoken has exactly one owner while set, the goroutine that set
//     it; the owner clears it when it takes the lock or parks, and passes it
//     on (passWoken) when it gives up;
//   - starving implies locked and at least one waiter; it is set and
//     cleared only under qmu. (A spinner may still own woken when
//     starvation mode begins; it stops spinning and parks.)
//
// Two mechanisms keep waiters from starving. Starvation mode is entered
// when a woken waiter that has waited more than starvationThreshold loses
// the lock to a barger and requeues (sync.Mutex's way). And an Unlock that
// finds the front waiter parked that long hands the lock to it (a fair
// unlock, parking_lot's way), at most once per fairInterval; without it,
// spinners owning woken could keep every Unlock from waking anyone, so that
// no parked waiter would ever find out it starves.
const (
	// mutexLocked: the mutex is held.
	mutexLocked int32 = 1 << iota
	// mutexWoken: a goroutine is awake and competing for the lock (it was
	// woken by Unlock, or it is spinning), so Unlock need not wake another.
	mutexWoken
	// mutexStarving: ownership passes directly from Unlock to the front
	// waiter; newcomers neither barge nor spin.
	mutexStarving
	// mutexWaiterShift: the waiter count is state >> mutexWaiterShift.
	mutexWaiterShift = iota

	mutexWaiter int32 = 1 << mutexWaiterShift

	// starvationThreshold: a waiter that has waited longer than this, and
	// lost the lock to a barging newcomer after being woken, switches the
	// mutex to starvation mode. A handoff to a waiter that waited less than
	// this, or to the last waiter, switches it back. 1 ms, as sync.Mutex's
	// starvationThresholdNs: long enough that normal mode's throughput wins
	// on ordinary contention, short enough to bound the tail.
	starvationThreshold = int64(time.Millisecond)

	// handoff is what Unlock writes into a waiter's Value (otherwise its
	// park time) when it hands the lock over instead of only waking it.
	handoff = -1 << 63
)

// Lock locks m. If the lock is already in use, the calling goroutine spins
// briefly (a few rounds of spin-wait hints, and only when GOMAXPROCS and
// the machine's processor count are both above one; unlike sync.Mutex it
// cannot see whether the holder is running) and then parks until the
// mutex is available.
func (m *Mutex) Lock() {
	// Fast path: grab an idle mutex. One CAS; inlined. (lockdep.FastFree
	// is 0, unless package diag tracks locks: see lockdep.go.)
	if m.state.CompareAndSwap(lockdep.FastFreeInt32(), mutexLocked) {
		return
	}
	// Slow path, outlined so that the fast path can be inlined.
	m.lockTracked()
}

// LockContext locks m, or returns an error when ctx ends first.
//
// If ctx is already done, LockContext fails even when m is unlocked (use
// [Mutex.TryLock] to lock without waiting). On failure the error satisfies
// errors.Is(err, ctx.Err()) (and errors.Is(err, context.Cause(ctx)) when a
// cause was given), and m is as if LockContext had never been called. A
// handoff of the lock that races with the end of ctx is kept: LockContext
// then returns nil and the caller holds the lock. A waiter that was woken,
// and whose ctx ended before it could take the lock, passes the wake-up to
// the next waiter, so nobody is stranded.
func (m *Mutex) LockContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return waitq.Err(ctx)
	}
	if m.state.CompareAndSwap(lockdep.FastFreeInt32(), mutexLocked) {
		return nil
	}
	return m.lockContextTracked(ctx)
}

// TryLock tries to lock m and reports whether it succeeded. It fails only
// if m was locked at some moment during the call (unlike sync.Mutex's,
// which can also fail when a waiter registers concurrently), and in
// starvation mode, where the lock is already promised to a parked waiter.
//
// Note that while correct uses of TryLock do exist, they are rare, and use
// of TryLock is often a sign of a deeper problem in a particular use of
// mutexes.
func (m *Mutex) TryLock() bool {
	old := m.state.Load()
	if old&mutexLocked != 0 { // includes mutexStarving
		return false
	}
	testhook.Yield() // racy window: between the load and the CAS
	// old|lockdep.FastFree is old, unless package diag tracks locks: then
	// the CAS fails and tryLockSlow runs the hook.
	if m.state.CompareAndSwap(old|lockdep.FastFreeInt32(), old|mutexLocked) {
		return true
	}
	return m.tryLockSlow()
}

// tryLockSlow retries TryLock's CAS. A failure means another bit moved (a
// waiter registered, a woken goroutine came or went) or the lock was taken;
// the next load tells which. Outlined to keep TryLock small (TryLock does
// not inline even so: cost 103 against the inliner's 80).
func (m *Mutex) tryLockSlow() bool {
	for {
		old := m.state.Load()
		if old&mutexLocked != 0 {
			return false
		}
		testhook.Yield()
		if m.state.CompareAndSwap(old, old|mutexLocked) {
			lockdep.TryAcquired(unsafe.Pointer(m), &mutexType, lockdep.Write)
			return true
		}
	}
}

// Unlock unlocks m. It panics with "mutex: unlock of unlocked mutex" if m
// is not locked on entry, and leaves m unchanged then.
func (m *Mutex) Unlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(m), &mutexType, lockdep.Write)
	}
	// Fast path: locked with nobody waiting or awake. One CAS, not an Add:
	// a failed CAS leaves the state untouched, so the slow path can detect
	// an unlock of an unlocked mutex and panic with the state intact, and
	// in starvation mode ownership passes without the lock ever being
	// free.
	if m.state.CompareAndSwap(mutexLocked, 0) {
		return
	}
	m.unlockSlow()
}

func (m *Mutex) lockSlow(ctx context.Context) error {
	var (
		waitStart int64 // when this goroutine first parked; 0: not yet
		awoke     bool  // this goroutine owns mutexWoken
		spins     int
	)
	for {
		old := m.state.Load()
		if awoke && old&mutexWoken == 0 {
			panic("mutex: inconsistent mutex state")
		}
		if old&(mutexLocked|mutexStarving) == 0 {
			// Unlocked and in normal mode: barge.
			new := old | mutexLocked
			if awoke {
				new &^= mutexWoken
			}
			testhook.Yield() // racy window: between the load and the CAS
			if m.state.CompareAndSwap(old, new) {
				return nil
			}
			continue
		}
		if old&mutexStarving == 0 && spins < maxSpins && spinPays() {
			// Locked by a goroutine that is likely running: spin. Claim
			// mutexWoken if nobody has, so that Unlock does not wake a
			// parked waiter only for it to lose to us.
			if !awoke && old&mutexWoken == 0 && old>>mutexWaiterShift != 0 &&
				m.state.CompareAndSwap(old, old|mutexWoken) {
				awoke = true
			}
			backoff.Pause(spinPause)
			spins++
			continue
		}

		// Park. A done ctx gives up here, before registering.
		if ctx != nil && ctx.Err() != nil {
			if awoke {
				// racy window: the lock, held at our load, may be
				// released now by an Unlock that wakes nobody, since it
				// saw mutexWoken, which we still own
				testhook.Yield()
				m.passWoken()
			}
			return waitq.Err(ctx)
		}
		// Read the clock and, now and then, GOMAXPROCS before taking the
		// queue lock, not under it.
		now := nanotime()
		starving := waitStart != 0 && now-waitStart > starvationThreshold
		refreshSpin(now)
		lockQueue(&m.qmu)
		if !m.register(awoke, starving) {
			// Unlocked meanwhile: compete again, still owning
			// mutexWoken if we did.
			m.qmu.Unlock()
			continue
		}
		awoke = false
		var w *waitq.Waiter
		if waitStart == 0 {
			waitStart = now
			w = m.q.Enqueue(waitStart)
		} else {
			// A woken waiter that lost the race keeps its place at the
			// front, as sync.Mutex's queueLifo does.
			w = m.q.EnqueueFront(waitStart)
		}
		if m.q.Front() == w {
			m.noteFront()
		}
		if ctx == nil || ctx.Done() == nil {
			m.q.WaitNoCtx(&m.qmu, w)
		} else if err := m.q.Wait(ctx, &m.qmu, w, m.abandon); err != nil {
			w.Recycle()
			return err
		}
		// Woken. The waker wrote Value under qmu before the wake, which
		// synchronizes before Wait's return, and nobody writes it after:
		// this read without qmu is ordered after that write.
		handed := w.Value == handoff
		w.Recycle()
		if handed {
			return nil // the lock is ours: Unlock did not release it
		}
		// A normal wake: we own mutexWoken and compete with newcomers.
		awoke = true
		spins = 0
	}
}

// register counts the caller as a parked waiter, releasing mutexWoken if it
// owns it and setting mutexStarving if it is starving, in one CAS that
// requires the mutex to be locked (a goroutine must never park behind a free
// lock). It reports false if the mutex was unlocked. Called with qmu held.
func (m *Mutex) register(awoke, starving bool) bool {
	for {
		old := m.state.Load()
		if old&mutexLocked == 0 {
			return false
		}
		new := old + mutexWaiter
		if awoke {
			new &^= mutexWoken
		}
		if starving {
			// Sound only because the mutex is locked: the holder's
			// Unlock will see mutexStarving and hand off to us (we are
			// about to queue at the front).
			new |= mutexStarving
		}
		testhook.Yield()
		if m.state.CompareAndSwap(old, new) {
			return true
		}
	}
}

// abandon is the waitq abandon callback: a parked waiter whose ctx ended has
// been unlinked. Called with qmu held.
//
// Nobody behind it needs waking (rule 4 of the cancellation contract): in
// normal mode a free lock with waiters always has a woken goroutine
// competing for it, and in starvation mode the holder's Unlock hands the
// lock to the new front. Only the count must go, and starvation mode when
// it no longer has a reason: with the last waiter, which it needs to hand
// to, or with the front waiter, the starving one it was set for (a
// starving waiter requeues at the front), unless the new front has waited
// past the threshold too, the rule handoff applies. (Keeping the mode
// after a starving waiter gave up made the next Unlock hand the lock to a
// waiter that had waited microseconds. Found by an adversarial review,
// 2026-12-06.)
func (m *Mutex) abandon(wasFront bool) {
	endStarving := false
	if wasFront {
		m.noteFront()
		if f := m.q.Front(); f == nil || nanotime()-f.Value < starvationThreshold {
			endStarving = true
		}
	}
	for {
		old := m.state.Load()
		new := old - mutexWaiter
		if new>>mutexWaiterShift == 0 || endStarving {
			new &^= mutexStarving
		}
		if m.state.CompareAndSwap(old, new) {
			return
		}
	}
}

// passWoken releases mutexWoken, owned by a goroutine that gives up without
// the lock. If the lock is free and others wait, clearing the bit could
// strand them (an Unlock that saw it set woke nobody), so the role passes to
// the front waiter instead.
func (m *Mutex) passWoken() {
	for {
		old := m.state.Load()
		if old&mutexWoken == 0 {
			panic("mutex: inconsistent mutex state")
		}
		if old&mutexLocked == 0 && old>>mutexWaiterShift != 0 {
			m.wakeOne()
			return
		}
		if m.state.CompareAndSwap(old, old&^mutexWoken) {
			return
		}
	}
}

// wakeOne wakes the front waiter on behalf of the caller, who owns
// mutexWoken; the woken waiter owns it from then on. If every waiter has
// given up meanwhile, it clears mutexWoken instead: with no waiter under
// qmu, nobody can be stranded. It also clears it, waking nobody, if the
// mutex entered starvation mode since the caller decided to wake (an Unlock
// handed the lock to a starving waiter): the holder's Unlock hands the lock
// to the front waiter, and a plain wake now would take a waiter out of the
// queue that starvation mode counts on.
func (m *Mutex) wakeOne() {
	lockQueue(&m.qmu)
	// mutexStarving changes only under qmu, so it is stable here.
	if w := m.q.Front(); w != nil && m.state.Load()&mutexStarving == 0 {
		m.state.Add(-mutexWaiter)
		m.q.Wake(w)
		m.noteFront()
	} else {
		for {
			old := m.state.Load()
			if m.state.CompareAndSwap(old, old&^mutexWoken) {
				break
			}
		}
	}
	m.qmu.Unlock()
}

func (m *Mutex) unlockSlow() {
	for {
		old := m.state.Load()
		if old&mutexLocked == 0 {
			panic("mutex: unlock of unlocked mutex")
		}
		if old&mutexStarving != 0 {
			if m.handoff(nanotime()) {
				return
			}
			continue // the last waiter left meanwhile: normal mode
		}
		if old>>mutexWaiterShift != 0 {
			// Eventual fairness, as parking_lot's fair unlock
			// (src/raw_mutex.rs, unlock_slow; "be_fair", with its
			// FairTimeout): if the front waiter has been parked longer
			// than the threshold, hand the lock to it now, at most once
			// per fairInterval. Without this check, goroutines that spin
			// and claim mutexWoken could keep every Unlock from waking
			// anyone, and a parked waiter would never get the chance to
			// notice it starves (sync.Mutex avoids that by spinning only
			// when the runtime sees an idle run queue, which is not
			// visible outside the runtime).
			//
			// Reading the clock costs about as much as the rest of a
			// contended Unlock, so it is read whenever this Unlock is
			// about to wake a waiter anyway (mutexWoken clear), and
			// otherwise on one slow Unlock in fairSample: enough to
			// notice a 1 ms deadline among Unlocks that come
			// microseconds apart.
			m.ticks++
			if at := m.fairAt.Load(); at != 0 && (old&mutexWoken == 0 || m.ticks%fairSample == 0) {
				if now := nanotime(); now > at && m.handoff(now) {
					return
				}
			}
		}
		// Normal mode: release, and if waiters are parked and nobody is
		// awake to take the lock, claim mutexWoken in the same CAS and
		// wake one.
		new := old &^ mutexLocked
		wake := old>>mutexWaiterShift != 0 && old&mutexWoken == 0
		if wake {
			new |= mutexWoken
		}
		testhook.Yield() // racy window: between the load and the CAS
		if m.state.CompareAndSwap(old, new) {
			if wake {
				m.wakeOne()
			}
			return
		}
	}
}

// handoff passes ownership to the front waiter: the mutex stays locked, the
// waiter count drops by one, and the waiter wakes holding the lock.
//
// In starvation mode it always does so, and leaves starvation mode when the
// waiter handed the lock is the last one or waited less than
// starvationThreshold (sync.Mutex's rule: starvation mode is so slow that
// two goroutines could otherwise stay in it in lock step). In normal mode it
// does so only when a fair unlock is due (fairAt has passed), and stays in
// normal mode: one fair unlock hands the lock to one starving waiter, and
// the next is due no sooner than fairInterval later, which bounds what
// fairness costs in throughput when many goroutines wait long (parking_lot
// bounds it the same way, with a fair unlock every 0.5 ms on average).
//
// It reports false, changing nothing, when there is nothing to hand off:
// the caller then unlocks normally.
func (m *Mutex) handoff(now int64) bool {
	lockQueue(&m.qmu)
	defer m.qmu.Unlock()
	for {
		old := m.state.Load()
		w := m.q.Front()
		if w == nil {
			// Every waiter left meanwhile (abandon cleared
			// mutexStarving with the last one).
			if old&mutexStarving != 0 {
				panic("mutex: inconsistent mutex state")
			}
			return false
		}
		starving := old&mutexStarving != 0
		if !starving && now <= m.fairAt.Load() {
			return false
		}
		new := old - mutexWaiter // stays locked: ownership passes
		if starving && (m.q.Len() == 1 || now-w.Value < starvationThreshold) {
			new &^= mutexStarving
		}
		if m.state.CompareAndSwap(old, new) {
			w.Value = handoff
			lockdep.Handoff(unsafe.Pointer(m))
			m.q.Wake(w)
			m.noteFront()
			if !starving {
				if at := m.fairAt.Load(); at != 0 && at < now+fairInterval {
					m.fairAt.Store(now + fairInterval)
				}
			}
			return true
		}
	}
}

// noteFront recomputes m.fairAt after a change of the front of q. Called
// under qmu. While q stays non-empty fairAt never moves earlier, so that a
// waiter requeued at the front cannot undo the spacing of fair unlocks.
func (m *Mutex) noteFront() {
	w := m.q.Front()
	if w == nil {
		m.fairAt.Store(0)
		return
	}
	at := w.Value + starvationThreshold
	if cur := m.fairAt.Load(); cur > at {
		at = cur
	}
	m.fairAt.Store(at)
}

// Spinning.
//
// The runtime spins for sync.Mutex at most 4 times 30 PAUSE instructions
// (procyield), and only on a multicore machine with GOMAXPROCS > 1, another
// running P and an empty local run queue (runtime.sync_runtime_canSpin).
// Only the first two conditions are visible outside the runtime. The spin
// itself is the same: maxSpins rounds of backoff.Pause(spinPause), the
// runtime's own instruction, so it lasts as long as sync.Mutex's on every
// processor (about 0.8 µs a round on the AMD EPYC CI machine, where a PAUSE
// takes 27 ns). An earlier spin of growing backoff.Relax rounds, calibrated
// as "about the same couple of microseconds", lasted 0.5 µs in all there
// and looked at the lock word six times as often: a waiter that looks
// often takes the lock's cache line from the holder, and the holder's
// re-lock from its own cache is what makes a barging lock fast.
// BenchmarkMutex/case=contended/work=0 at -cpu 2 went from 51 to 16 ns
// (sync.Mutex 12 ns; 8 interleaved runs, p=0.002).
const (
	maxSpins  = 4
	spinPause = 30
)

// fairInterval is the least time between two fair unlocks in normal mode.
// fairSample: an Unlock that will wake nobody reads the clock to look for a
// due fair unlock once in fairSample times.
const (
	fairInterval = int64(500 * time.Microsecond)
	fairSample   = 16
)

// spinMulti caches whether spinning can pay: more than one CPU and
// GOMAXPROCS > 1. runtime.GOMAXPROCS takes the scheduler lock, so it is
// read at most every spinRefresh, by a goroutine that is parking anyway.
var (
	spinMulti     atomic.Bool
	spinCheckedAt atomic.Int64
)

const spinRefresh = int64(10 * time.Millisecond)

func init() { refreshSpin(nanotime()) }

func spinPays() bool { return spinMulti.Load() }

func refreshSpin(now int64) {
	if last := spinCheckedAt.Load(); now-last < spinRefresh && now >= last {
		return
	}
	spinCheckedAt.Store(now)
	spinMulti.Store(runtime.NumCPU() > 1 && runtime.GOMAXPROCS(0) > 1)
}

// epoch anchors nanotime. time.Since uses the monotonic clock; inside a
// testing/synctest bubble, which has no monotonic clock, it uses the
// bubble's fake wall clock, which starts years before epoch.
var epoch = time.Now()

// nanotime returns a positive time in nanoseconds (0 stays free to mean
// "none"). The offset keeps bubble times positive too.
func nanotime() int64 {
	return int64(time.Since(epoch)) + 1<<62
}

// noCopy may be added to structs which must not be copied after first use.
// Its Lock and Unlock are no-ops used by the -copylocks checker of go vet;
// it must be a named field (_ noCopy), not embedded, so that the methods
// are not promoted. See sync/cond.go.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// lockQueue takes a queue lock. Its critical sections are a few pointer
// writes, so a short spin on TryLock nearly always gets it; sync.Mutex's own
// spin gives up whenever the caller's run queue is not empty, which in a
// handoff convoy it rarely is (the goroutine just handed the lock sits
// there), and would park instead, which costs a goroutine switch.
func lockQueue(mu *sync.Mutex) {
	if spinPays() {
		for i := range qspins {
			if mu.TryLock() {
				return
			}
			backoff.Relax(8 << i)
		}
	}
	mu.Lock()
}

const qspins = 5
