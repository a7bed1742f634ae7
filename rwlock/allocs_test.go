//go:build !lockstep_debug

// The debug build records a stack per acquisition for the lock-order
// checker (package diag), so these hold for the normal build only.

package rwlock_test

import (
	"context"
	"testing"

	"github.com/lockstep-go/lockstep/rwlock"
)

// The paths the package doc calls allocation-free (an uncontended lock,
// acquisition or round, and the calls that find nothing to wait for)
// allocate nothing.
func TestUncontendedPathsDoNotAllocate(t *testing.T) {
	var rw rwlock.RWMutex
	var rm rwlock.ReadMostly
	for range 1000 {
		rm.RUnlock(rm.RLock())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cases := map[string]func(){
		"RWMutex.Lock":            func() { rw.Lock(); rw.Unlock() },
		"RWMutex.RLock":           func() { rw.RLock(); rw.RUnlock() },
		"RWMutex.TryLock":         func() { rw.TryLock(); rw.Unlock() },
		"RWMutex.TryRLock":        func() { rw.TryRLock(); rw.RUnlock() },
		"RWMutex.LockContext":     func() { _ = rw.LockContext(ctx); rw.Unlock() },
		"RWMutex.RLockContext":    func() { _ = rw.RLockContext(ctx); rw.RUnlock() },
		"RWMutex.RLocker":         func() { l := rw.RLocker(); l.Lock(); l.Unlock() },
		"RWMutex.Downgrade":       func() { rw.Lock(); rw.Downgrade(); rw.RUnlock() },
		"ReadMostly.RLock":        func() { rm.RUnlock(rm.RLock()) },
		"ReadMostly.TryRLock":     func() { tok, _ := rm.TryRLock(); rm.RUnlock(tok) },
		"ReadMostly.RLockContext": func() { tok, _ := rm.RLockContext(ctx); rm.RUnlock(tok) },
	}
	for name, fn := range cases {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { rm.Lock(); rm.Unlock() }); n != 0 {
		t.Errorf("ReadMostly.Lock: %v allocs", n)
	}
}
