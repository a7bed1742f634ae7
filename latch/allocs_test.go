//go:build !lockstep_debug

// The debug build records a stack per acquisition for the lock-order
// checker (package diag), so these hold for the normal build only.

package latch_test

import (
	"context"
	"testing"

	"github.com/lockstep-go/lockstep/latch"
)

// The calls that find nothing to wait for allocate nothing; New allocates
// the latch and nothing else.
func TestUncontendedPathsDoNotAllocate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, open := latch.New(1<<30), latch.New(0)
	for name, fn := range map[string]func(){
		"CountDown":    func() { l.CountDown() },
		"Count":        func() { _ = l.Count() },
		"Wait open":    func() { _ = open.Wait(ctx) },
		"TryWait open": func() { open.TryWait() },
		"Done open":    func() { _ = open.Done() },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { latch.New(1).CountDown() }); n > 1 {
		t.Errorf("New+CountDown: %v allocs, want the latch only", n)
	}
}
