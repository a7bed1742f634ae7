package future_test

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/future"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// inlineExec runs each task in the goroutine that submits it, before
// Submit returns, as pool's CallerRuns policy does when the queue is full.
var inlineExec = future.ExecutorFunc(func(task func()) error { task(); return nil })

// A chain of ThenOn stages on an executor that runs tasks in the caller
// recursed: each stage's Submit ran the task, whose completion ran the next
// stage, whose Submit ran its task, ..., about ten frames per stage, and a
// chain of two million stages died with "goroutine stack exceeds
// 1000000000-byte limit" (fatal: no recover, no PanicError). The package
// promises that a chain of any length completed at once runs in a loop.
func TestThenOnInlineExecutorChainDoesNotRecurse(t *testing.T) {
	const stages = 1000
	p := future.NewPromise[int]()
	f := p.Future()
	maxDepth := 0
	for i := range stages {
		f = future.ThenOn(f, inlineExec, func(v int) (int, error) {
			if i%100 == 99 {
				maxDepth = max(maxDepth, stackDepth())
			}
			return v + 1, nil
		})
	}
	p.Resolve(0)
	if v, err := mustGet(t, f); v != stages || err != nil {
		t.Fatalf("chain = %v, %v; want %d", v, err, stages)
	}
	if maxDepth > 64 {
		t.Fatalf("stack depth %d in stage 1000: the chain recursed", maxDepth)
	}

	// The same chain attached to a complete future, built stage by stage.
	g := future.Resolved(0)
	for range stages {
		g = future.ThenOn(g, inlineExec, func(v int) (int, error) {
			maxDepth = max(maxDepth, stackDepth())
			return v + 1, nil
		})
	}
	if v, err := mustGet(t, g); v != stages || err != nil {
		t.Fatalf("chain on a resolved future = %v, %v; want %d", v, err, stages)
	}
	if maxDepth > 64 {
		t.Fatalf("stack depth %d: the chain on a resolved future recursed", maxDepth)
	}
}

// An executor that runs the task in the caller and then panics or ends the
// goroutine: the task completed the output, and the output's continuations
// still run, exactly once, and see the task's result.
func TestThenOnInlineExecutorThatThenFails(t *testing.T) {
	for _, c := range []struct {
		name string
		exit func()
	}{
		{"panics", func() { panic("executor broke after running the task") }},
		{"goexits", runtime.Goexit},
		{"goexits-panicking", exitPanicking},
	} {
		t.Run(c.name, func(t *testing.T) {
			exec := future.ExecutorFunc(func(task func()) error { task(); c.exit(); return nil })
			p := future.NewPromise[int]()
			out := future.ThenOn(p.Future(), exec, func(v int) (int, error) { return v + 1, nil })
			var runs atomic.Int32
			after := future.Then(out, func(v int) (int, error) { runs.Add(1); return v, nil })
			d := out.Done()
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() { _ = recover() }() // the executor's panic, if it reached here
				p.Resolve(1)
			}()
			<-done
			if v, err := mustGet(t, out); v != 2 || err != nil {
				t.Fatalf("ThenOn = %v, %v; want the task's 2, nil", v, err)
			}
			if v, err := mustGet(t, after); v != 2 || err != nil {
				t.Fatalf("continuation = %v, %v; want 2, nil", v, err)
			}
			if n := runs.Load(); n != 1 {
				t.Fatalf("continuation ran %d times", n)
			}
			if !isClosed(d) {
				t.Fatal("Done channel not closed")
			}
		})
	}
}

// A ThenOn task that a concurrent executor finishes while the completer is
// still inside Submit (or just after): every continuation of the output
// runs exactly once, whichever goroutine ends up running it.
func TestThenOnTaskRacingSubmitReturn(t *testing.T) {
	testhook.Enable(t)
	n := 2000
	if testing.Short() {
		n = 200
	}
	for range n {
		tasks := make(chan func(), 1)
		exec := future.ExecutorFunc(func(task func()) error {
			tasks <- task
			testhook.Yield()
			testhook.Yield()
			return nil
		})
		worker := make(chan struct{})
		go func() {
			defer close(worker)
			(<-tasks)()
		}()
		p := future.NewPromise[int]()
		out := future.ThenOn(p.Future(), exec, func(v int) (int, error) { return v + 1, nil })
		var runs atomic.Int32
		after := future.Then(out, func(v int) (int, error) { runs.Add(1); return v, nil })
		d := out.Done()
		p.Resolve(1)
		<-worker // both the completer and the task have returned
		if !isClosed(d) {
			t.Fatal("Done channel not closed once the completer and the task returned")
		}
		if v, err := mustGet(t, after); v != 2 || err != nil || runs.Load() != 1 {
			t.Fatalf("continuation = %v, %v after %d runs", v, err, runs.Load())
		}
	}
}
