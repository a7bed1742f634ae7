package future

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/lockstep-go/lockstep/internal/panics"
)

// PanicError is the error of a future whose function, or continuation,
// panicked: Value is what was passed to panic, Stack the panicking
// goroutine's stack, which names the frame that panicked. Use errors.As to
// get it. It is the same type as package pool's PanicError, so one
// errors.As serves both.
//
// When Value is itself an error, errors.Is and errors.As see through
// PanicError to it.
type PanicError = panics.Error

// ErrGoexit is the error of a future whose function, or continuation,
// called runtime.Goexit (as t.FailNow does) instead of returning: the
// goroutine is gone, but the future still completes, so nobody waits for
// it forever.
var ErrGoexit = errors.New("future: function called runtime.Goexit")

// ErrNoFutures is the error of [Any] and [Race] called with no futures:
// neither can ever have a first completion.
var ErrNoFutures = errors.New("future: no futures to wait for")

// Executor runs tasks. Submit either arranges for task to run exactly once,
// on some goroutine, at some time, and returns nil, or returns an error and
// never runs it. *pool.Pool satisfies it; so does any goroutine pool with
// that method.
//
// An executor that accepts a task and then drops it leaves the future that
// depends on it pending for ever.
type Executor interface {
	Submit(task func()) error
}

// ExecutorFunc adapts a function to the Executor interface.
type ExecutorFunc func(task func()) error

// Submit calls e(task).
func (e ExecutorFunc) Submit(task func()) error { return e(task) }

// Go runs fn on a new goroutine and returns the future of its result. A
// panic in fn completes the future with a *[PanicError]; a runtime.Goexit,
// with [ErrGoexit].
func Go[T any](fn func() (T, error)) *Future[T] {
	if fn == nil {
		panic("future: Go with a nil function")
	}
	f := new(Future[T])
	go produce(f, fn)
	return f
}

// GoContext runs fn on a new goroutine with a context derived from ctx and
// returns the future of its result. [Future.Cancel] on that future
// completes it with context.Canceled and cancels fn's context, so fn can
// stop early; whatever fn returns afterwards is dropped. fn's context is
// also cancelled when fn returns, releasing its resources.
//
// The end of ctx itself does not complete the future: fn sees its context
// end and decides what to return.
func GoContext[T any](ctx context.Context, fn func(ctx context.Context) (T, error)) *Future[T] {
	checkCtxFunc("GoContext", ctx, fn)
	c, run := newCtxFuture(ctx, fn)
	go produce(&c.out, run)
	return &c.out
}

// Submit runs fn as a task on exec and returns the future of its result.
// If exec refuses the task, the future fails at once with an error that
// wraps exec's (so errors.Is(err, pool.ErrClosed) works). A panic in fn
// completes the future with a *[PanicError], and the task itself returns
// normally, so the executor never sees the panic.
func Submit[T any](exec Executor, fn func() (T, error)) *Future[T] {
	if exec == nil {
		panic("future: Submit with a nil Executor")
	}
	if fn == nil {
		panic("future: Submit with a nil function")
	}
	f := new(Future[T])
	if err := exec.Submit(func() { produce(f, fn) }); err != nil {
		var zero T
		f.complete(zero, rejectedError(err))
	}
	return f
}

// SubmitContext is [Submit] with the cancellation of [GoContext]: fn runs
// on exec with a context derived from ctx, which [Future.Cancel] cancels.
func SubmitContext[T any](ctx context.Context, exec Executor, fn func(ctx context.Context) (T, error)) *Future[T] {
	if exec == nil {
		panic("future: SubmitContext with a nil Executor")
	}
	checkCtxFunc("SubmitContext", ctx, fn)
	c, run := newCtxFuture(ctx, fn)
	submitted := false
	defer func() {
		if !submitted {
			c.cancel() // Submit panicked: release the context from its parent
		}
	}()
	if err := exec.Submit(func() { produce(&c.out, run) }); err != nil {
		var zero T
		c.out.complete(zero, rejectedError(err)) // runs c, which cancels cctx
	}
	submitted = true
	return &c.out
}

// checkCtxFunc panics, with the package's prefix, on the misuse that
// context.WithCancel would report in its own words (a nil ctx) or that
// would surface only later, as a nil dereference on the function's
// goroutine (a nil fn).
func checkCtxFunc[T any](name string, ctx context.Context, fn func(context.Context) (T, error)) {
	if ctx == nil {
		panic("future: " + name + " with a nil Context")
	}
	if fn == nil {
		panic("future: " + name + " with a nil function")
	}
}

func rejectedError(err error) error {
	return fmt.Errorf("future: executor refused the task: %w", err)
}

// ctxFuture is the future of GoContext and SubmitContext. Its first
// callback cancels the function's context, so that a completion by Cancel
// (or by an executor's refusal) reaches the function. The function's own
// return cancels the context before it completes the future, not in a
// callback: a Get that sees the future complete may return before the
// completer has run the callbacks, and must find the context released.
type ctxFuture[T any] struct {
	out    Future[T]
	link   node
	cancel context.CancelFunc
}

// newCtxFuture returns the future and the function for produce to run:
// fn on the derived context, which it cancels when fn returns.
func newCtxFuture[T any](ctx context.Context, fn func(ctx context.Context) (T, error)) (*ctxFuture[T], func() (T, error)) {
	cctx, cancel := context.WithCancel(ctx)
	c := &ctxFuture[T]{cancel: cancel}
	c.link.cb = c
	c.out.push(&c.link) // a new future's stack is open: cannot fail
	return c, func() (T, error) { defer cancel(); return fn(cctx) }
}

func (c *ctxFuture[T]) run() *node {
	c.cancel()
	return nil
}

// produce runs fn and completes f with its result. A panic becomes a
// *PanicError and a runtime.Goexit ErrGoexit; either way f completes.
func produce[T any](f *Future[T], fn func() (T, error)) {
	normal := false
	defer func() {
		if !normal {
			var zero T
			f.complete(zero, abnormal(recover()))
		}
	}()
	v, err := fn()
	normal = true
	f.complete(v, err)
}

// abnormal returns the error for a function that did not return: r is
// what recover returned in the deferred call, nil for runtime.Goexit (Go
// 1.21 and later turn panic(nil) into a *runtime.PanicNilError). Called
// from the deferred function, still on the panicking goroutine's stack, so
// debug.Stack includes the panicking frame.
func abnormal(r any) error {
	if r == nil {
		return ErrGoexit
	}
	return &PanicError{Value: r, Stack: debug.Stack()}
}
