package semaphore_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/semaphore"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// checkIdle fails the test unless s has exactly want permits available and
// nobody waiting, and proves it by taking them all.
func checkIdle(t testing.TB, s *semaphore.Weighted, want int64) {
	t.Helper()
	if got := s.Available(); got != want {
		t.Fatalf("Available() = %d, want %d", got, want)
	}
	if got := s.Waiters(); got != 0 {
		t.Fatalf("Waiters() = %d, want 0: a waiter is stranded", got)
	}
	if want > 0 && !s.TryAcquire(want) {
		t.Fatalf("TryAcquire(%d) failed on an idle semaphore", want)
	}
	if s.TryAcquire(1) {
		t.Fatalf("TryAcquire(1) succeeded with all %d permits taken", want)
	}
	if want > 0 {
		s.Release(want)
	}
}

func TestBasics(t *testing.T) {
	ctx := context.Background()
	s := semaphore.New(5)
	if s.Capacity() != 5 || s.Available() != 5 {
		t.Fatalf("New(5): capacity %d, available %d", s.Capacity(), s.Available())
	}
	if err := s.Acquire(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if !s.TryAcquire(2) {
		t.Fatal("TryAcquire(2) with 2 available failed")
	}
	if s.TryAcquire(1) {
		t.Fatal("TryAcquire(1) with 0 available succeeded")
	}
	if s.Available() != 0 {
		t.Fatalf("Available() = %d, want 0", s.Available())
	}
	s.Release(4)
	s.Release(1)
	checkIdle(t, s, 5)
}

func TestZeroWeight(t *testing.T) {
	s := semaphore.New(1)
	if !s.TryAcquire(1) {
		t.Fatal("TryAcquire(1) failed")
	}
	// Zero weight succeeds even with nothing available and a waiter queued.
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		if err := s.Acquire(context.Background(), 0); err != nil {
			t.Errorf("Acquire(0) = %v, want nil", err)
		}
		if !s.TryAcquire(0) {
			t.Error("TryAcquire(0) = false, want true")
		}
		s.Release(0)
		done, stop := context.WithCancel(context.Background())
		stop()
		if err := s.Acquire(done, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Acquire(done ctx, 0) = %v, want context.Canceled", err)
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("queued Acquire = %v, want context.Canceled", err)
		}
	})
	s.Release(1)
	checkIdle(t, s, 1)
}

func TestZeroValue(t *testing.T) {
	var s semaphore.Weighted
	if s.Capacity() != 0 || s.Available() != 0 {
		t.Fatalf("zero Weighted: capacity %d, available %d", s.Capacity(), s.Available())
	}
	if err := s.Acquire(context.Background(), 1); !errors.Is(err, semaphore.ErrTooLarge) {
		t.Fatalf("Acquire(1) on a zero Weighted = %v, want ErrTooLarge", err)
	}
	s.Resize(2)
	if err := s.Acquire(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	s.Release(2)
	checkIdle(t, &s, 2)
}

func TestMaxCapacity(t *testing.T) {
	s := semaphore.New(math.MaxInt64)
	if s.Capacity() != semaphore.MaxCapacity {
		t.Fatalf("New(MaxInt64).Capacity() = %d, want MaxCapacity", s.Capacity())
	}
	ctx := context.Background()
	if err := s.Acquire(ctx, semaphore.MaxCapacity); err != nil {
		t.Fatal(err)
	}
	if s.TryAcquire(1) {
		t.Fatal("TryAcquire(1) succeeded with everything taken")
	}
	s.Release(semaphore.MaxCapacity)
	if err := s.Acquire(ctx, semaphore.MaxCapacity+1); !errors.Is(err, semaphore.ErrTooLarge) {
		t.Fatalf("Acquire(MaxCapacity+1) = %v, want ErrTooLarge", err)
	}
	// A shrink to zero with everything held: Available is -MaxCapacity.
	if err := s.Acquire(ctx, semaphore.MaxCapacity); err != nil {
		t.Fatal(err)
	}
	s.Resize(0)
	if s.Available() != -semaphore.MaxCapacity {
		t.Fatalf("Available() = %d, want %d", s.Available(), -int64(semaphore.MaxCapacity))
	}
	s.Resize(semaphore.MaxCapacity)
	s.Release(semaphore.MaxCapacity)
	checkIdle(t, s, semaphore.MaxCapacity)
}

// Rule 2 of the cancellation contract, and golang/go#63615: a done ctx
// fails even when permits are free, and leaves the semaphore unchanged.
func TestDoneContextFailsEvenWhenFree(t *testing.T) {
	s := semaphore.New(3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, n := range []int64{1, 3, 4} {
		if err := s.Acquire(ctx, n); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire(done ctx, %d) = %v, want context.Canceled", n, err)
		}
	}
	checkIdle(t, s, 3)
}

// A ctx that ends after Acquire's look on entry, while the call waits for
// the semaphore's mutex with the permits free, must still fail it: the
// call takes nothing and returns the ctx error. (It used to grant under
// the mutex without looking again; an adversarial review found it.) At
// GOMAXPROCS=1 the Acquire runs, once this goroutine yields, until it
// blocks on the mutex, so its ctx ends only after its look on entry.
func TestCtxEndingWhileWaitingForMutexFails(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := semaphore.New(1)
	release := s.Freeze() // every Acquire now waits for the mutex
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Acquire(ctx, 1) }()
	runtime.Gosched() // the Acquire looks at ctx, finds the word frozen, blocks on the mutex
	cancel()
	release()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire = %v, want context.Canceled: its ctx ended before it could take the permit", err)
	}
	if a := s.Available(); a != 1 {
		t.Fatalf("Available = %d after the failed Acquire, want 1", a)
	}
	if !s.TryAcquire(1) {
		t.Fatal("TryAcquire failed on a free semaphore after the failed Acquire")
	}
}

