package future

import (
	"errors"
	"sync/atomic"
)

// Continuations. Each combinator allocates one stage that holds the output
// future, the node it pushes on its input's callback stack, and its
// function; attaching a continuation costs that allocation and one
// CompareAndSwap, and no goroutine. The stage drops its input and function
// once it has run, so a long chain does not keep every earlier result
// reachable.

// Then returns a future completed with fn(v) once f completes with the
// value v. If f fails, the returned future fails with the same error and fn
// is not called. A panic in fn completes it with a *[PanicError].
//
// fn runs exactly once, on the goroutine that completes f, inside the call
// that completes it (Resolve, the return of a Go function), or, if f is
// already complete, inside Then itself. Keep it short: a slow fn delays the
// completer and every continuation after it. For work that blocks or takes
// long, use [ThenOn]. If the returned future is cancelled before f
// completes, fn is skipped.
func Then[T, U any](f *Future[T], fn func(T) (U, error)) *Future[U] {
	if f == nil {
		panic("future: Then of a nil *Future")
	}
	if fn == nil {
		panic("future: Then with a nil function")
	}
	s := &thenStage[T, U]{in: f, fn: fn}
	s.link.cb = s
	f.attach(&s.link)
	return &s.out
}

type thenStage[T, U any] struct {
	out  Future[U]
	link node
	in   *Future[T]
	fn   func(T) (U, error)
}

func (s *thenStage[T, U]) run() *node {
	in, fn := s.in, s.fn
	s.in, s.fn = nil, nil
	var u U
	err := in.err
	if err == nil {
		if s.out.state.Load() != statePending {
			return nil // the output was cancelled: skip fn
		}
		u, err = call(&s.out, fn, in.val)
	}
	_, list := s.out.settle(u, err)
	return list
}

// Handle returns a future completed with fn(v, err) once f completes with
// (v, err), whether f succeeded or failed: the general continuation, of
// which [Then] and [Recover] are the two halves (handle in Java). It is
// also the way to run a callback on completion:
//
//	future.Handle(f, func(v T, err error) (struct{}, error) { ...; return struct{}{}, nil })
//
// A panic in fn completes the returned future with a *[PanicError]. fn
// runs where a [Then] function would.
func Handle[T, U any](f *Future[T], fn func(v T, err error) (U, error)) *Future[U] {
	if f == nil {
		panic("future: Handle of a nil *Future")
	}
	if fn == nil {
		panic("future: Handle with a nil function")
	}
	s := &handleStage[T, U]{in: f, fn: fn}
	s.link.cb = s
	f.attach(&s.link)
	return &s.out
}

type handleStage[T, U any] struct {
	out  Future[U]
	link node
	in   *Future[T]
	fn   func(T, error) (U, error)
}

func (s *handleStage[T, U]) run() *node {
	in, fn := s.in, s.fn
	s.in, s.fn = nil, nil
	if s.out.state.Load() != statePending {
		return nil
	}
	u, err := call(&s.out, func(r Result[T]) (U, error) { return fn(r.Value, r.Err) }, Result[T]{in.val, in.err})
	_, list := s.out.settle(u, err)
	return list
}

// ThenOn is [Then] with fn run as a task on exec instead of on the
// completing goroutine; the continuations of the returned future then run
// on exec's goroutine too, unless the task finished before exec's Submit
// returned (an executor that runs tasks in the caller, as pool's
// CallerRuns does): then they run in the completer's loop, so that a chain
// of ThenOn stages does not recurse. If exec refuses the task, the returned
// future fails with an error wrapping exec's. If f fails, the error passes
// to the returned future at once, without a task (fn would not run
// anyway), as CompletableFuture's *Async stages do.
func ThenOn[T, U any](f *Future[T], exec Executor, fn func(T) (U, error)) *Future[U] {
	if f == nil {
		panic("future: ThenOn of a nil *Future")
	}
	if exec == nil {
		panic("future: ThenOn with a nil Executor")
	}
	if fn == nil {
		panic("future: ThenOn with a nil function")
	}
	s := &thenOnStage[T, U]{in: f, exec: exec, fn: fn}
	s.link.cb = s
	f.attach(&s.link)
	return &s.out
}

