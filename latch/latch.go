package latch

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// Latch is a single-use countdown latch: it starts closed with a count, each
// [Latch.CountDown] lowers the count by one, and when the count reaches zero
// the latch opens for good, releasing every goroutine in [Latch.Wait] and
// closing the channel returned by [Latch.Done]. It cannot be reset or
// counted up; make a new Latch for the next round (or use the barrier
// package for a reusable rendezvous).
//
// A CountDown at zero has no effect, as in Java's CountDownLatch, so extra
// signals (a retry that reports twice, a deferred CountDown after an early
// one) are harmless.
//
// The zero value is an open latch (count zero). A Latch must not be copied
// after first use.
//
// In the terminology of [the Go memory model], every call to CountDown that
// lowers the count synchronizes before any call to Wait that returns nil,
// any receive from Done that completes because the latch opened, and any
// call to TryWait that returns true. A failed Wait or TryWait establishes
// nothing.
//
// [the Go memory model]: https://go.dev/ref/mem
type Latch struct {
	_ noCopy

	// count is the number of CountDowns still needed. It is never below
	// zero for long: see CountDown.
	count atomic.Int64

	// park is the sync.WaitGroup that Waits whose ctx can never be done
	// (context.Background) park on: the runtime semaphore behind WaitGroup
	// parks and wakes faster than a channel, measured in bench_test.go. The
	// first such Wait makes it (with Add(1)) and installs it; open swaps in
	// &opened and releases it. A latch nobody blocks on never makes one.
	park atomic.Pointer[sync.WaitGroup]

	// done holds Done's channel, made on first use (by Done, or by a Wait
	// whose ctx can be cancelled); open swaps in &closed and closes it. A
	// latch that nobody selects on never makes one.
	done atomic.Pointer[chan struct{}]
}

// closed and opened are what done and park hold once the latch is open (or
// what a caller installs that finds it open already): a closed channel and
// a WaitGroup at zero, so that late callers find them ready and nothing is
// allocated for them.
var (
	closed = func() chan struct{} {
		c := make(chan struct{})
		close(c)
		return c
	}()
	opened sync.WaitGroup
)

// New returns a latch that opens after count calls to CountDown; New(0)
// returns an open latch. It panics if count is negative.
func New(count int) *Latch {
	if count < 0 {
		panic("latch: negative count")
	}
	l := &Latch{}
	l.count.Store(int64(count))
	return l
}

// CountDown lowers the count by one, opening the latch when it reaches
// zero. At zero it has no effect.
func (l *Latch) CountDown() {
	// One atomic add, as sync.WaitGroup.Done, instead of a CAS loop that
	// would retry under contention. (A load first, to skip the add on an
	// open latch, would make CountDown too big to inline; a CountDown at
	// zero is rare, and costs an add and its undo.)
	if c := l.count.Add(-1); c <= 0 {
		l.countedDown(c)
	}
}

// countedDown handles a CountDown whose add left the count at c <= 0,
// outlined so that CountDown can be inlined. It is small enough to be
// inlined itself once the test hook compiles to nothing, which made
// CountDown too big (cost 93 against the budget of 80), hence noinline.
//
// Exactly one add takes the count from 1 to 0, and that one opens the
// latch. An add that started from 0 or below (a CountDown racing the last
// one) took it negative and undoes itself; the count can then only return
// to 0, never to 1, because every negative step is paired with its own
// undo, so the latch cannot open twice. Count and TryWait read a negative
// count as zero.
//
//go:noinline
func (l *Latch) countedDown(c int64) {
	if c < 0 {
		l.count.Add(1)
		return
	}
	testhook.Yield() // window: count is 0, waiters not yet released
	l.open()
}

// open releases the waiters. It runs once, in the CountDown that took the
// count to zero.
//
// The WaitGroup is swapped out: the Swap finds nothing (and any Wait that
// looks later finds &opened, at zero) or finds the one the first blocked
// Wait installed, which it releases; or &opened, installed by nobody but
// open, so never.
//
// The channel is not swapped out, because Done must return the same
// channel before and after: exactly one CompareAndSwap from nil succeeds,
// open's (later callers find &closed) or makeDone's (open then finds its
// channel and closes it). makeDone, and a Wait's settle, install &closed
// only once the count is zero; that one is closed already.
func (l *Latch) open() {
	if wg := l.park.Swap(&opened); wg != nil {
		wg.Done()
	}
	if p := l.channelAtZero(); p != &closed {
		close(*p)
	}
}

// Count returns the number of CountDowns still needed to open the latch, a
// snapshot.
func (l *Latch) Count() int {
	return int(max(l.count.Load(), 0))
}

// TryWait reports whether the latch is open, without blocking.
//
// A true result means that every CountDown that lowered the count has
// happened; it synchronizes as a successful Wait does. TryWait never
// blocks, so it can report true a moment before the last CountDown has
// closed Done's channel; Wait cannot (see Done).
func (l *Latch) TryWait() bool {
	// The count reaches zero (by an atomic add that observed every earlier
	// add) before done is closed; a load of zero therefore observes every
	// CountDown, whether or not done has been closed yet.
	return l.count.Load() <= 0
}

