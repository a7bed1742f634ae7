// Package lockstep is a guide to concurrency in Go and to the packages of
// this module, which implement the primitives it describes. Import the
// packages one at a time; this package holds no code.
//
// # Concurrency, synchronization, parallelism
//
// Concurrency is structure: tasks that can make progress independently.
// Parallelism is execution: tasks that run at the same instant on different
// cores. Synchronization is protection: making access to shared state safe.
// Concurrency creates the need for synchronization whenever tasks share
// mutable state, on one core (interleaved) as much as on many; parallelism
// only makes the bad interleavings happen sooner.
//
// Go's answer to most of this is "share memory by communicating": confine
// state to one goroutine and pass values over channels (thread confinement,
// the third cure below). This module is for the places where that is too
// slow or too awkward: hot shared state, admission control, rendezvous,
// queues that must not allocate, and pools of workers.
//
// # Six race conditions and the primitive that prevents each
//
// A race condition is a bug whose outcome depends on the interleaving of
// goroutines. Data races (unsynchronised access to one variable) are what
// the race detector (go test -race) finds; the six kinds below can happen
// even with every access atomic.
//
//  1. Read-modify-write: counter++ is a load, an add and a store; two
//     goroutines interleave and an update is lost. Cure: an atomic
//     read-modify-write (sync/atomic's Add or CompareAndSwap) or a lock
//     around the three steps ([mutex.Mutex], [spin.Lock]).
//  2. Check-then-act (TOCTOU): "if balance >= amount { balance -= amount }"
//     checks a condition that another goroutine changes before the act.
//     Cure: make check and act one critical section ([mutex.Mutex],
//     [rwlock.RWMutex] for read-mostly checks), or one CAS, or take
//     the resource itself with a [semaphore.Weighted] instead of checking.
//  3. Publication of a partially built object: another goroutine sees a
//     pointer before the fields it points to. Cure: publish through an
//     operation that synchronizes: an atomic.Pointer store, a channel send,
//     an unlock, a [ringbuf.MPMC] push, a [future.Promise] resolve. Each
//     lockstep type states which of its calls "synchronizes before" which.
//  4. Lost wakeup (missed signal): the signal is sent before the waiter
//     starts waiting and nobody is woken. Cure: register as a waiter
//     before re-checking the condition, under the same lock the signaller
//     takes. Every blocking call in this module does (the locks, the
//     semaphore, the ring buffers and the pool through one shared wait
//     queue, the barriers through its broadcast counterpart; latch and
//     future on the channel their completion closes, or a WaitGroup when
//     the ctx cannot end, under the same rule); [mutex.Cond] is a
//     condition variable whose Wait cannot miss a Signal, and [latch.Latch]
//     and [future.Future] expose a Done channel that stays closed once the
//     event happened.
//  5. Unsafe lazy initialisation: two goroutines both see nil and both
//     create. Cure: sync.Once (or sync.OnceValue) in the standard library.
//  6. Visibility and ordering: without a synchronizing operation a write
//     need never become visible to another goroutine, and writes may be
//     seen out of order. Cure: the Go memory model's "synchronizes before"
//     edges. Go's sync/atomic operations are sequentially consistent, so
//     lockstep documents happens-before at the API level: "the n'th Unlock
//     synchronizes before the m'th Lock returns, for n < m".
//
// # Which primitive for which problem
//
//   - Exclusive access to shared state, held briefly: [mutex.Mutex] (a
//     drop-in for sync.Mutex, plus LockContext). It barges for throughput
//     and hands the lock to a waiter that has waited about a millisecond,
//     so no waiter starves.
//   - Strict first-come first-served access, or a lock whose wait time must
//     not vary: [mutex.Fair].
//   - Waiting for a condition on state a lock protects, with a deadline:
//     [mutex.Cond], whose Wait takes a context.
//   - Read-mostly state: [rwlock.RWMutex] (neither readers nor writers
//     starve; Downgrade from write to read) or, when reads dominate and
//     cores are many, the reader-scalable lock in package rwlock.
//   - Critical sections of a few nanoseconds, with no blocking inside:
//     [spin.Lock], [spin.TicketLock]. Prefer [mutex.Mutex] unless a
//     benchmark on your machine says otherwise: a preempted spin-lock
//     holder stalls every waiter.
//   - Limiting concurrency to N units (connections, memory, CPU tokens):
//     [semaphore.Weighted], FIFO and weighted, so a large request is never
//     starved by small ones.
//   - Waiting for N events to happen once: [latch.Latch].
//   - N goroutines that proceed in rounds, each round starting when all
//     have finished the last: [barrier.Cyclic]; when the set of parties
//     changes while it runs: [barrier.Phaser].
//   - Handing values from producers to consumers without allocation:
//     [ringbuf.MPMC], [ringbuf.SPSC] (bounded, lock-free ring buffers).
//   - Running many small tasks on a fixed set of goroutines, including
//     tasks that spawn and wait for subtasks: [pool.Pool], a work-stealing
//     pool. (A pool of goroutines, not sync.Pool's pool of objects.)
//   - A value that will be ready later, with composition (then, all, any,
//     timeout): [future.Future] and [future.Promise].
//   - Any of the above across machines: the separate module
//     github.com/lockstep-go/lockstep/dist, on etcd or Redis.
//   - Finding lock-order bugs and contended locks: [diag].
//
// # Deadlock, livelock, starvation
//
// A deadlock needs all four of Coffman's conditions: mutual exclusion (the
// resource cannot be shared), hold and wait (a goroutine holds one resource
// while waiting for another), no preemption (nothing can take a resource
// away), and circular wait (A waits for B while B waits for A). Break any
// one and deadlock is impossible. In practice:
//
//   - Lock ordering breaks circular wait: every goroutine takes locks in one
//     global order. It is the only cure that costs nothing at run time.
//   - Timeouts break hold and wait: every lock (the spin locks excepted,
//     which are for critical sections of nanoseconds) and every wait for
//     other goroutines in this module can take a context, so a goroutine
//     can give up, release what it holds, and retry (with random backoff,
//     or the retries become a livelock).
//   - Detection: find the cycle and break it. Go's runtime reports only a
//     total deadlock ("all goroutines are asleep"). Build tests with
//     -tags lockstep_debug and package diag reports a lock-order cycle
//     among lockstep's locks the first time both orders are taken, before
//     any deadlock happens, with both acquisition stacks.
//
// A livelock is goroutines that keep reacting to each other without
// progress (two people stepping aside in a corridor); backoff cures it,
// best randomised so that the two do not step aside in step again.
// lockstep's spin loops back off exponentially and then yield.
// Starvation is a goroutine that never gets its turn because others keep
// barging ahead; FIFO primitives ([mutex.Fair], [semaphore.Weighted],
// [spin.TicketLock]) and the starvation mode of [mutex.Mutex] prevent it.
//
// # Blocking and non-blocking
//
// A blocking call parks the goroutine until it can proceed; the goroutine
// costs a few kilobytes of stack and no CPU while parked. A non-blocking
// call (TryLock, TryAcquire, TryPush) returns at once and reports whether it
// succeeded. Every call in this module that waits for other goroutines
// takes a context first, or has a variant that does (Lock and
// LockContext, Wait and WaitContext), and the ones with a context follow
// one contract. The few waits without a context wait only for work the
// caller itself started or runs, and their docs say so: pool's Group.Wait
// and Worker.Join (which run queued tasks meanwhile), and Phaser's
// Register, Arrive and ArriveAndDeregister while the phaser's own
// OnAdvance runs. The spin locks ([spin.Lock], [spin.TicketLock]) take no
// context and never park: a waiter yields until it gets the lock, which
// is what they are for. The contract:
//
//  1. When ctx ends first, the call returns an error for which
//     errors.Is(err, ctx.Err()) holds (and errors.Is(err, cause) when the
//     context was cancelled with a cause), and the primitive is as if the
//     call had never been made.
//  2. A ctx that is already done fails the call, even when it could succeed
//     at once; the TryX methods are the non-blocking path.
//  3. A grant that races with cancellation is never lost: either the caller
//     keeps it and the call succeeds, or it is handed on to the next waiter
//     and the call fails. Each type's doc says which it does.
//  4. A waiter at the head of a queue that gives up wakes those behind it
//     that can now proceed.
//  5. Waiters register before they re-check the condition: no lost wakeups.
//  6. Misuse that can only be a bug (unlocking an unlocked lock, releasing
//     more than was acquired) panics with a message prefixed by the package
//     name; conditions a correct program meets (timeout, closed, broken,
//     full) are sentinel errors for errors.Is.
//  7. No goroutine outlives the call or the object that started it. Idle
//     waiting parks (the spin locks excepted: their waiters yield);
//     spinning is always bounded.
//
// Goroutines block cheaply, so in Go "blocking" is usually the right
// default: the runtime multiplexes thousands of parked goroutines onto a
// few threads, which is what non-blocking I/O does in other languages.
//
// # Sizing a pool of workers
//
// A worker that computes keeps a core busy; a worker that waits (for I/O, a
// lock, another service) does not. For tasks that compute for C and wait
// for W, a pool keeps every core busy with about
//
//	workers = cores x (1 + W/C)
//
// workers: 2 cores, 10 ms of CPU and 90 ms of I/O per task gives 20. For
// CPU-bound tasks (W near 0) that is one worker per core, and more only
// adds switching. pool.Size computes it. The formula assumes the waits are
// independent; when they are waits on a shared resource (a database with a
// connection limit), the resource is the bottleneck and more workers only
// lengthen its queue: bound them with a [semaphore.Weighted] instead.
//
// # Memory model
//
// Every type documents its guarantee in the Go memory model's terms. In
// short: an unlock synchronizes before the next lock that succeeds; a
// release synchronizes before the acquire it satisfies; a CountDown that
// brings a latch to zero synchronizes before every Wait that returns nil; a
// barrier's action and every party's actions before Await synchronize
// before every Await of that generation returns; a push synchronizes before
// the pop that returns its value; a Resolve synchronizes before every Get
// that returns its value. Failed Try calls and calls that return a ctx
// error establish nothing.
//
// [barrier.Cyclic]: https://pkg.go.dev/github.com/lockstep-go/lockstep/barrier#Cyclic
// [barrier.Phaser]: https://pkg.go.dev/github.com/lockstep-go/lockstep/barrier#Phaser
// [diag]: https://pkg.go.dev/github.com/lockstep-go/lockstep/diag
// [future.Future]: https://pkg.go.dev/github.com/lockstep-go/lockstep/future#Future
// [future.Promise]: https://pkg.go.dev/github.com/lockstep-go/lockstep/future#Promise
// [latch.Latch]: https://pkg.go.dev/github.com/lockstep-go/lockstep/latch#Latch
// [mutex.Cond]: https://pkg.go.dev/github.com/lockstep-go/lockstep/mutex#Cond
// [mutex.Fair]: https://pkg.go.dev/github.com/lockstep-go/lockstep/mutex#Fair
// [mutex.Mutex]: https://pkg.go.dev/github.com/lockstep-go/lockstep/mutex#Mutex
// [pool.Pool]: https://pkg.go.dev/github.com/lockstep-go/lockstep/pool#Pool
// [ringbuf.MPMC]: https://pkg.go.dev/github.com/lockstep-go/lockstep/ringbuf#MPMC
// [ringbuf.SPSC]: https://pkg.go.dev/github.com/lockstep-go/lockstep/ringbuf#SPSC
// [rwlock.RWMutex]: https://pkg.go.dev/github.com/lockstep-go/lockstep/rwlock#RWMutex
// [semaphore.Weighted]: https://pkg.go.dev/github.com/lockstep-go/lockstep/semaphore#Weighted
// [spin.Lock]: https://pkg.go.dev/github.com/lockstep-go/lockstep/spin#Lock
// [spin.TicketLock]: https://pkg.go.dev/github.com/lockstep-go/lockstep/spin#TicketLock
package lockstep
