package future

import (
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// reexportInlines inlines, in non-generic code of this package, the small
// functions from other packages that the generic futures and combinators
// call, so that the compiler writes their bodies into this package's export
// data. It is never called.
//
// Why: Future[T] and the combinators are compiled in each package that
// instantiates them, and that package can inline only the bodies its import
// graph's export data holds: those of the packages it imports itself, and
// those that they re-export because they inlined them somewhere in their
// own code (cmd/compile/internal/noder/linker.go, exportBody). Without this
// function a program that uses futures of a type of its own, and does not
// import sync/atomic, compiled the claim (Uint32 CompareAndSwap and Load,
// and Store in ThenOn), the combinators' counters (Int64 Add and Store),
// the test hook in every completion and attach, and Backoff's Spin and
// Completed as function calls, 30 in all. TestHotPathsInlineInUserPackages
// builds such a program and fails if a call remains; add the function here
// when the generic code starts using one. (The atomic.Pointer methods need
// no entry: non-generic code here already inlines them.)
func reexportInlines(u *atomic.Uint32, i *atomic.Int64, b *backoff.Backoff) {
	u.CompareAndSwap(u.Load(), 0)
	u.Store(0)
	i.Store(i.Add(0))
	b.Spin()
	b.Completed()
	testhook.Yield()
}

var _ = reexportInlines // referenced, so that linters see it used
