package future

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Combinators over many futures. Each allocates its shared state (which
// holds the output future), the slice its results go into, and one slice
// of nodes, one per input, pushed on the inputs' callback stacks: three
// allocations however many inputs, and no goroutine. An input that is
// still pending when the output has already completed keeps its node (and
// so the shared state) until it completes; nothing else waits on it.

// fanIn is the shared state of a combinator over many futures.
type fanIn[T any] interface {
	// arrive records that input i completed with (v, err). It returns the
	// detached callbacks of the output if this arrival completed it.
	arrive(i int, v T, err error) *node
	// finished reports whether the output is already complete, so that
	// later inputs need not be attached.
	finished() bool
}

// fanNode is one input's node. S is the concrete state type (a pointer),
// not the fanIn interface, which keeps the node at 48 bytes.
type fanNode[T any, S fanIn[T]] struct {
	link node
	st   S
	in   *Future[T]
	i    int
}

func (n *fanNode[T, S]) run() *node {
	in := n.in
	n.in = nil
	return n.st.arrive(n.i, in.val, in.err)
}

// attachAll attaches one node per input, in order, and stops early once
// the output is complete (a failed input of All, a successful one of Any).
func attachAll[T any, S fanIn[T]](name string, st S, fs []*Future[T]) {
	for _, f := range fs {
		if f == nil {
			panic("future: " + name + " of a nil *Future")
		}
	}
	nodes := make([]fanNode[T, S], len(fs))
	for i, f := range fs {
		if st.finished() {
			return
		}
		n := &nodes[i]
		n.st, n.in, n.i = st, f, i
		n.link.cb = n
		f.attach(&n.link)
	}
}

// All returns a future of the values of fs, in the order of fs, once all
// of them succeed. It fails fast: as soon as one fails, the returned
// future fails with that error, without waiting for the others (which keep
// running; to stop them, start them with [GoContext] on a shared context
// and cancel it, or Cancel them). All of no futures succeeds at once with
// an empty slice.
//
// The slice is made for this call and is not kept by the package, but every
// Get (and every continuation) of the returned future sees the same slice:
// copy it before changing it if others read it too.
func All[T any](fs ...*Future[T]) *Future[[]T] {
	st := &allState[T]{values: make([]T, len(fs))}
	st.left.Store(int64(len(fs)))
	if len(fs) == 0 {
		st.out.settle(st.values, nil)
		return &st.out
	}
	attachAll("All", st, fs)
	return &st.out
}

type allState[T any] struct {
	out    Future[[]T]
	left   atomic.Int64 // inputs that have not succeeded yet
	values []T          // values[i] is written by input i's completer
}

func (st *allState[T]) finished() bool { return st.out.state.Load() != statePending }

func (st *allState[T]) arrive(i int, v T, err error) *node {
	if err != nil {
		_, list := st.out.settle(nil, err)
		return list
	}
	st.values[i] = v
	// Each completer's write to values happens before its Add; the Add
	// that reaches zero comes after all of them, so the whole slice is
	// visible to the goroutine that publishes it.
	if st.left.Add(-1) == 0 {
		_, list := st.out.settle(st.values, nil)
		return list
	}
	return nil
}

// Result is what one future completed with, as [AllSettled] reports it.
type Result[T any] struct {
	Value T
	Err   error
}

// AllSettled returns a future of the results of fs, in the order of fs,
// once every one of them has completed, successfully or not. It never
// fails (unless cancelled). AllSettled of no futures succeeds at once with
// an empty slice.
func AllSettled[T any](fs ...*Future[T]) *Future[[]Result[T]] {
	st := &settledState[T]{results: make([]Result[T], len(fs))}
	st.left.Store(int64(len(fs)))
	if len(fs) == 0 {
		st.out.settle(st.results, nil)
		return &st.out
	}
	attachAll("AllSettled", st, fs)
	return &st.out
}

type settledState[T any] struct {
	out     Future[[]Result[T]]
	left    atomic.Int64
	results []Result[T]
}

func (st *settledState[T]) finished() bool { return st.out.state.Load() != statePending }

func (st *settledState[T]) arrive(i int, v T, err error) *node {
	st.results[i] = Result[T]{Value: v, Err: err}
	if st.left.Add(-1) == 0 {
		_, list := st.out.settle(st.results, nil)
		return list
	}
	return nil
}

// Any returns a future of the first value among fs: it succeeds as soon as
// one of them succeeds. If all of them fail, it fails with an error that
// joins theirs in the order of fs (errors.Join), so that errors.Is matches
// each failure. Any of no futures fails with [ErrNoFutures].
func Any[T any](fs ...*Future[T]) *Future[T] {
	if len(fs) == 0 {
		return Rejected[T](ErrNoFutures)
	}
	st := &anyState[T]{errs: make([]error, len(fs))}
	st.left.Store(int64(len(fs)))
	attachAll("Any", st, fs)
	return &st.out
}

type anyState[T any] struct {
	out  Future[T]
	left atomic.Int64 // inputs that have not failed yet
	errs []error
}

func (st *anyState[T]) finished() bool { return st.out.state.Load() != statePending }

func (st *anyState[T]) arrive(i int, v T, err error) *node {
	if err == nil {
		_, list := st.out.settle(v, nil)
		return list
	}
	st.errs[i] = err
	if st.left.Add(-1) == 0 {
		var zero T
		_, list := st.out.settle(zero, errors.Join(st.errs...))
		return list
	}
	return nil
}

// Race returns a future that completes as the first of fs to complete
// does, whether it succeeded or failed (Java's anyOf). Race of no futures
// fails with [ErrNoFutures].
func Race[T any](fs ...*Future[T]) *Future[T] {
	if len(fs) == 0 {
		return Rejected[T](ErrNoFutures)
	}
	st := new(raceState[T])
	attachAll("Race", st, fs)
	return &st.out
}

type raceState[T any] struct {
	out Future[T]
}

func (st *raceState[T]) finished() bool { return st.out.state.Load() != statePending }

func (st *raceState[T]) arrive(_ int, v T, err error) *node {
	_, list := st.out.settle(v, err)
	return list
}

// OrTimeout returns a future that completes as f does if f completes within
// d, and otherwise fails after d with an error that wraps
// context.DeadlineExceeded. It does not stop f: to stop the producer, start
// it with [GoContext] and a context with a deadline, or cancel f when the
// timeout fires.
//
// The deadline is a timer (time.AfterFunc), not a waiting goroutine; it is
// stopped when f completes first, or when the returned future is
// cancelled. A d of zero or less fails at once unless f is already
// complete.
func OrTimeout[T any](f *Future[T], d time.Duration) *Future[T] {
	if f == nil {
		panic("future: OrTimeout of a nil *Future")
	}
	s := &timeoutStage[T]{in: f, d: d}
	s.link.cb = s
	s.stop.cb = (*timeoutStop[T])(s)
	if !f.isDone() {
		if d <= 0 {
			s.expire()
		} else {
			s.timer = time.AfterFunc(d, s.expire)
		}
	}
	// After s.timer is set: each push publishes it. The stop node is
	// first on out's stack, so whatever completes out (f, the timer, or a
	// Cancel of out) stops the timer; without it a cancelled output kept
	// the timer, and through it the stage and f, alive for d. (If the
	// timer has fired already, attach runs it at once, to no effect.)
	s.out.attach(&s.stop)
	f.attach(&s.link)
	return &s.out
}

type timeoutStage[T any] struct {
	out   Future[T]
	link  node // on in
	stop  node // on out: stops the timer
	in    *Future[T]
	timer *time.Timer
	d     time.Duration
}

// timeoutStop is the stage's callback on its own output.
type timeoutStop[T any] timeoutStage[T]

func (s *timeoutStop[T]) run() *node {
	if s.timer != nil {
		s.timer.Stop()
	}
	return nil
}

func (s *timeoutStage[T]) run() *node {
	// The timer stops when out completes (timeoutStop), here or earlier.
	in := s.in
	s.in = nil
	_, list := s.out.settle(in.val, in.err)
	return list
}

func (s *timeoutStage[T]) expire() {
	var zero T
	s.out.complete(zero, fmt.Errorf("future: timed out after %v: %w", s.d, context.DeadlineExceeded))
}