func TestErrorCarriesCause(t *testing.T) {
	s := semaphore.New(0)
	s.Resize(1)
	if !s.TryAcquire(1) {
		t.Fatal("TryAcquire failed")
	}
	cause := errors.New("client went away")
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- s.Acquire(ctx, 1) }()
		synctest.Wait()
		cancel(cause)
		err := <-errc
		if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
			t.Fatalf("Acquire = %v, want it to match context.Canceled and the cause", err)
		}
	})
	s.Release(1)
	checkIdle(t, s, 1)
}

// x/sync blocks until the ctx ends; lockstep fails at once, and the doomed
// call does not hold up the others (x/sync's TestWeightedDoesntBlockIfTooBig).
func TestTooLargeFailsAtOnce(t *testing.T) {
	s := semaphore.New(2)
	if err := s.Acquire(context.Background(), 3); !errors.Is(err, semaphore.ErrTooLarge) {
		t.Fatalf("Acquire(3) on capacity 2 = %v, want ErrTooLarge", err)
	}
	if s.TryAcquire(3) {
		t.Fatal("TryAcquire(3) on capacity 2 succeeded")
	}
	testutil.Run(t, 6, func(int) {
		for range 100 {
			if err := s.Acquire(context.Background(), 1); err != nil {
				t.Error(err)
				return
			}
			s.Release(1)
		}
	})
	checkIdle(t, s, 2)
}

// Port of x/sync's TestWeightedAcquireCanceled (golang/go#63615): the ctx is
// cancelled before the permits it waits for are released, so the Acquire
// must fail, and the permits must all be there afterwards.
func TestAcquireCancelledBeforeRelease(t *testing.T) {
	for range testutil.Scale(1000) {
		s := semaphore.New(2)
		ctx, cancel := context.WithCancel(context.Background())
		if err := s.Acquire(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		released := make(chan struct{})
		go func() {
			defer close(released)
			for s.Waiters() == 0 { // until Acquire(2) has queued
				runtime.Gosched()
			}
			cancel()
			s.Release(1)
		}()
		if err := s.Acquire(ctx, 2); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire with a ctx cancelled before the release = %v, want context.Canceled", err)
		}
		<-released
		checkIdle(t, s, 2)
	}
}

// Port of x/sync's TestAllocCancelDoesntStarve and golang/go#37852: a big
// waiter at the front blocks a small one; when the big one gives up, the
// small one must be woken.
func TestCancelledHeadWakesWaitersBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := semaphore.New(10)
		if err := s.Acquire(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		big := make(chan error, 1)
		go func() { big <- s.Acquire(ctx, 10) }()
		synctest.Wait()
		small := make(chan error, 1)
		go func() { small <- s.Acquire(context.Background(), 1) }()
		synctest.Wait()
		if s.Waiters() != 2 {
			t.Fatalf("Waiters() = %d, want 2 (the small one must queue behind the big one)", s.Waiters())
		}
		cancel()
		if err := <-big; !errors.Is(err, context.Canceled) {
			t.Fatalf("big waiter: %v, want context.Canceled", err)
		}
		if err := <-small; err != nil {
			t.Fatalf("small waiter behind the cancelled head: %v", err)
		}
		s.Release(2)
		checkIdle(t, s, 10)
	})
}

