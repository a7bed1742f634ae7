package semaphore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// ErrTooLarge is returned by [Weighted.Acquire] for a weight larger than the
// semaphore's capacity: such a call could never succeed, so it fails at once
// instead of waiting for its ctx to end. A waiter that a [Weighted.Resize]
// leaves too large for the new capacity fails with it too.
var ErrTooLarge = errors.New("semaphore: weight exceeds the capacity")

// MaxCapacity is the largest capacity a Weighted can have, 2^61-1. [New] and
// [Weighted.Resize] treat a larger n (math.MaxInt64, say, for "as good as
// unbounded") as MaxCapacity. The permits share one 64-bit word with two
// flag bits (see the state table in semaphore.go), and a shrinking Resize
// can make the available count as low as -MaxCapacity.
const MaxCapacity = 1<<61 - 1

// The state word.
//
// Every fast path works on one atomic int64: the permits available, a signed
// number (negative after Resize shrinks the capacity below what is held),
// shifted left by permitShift, and two flags below it.
//
//	waiters locked  meaning                                     who changes the word
//	   0       0    nobody queued, no slow path under way       anyone, by CAS
//	   1       0    waiters queued: all calls go through mu,    only mu's holder
//	                TryAcquire fails at once (no barging)
//	   x       1    mu's holder is changing the state           only mu's holder; its
//	                                                            publishing Store clears it
//
// Every fast-path CAS expects both flags clear, so while either is set the
// word belongs to whoever holds mu. A slow path therefore runs as: lock mu,
// freeze (set locked and read the permits), decide on plain integers, publish
// (one Store of the new permits and the waiters flag, which clears locked),
// and only then wake the waiters it granted, so nothing a caller can see
// happens before the publish that is the operation's linearization point.
const (
	// waitersFlag is set while the wait queue is not empty. It is written
	// only under mu, by publish, and is what keeps the fast paths from
	// barging past a queued waiter.
	waitersFlag int64 = 1 << iota
	// lockedFlag is set by freeze, under mu, while mu's holder decides; it
	// makes every fast-path CAS fail, so the holder's decision cannot be
	// invalidated under it. publish clears it.
	lockedFlag

	// permitShift is where the signed permit count starts.
	permitShift = iota

	flagMask = waitersFlag | lockedFlag
)

// casRetries bounds how often Acquire's and Release's slow paths retry a
// CAS that failed only because another fast path changed the word, before
// they take mu. They back off first (lostRace), and yield the processor
// after each retry that fails again.
const casRetries = 8

// lostRacePauses is sync.Mutex's spin before it parks: 4 rounds of 30
// spin-wait hints (runtime_canSpin and procyield in the runtime), about
// 3 µs on the AMD EPYC CI machine.
const lostRacePauses = 4 * 30

// lostRace backs off after a fast-path CAS lost the word to another
// goroutine: it spins for lostRacePauses spin-wait hints, off the word's
// cache line, then yields the processor.
//
// A lost race means the word is contended. A goroutine that retries at
// once pulls the word's cache line to its own core, so every operation on
// either side waits for a transfer; one that stays away lets the winner
// run a streak of operations on a line it holds. sync.Mutex gets its
// streaks the same way (its losers spin, then park), which is why
// golang.org/x/sync/semaphore, a mutex per call, outran this word under
// contention while the losers only spun a few hundred nanoseconds:
// GOMAXPROCS goroutines looping on Acquire(1)+Release(1) with capacity
// GOMAXPROCS, on the 2-vCPU CI machine, 27-30 ns an operation against
// x/sync's 14-16; with a yield only, 14-15; with this spin and the yield,
// 7.2 (and 7.2 at 4 goroutines, against x/sync's 25). The cost is the
// loser's: up to about 3 µs more before its call returns. Uncontended
// calls never get here, a call that must wait for permits goes straight to
// the queue, and TryAcquire's retries only spin briefly: it promises not to
// block.
func lostRace() { backoff.PauseYield(lostRacePauses) }

// tooLarge marks, in a woken waiter's Value, that Resize failed it with
// ErrTooLarge instead of granting it (weights are positive).
const tooLarge = -1

// enqueueHook, when non-nil, is called under mu right after a waiter has
// been queued and published. Tests use it to time-stamp the moment a waiter
// joined the queue; it is nil otherwise.
var enqueueHook func(ctx context.Context)

