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
