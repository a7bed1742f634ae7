package spin

import (
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/lockdep"
)

// The hooks of package diag (internal/lockdep). Lock leaves its inlined fast
// path for the tracked paths below only in a build with -tags
// lockstep_debug or while some lock is watched for statistics; Unlock's and
// TryLock's hooks compile to nothing without the tag.

var (
	lockType       = lockdep.Type{Name: "spin.Lock"}
	ticketLockType = lockdep.Type{Name: "spin.TicketLock"}
)

func (l *Lock) lockTracked() {
	t := lockdep.Acquire(unsafe.Pointer(l), &lockType, lockdep.Write)
	if l.state.CompareAndSwap(unlocked, locked) {
		t.Acquired()
		return
	}
	t.Wait()
	l.lockSlow()
	t.Acquired()
}

// tryLockTracked runs when TryLock's CAS failed: the lock was taken
// meanwhile, or the CAS expected lockdep.FastFree's "tracked" value. It
// looks at the lock itself, not at whether locks are tracked: that switch
// may have flipped since the CAS, and giving up on it made TryLock fail on
// a free lock.
func (l *Lock) tryLockTracked() bool {
	if l.state.Load() == unlocked && l.state.CompareAndSwap(unlocked, locked) {
		lockdep.TryAcquired(unsafe.Pointer(l), &lockType, lockdep.Write)
		return true
	}
	return false
}

func (l *TicketLock) lockTracked() {
	t := lockdep.Acquire(unsafe.Pointer(l), &ticketLockType, lockdep.Write)
	if s := l.state.Add(ticketOne); s>>ticketShift != s&servingMask+1 {
		t.Wait()
		l.wait(s)
	}
	t.Acquired()
}