// Head-of-line blocking: a waiter that does not fit holds up the smaller
// ones behind it, and TryAcquire does not jump the queue.
func TestStrictFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := semaphore.New(4)
		if err := s.Acquire(context.Background(), 3); err != nil {
			t.Fatal(err)
		}
		var order []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, n := range []int64{4, 1, 2, 1} {
			wg.Go(func() {
				if err := s.Acquire(context.Background(), n); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				s.Release(n)
			})
			synctest.Wait() // queue them in this order
		}
		if s.Waiters() != 4 {
			t.Fatalf("Waiters() = %d, want 4: a waiter jumped the big one at the front", s.Waiters())
		}
		if s.TryAcquire(1) {
			t.Fatal("TryAcquire(1) jumped the queue")
		}
		s.Release(3)
		wg.Wait()
		if order[0] != 0 {
			t.Fatalf("service order %v: the big waiter at the front was not served first", order)
		}
		checkIdle(t, s, 4)
	})
}

// Port of x/sync's TestLargeAcquireDoesntStarve: goroutines that release
// and re-acquire one permit in a tight loop must not starve an Acquire of
// the whole capacity. Merely returning is success; the watchdog of
// testutil.Run turns starvation into a failure with stacks.
func TestLargeAcquireDoesntStarve(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		ctx := context.Background()
		n := int64(4)
		s := semaphore.New(n)
		var running atomic.Bool
		running.Store(true)
		var wg sync.WaitGroup
		for range n {
			if err := s.Acquire(ctx, 1); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				defer s.Release(1)
				for running.Load() {
					s.Release(1)
					if err := s.Acquire(ctx, 1); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := s.Acquire(ctx, n); err != nil {
				t.Error(err)
			}
			running.Store(false)
			s.Release(n)
		}()
		var all sync.WaitGroup
		all.Go(func() { <-done; wg.Wait() })
		testutil.WaitLive(t, &all)
		checkIdle(t, s, n)
	})
}

// Deadlines on the fake clock: a timed-out Acquire fails after exactly its
// timeout, leaves the semaphore unchanged, and (being the head) wakes the
// waiter behind it.
func TestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := semaphore.New(3)
		if err := s.Acquire(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		headErr := make(chan error, 1)
		go func() { headErr <- s.Acquire(ctx, 3) }()
		synctest.Wait()
		behind := make(chan error, 1)
		go func() { behind <- s.Acquire(context.Background(), 1) }()
		synctest.Wait()
		select {
		case <-behind:
			t.Fatal("the waiter behind the head was served first")
		default:
		}
		err := <-headErr
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("timed Acquire = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("timed out after %v of fake time, want 5s", d)
		}
		if err := <-behind; err != nil {
			t.Fatalf("waiter behind the timed-out head: %v", err)
		}
		s.Release(3)
		checkIdle(t, s, 3)
	})
}

func TestResizeGrowWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := semaphore.New(1)
		if !s.TryAcquire(1) {
			t.Fatal("TryAcquire failed")
		}
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- s.Acquire(context.Background(), 1) }()
		}
		synctest.Wait()
		if s.Waiters() != 3 {
			t.Fatalf("Waiters() = %d, want 3", s.Waiters())
		}
		s.Resize(3) // two more permits: the first two waiters fit
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if s.Waiters() != 1 || s.Available() != 0 {
			t.Fatalf("after Resize(3): %d waiters, %d available; want 1, 0", s.Waiters(), s.Available())
		}
		s.Release(1)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		s.Release(3)
		checkIdle(t, s, 3)
	})
}

func TestResizeShrink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := semaphore.New(5)
		if err := s.Acquire(context.Background(), 4); err != nil {
			t.Fatal(err)
		}
		big := make(chan error, 1)
		go func() { big <- s.Acquire(context.Background(), 4) }()
		synctest.Wait()
		small := make(chan error, 1)
		go func() { small <- s.Acquire(context.Background(), 1) }()
		synctest.Wait()
		if s.Waiters() != 2 {
			t.Fatalf("Waiters() = %d, want 2", s.Waiters())
		}

		// Shrink below what is held and below the big waiter's weight.
		s.Resize(3)
		if err := <-big; !errors.Is(err, semaphore.ErrTooLarge) {
			t.Fatalf("waiter of 4 after Resize(3) = %v, want ErrTooLarge", err)
		}
		if got := s.Available(); got != -1 {
			t.Fatalf("Available() = %d, want -1 (4 held of 3)", got)
		}
		synctest.Wait()
		select {
		case err := <-small:
			t.Fatalf("small waiter served with no permits available: %v", err)
		default:
		}
		if err := s.Acquire(context.Background(), 4); !errors.Is(err, semaphore.ErrTooLarge) {
			t.Fatalf("Acquire(4) after Resize(3) = %v, want ErrTooLarge", err)
		}

		s.Release(2) // 2 held of 3: one permit free, the small waiter fits
		if err := <-small; err != nil {
			t.Fatal(err)
		}
		if got := s.Available(); got != 0 {
			t.Fatalf("Available() = %d, want 0", got)
		}
		s.Release(3)
		checkIdle(t, s, 3)
	})
}

