// Package pool runs tasks on a fixed set of worker goroutines that balance
// the load among themselves by work stealing.
//
// It is a pool of goroutines, not of objects: it reuses workers to run
// functions, as a thread pool does. To reuse allocated objects, use
// sync.Pool.
//
// # The model
//
// A [Pool] has N workers (New(0): GOMAXPROCS). Each worker owns a
// work-stealing deque; tasks submitted from outside the pool go through one
// shared queue, the injector:
//
//	Submit ─► [injector: FIFO] ──batches──► worker 0 [deque] ◄─steal─┐
//	                                        worker 1 [deque] ─steal──┘
//	task ──Spawn/Group.Go──► own deque: owner pops LIFO, thieves steal FIFO
//
// In more detail:
//
//   - A task started with [Pool.Go] receives its [Worker] and can fork
//     children onto that worker's own deque ([Worker.Spawn], [Group.Go],
//     [Worker.Join], and [Worker.SpawnArgs] and [Group.GoArgs] for tasks
//     that are a function of two ints). The owner runs its newest child next (depth first,
//     cache-hot), while idle workers steal the oldest (the biggest piece of
//     a recursive split) from the other end, starting at a random victim.
//     This is the Chase-Lev deque (SPAA 2005, in the corrected form of Lê
//     et al., PPoPP 2013) and the scheduler of Go's runtime, Java's
//     ForkJoinPool, rayon and tokio.
//   - A worker takes outside submissions from the injector in batches (a
//     fair share, at most 32), which stay stealable while it works through
//     them, and still checks the injector every 61 tasks when its own
//     deque keeps it busy.
//   - Joining never deadlocks the pool: a task that waits in [Group.Wait]
//     or [Worker.Join] runs other queued tasks, its own children first,
//     until its children are done. Those tasks run on top of the waiting
//     one, on its goroutine, so the waiting task resumes only when the task
//     it picked up returns: a task that blocks until some joining task has
//     gone on past its Wait (on a channel that task closes afterwards, say)
//     can deadlock with it, as in rayon and in ForkJoinPool's helping, and
//     no extra worker can resume a task buried under another. Tasks should
//     wait for other tasks through Group or Join, not for what a joining
//     task does after its join.
//   - A task that blocks on anything else (a channel, a lock, I/O) while
//     tasks wait, with every worker so blocked, is detected within about
//     10ms, and the pool starts a temporary worker, as .NET's thread pool
//     injects threads on starvation. So even a task that waits on a plain
//     channel for a child it submitted completes, in a pool of one worker.
//     See [WithStarvationCheck].
//   - Idle workers park: an idle pool uses no CPU and runs no timer. The
//     last two workers to run out of fork-join work (tasks that take a
//     *Worker) look for more, yielding their processors between looks,
//     for about 50µs before they park (the others park after a backoff of
//     a microsecond or two), and a task waiting in Group.Wait for a child
//     another worker took, about 200µs (less in pools of many workers):
//     waking a parked worker delays the next task by more than that (see
//     the Cost section). A submission wakes at most one parked worker, and
//     only when no worker is already looking for work; a woken worker that
//     finds work wakes the next, so wakeups follow the work without a
//     thundering herd. No wakeup is lost (the protocol is tokio's; see
//     idle.go).
//
// # Submission, errors and shutdown
//
// [Pool.Submit] takes a func(). The queue is unbounded by default (a
// producer far ahead of the workers yields its processor to them now and
// then, but never blocks); [WithQueueLimit] bounds it, with a [Policy] for
// a full queue: [Block] (and [Pool.SubmitContext] to bound the wait),
// [FailFast] ([ErrQueueFull]), or [CallerRuns].
//
// A panic in a task is recovered with its stack as a [*PanicError]; the
// worker survives it. It goes to the panic handler ([WithPanicHandler]) if
// there is one; otherwise [Pool.Wait] (or [Pool.Shutdown]) returns the
// first. Panics in a [Group]'s tasks go to [Group.Wait]. None is swallowed.
// A task that calls runtime.Goexit (as t.FailNow does) ends the goroutine
// it runs on, and is counted as finished; the pool carries on without it.
// Tasks share goroutines: a task that waits in [Group.Wait] or
// [Worker.Join] runs other tasks meanwhile on its own goroutine, and a
// CallerRuns task runs on the submitter's, so a Goexit there ends the
// waiting task, or the submitter, too.
//
// [Pool.Wait] waits until every task submitted so far, and every task
// those forked, has finished; the pool stays usable. [Pool.Shutdown] stops
// accepting ([ErrClosed]), runs what is queued, and returns when every
// worker goroutine has exited. [Pool.Resize] changes the number of
// workers; [Pool.Stats] reports counters; [Size] computes a worker count
// for tasks that block.
//
// # Sizing
//
// For CPU-bound tasks the default, GOMAXPROCS workers, is right: more only
// adds switching. For tasks that wait (on I/O, other services, locks),
// [Size] applies the classic rule: cores x (1 + wait/compute). With 2
// cores, 90ms of waiting and 10ms of computing per task, that is 20.
//
// # When not to use it
//
//   - To run a handful of long-lived or blocking goroutines, use go
//     statements: a goroutine costs about a microsecond to start and a few
//     kilobytes of stack, and the scheduler already multiplexes them.
//   - To bound concurrency over a set of goroutines that do I/O, a
//     semaphore or errgroup.Group with SetLimit is simpler.
//   - For a task that may block for long, keep the pool's starvation check
//     on (the default) or size the pool with [Size]; a pool that only runs
//     CPU-bound work does best at GOMAXPROCS.
//
// The pool pays off for many small tasks (it costs tens of nanoseconds a
// task: about a tenth of a goroutine per task or of ants, half of pond's
// Go), for recursive fork-join (which stays on the forking
// worker unless another is idle), and for unbalanced work (idle workers
// steal).
//
// # Memory model
//
// Submitting a task (Submit, SubmitContext, Go, Spawn, Group.Go) is
// synchronized before the task starts. The end of a task is synchronized
// before the return of every Pool.Wait that waited for it, and of the
// Group.Wait or Worker.Join that waited for it.
//
// # Cost
//
// Measured on the 2-core development machine, in CPU time per task (see
// the package benchmarks, and the bench module for figures against peers):
// Submit of a func() allocates nothing and costs about 20ns (a lock, an
// atomic add, an unlock, two loads); running it costs about 22ns more on
// the worker (a CAS to claim it from the worker's batch, a deferred
// recover). Go and Worker.Spawn allocate nothing beyond the caller's
// closure; Group.Go adds a 16-byte record. Worker.SpawnArgs and
// Group.GoArgs allocate nothing at all once the worker's free list of
// task records is warm: a task that does nothing costs about 28ns through
// SpawnArgs against 55 through Spawn at 1 CPU (BenchmarkSpawn), and an
// unbalanced tree of 0.3µs nodes runs 1.76-1.80x faster than serial code
// at 2 CPUs with SpawnArgs, 1.61-1.63x with Spawn (BenchmarkUnbalancedTree).
// At that grain the closure, and the garbage collection its allocation
// brings, cost about as much as the rest of the pool's bookkeeping; for
// tasks of several microseconds the difference is lost in the work.
// Waking a parked worker costs a channel handoff, a microsecond or two of
// CPU, paid only when no worker is already searching; the woken worker,
// readied behind the running goroutine of the waker's processor, can wait
// 60-115µs for an idle processor to take it, which is why idle workers look
// before they park. A queued task holds about 33 bytes (its closure and a
// queue slot), where a parked goroutine holds 2.7 to 4 KB.
package pool