type thenOnStage[T, U any] struct {
	out  Future[U]
	link node
	in   *Future[T]
	exec Executor
	fn   func(T) (U, error)

	// phase and handoff keep a chain of ThenOn stages on an executor that
	// runs the task before its Submit returns (pool's CallerRuns) from
	// recursing, a stage's Submit inside the previous stage's task: a task
	// that completes out while run is still submitting it leaves out's
	// callbacks in handoff, and run returns them to the loop in runAll, as
	// every other stage does.
	phase   atomic.Uint32 // thenOnSubmitting, then thenOnReturned or thenOnHanded
	handoff *node         // out's callbacks, written by the task before it sets thenOnHanded
}

const (
	thenOnSubmitting uint32 = iota + 1 // run is inside exec.Submit
	thenOnReturned                     // Submit returned before the task completed out
	thenOnHanded                       // the task completed out during Submit: run runs handoff
)

func (s *thenOnStage[T, U]) run() *node {
	exec := s.exec
	s.exec = nil
	var zero U
	if err := s.in.err; err != nil {
		s.in, s.fn = nil, nil
		_, list := s.out.settle(zero, err)
		return list
	}
	if s.out.state.Load() != statePending {
		s.in, s.fn = nil, nil
		return nil
	}
	// The executor publishes s to the task: Submit happens before the
	// task runs, for any executor built on channels or locks. Submit runs
	// inside a completion, where a panic would stop the completer from
	// running the callbacks after this one: guard makes it an error.
	refused := false
	handed, err := guard(&s.out, func() (*node, error) {
		handed, err := s.submit(exec)
		refused = err != nil // Submit returned an error: the task never runs
		return handed, err
	})
	if err != nil {
		_, list := s.out.settle(zero, err)
		if refused {
			// Drop them, as every stage does once it has run: a refused
			// output kept its input reachable. (An executor that ran the
			// task before it failed has dropped them already, in the task.)
			// After a panic they stay: an executor that panicked may have
			// handed the task on, and the task reads them.
			s.in, s.fn = nil, nil
		}
		if list == nil {
			list = handed // an executor that ran the task and still failed
		}
		return list
	}
	return handed
}

// submit submits s.task to exec. If the task completed out before Submit
// returned, it returns out's callbacks, for run to return; if Submit
// panics or ends the goroutine after that, it runs them itself.
func (s *thenOnStage[T, U]) submit(exec Executor) (handed *node, err error) {
	s.phase.Store(thenOnSubmitting)
	returned := false
	defer func() {
		if s.phase.CompareAndSwap(thenOnSubmitting, thenOnReturned) {
			return // the task will run out's callbacks itself
		}
		list := s.handoff // the task's CompareAndSwap published it
		s.handoff = nil
		if returned {
			handed = list
		} else {
			runAll(list) // nobody returns to a loop: run them here
		}
	}()
	err = submit(exec, s.task)
	returned = true
	return nil, err
}

func (s *thenOnStage[T, U]) task() {
	in, fn := s.in, s.fn
	s.in, s.fn = nil, nil
	if s.out.state.Load() != statePending {
		return
	}
	u, err := call(&s.out, fn, in.val)
	// settle, not complete: nobody sees whether this completion lost, so
	// it need not wait for the winner.
	_, list := s.out.settle(u, err)
	if list == nil {
		return
	}
	s.handoff = list
	if s.phase.CompareAndSwap(thenOnSubmitting, thenOnHanded) {
		return // run is still in Submit: it runs them in its loop
	}
	s.handoff = nil
	runAll(list)
}

// submit submits task to exec; a refusal becomes an error that wraps
// exec's.
func submit(exec Executor, task func()) error {
	if err := exec.Submit(task); err != nil {
		return rejectedError(err)
	}
	return nil
}

// Compose returns a future that completes as the future fn(v) does, once f
// completes with the value v: the flat-map of futures (thenCompose in
// Java). It chains steps that are themselves asynchronous without waiting
// on a goroutine in between. If f fails, the returned future fails with
// the same error and fn is not called; a panic in fn, or a nil future
// from it, fails it too. fn runs where a [Then] function would.
func Compose[T, U any](f *Future[T], fn func(T) *Future[U]) *Future[U] {
	if f == nil {
		panic("future: Compose of a nil *Future")
	}
	if fn == nil {
		panic("future: Compose with a nil function")
	}
	s := &composeStage[T, U]{in: f, fn: fn}
	s.link.cb = s
	s.fwd.cb = (*composeForward[T, U])(s)
	f.attach(&s.link)
	return &s.out
}