func TestReleaseMoreThanHeldPanics(t *testing.T) {
	s := semaphore.New(2)
	if err := s.Acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	expectPanic(t, "semaphore: released more than held", func() { s.Release(2) })
	// The failed Release changed nothing.
	if s.Available() != 1 {
		t.Fatalf("Available() = %d after the panicking Release, want 1", s.Available())
	}
	s.Release(1)
	expectPanic(t, "semaphore: released more than held", func() { s.Release(1) })
	checkIdle(t, s, 2)
}

func TestMisusePanics(t *testing.T) {
	s := semaphore.New(2)
	ctx := context.Background()
	expectPanic(t, "semaphore: negative capacity", func() { semaphore.New(-1) })
	expectPanic(t, "semaphore: negative capacity", func() { s.Resize(-1) })
	expectPanic(t, "semaphore: negative weight", func() { _ = s.Acquire(ctx, -1) })
	done, cancel := context.WithCancel(ctx)
	cancel()
	expectPanic(t, "semaphore: negative weight", func() { _ = s.Acquire(done, -1) })
	expectPanic(t, "semaphore: negative weight", func() { s.TryAcquire(-1) })
	expectPanic(t, "semaphore: negative weight", func() { s.Release(-1) })
	checkIdle(t, s, 2)
}

func expectPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want %q", want)
		}
		if r != want {
			t.Fatalf("panic %q, want %q", r, want)
		}
	}()
	f()
}

// lockerSem uses a semaphore of capacity 1 as a mutex, for
// testutil.HammerMutex: mutual exclusion and, under -race, the
// Release-synchronizes-before-Acquire guarantee on a plain counter.
type lockerSem struct{ s *semaphore.Weighted }

func (l lockerSem) Lock() {
	if err := l.s.Acquire(context.Background(), 1); err != nil {
		panic(err)
	}
}
func (l lockerSem) Unlock() { l.s.Release(1) }

func TestMutualExclusion(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		s := semaphore.New(1)
		testutil.HammerMutex(t, lockerSem{s}, 8, testutil.Scale(2000))
		checkIdle(t, s, 1)
	})
}

// The weighted hammer: goroutines take random weights with Acquire and
// TryAcquire; the permits in use never exceed the capacity, and all of them
// are back at the end.
func TestWeightedHammer(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		const capacity = 6
		s := semaphore.New(capacity)
		var inUse, over, peak atomic.Int64
		iters := testutil.Scale(3000)
		testutil.Run(t, 8, func(id int) {
			r := rand.New(rand.NewPCG(uint64(id), 7))
			for range iters {
				n := 1 + r.Int64N(capacity)
				if r.IntN(4) == 0 {
					if !s.TryAcquire(n) {
						continue
					}
				} else if err := s.Acquire(context.Background(), n); err != nil {
					t.Error(err)
					return
				}
				u := inUse.Add(n)
				if u > capacity {
					over.Add(1)
				}
				for p := peak.Load(); u > p && !peak.CompareAndSwap(p, u); p = peak.Load() {
				}
				if r.IntN(8) == 0 {
					runtime.Gosched()
				}
				inUse.Add(-n)
				s.Release(n)
			}
		})
		if n := over.Load(); n != 0 {
			t.Fatalf("permits in use exceeded the capacity %d times", n)
		}
		t.Logf("peak in use %d of %d", peak.Load(), capacity)
		checkIdle(t, s, capacity)
	})
}

