//go:build !lockstep_debug

// The debug build records a stack per acquisition for the lock-order
// checker (package diag), so these hold for the normal build only.

package mutex_test

import (
	"context"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/mutex"
)

// The paths the package doc calls allocation-free (an uncontended lock,
// acquisition or round, and the calls that find nothing to wait for)
// allocate nothing.
func TestUncontendedPathsDoNotAllocate(t *testing.T) {
	var m mutex.Mutex
	var f mutex.Fair
	var l sync.Mutex
	c := mutex.NewCond(&l)
	ctx := context.Background()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cases := map[string]func(){
		"Mutex.Lock":           func() { m.Lock(); m.Unlock() },
		"Mutex.TryLock":        func() { m.TryLock(); m.Unlock() },
		"Mutex.LockContext":    func() { _ = m.LockContext(ctx); m.Unlock() },
		"Mutex.LockContext/cc": func() { _ = m.LockContext(cctx); m.Unlock() },
		"Fair.Lock":            func() { f.Lock(); f.Unlock() },
		"Fair.TryLock":         func() { f.TryLock(); f.Unlock() },
		"Fair.LockContext":     func() { _ = f.LockContext(cctx); f.Unlock() },
		"Cond.Signal":          func() { c.Signal(); c.Broadcast() },
	}
	for name, fn := range cases {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", name, n)
		}
	}
}
