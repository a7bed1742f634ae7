// Package mutex provides mutual exclusion locks and a condition variable
// whose blocking calls take a context.
//
//   - [Mutex] is a drop-in for sync.Mutex with [Mutex.LockContext]. It
//     barges for throughput and is eventually fair: a waiter that has waited
//     about a millisecond gets the lock handed to it.
//   - [Fair] hands the lock over in strict first-come, first-served order.
//     Use it when the order or the spread of wait times matters more than
//     throughput.
//   - [Cond] is a condition variable for any sync.Locker whose Wait takes a
//     context and cannot miss a Signal.
//
// # When not to use this package
//
// A lock protects shared state for a short critical section. When the state
// can be owned by one goroutine and reached through channels, do that.
// For read-mostly state use the rwlock package of this module; to limit
// concurrency to N use its semaphore package; for a one-time event use a
// closed channel or its latch package rather than a Cond. If no caller ever
// needs to give up waiting and throughput is all that counts, sync.Mutex is
// as good as [Mutex] and smaller (8 bytes against 48 on 64-bit platforms;
// [Fair] is 56).
//
// # Cancellation
//
// LockContext and Wait follow the module's cancellation contract: a ctx
// that is already done fails the call at once (TryLock is the non-blocking
// path); on failure the error satisfies errors.Is(err, ctx.Err()) and the
// lock is as if the call had never been made; a handoff or a Signal that
// races with the end of ctx is never lost: the caller keeps it and the call
// returns nil, or the caller is gone from the queue first and it goes to
// the next waiter; a waiter that gives up never strands the ones behind it.
//
// # Memory model
//
// For each lock, the n'th Unlock "synchronizes before" the m'th successful
// Lock, LockContext or TryLock returns, for n < m. Signal and Broadcast
// synchronize before the Wait they wake returns. Failed TryLock calls and
// calls that return a ctx error establish nothing.
//
// # Cost
//
// Measured on a 2-core virtual machine shared with other work (see
// bench_test.go; ratios from interleaved runs, contended figures vary
// 2-4x between runs there):
//
//   - Lock and Unlock without contention: one compare-and-swap each, inlined,
//     no allocation: the same as sync.Mutex (about 6-10 ns a pair).
//     LockContext adds a ctx.Err call and an indirect call (about 5 ns).
//   - Mutex under contention spins as sync.Mutex does (4 x 30 PAUSE, only
//     when GOMAXPROCS > 1) and then parks; a parked waiter costs a park and
//     a wake-up, and allocates nothing unless it is a LockContext whose ctx
//     can end (then a channel to select on; queue entries are recycled).
//     With one goroutine per P, throughput is level with sync.Mutex's for
//     a small critical section and about 1.3x its time for an empty one
//     (16 vs 12 ns); with four goroutines per P, where sync.Mutex stops
//     spinning because it sees runnable goroutines queued (which only the
//     runtime can see), about 1.4x. The goroutines share the lock more
//     evenly than with sync.Mutex.
//   - Fair under contention parks every waiter: every contended
//     acquisition is a handoff, about 0.1-0.3 us a lock here. With one
//     goroutine per P it takes 0.4-0.7x the time of a channel of one used
//     as a lock; with four, where both fall into a convoy, 0.89-0.90x at
//     1 CPU and 1.10-1.15x at 2 (within the noise); and at most 0.7x
//     x/sync's Weighted(1). Lock allocates nothing; a LockContext whose
//     ctx can end allocates the channel it selects on.
//   - Cond.Signal and Broadcast with nobody waiting: one atomic load (about
//     2 ns, 2.5x faster than sync.Cond's). A Wait costs 1.5-1.7x
//     sync.Cond's runtime-integrated wait, and allocates only when its ctx
//     can end (a channel to select on).
//
// Values of the types in this package must not be copied after first use.
package mutex