// Cancel-versus-release races, at least 1e5 in the full run: waiters whose
// ctx is cancelled by another goroutine right around its Release, while
// others acquire with weights that make them queue. Afterwards exactly the
// initial permits remain, nobody is queued, and the capacity was never
// exceeded.
func TestCancelVersusRelease(t *testing.T) {
	const capacity = 3
	const goroutines = 8
	total := testutil.Scale(100000)
	s := semaphore.New(capacity)
	var inUse, over, granted, cancelled atomic.Int64
	// slot holds the cancel func of some goroutine that is about to wait;
	// whoever releases next fires it, racing its own Release.
	var slot atomic.Pointer[context.CancelFunc]
	testutil.Run(t, goroutines, func(id int) {
		r := rand.New(rand.NewPCG(uint64(id), 11))
		for range total / goroutines {
			n := 1 + r.Int64N(capacity)
			ctx, cancel := context.WithCancel(context.Background())
			if r.IntN(2) == 0 {
				slot.Store(&cancel)
			}
			err := s.Acquire(ctx, n)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Acquire = %v, want nil or context.Canceled", err)
				}
				cancelled.Add(1)
				cancel()
				continue
			}
			granted.Add(1)
			if inUse.Add(n) > capacity {
				over.Add(1)
			}
			if r.IntN(4) == 0 {
				// Hold the permits across a yield now and then, so that
				// others queue even on one processor (at GOMAXPROCS=1 a
				// goroutine otherwise ran its whole loop in one time slice
				// and nothing was ever cancelled while waiting).
				runtime.Gosched()
			}
			inUse.Add(-n)
			other := slot.Swap(nil)
			if other != nil && r.IntN(2) == 0 {
				(*other)() // cancel before the release
				other = nil
			}
			s.Release(n)
			if other != nil {
				(*other)() // cancel after it
			}
			cancel()
		}
	})
	if n := over.Load(); n != 0 {
		t.Fatalf("capacity exceeded %d times", n)
	}
	t.Logf("%d granted, %d cancelled", granted.Load(), cancelled.Load())
	if cancelled.Load() == 0 {
		t.Fatal("no Acquire was cancelled: the test raced nothing")
	}
	checkIdle(t, s, capacity)
}

// Resize under load: capacities change while goroutines acquire and
// release; afterwards, resized back, everything is idle.
func TestResizeUnderLoad(t *testing.T) {
	const maxCap = 6
	s := semaphore.New(maxCap)
	var inUse, over atomic.Int64
	var stop atomic.Bool
	iters := testutil.Scale(2000)
	var resizer sync.WaitGroup
	resizer.Go(func() {
		r := rand.New(rand.NewPCG(99, 1))
		for !stop.Load() {
			s.Resize(1 + r.Int64N(maxCap))
			runtime.Gosched()
		}
	})
	testutil.Run(t, 6, func(id int) {
		r := rand.New(rand.NewPCG(uint64(id), 3))
		for range iters {
			n := 1 + r.Int64N(3)
			ctx, cancel := context.WithCancel(context.Background())
			if r.IntN(8) == 0 {
				cancel()
			}
			err := s.Acquire(ctx, n)
			cancel()
			switch {
			case err == nil:
			case errors.Is(err, semaphore.ErrTooLarge), errors.Is(err, context.Canceled):
				continue
			default:
				t.Errorf("Acquire = %v", err)
				return
			}
			if inUse.Add(n) > maxCap {
				over.Add(1)
			}
			inUse.Add(-n)
			s.Release(n)
		}
	})
	stop.Store(true)
	resizer.Wait()
	if over.Load() != 0 {
		t.Fatalf("more than the largest capacity in use %d times", over.Load())
	}
	s.Resize(maxCap)
	checkIdle(t, s, maxCap)
}

// Resize, cancellation, TryAcquire and Release racing with the yield hooks
// on: afterwards every permit is back and nobody is queued.
func TestResizeCancelTryAcquireStress(t *testing.T) {
	testhook.Enable(t)
	const maxCap = 5
	s := semaphore.New(maxCap)
	iters := testutil.Scale(3000)
	var stop atomic.Bool
	var bg sync.WaitGroup
	bg.Go(func() {
		r := rand.New(rand.NewPCG(1, 2))
		for !stop.Load() {
			s.Resize(r.Int64N(maxCap + 1))
			runtime.Gosched()
		}
	})
	testutil.Run(t, 6, func(id int) {
		r := rand.New(rand.NewPCG(uint64(id), 9))
		for range iters {
			n := 1 + r.Int64N(3)
			if r.IntN(4) == 0 {
				if s.TryAcquire(n) {
					runtime.Gosched()
					s.Release(n)
				}
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			if r.IntN(3) == 0 {
				go cancel()
			}
			err := s.Acquire(ctx, n)
			switch {
			case err == nil:
				runtime.Gosched()
				s.Release(n)
			case errors.Is(err, semaphore.ErrTooLarge), errors.Is(err, context.Canceled):
			default:
				t.Errorf("Acquire = %v", err)
			}
			cancel()
		}
	})
	stop.Store(true)
	bg.Wait()
	s.Resize(maxCap)
	checkIdle(t, s, maxCap)
}
