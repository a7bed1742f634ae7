//go:build lockstep_debug

package diag_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/diag"
	"github.com/lockstep-go/lockstep/semaphore"
)

// A semaphore of capacity one that bounds work to one job in flight, the
// pattern of x/sync's semaphore example: the loop acquires the permit and
// hands it to a worker goroutine, which releases it when its job is done;
// the loop's next Acquire waits for that release. Nothing here can
// deadlock, yet the next Acquire was reported as recursive locking ("the
// goroutine waits for itself, forever"), and with Config.Panic it panicked:
// the checker still counted the permit as the loop's own hold, although
// semaphores (and locks marked Unowned) are released by other goroutines by
// design. (Found by an adversarial review.)
func TestSemaphoreHandedToWorkerIsNoRecursion(t *testing.T) {
	r := collect(t, diag.Config{})
	s := semaphore.New(1)
	ctx := context.Background()
	var wg sync.WaitGroup
	// Job 1: its worker releases the permit only once the loop waits for
	// it, so that the loop's Acquire surely starts while the permit is out.
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for s.Waiters() == 0 {
			runtime.Gosched()
		}
		s.Release(1)
	})
	// Job 2.
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { s.Release(1) })
	wg.Wait()
	r.none(t)
	// The books balance: the permits are back, and acquiring again is no
	// recursion either.
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Release(1)
	r.none(t)
}

// TestSemaphoreResizedWhileHeldReleasesHold caught a hold that outlived its
// release partly by the false recursion report at the next Acquire, which
// a semaphore no longer gets (above). This keeps that regression caught by
// an edge instead: a hold left recorded after the release would order the
// mutex after the semaphore, and the reverse order below would be reported
// as an inversion.
func TestSemaphoreResizedWhileHeldLeavesNoEdges(t *testing.T) {
	r, s, m := heldSemaphoreResized(t)
	ctx := context.Background()
	s.Release(1)
	s.Resize(1)
	m.Lock() // no hold of s: no edge s -> m
	m.Unlock()
	inGoroutine(func() {
		m.Lock()
		if err := s.Acquire(ctx, 1); err != nil {
			t.Error(err)
		}
		s.Release(1)
		m.Unlock()
	})
	r.none(t)
}
