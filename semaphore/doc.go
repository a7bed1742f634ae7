// Package semaphore provides [Weighted], a weighted counting semaphore with
// strict FIFO service, context-aware acquisition, a lock-free fast path and a
// capacity that can change at run time.
//
// A semaphore bounds how much of something is in use at once: concurrent
// requests to a backend (weight 1 each), bytes of memory held by in-flight
// work (weight = size), a resource shared by readers (weight 1) and an
// exclusive writer (weight = capacity).
//
// # Compared with golang.org/x/sync/semaphore
//
// The API is x/sync's, and so are the semantics that matter: Acquire takes a
// context, a done context fails even when permits are free, waiters are
// served strictly in order with head-of-line blocking, and TryAcquire never
// jumps the queue. In addition:
//
//   - Acquire, TryAcquire and Release cost one atomic compare-and-swap each
//     while nobody waits (x/sync takes a mutex on every call).
//   - An Acquire of more than the capacity fails at once with [ErrTooLarge]
//     (x/sync blocks until the context ends; golang/sync#7).
//   - [Weighted.Resize] changes the capacity and wakes the waiters that now
//     fit (golang/go#29721); [Weighted.Available], [Weighted.Capacity] and
//     [Weighted.Waiters] report the state.
//   - Errors wrap context.Cause, so errors.Is matches both ctx.Err() and the
//     cause the context was cancelled with.
//   - Acquire(ctx, 0) succeeds at once (x/sync queues it behind the waiters).
//
// # When not to use it
//
// For a plain limit on goroutines, errgroup.Group.SetLimit or a fixed pool
// of workers says more. A buffered channel is a fine unweighted semaphore
// when you need to select on acquisition together with other channels. A
// semaphore does not tell you who holds the permits: releasing from a
// different goroutine is allowed, and leaking permits is not detected.
//
// # Fairness
//
// Service is strict FIFO with head-of-line blocking, as in x/sync and tokio:
// a waiter that does not fit blocks the smaller ones behind it, even when
// they would fit. This is what keeps a large request from starving (with N
// permits used as a read-write lock, a writer that takes N is never starved
// by readers that take 1), at the cost of some idle permits while the head
// waits. A waiter that gives up leaves the queue; if it was at the front,
// the ones behind it that now fit are woken.
//
// # Memory model
//
// The n'th call to Release synchronizes before the m'th successful call to
// Acquire or TryAcquire, n < m, in the single order of operations on the
// semaphore. Failed calls establish nothing. So what a goroutine wrote
// before releasing is visible to any goroutine that acquires afterwards.
//
// # Cost
//
// Measured on the 2-core development machine (see bench_test.go; compare
// only within one run):
//
//   - Uncontended Acquire(1)+Release(1): two CAS on one word and no
//     allocation, 8.7 ns against x/sync's 15 ns (two mutex round trips)
//     when measured in alternating chunks; two bare CAS take 6.6 ns.
//     TryAcquire(1)+Release(1): 7.4 ns against 11.4 ns.
//   - Contended, nobody waiting (capacity >= goroutines): no mutex, but
//     the CAS word moves between cores with every call. A call that loses
//     the race for it backs off (spins about as long as sync.Mutex does,
//     then yields) before it retries, so that the winner runs a streak on
//     a word it holds, as sync.Mutex's losers give x/sync's: 7 ns an
//     operation at 2 and 4 goroutines against x/sync's 15 and 25 (27 ns
//     when the losers only spun briefly). The loser pays: up to about
//     3 µs more for that call.
//   - Contended with waiters (capacity 1, 4 or more goroutines): every
//     acquisition parks, as in x/sync, and costs about the same; a
//     buffered channel is faster here (about 2.5x), because the runtime
//     hands a blocked send the slot directly, without allocating.
//   - Waiting: one mutex acquisition and a park and wake, about 100-150 ns
//     of handoff, as in x/sync; it allocates only when the ctx can end (a
//     channel to select on; x/sync allocates its waiter's channel every
//     time).
//   - Resize and Waiters always take the mutex.
package semaphore
