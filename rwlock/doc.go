// Package rwlock provides reader/writer locks: [RWMutex], a drop-in for
// sync.RWMutex that neither starves readers nor writers, takes a context
// when it may wait, and can downgrade a write lock to a read lock; and
// [ReadMostly], a lock for data that is read far more often than written,
// whose read path scales with the number of cores.
//
// # Which lock
//
// A reader/writer lock lets any number of readers in at once, or one
// writer alone. It pays off only when reads are frequent, read critical
// sections are not tiny, and writes are rare; otherwise a plain mutex
// (sync.Mutex or lockstep's mutex.Mutex) is simpler and as fast, because a
// reader/writer lock's read path still writes shared memory.
//
//   - RWMutex: the general choice. Uncontended RLock, RUnlock, Lock and
//     Unlock are one atomic operation each and allocate nothing, like
//     sync.RWMutex's. Waiters queue first come, first served: a writer
//     that waits closes the lock to new readers, and a writer's Unlock
//     admits all readers queued before the next writer as one batch. A
//     lone waiting writer may be overtaken by newcomers (at most five
//     times or for about a millisecond), as with sync.Mutex, so that
//     back-to-back writers do not park on every Lock. LockContext and
//     RLockContext give up when their context ends, without disturbing
//     anyone else; Downgrade turns a write lock into a read lock
//     atomically.
//   - ReadMostly: for configuration, routing tables and caches: data read
//     on every request and written a few times a second at most. Readers
//     on different cores increment different counters (BRAVO, Dice and
//     Kogan, USENIX ATC 2019), so reads do not contend at all; a write
//     costs a scan of the counters (a few hundred nanoseconds to a few
//     microseconds) on top of an RWMutex write. RLock returns an RToken
//     that RUnlock takes back.
//
// Neither lock is reentrant and neither records its owner. A goroutine that
// holds a read lock must not RLock again: if a writer queues in between,
// the second RLock waits for the writer, which waits for the first read
// lock, and the goroutine deadlocks. sync.RWMutex has the same rule.
//
// # Cancellation
//
// LockContext and RLockContext follow lockstep's cancellation contract
// (see the module's package doc): a context that is already done fails the
// call even when the lock is free (TryLock and TryRLock are the
// non-blocking path); on failure the error satisfies errors.Is(err,
// ctx.Err()) and errors.Is(err, context.Cause(ctx)), and the lock is as if
// the call had never been made; a grant that races with cancellation is
// kept; and a writer that gives up while queued admits the readers that
// queued behind it (golang/go#37852 was a cancelable RWMutex that stranded
// them).
//
// # Memory model
//
// For both locks, as for sync.RWMutex: the n'th call to Unlock
// "synchronizes before" the m'th call to Lock returns, for any n < m. For
// any call to RLock there is an n such that the n'th Unlock (or Downgrade)
// synchronizes before that RLock returns, and the matching RUnlock
// synchronizes before the n+1'th Lock returns. A failed TryLock or
// TryRLock, and a context variant that returns an error, establish no
// "synchronizes before" relation.
//
// # Cost per operation
//
// Measured with this package's benchmarks on a 2-core virtual machine shared
// with other work, as CPU time per operation (wall time there mostly
// measured the machine's load); compare only within one run:
//
//   - RWMutex: uncontended RLock+RUnlock about 4.4 ns, as sync.RWMutex's
//     (both inline; 2026-12-07, 8 interleaved runs); Lock+Unlock about
//     8 ns, about 40% less than sync.RWMutex's (one CAS each way instead
//     of a mutex plus an add). The context variants add one ctx.Err call.
//   - ReadMostly: an uncontended biased RLock+RUnlock about 7.6 ns in the
//     same runs, 1.8x sync.RWMutex's, in exchange for reads that do not
//     contend with each other on many cores; a write costs an RWMutex
//     write plus a scan of the counters.
//   - A call that has to wait parks through lockstep's wait queue: a
//     park/wake handoff, about 1 µs of CPU in all under contention (no
//     allocation, unless the ctx can end: then a channel to select on).
//     Readers and batches of readers are served in order, so under heavy
//     contention (and especially with GOMAXPROCS above the number of
//     cores) more acquisitions may park than with sync.RWMutex.
//
// Values of these types must not be copied after first use.
package rwlock
