package rwlock

import (
	"context"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// The hooks of package diag (internal/lockdep). The locks leave their fast
// paths for the tracked paths below only in a build with -tags
// lockstep_debug or while some lock is watched for statistics; the release
// and downgrade hooks compile to nothing without the tag.
//
// A ReadMostly is one lock to the hooks, at its own address: its paths
// call the underlying RWMutex's untracked internals (the *NoHook methods
// and the slow paths), never the RWMutex's hooked methods, so that the
// checker does not also see the inner RWMutex as a second lock.

var (
	rwMutexType    = lockdep.Type{Name: "rwlock.RWMutex"}
	readMostlyType = lockdep.Type{Name: "rwlock.ReadMostly"}
)

//go:noinline
func (rw *RWMutex) lockTracked() { _ = rw.lockContextTracked(context.Background()) }

func (rw *RWMutex) lockContextTracked(ctx context.Context) error {
	t := lockdep.Acquire(unsafe.Pointer(rw), &rwMutexType, lockdep.Write)
	if rw.state.CompareAndSwap(0, stateWriter) {
		t.Acquired()
		return nil
	}
	t.Wait()
	if err := rw.lockSlow(ctx, nil); err != nil {
		t.Canceled()
		return err
	}
	t.Acquired()
	return nil
}

// tryLockTracked runs when TryLock's CAS failed: the lock was busy, or the
// CAS expected lockdep.FastFree64's "tracked" value. It looks at the lock
// itself, not at whether locks are tracked: that switch may have flipped
// since the CAS, and giving up on it made TryLock fail on a free lock.
func (rw *RWMutex) tryLockTracked() bool {
	if rw.state.Load() == 0 && rw.state.CompareAndSwap(0, stateWriter) {
		lockdep.TryAcquired(unsafe.Pointer(rw), &rwMutexType, lockdep.Write)
		return true
	}
	return false
}

// rlockTracked runs after RLock's add, with the add's result s: the lock was
// closed to readers (the added reader is a phantom that rlockSlow removes
// before it waits), or hooks are active and the reader may have been
// admitted already. If Acquire panics (diag's Panic option) the add is
// undone first, so that the lock is as if RLock had not been called.
//
//go:noinline
func (rw *RWMutex) rlockTracked(s uint64) {
	admitted := s&closedToReaders == 0
	checked := false
	defer func() {
		if !checked {
			if admitted {
				rw.runlockNoHook()
			} else {
				rw.dropPhantom()
			}
		}
	}()
	t := lockdep.Acquire(unsafe.Pointer(rw), &rwMutexType, lockdep.Read)
	checked = true
	if admitted {
		t.Acquired()
		return
	}
	t.Wait()
	_ = rw.rlockSlow(context.Background(), unsafe.Pointer(rw))
	t.Acquired()
}

// runlockNoHook is RUnlock without hooks.
func (rw *RWMutex) runlockNoHook() {
	if s := rw.state.Add(minusReader); s&(stateWriterWait|countNegative) != 0 {
		rw.runlockSlow(s, "RWMutex")
	}
}

// dropPhantom removes a phantom reader, as rlockSlow does when its ctx has
// ended.
func (rw *RWMutex) dropPhantom() {
	rw.mu.Lock()
	rw.state.Add(minusReader)
	rw.dispatch()
	rw.mu.Unlock()
}

func (rw *RWMutex) rlockContextTracked(ctx context.Context) error {
	t := lockdep.Acquire(unsafe.Pointer(rw), &rwMutexType, lockdep.Read)
	if rw.state.Add(readerUnit)&closedToReaders == 0 {
		t.Acquired()
		return nil
	}
	t.Wait()
	if err := rw.rlockSlow(ctx, unsafe.Pointer(rw)); err != nil {
		t.Canceled()
		return err
	}
	t.Acquired()
	return nil
}

// rlockNoHook is RLock without hooks, for ReadMostly (owner is the
// ReadMostly, the lock the statistics know).
func (rw *RWMutex) rlockNoHook(owner unsafe.Pointer) {
	if rw.state.Add(readerUnit)&closedToReaders == 0 {
		return
	}
	_ = rw.rlockSlow(context.Background(), owner)
}

// rlockContextNoHook is RLockContext without hooks, for ReadMostly.
func (rw *RWMutex) rlockContextNoHook(ctx context.Context, owner unsafe.Pointer) error {
	if ctx.Err() != nil {
		return waitq.Err(ctx)
	}
	if rw.state.Add(readerUnit)&closedToReaders == 0 {
		return nil
	}
	return rw.rlockSlow(ctx, owner)
}

func (m *ReadMostly) rlockTracked() RToken {
	t := lockdep.Acquire(unsafe.Pointer(m), &readMostlyType, lockdep.Read)
	if b := m.bias.Load(); b != nil && b != &revoked {
		if s, ok := m.rlockBiased(b); ok {
			t.Acquired()
			return RToken{s}
		}
	}
	if m.rw.state.Add(readerUnit)&closedToReaders != 0 {
		t.Wait()
		_ = m.rw.rlockSlow(context.Background(), unsafe.Pointer(m))
	}
	m.restoreBias()
	t.Acquired()
	return RToken{}
}

func (m *ReadMostly) rlockContextTracked(ctx context.Context) (RToken, error) {
	t := lockdep.Acquire(unsafe.Pointer(m), &readMostlyType, lockdep.Read)
	if b := m.bias.Load(); b != nil && b != &revoked {
		if s, ok := m.rlockBiased(b); ok {
			t.Acquired()
			return RToken{s}, nil
		}
	}
	if m.rw.state.Add(readerUnit)&closedToReaders != 0 {
		t.Wait()
		if err := m.rw.rlockSlow(ctx, unsafe.Pointer(m)); err != nil {
			t.Canceled()
			return RToken{}, err
		}
	}
	m.restoreBias()
	t.Acquired()
	return RToken{}, nil
}

func (m *ReadMostly) lockContextTracked(ctx context.Context) error {
	t := lockdep.Acquire(unsafe.Pointer(m), &readMostlyType, lockdep.Write)
	if !m.rw.state.CompareAndSwap(0, stateWriter) {
		t.Wait()
		if err := m.rw.lockSlow(ctx, m); err != nil {
			t.Canceled()
			return err
		}
	} else if b := m.bias.Load(); b != nil && b != &revoked {
		t.Wait() // biased readers may hold it: revoke waits for them
	}
	if err := m.revoke(ctx); err != nil {
		m.unlockNoHook()
		t.Canceled()
		return err
	}
	t.Acquired()
	return nil
}

func (m *ReadMostly) unlockNoHook() {
	if !m.rw.state.CompareAndSwap(stateWriter, 0) {
		m.rw.unlockSlow("ReadMostly")
	}
}

func (m *ReadMostly) tried(mode lockdep.Mode) {
	if lockdep.Active() {
		lockdep.TryAcquired(unsafe.Pointer(m), &readMostlyType, mode)
	}
}

// rlockerTracked is RLocker().Lock with hooks: a read lock of the
// underlying RWMutex, which Unlock releases, without the bias.
func (m *ReadMostly) rlockerTracked() {
	t := lockdep.Acquire(unsafe.Pointer(m), &readMostlyType, lockdep.Read)
	if m.rw.state.Add(readerUnit)&closedToReaders != 0 {
		t.Wait()
		_ = m.rw.rlockSlow(context.Background(), unsafe.Pointer(m))
	}
	t.Acquired()
}
