//go:build race || lockstep_testhook

package testhook

// Yield is placed in a racy window. When a test has called Enable it yields
// the processor about half the time, so the goroutines on either side of
// the window interleave there.
func Yield() {
	if on.Load() {
		yield()
	}
}
