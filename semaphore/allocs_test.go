//go:build !lockstep_debug

// The debug build records a stack per acquisition for the lock-order
// checker (package diag), so these hold for the normal build only.

package semaphore_test

import (
	"context"
	"testing"

	"github.com/lockstep-go/lockstep/semaphore"
)

// The paths the package doc calls allocation-free (an uncontended lock,
// acquisition or round, and the calls that find nothing to wait for)
// allocate nothing.
func TestUncontendedPathsDoNotAllocate(t *testing.T) {
	s := semaphore.New(4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cases := map[string]func(){
		"Acquire":    func() { _ = s.Acquire(context.Background(), 1); s.Release(1) },
		"Acquire/cc": func() { _ = s.Acquire(ctx, 2); s.Release(2) },
		"TryAcquire": func() { s.TryAcquire(1); s.Release(1) },
		"Acquire(0)": func() { _ = s.Acquire(ctx, 0); s.Release(0) },
		"TooLarge":   func() { _ = s.Acquire(ctx, 5) },
	}
	for name, fn := range cases {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
