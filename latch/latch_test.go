package latch_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/latch"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The scenarios of the JSR-166 TCK's CountDownLatchTest, in Go terms:
// InterruptedException is a cancelled ctx, a timed await is a ctx with a
// deadline, and a false return of a timed await is DeadlineExceeded.

// testConstructor: a negative count is rejected.
func TestNewNegativePanics(t *testing.T) {
	defer func() {
		if r := recover(); r != "latch: negative count" {
			t.Fatalf("New(-1): recovered %v, want panic \"latch: negative count\"", r)
		}
	}()
	latch.New(-1)
}

// testGetCount.
func TestCount(t *testing.T) {
	l := latch.New(2)
	if l.Count() != 2 {
		t.Fatalf("Count() = %d, want 2", l.Count())
	}
	l.CountDown()
	if l.Count() != 1 {
		t.Fatalf("Count() = %d, want 1", l.Count())
	}
}

// testCountDown: counting down at zero has no effect.
func TestCountDownAtZero(t *testing.T) {
	l := latch.New(1)
	if l.TryWait() || isClosed(l.Done()) {
		t.Fatal("latch of 1 open before any CountDown")
	}
	l.CountDown()
	if l.Count() != 0 || !l.TryWait() || !isClosed(l.Done()) {
		t.Fatalf("after the CountDown: Count() = %d, TryWait() = %v, Done closed = %v", l.Count(), l.TryWait(), isClosed(l.Done()))
	}
	l.CountDown() // no effect, no panic (no second close)
	if l.Count() != 0 || !l.TryWait() {
		t.Fatalf("CountDown at zero changed the latch: Count() = %d", l.Count())
	}
}

// testAwait and testTimedAwait: waiters are released by the last CountDown,
// not before.
func TestWaitReleasedByLastCountDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := latch.New(2)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		plain, timed, selected := make(chan error, 1), make(chan error, 1), make(chan struct{})
		go func() { plain <- l.Wait(context.Background()) }()
		go func() { timed <- l.Wait(ctx) }()
		go func() { <-l.Done(); close(selected) }()
		synctest.Wait()
		l.CountDown()
		synctest.Wait()
		if len(plain) != 0 || len(timed) != 0 || isClosed(selected) {
			t.Fatal("a waiter returned with the count at 1")
		}
		l.CountDown()
		if err := <-plain; err != nil {
			t.Fatalf("Wait = %v", err)
		}
		if err := <-timed; err != nil {
			t.Fatalf("timed Wait = %v", err)
		}
		<-selected
	})
}

// testAwait_Interruptible and testTimedAwait_Interruptible: a cancelled wait
// fails with the ctx's error and leaves the count alone; so does a wait
// whose ctx was cancelled before the call ("interrupt status set").
func TestWaitCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := latch.New(1)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- l.Wait(ctx) }()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait = %v, want context.Canceled", err)
		}
		if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with a done ctx = %v, want context.Canceled", err)
		}
		if l.Count() != 1 {
			t.Fatalf("Count() = %d after failed waits, want 1", l.Count())
		}
	})
}

// testAwaitTimeout: the timed wait gives up after exactly its timeout (on
// the fake clock) and the count is unchanged.
func TestWaitTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := latch.New(1)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("gave up after %v of fake time, want 3s", d)
		}
		if l.Count() != 1 {
			t.Fatalf("Count() = %d, want 1", l.Count())
		}
	})
}

// A done ctx fails Wait even on an open latch (TryWait is the
// non-blocking way to look), and the error carries context.Cause.
func TestDoneContextFailsEvenWhenOpen(t *testing.T) {
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	l := latch.New(0)
	err := l.Wait(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
		t.Fatalf("Wait(done ctx) on an open latch = %v, want context.Canceled with the cause", err)
	}
	if !l.TryWait() {
		t.Fatal("TryWait() on an open latch = false")
	}
}

// The ctx is cancelled before the latch opens, and the waiter sees both
// when it runs: it must fail, as x/sync's Acquire does (golang/go#63615).
func TestCancelledBeforeOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := latch.New(1)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- l.Wait(ctx) }()
		synctest.Wait()
		cancel()
		l.CountDown()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait whose ctx ended before the latch opened = %v, want context.Canceled", err)
		}
	})
}

