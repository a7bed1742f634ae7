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

// released tells the checker that n permits were released. A semaphore of
// capacity one is a lock, and its release may come from any goroutine
// (Unowned: the hold moves to it). With another capacity, a release of one
// permit may still end a hold this goroutine took as a lock when the
// capacity was one, before a Resize; it ends that one only, never another
// goroutine's. (Judged by the capacity at the release alone, such a hold
// stayed recorded for ever: false inversions, and a false "recursive
// locking" at the next Acquire. Found by an adversarial review,
// 2026-12-06.)
func (s *Weighted) released(n int64) {
	switch {
	case n != 1:
	case s.capacity.Load() == 1:
		lockdep.Release(unsafe.Pointer(s), &weightedType, lockdep.Write)
	default:
		lockdep.ReleaseOwn(unsafe.Pointer(s), lockdep.Write)
	}
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
