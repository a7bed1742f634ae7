package waitq_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// A woken waiter may return, Recycle its record and have it handed to
// another queue's waiter while its waker is still inside Wake. Wake must
// be done with the record by then: a write to it after the CAS that marks
// it woken (the first version unlinked it after that CAS) lands in
// another queue's waiter, and the race detector reports the two writes.
// Each round a waiter parks on queue a, is woken by the waker goroutine,
// recycles its record and queues on b at once; the queues are checked
// whole after every round.
func TestRecycledWaiterOutrunsItsWaker(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(5000)
	for _, cancellable := range []bool{false, true} {
		var amu, bmu sync.Mutex
		var a, b waitq.Queue
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				amu.Lock()
				if f := a.Front(); f != nil {
					a.Wake(f)
				}
				amu.Unlock()
			}
		})
		ctx := context.Background()
		if cancellable {
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			ctx = c
		}
		for i := range rounds {
			amu.Lock()
			w := a.Enqueue(int64(i))
			var err error
			if cancellable {
				err = a.Wait(ctx, &amu, w, nil)
			} else {
				a.WaitNoCtx(&amu, w)
			}
			if err != nil {
				t.Fatalf("round %d: Wait = %v", i, err)
			}
			w.Recycle()

			// Queue on b (the pool most likely hands back the same
			// record) and leave again.
			bmu.Lock()
			x := b.Enqueue(-1)
			y := b.Enqueue(-2)
			if b.Len() != 2 || b.Front() != x || x.Next() != y || y.Next() != nil {
				bmu.Unlock()
				t.Fatalf("round %d: queue b damaged: Len %d", i, b.Len())
			}
			b.Cancel(x)
			b.Cancel(y)
			bmu.Unlock()
			x.Recycle()
			y.Recycle()
			amu.Lock()
			n := a.Len()
			amu.Unlock()
			if n != 0 {
				t.Fatalf("round %d: queue a holds %d waiters, want 0", i, n)
			}
		}
		close(stop)
		wg.Wait()
	}
}

// A recycled waiter starts clean: the value, the state and the channel of
// its last wait are gone, and Recycle refuses a waiter that is still
// queued (its record would be in two queues at once).
func TestRecycleStartsClean(t *testing.T) {
	var mu sync.Mutex
	var q waitq.Queue
	w := q.Enqueue(7)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Recycle of a queued waiter did not panic")
			}
		}()
		w.Recycle()
	}()
	if q.Len() != 1 || q.Front() != w {
		t.Fatal("the refused Recycle changed the queue")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mu.Lock()
	q.Wake(w)
	if err := q.Wait(ctx, &mu, w, nil); err != nil {
		t.Fatalf("Wait after Wake = %v", err)
	}
	w.Recycle()
	for range 100 { // the pool may hand back other records first
		v := q.Enqueue(9)
		if v.Value != 9 {
			t.Fatalf("Value = %d, want 9", v.Value)
		}
		// It waits afresh: not woken, and a cancelled ctx ends its wait.
		c, cancelNow := context.WithCancel(context.Background())
		cancelNow()
		mu.Lock()
		if err := q.Wait(c, &mu, v, nil); err == nil {
			t.Fatal("a recycled waiter's Wait succeeded with nobody waking it")
		}
		v.Recycle()
	}
}

// Records move between testing/synctest bubbles and the world outside
// through the pool: a waiter that parked without a ctx inside a bubble is
// reused outside it, and the other way round. Inside, the parked waiter
// must be durably blocked, or synctest.Wait never returns (a park on a
// sync.Mutex, say, would hang here); across, nothing in the record may be
// bound to a bubble (a channel made inside one panics when used outside).
func TestRecycledAcrossBubbles(t *testing.T) {
	park := func(inBubble bool) {
		var mu sync.Mutex
		var q waitq.Queue
		mu.Lock()
		w := q.Enqueue(0)
		parked := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			close(parked)
			q.WaitNoCtx(&mu, w)
			w.Recycle()
		}()
		<-parked
		if inBubble {
			synctest.Wait() // the waiter is durably blocked
		}
		mu.Lock()
		q.Wake(q.Front())
		mu.Unlock()
		<-done
	}
	for range 3 {
		synctest.Test(t, func(t *testing.T) {
			for range 50 {
				park(true)
			}
		})
		for range 50 {
			park(false)
		}
	}
}

// Records go round between several queues and goroutines as fast as they
// can: waits with and without a ctx (some cancelled at once), wakers that
// change the front's Value and wake it (half of them with WakeLater, the
// goroutine readied after the queue lock is released). Each record has one
// owner at a time, and a woken waiter sees its waker's Value. From the
// review of the Cond park: a Wake that signalled a waiter that had not
// announced itself could, delayed, consume the ticket of the record's next
// wait, and that waiter returned from a park nobody woke ("wait on a
// waiter that is not queued").
func TestRecycledRecordsHaveOneOwner(t *testing.T) {
	testhook.Enable(t) // widen Wake's window between its CAS and its signal
	const queues, waiters = 3, 8
	cycles := testutil.Scale(20000)
	var mus [queues]sync.Mutex
	var qs [queues]waitq.Queue
	var owners sync.Map // *waitq.Waiter -> the goroutine that holds it
	var finished atomic.Bool
	var wakers, workers sync.WaitGroup
	for k := range queues {
		wakers.Go(func() {
			for n := 0; !finished.Load(); n++ {
				mus[k].Lock()
				var later waitq.Wakeup
				if f := qs[k].Front(); f != nil {
					f.Value = -f.Value // the waiter checks that it sees this
					if n%2 == 0 {
						qs[k].Wake(f)
					} else {
						later = qs[k].WakeLater(f) // readied after the unlock
					}
				}
				mus[k].Unlock()
				later.Do()
				if n%4 == 0 {
					runtime.Gosched() // let the woken run: 11 goroutines here
				}
			}
		})
	}
	for g := range waiters {
		workers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range cycles {
				k := rng.IntN(queues)
				token := int64(g)<<32 | int64(i+1)
				mus[k].Lock()
				w := qs[k].Enqueue(token)
				if other, taken := owners.LoadOrStore(w, g); taken {
					mus[k].Unlock()
					t.Errorf("goroutine %d was handed a record that goroutine %v holds", g, other)
					return
				}
				var err error
				switch rng.IntN(3) {
				case 0:
					qs[k].WaitNoCtx(&mus[k], w)
				case 1:
					err = qs[k].Wait(context.Background(), &mus[k], w, nil)
				default:
					ctx, cancel := context.WithCancel(context.Background())
					if rng.IntN(2) == 0 {
						cancel()
					}
					err = qs[k].Wait(ctx, &mus[k], w, nil)
					cancel()
				}
				if err == nil && w.Value != -token {
					t.Errorf("woken with Value %d, want the waker's %d", w.Value, -token)
					return
				}
				owners.Delete(w)
				w.Recycle()
			}
		})
	}
	workers.Wait()
	finished.Store(true)
	wakers.Wait()
}
