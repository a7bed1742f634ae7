//go:build !race && !lockstep_testhook

package testhook

// Yield marks a racy window. In this build it does nothing, and a call
// inlines to no instructions.
func Yield() {}