// A Wait yields a few times before it parks. What another goroutine does
// during those yields is seen as it would be by a parked Wait: with
// GOMAXPROCS 1 the other goroutine runs exactly there, the first time Wait
// yields.
func TestWaitYieldWindow(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for range 1000 {
		l := latch.New(2)
		go func() { l.CountDown(); l.CountDown() }()
		if err := l.Wait(context.Background()); err != nil || l.Count() != 0 {
			t.Fatalf("Wait = %v with Count() = %d, want nil and 0", err, l.Count())
		}

		l = latch.New(1)
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		if err := l.Wait(ctx); !errors.Is(err, context.Canceled) || l.Count() != 1 {
			t.Fatalf("Wait with a ctx cancelled while it waits = %v with Count() = %d", err, l.Count())
		}

		// Cancelled, then opened, before the waiter looks again: the
		// done ctx wins (TestCancelledBeforeOpening, in the yield window).
		ctx, cancel = context.WithCancel(context.Background())
		go func() { cancel(); l.CountDown() }()
		if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait whose ctx ended before the latch opened = %v, want context.Canceled", err)
		}
	}
}

// hookCtx runs hook, once, inside the first call to Err, after reading the
// error, so that another party's steps land exactly between the waiter's
// look at ctx and its next step.
type hookCtx struct {
	context.Context
	once sync.Once
	hook func()
}

func (c *hookCtx) Err() error {
	err := c.Context.Err()
	c.once.Do(c.hook)
	return err
}

// The ctx is cancelled and then the latch opens, both between the waiter's
// look at ctx and its look at the count: Wait must fail, since there was no
// moment at which the latch was open and ctx not done (found in review: a
// Wait that looked at ctx first returned nil here).
func TestCancelThenOpenBetweenLooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := latch.New(1)
		inner, cancel := context.WithCancel(context.Background())
		ctx := &hookCtx{Context: inner, hook: func() { cancel(); l.CountDown() }}
		errc := make(chan error, 1)
		go func() { errc <- l.Wait(ctx) }()
		synctest.Wait()
		ctx.once.Do(ctx.hook) // in case Wait parked without calling Err
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait whose ctx ended before the latch opened = %v, want context.Canceled", err)
		}
	})
}

// A Wait that returns nil leaves Done closed, on each of its paths (the
// latch open at entry, open after a yield, woken from its park): the count
// reaches zero a moment before the last CountDown closes Done's channel,
// and the test hook yields in that moment. Before 2026-12-06 Wait returned
// nil there, and a select on Done just after it took its default branch.
func TestDoneClosedOnceWaitReturns(t *testing.T) {
	testhook.Enable(t)
	ctxs := map[string]func() (context.Context, context.CancelFunc){
		"background": func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
		"cancelable": func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
	}
	for name, mk := range ctxs {
		for i := range 2000 {
			l := latch.New(1)
			ch := l.Done()
			counted := make(chan struct{})
			go func() { l.CountDown(); close(counted) }()
			if i%4 == 0 {
				runtime.Gosched() // let the CountDown get into its window first
			}
			ctx, cancel := mk()
			if err := l.Wait(ctx); err != nil {
				t.Fatalf("%s: Wait = %v", name, err)
			}
			if !isClosed(ch) {
				t.Fatalf("%s, round %d: Wait returned nil before Done was closed", name, i)
			}
			cancel()
			<-counted
		}
	}
}

func TestZeroValueIsOpen(t *testing.T) {
	var l latch.Latch
	if !l.TryWait() || l.Count() != 0 || !isClosed(l.Done()) {
		t.Fatal("the zero Latch is not open")
	}
	if err := l.Wait(context.Background()); err != nil {
		t.Fatalf("Wait on the zero Latch = %v", err)
	}
	l.CountDown()
	if l.Count() != 0 {
		t.Fatal("CountDown on the zero Latch changed it")
	}
	if l.Done() != l.Done() {
		t.Fatal("Done returns different channels")
	}
}

func TestDoneIsStable(t *testing.T) {
	l := latch.New(3)
	ch := l.Done()
	for range 3 {
		if l.Done() != ch {
			t.Fatal("Done returned a different channel")
		}
		l.CountDown()
	}
	if !isClosed(ch) {
		t.Fatal("the channel Done returned first was not closed")
	}
	if l.Done() != ch {
		t.Fatal("Done returned a different channel once the latch opened")
	}
}

