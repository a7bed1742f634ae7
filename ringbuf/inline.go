package ringbuf

import (
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// reexportInlines inlines, in non-generic code of this package, every small
// function from another package that the generic queues call on their hot
// paths, so that the compiler writes its body into this package's export
// data. It is never called.
//
// Why: MPMC[T] and SPSC[T] are compiled in each package that instantiates
// them, and that package can inline only the bodies its import graph's
// export data holds: those of the packages it imports itself, and those
// that they re-export because they inlined them somewhere in their own
// code (cmd/compile/internal/noder/linker.go, exportBody). Without this
// function a program that uses ringbuf with an item type of its own, and
// does not import sync/atomic, compiled every Load, Store and
// CompareAndSwap of the queues as a function call (65 calls in all, 2-4 per
// item on the hot paths: a TryPush/TryPop pair took 13.6 ns instead of 7.0
// on an SPSC, 17.1 instead of 9.1 on an MPMC), and Backoff.Spin in the
// retry loops likewise (6 more).
// TestHotPathsInlineInUserPackages builds such a program and fails if a
// call remains; add the function here when the generic code starts using
// one.
func reexportInlines(u *atomic.Uint64, i *atomic.Int32, f *atomic.Bool, b *backoff.Backoff) {
	u.Store(u.Load())
	f.Store(f.Load())
	u.CompareAndSwap(0, 0)
	u.Or(0)
	i.Load()
	b.Spin()
	testhook.Yield()
}

var _ = reexportInlines // referenced, so that linters see it used