// Wait blocks until the latch is open or ctx is done, and returns nil if
// the latch opened. If the latch is already open it returns at once.
//
// It follows lockstep's cancellation contract: if ctx is already done, Wait
// fails even when the latch is open (use [Latch.TryWait] to look without a
// ctx); on failure it returns an error for which errors.Is(err, ctx.Err())
// holds, wrapping context.Cause when there is one; and when the latch opens
// while ctx ends, Wait fails if it sees ctx done, so it returns nil only
// while ctx is not done. A failed Wait changes nothing: the latch has no
// waiter state to undo. A Wait that finds the latch closed yields a few
// times, then parks. Once Wait has returned nil, Done's channel is closed.
func (l *Latch) Wait(ctx context.Context) error {
	// Every look below reads the count first and ctx second: a nil result
	// needs a moment at which the latch was open and ctx not yet done, and
	// that order proves there was one. (ctx first would let a cancel and
	// the last CountDown both land between the two reads.)
	open := l.count.Load() <= 0
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return waitq.Err(ctx)
		default:
		}
	}
	if open {
		l.settle()
		return nil
	}
	// Yield a few times before parking: the goroutines that are to count
	// down are often runnable but not running (on this processor, or with
	// more goroutines than processors), and a yield lets them finish
	// without this goroutine parking and being woken.
	for range backoff.ParkYields {
		runtime.Gosched()
		open := l.count.Load() <= 0
		if done != nil && ctx.Err() != nil {
			return waitq.Err(ctx) // a done ctx wins, as below
		}
		if open {
			l.settle()
			return nil
		}
	}
	if done == nil {
		l.parkWait() // ctx can never end: park on a WaitGroup
		l.settle()
		return nil
	}
	select {
	case <-l.Done():
		// The latch opened, but ctx may have ended too: a done ctx wins,
		// so that Wait returns nil only while ctx is not done.
		select {
		case <-done:
			return waitq.Err(ctx)
		default:
		}
		return nil
	case <-done:
		return waitq.Err(ctx)
	}
}

// settle returns once Done's channel, if one was made, is closed. The count
// reaches zero a moment before the CountDown that took it there closes the
// channel (and that CountDown releases the WaitGroup before it closes the
// channel), so a Wait that saw the latch open waits out that moment: once
// Wait has returned nil, a select on Done does not take its default
// branch. The wait is for the last few steps of a CountDown that is
// already running, not for an event, so it does not look at ctx.
//
// If no channel is installed yet, settle installs the closed one: a Done
// racing with it may have checked the count while it was above zero and be
// about to install a channel of its own, which open would close only
// later; its CompareAndSwap now fails and it returns the closed channel.
// Every channel a caller can have installed is closed by open, which runs
// once the count reaches zero.
func (l *Latch) settle() {
	if p := l.channelAtZero(); p != &closed {
		<-*p
	}
}

// channelAtZero returns Done's channel, installing the closed one if none
// is installed yet. Call it only once the count is zero: a channel it
// returns other than &closed is then closed by open.
func (l *Latch) channelAtZero() *chan struct{} {
	if p := l.done.Load(); p != nil {
		return p
	}
	if l.done.CompareAndSwap(nil, &closed) {
		return &closed
	}
	return l.done.Load()
}

// parkWait waits on the latch's WaitGroup, making and installing it if
// this is the first Wait to need it. Add(1) happens before the WaitGroup is
// shared, as WaitGroup requires. If open has run, park holds &opened, at
// zero.
func (l *Latch) parkWait() {
	wg := l.park.Load()
	if wg == nil {
		fresh := new(sync.WaitGroup)
		fresh.Add(1)
		if l.park.CompareAndSwap(nil, fresh) {
			wg = fresh
		} else {
			wg = l.park.Load()
		}
	}
	wg.Wait()
}

// Done returns a channel that is closed when the latch opens, for use in a
// select. It returns the same channel on every call. The channel is made on
// the first call (also by a Wait with a ctx that can end, if it parks); a
// latch on which neither happens allocates none.
//
// The channel is closed by the CountDown that opens the latch, as its last
// step: a Wait that returns nil returns after that step, so a select on
// Done that follows it finds the channel closed.
func (l *Latch) Done() <-chan struct{} {
	if p := l.done.Load(); p != nil {
		return *p
	}
	return *l.makeDone()
}

// makeDone makes Done's channel, racing open (see open), and returns what
// done then holds.
func (l *Latch) makeDone() *chan struct{} {
	if l.count.Load() <= 0 {
		// Open already (or opening: open may not have run yet): share the
		// closed channel, allocating nothing.
		return l.channelAtZero()
	}
	c := make(chan struct{})
	if l.done.CompareAndSwap(nil, &c) {
		return &c
	}
	return l.done.Load()
}

// noCopy may be added to structs which must not be copied after first use;
// go vet's -copylocks checker reports copies. Lock and Unlock are no-ops.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
