package mutex

import (
	"context"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/lockdep"
)

// The hooks of package diag (internal/lockdep). Lock and LockContext leave
// their fast paths for the tracked paths below only in a build with -tags
// lockstep_debug or while some lock is watched for statistics (their CAS
// then expects lockdep.FastFreeInt32's "tracked" value and fails); the
// release hooks compile to nothing without the tag. Cond needs no hooks of
// its own: it unlocks and relocks its Locker through the Locker's methods.

var (
	mutexType = lockdep.Type{Name: "mutex.Mutex"}
	fairType  = lockdep.Type{Name: "mutex.Fair"}
)

// lockTracked is Lock's slow path. It is not inlined, so that Lock stays
// small enough to inline.
//
//go:noinline
func (m *Mutex) lockTracked() { _ = m.lockContextTracked(nil) }

// lockContextTracked runs the hooks around an acquisition; a nil ctx is
// Lock's (lockSlow waits without a context then).
func (m *Mutex) lockContextTracked(ctx context.Context) error {
	t := lockdep.Acquire(unsafe.Pointer(m), &mutexType, lockdep.Write)
	if m.state.CompareAndSwap(0, mutexLocked) {
		t.Acquired()
		return nil
	}
	t.Wait()
	if err := m.lockSlow(ctx); err != nil {
		t.Canceled()
		return err
	}
	t.Acquired()
	return nil
}

//go:noinline
func (f *Fair) lockTracked() { _ = f.lockContextTracked(nil) }

func (f *Fair) lockContextTracked(ctx context.Context) error {
	t := lockdep.Acquire(unsafe.Pointer(f), &fairType, lockdep.Write)
	if f.state.CompareAndSwap(0, fairLocked) {
		t.Acquired()
		return nil
	}
	t.Wait()
	if err := f.lockSlow(ctx); err != nil {
		t.Canceled()
		return err
	}
	t.Acquired()
	return nil
}

// tryLockTracked runs when TryLock's CAS failed: the lock was busy, or the
// CAS expected lockdep.FastFreeInt32's "tracked" value.
func (f *Fair) tryLockTracked() bool {
	if lockdep.Active() && f.state.CompareAndSwap(0, fairLocked) {
		lockdep.TryAcquired(unsafe.Pointer(f), &fairType, lockdep.Write)
		return true
	}
	return false
}