// Weighted is a weighted counting semaphore: it holds a number of permits up
// to its capacity, [Weighted.Acquire] takes n of them, waiting until they
// are available, and [Weighted.Release] gives them back.
//
// Waiters are served in strict FIFO order with head-of-line blocking: a
// waiter that does not fit holds up the smaller ones behind it, so a large
// request is never starved by a stream of small ones, and
// [Weighted.TryAcquire] fails while anyone is queued. While nobody waits,
// Acquire, TryAcquire and Release are each one atomic compare-and-swap on a
// single word; once someone waits, every call goes through a mutex and the
// shared FIFO wait queue (see the package documentation for the cost).
//
// The zero value is a semaphore of capacity zero: every Acquire of a
// positive weight fails with [ErrTooLarge] until [Weighted.Resize] gives it
// permits. A Weighted must not be copied after first use.
//
// In the terminology of [the Go memory model], the n'th call to Release
// synchronizes before the m'th successful call to Acquire or TryAcquire, for
// n < m in the single order of operations on the semaphore. A failed
// TryAcquire, and an Acquire that returns an error, establish no
// "synchronizes before" relation.
//
// [the Go memory model]: https://go.dev/ref/mem
type Weighted struct {
	_ noCopy

	// state is the hot word: see the state table above. It is first in the
	// struct because every call touches it.
	state atomic.Int64

	// capacity is written only under mu with lockedFlag set (Resize), and
	// read lock-free by Release's fast path to catch over-release.
	capacity atomic.Int64

	mu sync.Mutex  // serialises slow paths; protects q
	q  waitq.Queue // waiters; Value is the weight
}

// New returns a semaphore with capacity n, all of it available. It panics
// if n is negative; an n above [MaxCapacity] is treated as MaxCapacity.
func New(n int64) *Weighted {
	if n < 0 {
		panic("semaphore: negative capacity")
	}
	n = min(n, MaxCapacity)
	s := &Weighted{}
	s.capacity.Store(n)
	s.state.Store(n << permitShift)
	return s
}

// Acquire takes n permits, blocking until they are available (and every
// waiter queued before it has been served) or ctx is done. On success it
// returns nil.
//
// It follows lockstep's cancellation contract:
//   - If ctx is already done, Acquire fails even when permits are free
//     ([Weighted.TryAcquire] is the non-blocking path), and so does a call
//     whose ctx ends while it backs off from a contended word or waits
//     for the semaphore's internal lock.
//   - On failure it returns an error for which errors.Is(err, ctx.Err())
//     holds (wrapping context.Cause when there is one), and the semaphore is
//     exactly as if the call had never been made.
//   - Permits granted to a waiter whose ctx ends at the same time are never
//     lost: if ctx is done by the time the woken waiter looks, it returns
//     them, passes them on to the waiters behind it, and fails, so Acquire
//     returns nil only while ctx is not done (golang/go#63615).
//   - A waiter at the head of the queue that gives up wakes the waiters
//     behind it that now fit (golang/go#37852).
//
// If n exceeds the capacity at the time of the call, Acquire returns
// [ErrTooLarge] at once. If a Resize later shrinks the capacity below the
// weight of a queued waiter, that waiter fails with ErrTooLarge too, rather
// than wait for permits that cannot exist.
//
// Acquire(ctx, 0) takes nothing and succeeds at once, without queueing,
// unless ctx is done. Acquire panics if n is negative.
func (s *Weighted) Acquire(ctx context.Context, n int64) error {
	// ctx.Done is nil for context.Background and friends: no select then.
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			if n < 0 {
				panic("semaphore: negative weight") // misuse first, as when ctx is not done
			}
			return waitq.Err(ctx)
		default:
		}
	}
	if lockdep.Active() && n > 0 {
		return s.acquireTracked(ctx, n) // package diag: see lockdep.go
	}
	// Fast path: nobody queued, nothing frozen, enough permits. (The
	// test hook in the window between the load and the CAS, here, in
	// TryAcquire and in Release, is compiled in only for tests: see
	// internal/testhook.)
	st := s.state.Load()
	testhook.Yield() // loaded, not yet swapped
	if st&flagMask == 0 && n > 0 && st>>permitShift >= n && s.state.CompareAndSwap(st, st-n<<permitShift) {
		return nil
	}
	return s.acquireSlow(ctx, n)
}

