// Package future provides Future[T] and Promise[T]: a value (or an error)
// that becomes available later, assigned exactly once, which any number of
// goroutines can wait for, and which can be composed with continuations
// (Then, Compose, Recover, Handle) and combinators (All, AllSettled, Any,
// Race, OrTimeout) without a goroutine waiting at each step. It is the
// CompletableFuture of java.util.concurrent, generic and context-aware.
//
// # When to use it, and when not
//
// Use a future when a result is shared (several consumers, or consumers
// that arrive after it is ready), when results are composed (this, then
// that; all of these; the first of those; this, or a timeout), or when a
// computation should be cancellable from the side that consumes it.
//
// Do not use it for what simpler tools do as well: one value from one
// goroutine to one receiver is a buffered channel of one; a fixed group of
// goroutines whose first error you want is golang.org/x/sync/errgroup;
// deduplicating concurrent calls is x/sync/singleflight. A future costs one
// allocation more per task than errgroup (the future itself), which shows
// when the tasks are tiny.
//
// # Producing
//
// [NewPromise] returns a [Promise], the write side: [Promise.Resolve],
// [Promise.Reject] or [Promise.Complete] completes its [Promise.Future].
// [Go] runs a function on a new goroutine, [Submit] runs it on an
// [Executor] (such as lockstep's pool.Pool), and [GoContext] and
// [SubmitContext] also give it a context that [Future.Cancel] cancels, so
// the producer can stop. [Resolved] and [Rejected] make complete futures.
//
// Completion is single assignment: the first of Resolve, Reject, Complete,
// the function's return and Cancel wins; the others report false and
// change nothing.
//
// # Consuming
//
// [Future.Get] waits, with a context: a context that ends abandons only the
// wait, never the computation, and leaves nothing behind: no goroutine,
// and nothing per abandoned wait (all waiters share the future's one Done
// channel). Like every blocking call in lockstep, Get fails when its
// context is already done, even if the future is complete;
// [Future.TryGet] reads without waiting. [Future.Done] returns a channel
// closed on completion, for select.
//
// # Where continuations run
//
// A continuation's function (Then, Compose, Recover, Handle) runs exactly
// once, whether it was attached before or after completion: on the
// goroutine that completes the input, inside the call that completes it
// (Resolve, the return of a Go function), or, if the input is already
// complete, inside the call that attaches it. No goroutine is parked per
// continuation; a continuation costs one small allocation and one
// CompareAndSwap. Keep such functions short: a slow one delays the
// completer and the continuations after it. Run slow or blocking steps
// with [ThenOn], which submits the function to an executor. A chain of any
// length completed at once runs in a loop, not by recursion, so its stack
// stays shallow.
//
// Errors pass through Then and Compose untouched (the function is not
// called); Recover and Handle see them. A panic in any function completes
// its future with a *[PanicError] (value and stack) instead of crashing the
// completer, which runs the other continuations as usual. A call of
// runtime.Goexit (t.FailNow) still ends its goroutine, but the future
// completes with [ErrGoexit] and the remaining continuations run on the way
// out, so nobody waits for ever.
//
// # Cancellation
//
// [Future.Cancel] completes a future with context.Canceled, and for
// GoContext and SubmitContext futures also cancels the function's context.
// It does not travel upstream: cancelling the result of Then leaves its
// input alone (other continuations may depend on it) and only skips the
// continuation's function. All, Any and OrTimeout do not cancel their
// inputs either; start them with GoContext on a shared context and cancel
// that to stop the losers.
//
// # Memory model
//
// The completion that wins synchronizes before every Get or TryGet that
// returns its result, every receive from Done that observes the close, and
// every continuation of the future. Writes the producer made before
// Resolve are therefore visible to all of those. A TryGet that reports
// false and a Get that returns its context's error establish nothing.
//
// # Cost
//
// Measured on a 2-core virtual machine shared with other work, as process
// CPU time per operation against the alternative in the same run (see
// bench_test.go):
//
//   - NewPromise, Resolve, then Get on one goroutine: one allocation (48
//     bytes for Future[int]), 0.4x to 0.65x the CPU of the same with a new
//     buffered channel of one (one allocation of 128 bytes).
//   - Get or TryGet of a complete future: a few nanoseconds, no allocation.
//   - Then: one allocation (96 bytes for int to int), no goroutine. A
//     1000-stage chain takes 0.15x to 0.26x the CPU of a goroutine and a
//     channel per stage, and while it waits for its input holds 96 bytes per
//     stage against 2.7 to 4 KB (mostly goroutine stack).
//   - All, AllSettled, Any, Race over n futures: three allocations, 48
//     bytes per input.
//   - Fanning out 1000 tiny tasks and collecting them with All: run on a
//     pool.Pool (Submit), 0.63x the time of an errgroup with a goroutine
//     per task at 1 CPU, 0.76x at 2, level at 4 and 8 on a 2-core machine;
//     with a goroutine per future (Go), 1.2x to 1.5x: each task then does
//     everything errgroup's does and allocates its future besides (and a
//     node in All). Against errgroup with SetLimit, which still starts a
//     goroutine per task, an executor takes 0.35x to 0.75x the CPU.
//   - A Get that finds f pending yields the processor a few times before
//     it parks, so that a completer that is runnable but not running (on
//     the same processor, or with more goroutines than processors)
//     completes f without Get parking and being woken. A Get waiting for
//     another goroutine's Resolve takes 0.75x to 0.8x the time of a receive
//     from a buffered channel of one, at 1 and 2 CPUs (1.3x to 1.45x before
//     the yields). A Get that still has to park with a ctx that can end
//     allocates the future's Done channel and a node for it (two
//     allocations), as the first Done on a pending future does; with a ctx
//     that cannot end (context.Background: its Done is nil) it parks on a
//     node of its own instead, one 48-byte allocation, unless the Done
//     channel exists already.
//
// # Testing with testing/synctest
//
// Get and Done wait on channels (Get with a ctx that cannot end on a
// sync.WaitGroup of its own), so synctest sees a goroutine blocked in Get
// as durably blocked, and OrTimeout's timer runs on the bubble's fake
// clock. A future's Done channel is created by its first waiter: create and
// wait on futures inside the bubble that completes them, since a channel
// made in a bubble must not be closed from outside it.
package future