// errNilFuture fails a Compose whose function returned nil.
var errNilFuture = errors.New("future: Compose function returned a nil *Future")

type composeStage[T, U any] struct {
	out   Future[U]
	link  node // on in
	fwd   node // on inner, once fn has returned it
	in    *Future[T]
	inner *Future[U]
	fn    func(T) *Future[U]
}

// composeForward is the second callback of a compose stage: it forwards
// the inner future's result to out.
type composeForward[T, U any] composeStage[T, U]

func (s *composeStage[T, U]) run() *node {
	in, fn := s.in, s.fn
	s.in, s.fn = nil, nil
	var zero U
	if in.err != nil {
		_, list := s.out.settle(zero, in.err)
		return list
	}
	if s.out.state.Load() != statePending {
		return nil
	}
	inner, err := callCompose(&s.out, fn, in.val)
	if err == nil && inner == nil {
		err = errNilFuture
	}
	if err != nil {
		_, list := s.out.settle(zero, err)
		return list
	}
	s.inner = inner // published to inner's completer by the push
	if inner.push(&s.fwd) {
		return nil
	}
	return (*composeForward[T, U])(s).run()
}

func (c *composeForward[T, U]) run() *node {
	inner := c.inner
	c.inner = nil
	_, list := c.out.settle(inner.val, inner.err)
	return list
}

// Recover returns a future that completes as f does when f succeeds, and
// with fn(err) when f fails with err: fn maps an error to a value, or to
// another error (return it to let the failure through). A panic in fn
// completes it with a *[PanicError]. fn runs where a [Then] function would.
func Recover[T any](f *Future[T], fn func(err error) (T, error)) *Future[T] {
	if f == nil {
		panic("future: Recover of a nil *Future")
	}
	if fn == nil {
		panic("future: Recover with a nil function")
	}
	s := &recoverStage[T]{in: f, fn: fn}
	s.link.cb = s
	f.attach(&s.link)
	return &s.out
}

type recoverStage[T any] struct {
	out  Future[T]
	link node
	in   *Future[T]
	fn   func(error) (T, error)
}

func (s *recoverStage[T]) run() *node {
	in, fn := s.in, s.fn
	s.in, s.fn = nil, nil
	v, err := in.val, in.err
	if err != nil {
		if s.out.state.Load() != statePending {
			return nil
		}
		v, err = call(&s.out, fn, err)
	}
	_, list := s.out.settle(v, err)
	return list
}

// call runs a continuation's function fn(a) for the stage whose output is
// out. A panic becomes a *PanicError result.
func call[A, U any](out *Future[U], fn func(A) (U, error), a A) (U, error) {
	return guard(out, func() (U, error) { return fn(a) })
}

// callCompose is call for a Compose function, which returns a future.
func callCompose[T, U any](out *Future[U], fn func(T) *Future[U], v T) (*Future[U], error) {
	return guard(out, func() (*Future[U], error) { return fn(v), nil })
}

// guard runs f, a user's function or an executor's Submit, for the stage
// whose output is out, and returns its result, or a *PanicError result if
// it panicked.
//
// If f ends the goroutine instead (runtime.Goexit, as t.FailNow does), the
// stage will not get to complete out, so guard completes it on the way out
// (running out's callbacks; runAll's deferred call runs the callbacks left
// in its loop), with ErrGoexit, or with the panic if a deferred call
// panicked during the Goexit: recovering that panic does not stop the
// Goexit. So nothing waits for ever. (Completing out only after a plain
// return lost that last case: the output stayed pending.)
func guard[U, R any](out *Future[U], f func() (R, error)) (R, error) {
	var panicked error // what a recovered panic became
	returned := false
	defer func() {
		if !returned {
			if panicked == nil {
				panicked = ErrGoexit
			}
			var zero U
			out.complete(zero, panicked)
		}
	}()
	r, err := func() (r R, err error) {
		defer func() {
			if v := recover(); v != nil {
				panicked = abnormal(v)
				var zero R
				r, err = zero, panicked
			}
		}()
		return f()
	}()
	returned = true
	return r, err
}
