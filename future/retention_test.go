package future_test

import (
	"errors"
	"runtime"
	"testing"
	"weak"

	"github.com/lockstep-go/lockstep/future"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// Memory retention: a complete future keeps nothing it no longer needs.
// (Both found by an adversarial review, 2026-12-06.)

var errRefused = errors.New("refused")

// A ThenOn stage whose executor refuses the task (a pool after Shutdown)
// completes its output with the refusal, and the task never runs: the
// stage must then drop its input and function, as every stage does once it
// has run. It kept both, so a failed output kept its input, and the
// input's value, reachable for as long as the program held the output.
func TestRefusedThenOnDropsInput(t *testing.T) {
	refuse := future.ExecutorFunc(func(func()) error { return errRefused })
	type big struct{ b [1 << 16]byte }
	var out *future.Future[int]
	in := func() weak.Pointer[future.Promise[*big]] {
		p := future.NewPromise[*big]()
		out = future.ThenOn(p.Future(), refuse, func(v *big) (int, error) { return len(v.b), nil })
		p.Resolve(new(big))
		return weak.Make(p)
	}()
	if _, err := mustGet(t, out); !errors.Is(err, errRefused) {
		t.Fatalf("ThenOn = %v, want the refusal", err)
	}
	runtime.GC()
	runtime.GC()
	if in.Value() != nil {
		t.Fatal("a refused ThenOn output keeps its input reachable")
	}
	runtime.KeepAlive(out)
}

// A Compose whose inner future completes while the stage pushes its
// forwarding node (between the push's read of the stack and its
// CompareAndSwap) forwards the result at once; the failed push left the
// node's next pointing at the inner future's former top node, the stage of
// another continuation, which the Compose output then kept reachable, with
// its own output, for as long as the program held it. testhook widens the
// window; at GOMAXPROCS=1 the completer runs exactly when the push yields.
func TestComposeAfterLostPushDropsInnerStack(t *testing.T) {
	testhook.Enable(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const rounds = 300
	outs := make([]*future.Future[int], rounds)
	sibs := make([]weak.Pointer[future.Future[int]], rounds)
	for i := range rounds {
		q := future.NewPromise[int]()
		sib := future.Then(q.Future(), func(v int) (int, error) { return v, nil })
		sibs[i] = weak.Make(sib) // sib is the first field of its stage
		done := make(chan struct{})
		go func() { defer close(done); q.Resolve(i) }() // runs when this goroutine yields
		outs[i] = future.Compose(future.Resolved(0), func(int) *future.Future[int] { return q.Future() })
		<-done
		if v, err := mustGet(t, outs[i]); v != i || err != nil {
			t.Fatalf("Compose = %v, %v; want %d, nil", v, err, i)
		}
	}
	runtime.GC()
	runtime.GC()
	kept := 0
	for _, w := range sibs {
		if w.Value() != nil {
			kept++
		}
	}
	if kept > 0 {
		t.Fatalf("%d of %d complete Compose outputs keep a continuation of their inner future reachable", kept, rounds)
	}
	runtime.KeepAlive(outs)
}