// Many more CountDowns than the count, all at once: exactly one of them
// closes the channel (a second close would panic), the count ends at zero,
// and it never reads below zero.
func TestConcurrentCountDowns(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		for range testutil.Scale(300) {
			const count = 16
			l := latch.New(count)
			var negative atomic.Int32
			testutil.Run(t, 3*count, func(id int) {
				l.CountDown()
				if l.Count() < 0 {
					negative.Add(1)
				}
			})
			if !l.TryWait() || l.Count() != 0 || !isClosed(l.Done()) {
				t.Fatalf("after %d CountDowns of %d: Count() = %d, TryWait() = %v", 3*count, count, l.Count(), l.TryWait())
			}
			if negative.Load() != 0 {
				t.Fatal("Count() read below zero")
			}
		}
	})
}

// The memory-model guarantee, checked by the race detector: each worker
// writes its own slot with a plain store before CountDown; every waiter, by
// whichever of Wait, Done or TryWait it saw the latch open, reads all the
// slots. A missing "synchronizes before" edge is a reported data race, and
// a wrong value is a failure.
func TestCountDownSynchronizesBeforeWait(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		for round := range testutil.Scale(200) {
			const workers = 8
			l := latch.New(workers)
			slots := make([]int, workers)
			var wg sync.WaitGroup
			check := func(how string) {
				for i, v := range slots {
					if v != round+i {
						t.Errorf("%s: slot %d = %d, want %d", how, i, v, round+i)
					}
				}
			}
			wg.Go(func() {
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
				}
				check("Wait")
			})
			wg.Go(func() { <-l.Done(); check("Done") })
			wg.Go(func() {
				for !l.TryWait() {
					// Polling with bounded spinning is the point here: a
					// TryWait that returns true must publish the slots.
					runtime.Gosched()
				}
				check("TryWait")
			})
			for i := range workers {
				wg.Go(func() {
					slots[i] = round + i
					l.CountDown()
				})
			}
			testutil.WaitLive(t, &wg)
		}
	})
}

// Many waiters in all three forms, released together.
func TestManyWaiters(t *testing.T) {
	l := latch.New(1)
	var woke atomic.Int32
	const waiters = 64
	var wg sync.WaitGroup
	ready := latch.New(waiters)
	for i := range waiters {
		wg.Go(func() {
			ready.CountDown()
			if i%2 == 0 {
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
				}
			} else {
				<-l.Done()
			}
			woke.Add(1)
		})
	}
	if err := ready.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.CountDown()
	testutil.WaitLive(t, &wg)
	if woke.Load() != waiters {
		t.Fatalf("%d of %d waiters woke", woke.Load(), waiters)
	}
}

// Once Wait has returned nil, Done's channel is closed, also when a Done
// call raced with the last CountDown: here, by hand, Done looks at the
// count (1) and makes its channel, the CountDown takes the count to zero
// but has not yet closed anything, and a Wait sees the latch open and
// returns; only then does Done install its channel. It used to install it
// and return it open, though Wait had returned. (Found by an adversarial
// review, 2026-12-06.)
func TestDoneClosedOnceWaitReturned(t *testing.T) {
	l := latch.New(1)
	finishDone := l.DoneInTwo()
	open := l.CountDownInTwo()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-finishDone():
	default:
		t.Fatal("Wait returned nil, and then Done returned a channel that is not closed")
	}
	open() // the CountDown finishes; it must not close a closed channel
	<-l.Done()
}

// The same race left to the scheduler, with the test hooks yielding in
// the windows: waiters of every kind (no ctx, a cancellable ctx, Done, a
// late cancellable ctx) against more CountDowns than the count; after a
// Wait returns nil, Done must be closed.
func TestDoneClosedOnceWaitReturnedStress(t *testing.T) {
	testhook.Enable(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for it := range testutil.Scale(2000) {
		l := latch.New(3)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				var err error
				switch i {
				case 0:
					err = l.Wait(context.Background())
				case 1:
					err = l.Wait(ctx)
				case 2:
					<-l.Done()
				default:
					testhook.Yield()
					err = l.Wait(ctx)
				}
				if err != nil {
					t.Errorf("round %d, waiter %d: %v", it, i, err)
				}
				select {
				case <-l.Done():
				default:
					t.Errorf("round %d, waiter %d: Done not closed after Wait returned nil", it, i)
				}
			})
		}
		for range 4 { // one more than the count: the extra has no effect
			wg.Go(func() { testhook.Yield(); l.CountDown() })
		}
		testutil.WaitLive(t, &wg)
		if t.Failed() {
			return
		}
	}
}
