package semaphore

import (
	"context"
	"errors"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/lockdep"
)

// The hooks of package diag (internal/lockdep). Acquire takes the tracked
// path below only in a build with -tags lockstep_debug or while some lock
// is watched for statistics. Statistics count every acquisition; the
// lock-order checker tracks only a semaphore of capacity one acquired with
// weight one, which is a lock (with more permits, holding one and waiting
// for another semaphore deadlocks only when all are taken, and taking two
// is no self-deadlock). Any goroutine may release permits, so releases are
// never reported as unlocks of a lock not held.

var weightedType = lockdep.Type{Name: "semaphore.Weighted", Unowned: true}

// mode is how the checker sees an acquisition of n permits.
func (s *Weighted) mode(n int64) lockdep.Mode {
	if n == 1 && s.capacity.Load() == 1 {
		return lockdep.Write
	}
	return lockdep.Counted
}

// releaseMode is how the checker sees a release of n permits. A release of
// one may end a hold taken as a lock, when the capacity was one, even if a
// Resize has changed the capacity since: it is looked up whatever the
// capacity is now. (Judged by the capacity now, the hold of a semaphore
// resized to two while held stayed recorded for ever: false inversions, a
// false "recursive locking" at the next Acquire. Found by an adversarial
// review, 2026-12-06.) A release with no such hold changes nothing.
func releaseMode(n int64) lockdep.Mode {
	if n == 1 {
		return lockdep.Write
	}
	return lockdep.Counted
}

func (s *Weighted) acquireTracked(ctx context.Context, n int64) error {
	t := lockdep.Acquire(unsafe.Pointer(s), &weightedType, s.mode(n))
	st := s.state.Load()
	if st&flagMask == 0 && st>>permitShift >= n && s.state.CompareAndSwap(st, st-n<<permitShift) {
		t.Acquired()
		return nil
	}
	t.Wait()
	switch err := s.acquireSlow(ctx, n); {
	case err == nil:
		t.Acquired()
	case errors.Is(err, ErrTooLarge):
		t.Failed()
		return err
	default:
		t.Canceled()
		return err
	}
	return nil
}

func (s *Weighted) tried(n int64) {
	lockdep.TryAcquired(unsafe.Pointer(s), &weightedType, s.mode(n))
}
