package future

// Promise is the write side of a [Future]: the producer keeps the Promise
// and hands out [Promise.Future].
//
// The first of Resolve, Reject, Complete and a Cancel of the future wins;
// the others report false and change nothing. The zero value is a pending
// promise, ready to use. A Promise must not be copied after first use.
//
// Memory model: a Resolve, Reject or Complete that reports true
// synchronizes before every Get or TryGet that returns its result, every
// receive from Done that observes the completion, and every continuation of
// the future.
type Promise[T any] struct {
	f Future[T]
}

// NewPromise returns a pending promise.
func NewPromise[T any]() *Promise[T] { return new(Promise[T]) }

// Resolve completes the future with the value v and reports whether it
// did: false if the future was already complete (resolved, rejected or
// cancelled).
//
// Continuations attached with [Then] and the other combinators run inside
// the call that completes the future, before it returns; see the package
// documentation.
func (p *Promise[T]) Resolve(v T) bool { return p.f.complete(v, nil) }

// Reject completes the future with the error err and reports whether it
// did: false if the future was already complete. Reject panics if err is
// nil.
func (p *Promise[T]) Reject(err error) bool {
	if err == nil {
		panic("future: Reject with a nil error")
	}
	var zero T
	return p.f.complete(zero, err)
}

// Complete completes the future with v and err as a function returning
// (T, error) would: a non-nil err rejects it (Get then returns v and err
// as given). It reports whether it completed the future.
func (p *Promise[T]) Complete(v T, err error) bool { return p.f.complete(v, err) }

// Future returns the read side of p. Every call returns the same future.
func (p *Promise[T]) Future() *Future[T] { return &p.f }

// Resolved returns a future already completed with the value v.
func Resolved[T any](v T) *Future[T] {
	f := new(Future[T])
	f.settle(v, nil) // nothing attached yet: no callbacks to run
	return f
}

// Rejected returns a future already completed with the error err. It
// panics if err is nil.
func Rejected[T any](err error) *Future[T] {
	if err == nil {
		panic("future: Rejected with a nil error")
	}
	f := new(Future[T])
	var zero T
	f.settle(zero, err)
	return f
}
