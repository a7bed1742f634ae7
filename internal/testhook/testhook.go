// Package testhook marks the racy windows of lockstep's lock-free code (between
// a claim and its publish, between a load and its CAS) so that tests can
// widen them. A plain stress test meets a seeded atomicity bug in well under
// 1% of runs; yielding inside the window makes the bad interleaving the
// common case.
//
// The hooks are compiled in only where tests want them: under the race
// detector (go test -race, which is how the tests are run) or with the
// build tag lockstep_testhook. Everywhere else, which includes every
// production build and every benchmark run, Yield is an empty function that
// the compiler inlines to nothing. Compiled in, it is one load of a false
// bool and a predicted branch until a test calls Enable; even that measured
// 6-8% of the rings' single-item fast paths, which is why it is left out.
package testhook

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

// on is read on hot paths, so it is a plain atomic bool: one load.
var on atomic.Bool

func yield() {
	if rand.N(2) == 0 {
		runtime.Gosched()
	}
}

// Cleanup is the subset of testing.TB that Enable needs.
type Cleanup interface{ Cleanup(func()) }

// Enable turns the hooks on until the test ends. Tests that use it must not
// run in parallel with tests that measure time. Where the hooks are not
// compiled in it has no effect: the test still runs, without the widened
// windows. A test that only makes sense with them, such as one proving
// that a seeded bug is caught, is built under the same constraint as
// on.go.
func Enable(t Cleanup) {
	on.Store(true)
	t.Cleanup(func() { on.Store(false) })
}
