package future_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/lockstep-go/lockstep/future"
)

// Found by an adversarial review, 2026-12-06.

// exitPanicking calls runtime.Goexit, and one of its deferred calls panics
// on the way out (as a test helper's cleanup might): recovering that panic
// does not stop the Goexit.
func exitPanicking() {
	defer func() { panic("in a deferred call during Goexit") }()
	runtime.Goexit()
}

// A continuation's function that ends its goroutine while a deferred call
// panics: the stage recovered the panic and counted on completing its
// output after the call returned, which it never did, so the output and
// everything attached to it stayed pending for ever. The same for an
// executor whose Submit ends the goroutine (ThenOn), with or without the
// panic. The completer's goroutine ends; the futures must be complete by
// then.
func TestStagesCompleteWhenFunctionEndsGoroutine(t *testing.T) {
	exitPlain := func() { runtime.Goexit() }
	for _, c := range []struct {
		name   string
		reject bool // complete the input with an error (Recover's case)
		stage  func(*future.Future[int]) *future.Future[int]
		want   func(error) bool
	}{
		{"Then", false, func(f *future.Future[int]) *future.Future[int] {
			return future.Then(f, func(int) (int, error) { exitPanicking(); return 1, nil })
		}, isPanicError},
		{"Handle", false, func(f *future.Future[int]) *future.Future[int] {
			return future.Handle(f, func(int, error) (int, error) { exitPanicking(); return 1, nil })
		}, isPanicError},
		{"Recover", true, func(f *future.Future[int]) *future.Future[int] {
			return future.Recover(f, func(error) (int, error) { exitPanicking(); return 1, nil })
		}, isPanicError},
		{"Compose", false, func(f *future.Future[int]) *future.Future[int] {
			return future.Compose(f, func(int) *future.Future[int] { exitPanicking(); return future.Resolved(1) })
		}, isPanicError},
		{"ThenOn/Submit-exits", false, func(f *future.Future[int]) *future.Future[int] {
			exec := future.ExecutorFunc(func(func()) error { exitPlain(); return nil })
			return future.ThenOn(f, exec, func(v int) (int, error) { return v, nil })
		}, func(err error) bool { return errors.Is(err, future.ErrGoexit) }},
		{"ThenOn/Submit-exits-panicking", false, func(f *future.Future[int]) *future.Future[int] {
			exec := future.ExecutorFunc(func(func()) error { exitPanicking(); return nil })
			return future.ThenOn(f, exec, func(v int) (int, error) { return v, nil })
		}, isPanicError},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := future.NewPromise[int]()
			out := c.stage(p.Future())
			after := future.Then(out, func(v int) (int, error) { return v, nil })
			done := make(chan struct{})
			go func() {
				defer close(done)
				if c.reject {
					p.Reject(errA)
				} else {
					p.Resolve(1)
				}
			}()
			<-done // the completer's goroutine has ended
			for _, f := range []*future.Future[int]{out, after} {
				if _, err := mustGet(t, f); !c.want(err) {
					t.Fatalf("Get = %v, want the function's end reported", err)
				}
			}
		})
	}
}

func isPanicError(err error) bool {
	var pe *future.PanicError
	return errors.As(err, &pe)
}

// A SubmitContext whose executor's Submit panics: the panic reaches the
// caller, and the context derived for the function is released from its
// parent (it stayed registered for the parent's lifetime).
func TestSubmitContextPanickingExecutorReleasesContext(t *testing.T) {
	parent := &countingCtx{Context: context.Background(), done: make(chan struct{})}
	exec := future.ExecutorFunc(func(func()) error { panic("executor broke") })
	func() {
		defer func() {
			if r := recover(); r != "executor broke" {
				t.Fatalf("recovered %v, want the executor's panic", r)
			}
		}()
		future.SubmitContext(parent, exec, func(context.Context) (int, error) { return 0, nil })
	}()
	if n := parent.children(); n != 0 {
		t.Fatalf("%d derived contexts still registered with the parent", n)
	}
}

// countingCtx is a cancellable parent that counts the contexts derived from
// it that have registered for its cancellation and not yet unregistered
// (context.AfterFunc is how context.WithCancel registers with a parent of
// a type it does not know).
type countingCtx struct {
	context.Context
	done chan struct{}
	mu   sync.Mutex
	n    int
}

func (c *countingCtx) Done() <-chan struct{} { return c.done }

func (c *countingCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() {
			c.mu.Lock()
			c.n--
			c.mu.Unlock()
			stopped = true
		})
		return stopped
	}
}

func (c *countingCtx) children() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Cancelling the output of OrTimeout stops its timer: it stayed armed for
// the whole duration, and the runtime kept it, and through it the stage and
// the stage's input, reachable that long, even once the program had
// dropped them all.
func TestOrTimeoutCancelStopsTimer(t *testing.T) {
	stage := func() weak.Pointer[future.Future[int]] {
		p := future.NewPromise[int]() // never completed, then dropped
		out := future.OrTimeout(p.Future(), time.Hour)
		if !out.Cancel() {
			t.Fatal("Cancel reported false on a pending future")
		}
		return weak.Make(out) // out is the first field of the stage
	}()
	runtime.GC()
	runtime.GC()
	if stage.Value() != nil {
		t.Fatal("a dropped, cancelled OrTimeout is still reachable: its timer is still armed")
	}
}
