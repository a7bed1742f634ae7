package ringbuf

import "sync/atomic"

// reexportAtomics inlines, in non-generic code of this package, every
// sync/atomic method that the generic queues call, so that the compiler
// writes their bodies into this package's export data. It is never called.
//
// Why: MPMC[T] and SPSC[T] are compiled in each package that instantiates
// them, and that package can inline only the bodies its import graph's
// export data holds: those of the packages it imports itself, and those
// that they re-export because they inlined them somewhere in their own
// code (cmd/compile/internal/noder/linker.go, exportBody). Without this
// function a program that uses ringbuf with an item type of its own, and
// does not import sync/atomic, compiled every Load, Store and
// CompareAndSwap of the queues as a function call: 65 calls in all, 2-4
// per item on the hot paths, and a single-goroutine TryPush/TryPop pair
// took 9.2 ns instead of 7.2. TestAtomicsInlineInUserPackages builds such
// a program and fails if a call remains; add a method here when the
// generic code starts using one.
func reexportAtomics(u *atomic.Uint64, i *atomic.Int32) {
	u.Store(u.Load())
	u.CompareAndSwap(0, 0)
	u.Or(0)
	i.Load()
}

var _ = reexportAtomics // referenced, so that linters see it used