// acquireSlow is Acquire's slow path, outlined to keep the fast path short.
func (s *Weighted) acquireSlow(ctx context.Context, n int64) error {
	if n <= 0 {
		if n < 0 {
			panic("semaphore: negative weight")
		}
		return nil
	}
	// Acquire looked at ctx on entry; the backoff below and the wait for mu
	// take long enough for ctx to end meanwhile, and a call whose ctx has
	// ended must not take permits: look again before each grant.
	// A failed fast-path CAS may only mean that another fast path got in
	// first: retry a few times, backing off first (see lostRace), before
	// taking the mutex.
	for try := range casRetries {
		st := s.state.Load()
		if st&flagMask != 0 || st>>permitShift < n {
			break // not a lost race: go and queue
		}
		if try == 0 {
			lostRace()
			continue
		}
		if ctx.Err() != nil {
			return waitq.Err(ctx)
		}
		testhook.Yield()
		if s.state.CompareAndSwap(st, st-n<<permitShift) {
			return nil
		}
		runtime.Gosched()
	}

	s.mu.Lock()
	// Register before re-checking: freeze makes every fast path fail from
	// here on, so a Release that we do not see in a below has to come
	// through mu, after our publish, and will find us queued.
	a := s.freeze()
	testhook.Yield()
	if ctx.Err() != nil {
		s.publish(a, s.q.Len()) // unchanged
		s.mu.Unlock()
		return waitq.Err(ctx)
	}
	if s.q.Len() == 0 && a >= n {
		s.publish(a-n, 0)
		s.mu.Unlock()
		return nil
	}
	if n > s.capacity.Load() {
		s.publish(a, s.q.Len())
		s.mu.Unlock()
		return ErrTooLarge
	}
	w := s.q.Enqueue(n)
	s.publish(a, s.q.Len()) // sets waitersFlag: fast paths now come to mu
	if enqueueHook != nil {
		enqueueHook(ctx)
	}
	err := s.q.Wait(ctx, &s.mu, w, s.abandon)
	// Woken, or gone (abandon has already passed on what our leaving
	// freed). The waker wrote w.Value under mu before the wake, which
	// happens before Wait returned.
	tooLargeNow := w.Value == tooLarge
	w.Recycle()
	if err != nil {
		return err
	}
	if tooLargeNow {
		return ErrTooLarge
	}
	if ctx.Err() != nil {
		// The grant raced with cancellation and we saw the cancellation:
		// give the permits back and pass them on (x/sync does the same).
		s.mu.Lock()
		s.settle(s.freeze() + n)
		s.mu.Unlock()
		return waitq.Err(ctx)
	}
	return nil
}

// abandon runs under mu when a queued waiter's ctx ended before it was
// woken; waitq has already unlinked it. If it was at the front, the waiters
// behind it may fit now (golang/go#37852); settle finds them. If it was not,
// the front is unchanged and settle grants nothing, but it still publishes,
// which clears waitersFlag when the queue became empty.
func (s *Weighted) abandon(bool) {
	s.settle(s.freeze())
}

// TryAcquire takes n permits if they are available and nobody is queued,
// without blocking, and reports whether it did. It never jumps ahead of a
// queued waiter. TryAcquire(0) is always true. It panics if n is negative.
func (s *Weighted) TryAcquire(n int64) bool {
	st := s.state.Load()
	testhook.Yield() // loaded, not yet swapped
	if st&flagMask == 0 && n > 0 && st>>permitShift >= n && s.state.CompareAndSwap(st, st-n<<permitShift) ||
		s.tryAcquireSlow(n) {
		if lockdep.Active() && n > 0 {
			s.tried(n) // package diag: see lockdep.go
		}
		return true
	}
	return false
}

func (s *Weighted) tryAcquireSlow(n int64) bool {
	if n <= 0 {
		if n < 0 {
			panic("semaphore: negative weight")
		}
		return true
	}
	var bo backoff.Backoff
	for range casRetries {
		st := s.state.Load()
		// The word always holds the last published state, even while
		// locked (a slow path publishes its whole effect in one Store), so
		// a failure read from it is linearizable at this load.
		if st&waitersFlag != 0 || st>>permitShift < n {
			return false
		}
		if st&lockedFlag != 0 {
			break // a slow path is deciding: ask under mu
		}
		testhook.Yield()
		if s.state.CompareAndSwap(st, st-n<<permitShift) {
			return true
		}
		bo.Spin()
	}
	s.mu.Lock()
	a := s.freeze()
	ok := s.q.Len() == 0 && a >= n
	if ok {
		a -= n
	}
	s.publish(a, s.q.Len())
	s.mu.Unlock()
	return ok
}

// Release returns n permits and wakes the waiters at the front of the queue
// that now fit. It panics if n is negative, or if it would make more
// permits available than the capacity ("released more than held"). The
// second check is exact except when the over-release races with Resize:
// a Resize, and operations that restore the permit count, between the
// check and the update let it through. No correct Release is ever refused.
//
// Release(0) does nothing.
func (s *Weighted) Release(n int64) {
	if lockdep.Enabled && n > 0 {
		s.released(n)
	}
	st := s.state.Load()
	testhook.Yield() // loaded, not yet swapped
	// The over-release check uses capacity read after st: a Resize that
	// ran in between sets lockedFlag and changes the word, failing the CAS.
	// (Only a Resize followed by operations that restore the exact word
	// between our load and our CAS could make a bad release slip past this
	// check; no correct release is ever refused.)
	if st&flagMask == 0 && n > 0 && n <= s.capacity.Load()-st>>permitShift && s.state.CompareAndSwap(st, st+n<<permitShift) {
		return
	}
	s.releaseSlow(n)
}

