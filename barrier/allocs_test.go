//go:build !lockstep_debug

// The debug build records a stack per acquisition for the lock-order
// checker (package diag), so these hold for the normal build only.

package barrier_test

import (
	"context"
	"testing"

	"github.com/lockstep-go/lockstep/barrier"
)

// The paths the package doc calls allocation-free (an uncontended lock,
// acquisition or round, and the calls that find nothing to wait for)
// allocate nothing.
func TestUncontendedPathsDoNotAllocate(t *testing.T) {
	b := barrier.New(1, nil)
	ba := barrier.New(1, func() error { return nil })
	p := barrier.NewPhaser(1, nil)
	ctx := context.Background()
	cases := map[string]func(){
		"Cyclic.Await":          func() { _, _ = b.Await(ctx) },
		"Cyclic.Await action":   func() { _, _ = ba.Await(ctx) },
		"Phaser.Arrive":         func() { p.Arrive() },
		"Phaser.Register":       func() { p.Register(); p.ArriveAndDeregister() },
		"Phaser.ArriveAndAwait": func() { _, _ = p.ArriveAndAwaitAdvance(ctx) },
	}
	for name, fn := range cases {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
