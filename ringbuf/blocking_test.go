package ringbuf_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/ringbuf"
)

// parkedRing is ring plus the test-only count of parked goroutines.
type parkedRing interface {
	ring[int]
	Parked() int
}

type parkedKind struct {
	name string
	new  func(capacity int) parkedRing
	// most is how many goroutines may push (or pop) at once: 1 for SPSC.
	most int
}

var parkedKinds = []parkedKind{
	{"MPMC", func(n int) parkedRing { return ringbuf.NewMPMC[int](n) }, 5},
	{"SPSC", func(n int) parkedRing { return ringbuf.NewSPSC[int](n) }, 1},
}

func forParkedKinds(t *testing.T, fn func(t *testing.T, k parkedKind)) {
	for _, k := range parkedKinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k) })
	}
}

// Close wakes every goroutine parked in Push on a full queue; each returns
// ErrClosed and the queue still holds what it held.
func TestCloseWakesBlockedPushers(t *testing.T) {
	forParkedKinds(t, func(t *testing.T, k parkedKind) {
		synctest.Test(t, func(t *testing.T) {
			q := k.new(2)
			q.TryPush(1)
			q.TryPush(2)
			errs := make(chan error, k.most)
			for i := range k.most {
				go func() { errs <- q.Push(context.Background(), 10+i) }()
			}
			synctest.Wait()
			if n := q.Parked(); n != k.most {
				t.Fatalf("%d goroutines parked in Push, want %d", n, k.most)
			}
			if len(errs) != 0 {
				t.Fatal("a Push on a full queue returned")
			}
			q.Close()
			for range k.most {
				if err := <-errs; !errors.Is(err, ringbuf.ErrClosed) {
					t.Fatalf("blocked Push after Close = %v, want ErrClosed", err)
				}
			}
			if q.Parked() != 0 || q.Len() != 2 {
				t.Fatalf("after Close: parked %d, Len %d; want 0, 2", q.Parked(), q.Len())
			}
		})
	})
}

// Close wakes every goroutine parked in Pop on an empty queue.
func TestCloseWakesBlockedPoppers(t *testing.T) {
	forParkedKinds(t, func(t *testing.T, k parkedKind) {
		synctest.Test(t, func(t *testing.T) {
			q := k.new(3)
			errs := make(chan error, k.most)
			for range k.most {
				go func() {
					_, err := q.Pop(context.Background())
					errs <- err
				}()
			}
			synctest.Wait()
			if n := q.Parked(); n != k.most {
				t.Fatalf("%d goroutines parked in Pop, want %d", n, k.most)
			}
			q.Close()
			for range k.most {
				if err := <-errs; !errors.Is(err, ringbuf.ErrClosed) {
					t.Fatalf("blocked Pop after Close = %v, want ErrClosed", err)
				}
			}
			if q.Parked() != 0 {
				t.Fatalf("after Close: %d goroutines parked", q.Parked())
			}
		})
	})
}

// A parked popper is woken by a push from TryPush too, and a parked pusher
// by TryPop; what they wait for arrives intact.
func TestTryOperationsWakeParkedGoroutines(t *testing.T) {
	forParkedKinds(t, func(t *testing.T, k parkedKind) {
		synctest.Test(t, func(t *testing.T) {
			q := k.new(1)
			got := make(chan int, 1)
			go func() {
				v, err := q.Pop(context.Background())
				if err != nil {
					t.Errorf("Pop: %v", err)
				}
				got <- v
			}()
			synctest.Wait()
			if q.Parked() != 1 {
				t.Fatalf("parked = %d, want 1", q.Parked())
			}
			q.TryPush(42)
			if v := <-got; v != 42 {
				t.Fatalf("woken Pop returned %d, want 42", v)
			}

			q.TryPush(1) // full
			done := make(chan error, 1)
			go func() { done <- q.Push(context.Background(), 2) }()
			synctest.Wait()
			if q.Parked() != 1 {
				t.Fatalf("parked = %d, want 1", q.Parked())
			}
			if v, ok := q.TryPop(); !ok || v != 1 {
				t.Fatalf("TryPop = %d, %v", v, ok)
			}
			if err := <-done; err != nil {
				t.Fatalf("woken Push = %v", err)
			}
			if v, ok := q.TryPop(); !ok || v != 2 {
				t.Fatalf("TryPop = %d, %v; want the woken Push's item", v, ok)
			}
		})
	})
}