func (s *Weighted) releaseSlow(n int64) {
	if n <= 0 {
		if n < 0 {
			panic("semaphore: negative weight")
		}
		return
	}
	for try := range casRetries {
		st := s.state.Load()
		if st&flagMask != 0 || n > s.capacity.Load()-st>>permitShift {
			break
		}
		if try == 0 {
			lostRace()
			continue
		}
		testhook.Yield()
		if s.state.CompareAndSwap(st, st+n<<permitShift) {
			return
		}
		runtime.Gosched()
	}
	s.mu.Lock()
	a := s.freeze()
	if n > s.capacity.Load()-a {
		s.publish(a, s.q.Len())
		s.mu.Unlock()
		panic("semaphore: released more than held")
	}
	s.settle(a + n)
	s.mu.Unlock()
}

// Resize sets the capacity to n, changing the permits available by the
// difference, and wakes the waiters at the front of the queue that now fit.
// An n above [MaxCapacity] is treated as MaxCapacity; a negative n panics.
//
// Shrinking the capacity below what is held makes [Weighted.Available]
// negative until enough permits are released; nothing already held is
// taken back. Queued waiters whose weight exceeds the new capacity fail
// with [ErrTooLarge]. Calls judge ErrTooLarge against the capacity at the
// time they are made.
//
// Resize always takes the semaphore's mutex; it is meant for occasional
// reconfiguration (a limit read from config, an adaptive concurrency
// limit), not for every operation.
func (s *Weighted) Resize(n int64) {
	if n < 0 {
		panic("semaphore: negative capacity")
	}
	n = min(n, MaxCapacity)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.freeze()
	old := s.capacity.Load()
	if n == old {
		s.publish(a, s.q.Len())
		return
	}
	// Store while locked: a fast-path Release that read the old word fails
	// its CAS; one that reads the new capacity with the old word may be
	// sent to the slow path, which checks again under mu.
	s.capacity.Store(n)
	a += n - old
	if n >= old {
		s.settle(a)
		return
	}
	// Shrinking: fail the waiters that can no longer fit, wherever they
	// are queued, then grant from the front; publish before waking anyone.
	var wake []*waitq.Waiter
	for w := s.q.Front(); w != nil; w = w.Next() {
		if w.Value > n {
			w.Value = tooLarge
			wake = append(wake, w)
		}
	}
	rem := a
	for w := s.q.Front(); w != nil; w = w.Next() {
		if w.Value == tooLarge {
			continue
		}
		if w.Value > rem {
			break // head-of-line blocking
		}
		rem -= w.Value
		wake = append(wake, w)
	}
	s.publish(rem, s.q.Len()-len(wake))
	for _, w := range wake {
		if w.Value != tooLarge {
			lockdep.Handoff(unsafe.Pointer(s)) // a grant, as settle counts them
		}
		s.q.Wake(w)
	}
}

// Available returns the number of permits not held, a snapshot that may be
// stale by the time it is used. It is negative while a Resize has shrunk
// the capacity below what is held.
func (s *Weighted) Available() int64 {
	return s.state.Load() >> permitShift
}

// Capacity returns the current capacity: the n of New or of the last
// Resize.
func (s *Weighted) Capacity() int64 {
	return s.capacity.Load()
}

// Waiters returns the number of goroutines queued in Acquire, a snapshot.
func (s *Weighted) Waiters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.Len()
}

// freeze sets lockedFlag and returns the permits available. It is called
// with mu held; from then until publish only this goroutine changes the
// word, because every fast-path CAS expects both flags clear. Or returns
// the old word, whose flags the arithmetic shift drops.
func (s *Weighted) freeze() int64 {
	return s.state.Or(lockedFlag) >> permitShift
}

// publish stores the permits available and whether queued > 0 waiters
// remain, clearing lockedFlag. It is the linearization point of every slow
// path; a single Store suffices because nobody else writes a frozen word.
func (s *Weighted) publish(avail int64, queued int) {
	st := avail << permitShift
	if queued > 0 {
		st |= waitersFlag
	}
	s.state.Store(st)
}

// settle grants a, the permits available, to the waiters at the front of
// the queue while they fit (head-of-line blocking: it stops at the first
// that does not, as x/sync's notifyWaiters does, so a large waiter is not
// starved by small ones behind it), publishes the rest, and then wakes the
// granted waiters. Called with mu held and the word frozen.
func (s *Weighted) settle(a int64) {
	k := 0
	for w := s.q.Front(); w != nil && w.Value <= a; w = w.Next() {
		a -= w.Value
		k++
	}
	s.publish(a, s.q.Len()-k)
	for ; k > 0; k-- {
		lockdep.Handoff(unsafe.Pointer(s))
		s.q.Wake(s.q.Front())
	}
}

// noCopy may be added to structs which must not be copied after first use;
// go vet's -copylocks checker reports copies. Lock and Unlock are no-ops.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
