package mutex

import (
	"context"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/testhook"
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
// Unless the hooks are active it first tries to barge, as lockSlow's first
// step would: the fast path's CAS also fails when the lock is free but
// waiters are registered or one is awake, and a goroutine that holds its
// processor while the others wait (four goroutines a processor, 1 CPU)
// takes that path on every Lock. Going straight to the CAS, without the
// hooks' calls, took the suite's oversubscribed Mutex workload from 29.5
// to 26.4 ns at 1 CPU and 38.5 to 33.1 ns at 2 (8 interleaved runs,
// p=0.005 and p=0.021; contended workloads level).
//
//go:noinline
func (m *Mutex) lockTracked() {
	if !lockdep.Active() {
		if old := m.state.Load(); old&(mutexLocked|mutexStarving) == 0 {
			testhook.Yield() // racy window: between the load and the CAS
			if m.state.CompareAndSwap(old, old|mutexLocked) {
				return
			}
		}
	}
	_ = m.lockContextTracked(nil)
}

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

// lockTracked is Fair.Lock's slow path. Unless the hooks are active it goes
// straight to lockSlow, which takes a free lock itself, without the hooks'
// calls and their second CAS on a word the owner is about to write, as
// Mutex.lockTracked does. In the suite's oversubscribed FairLocks workload
// that took Fair from 1.07x to 0.89x a channel of one at 1 CPU and from
// 1.20x to 1.10x at 2, each against the channel in the same build (10
// interleaved runs; see BENCHMARKS.md, "Fair's parked waiters on one
// Cond").
//
//go:noinline
func (f *Fair) lockTracked() {
	if !lockdep.Active() {
		_ = f.lockSlow(nil)
		return
	}
	_ = f.lockContextTracked(nil)
}

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
// CAS expected lockdep.FastFreeInt32's "tracked" value. It looks at the lock
// itself, not at whether locks are tracked: that switch may have flipped
// since the CAS, and giving up on it made TryLock fail on a free lock.
func (f *Fair) tryLockTracked() bool {
	if f.state.Load() == 0 && f.state.CompareAndSwap(0, fairLocked) {
		lockdep.TryAcquired(unsafe.Pointer(f), &fairType, lockdep.Write)
		return true
	}
	return false
}
