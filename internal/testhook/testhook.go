// Package testhook marks the racy windows of lockstep's lock-free code (between
// a claim and its publish, between a load and its CAS) so that tests can
// widen them. A plain stress test meets a seeded atomicity bug in well under
// 1% of runs; yielding inside the window makes the bad interleaving the
// common case.
//
// In production Yield is a load of a false bool and a predicted branch.
package testhook

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

// on is read on hot paths, so it is a plain atomic bool: one load.
var on atomic.Bool

// Yield is placed in a racy window. When a test has called Enable it yields
// the processor about half the time, so the goroutines on either side of
// the window interleave there.
func Yield() {
	if on.Load() {
		yield()
	}
}

func yield() {
	if rand.N(2) == 0 {
		runtime.Gosched()
	}
}

// Cleanup is the subset of testing.TB that Enable needs.
type Cleanup interface{ Cleanup(func()) }

// Enable turns the hooks on until the test ends. Tests that use it must not
// run in parallel with tests that measure time.
func Enable(t Cleanup) {
	on.Store(true)
	t.Cleanup(func() { on.Store(false) })
}