// A parked Pop whose deadline passes returns the ctx error, unregisters,
// and leaves the queue as it was; likewise a parked Push.
func TestDeadlineWhileParked(t *testing.T) {
	forParkedKinds(t, func(t *testing.T, k parkedKind) {
		synctest.Test(t, func(t *testing.T) {
			q := k.new(1)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			_, err := q.Pop(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Pop = %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d != time.Second {
				t.Fatalf("Pop returned after %v, want 1s", d)
			}
			q.TryPush(1)
			ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
			defer cancel2()
			if err := q.Push(ctx2, 2); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Push = %v, want DeadlineExceeded", err)
			}
			if q.Parked() != 0 || q.Len() != 1 {
				t.Fatalf("after the deadlines: parked %d, Len %d; want 0, 1", q.Parked(), q.Len())
			}
			if v, ok := q.TryPop(); !ok || v != 1 {
				t.Fatalf("TryPop = %d, %v; want 1, true", v, ok)
			}
		})
	})
}

// A waiter at the front that gives up does not strand the one behind it
// (golang/go#37852): the next push reaches the second popper.
func TestCancelledFrontWaiterStrandsNobody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := ringbuf.NewMPMC[int](1)
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() {
			_, err := q.Pop(ctx)
			first <- err
		}()
		synctest.Wait()
		second := make(chan int, 1)
		go func() {
			v, err := q.Pop(context.Background())
			if err != nil {
				t.Errorf("second Pop: %v", err)
			}
			second <- v
		}()
		synctest.Wait()
		if q.Parked() != 2 {
			t.Fatalf("parked = %d, want 2", q.Parked())
		}
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Fatalf("first Pop = %v, want Canceled", err)
		}
		synctest.Wait()
		q.TryPush(7)
		if v := <-second; v != 7 {
			t.Fatalf("second Pop = %d, want 7", v)
		}
	})
}

// Cancellation racing with wakes, many times over: poppers and pushers
// give up at random moments (before parking, while parked, just as they
// are woken). A failed Pop must not have taken an item and a failed Push
// must not have stored one: every item is popped exactly once, and
// nobody is left parked.
func TestCancelVersusWake(t *testing.T) {
	forParkedKinds(t, func(t *testing.T, k parkedKind) {
		for _, c := range []int{1, 3} {
			t.Run(fmt.Sprintf("cap=%d", c), func(t *testing.T) {
				cancelVersusWake(t, k, c)
			})
		}
	})
}

func cancelVersusWake(t *testing.T, k parkedKind, capacity int) {
	q := k.new(capacity)
	sides := min(k.most, 3) // pushers, and as many poppers
	per := testutil.Scale(2000)
	total := sides * per
	seen := make([]atomic.Int32, total)
	var popped, cancels atomic.Int64
	// withRandomCancel gives a ctx that ends at a random moment, or not.
	withRandomCancel := func(r *rand.Rand) (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		switch r.IntN(4) {
		case 0:
			go cancel()
		case 1:
			go func() {
				runtime.Gosched()
				cancel()
			}()
		}
		return ctx, cancel
	}
	testutil.Run(t, 2*sides, func(id int) {
		r := rand.New(rand.NewPCG(uint64(id), 7))
		if id < sides {
			for i := range per {
				v := id*per + i
				for {
					ctx, cancel := withRandomCancel(r)
					err := q.Push(ctx, v)
					cancel()
					if err == nil {
						break
					}
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Push: %v", err)
						return
					}
					cancels.Add(1)
				}
			}
			return
		}
		for popped.Load() < int64(total) {
			ctx, cancel := withRandomCancel(r)
			v, err := q.Pop(ctx)
			cancel()
			if err != nil {
				if errors.Is(err, ringbuf.ErrClosed) && popped.Load() == int64(total) {
					return
				}
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Pop: %v", err)
					return
				}
				cancels.Add(1)
				continue
			}
			seen[v].Add(1)
			if popped.Add(1) == int64(total) {
				q.Close() // release the other poppers
			}
		}
	})
	for v := range seen {
		if n := seen[v].Load(); n != 1 {
			t.Fatalf("item %d popped %d times, want once", v, n)
		}
	}
	if q.Parked() != 0 {
		t.Fatalf("%d goroutines left parked", q.Parked())
	}
	t.Logf("%d calls cancelled", cancels.Load())
}
