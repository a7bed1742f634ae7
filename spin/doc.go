// Package spin provides spin locks: locks whose waiters busy-wait instead of
// parking.
//
// A spin lock pays off only when the critical section is a few dozen
// nanoseconds, never blocks, and the holder is almost never preempted: then
// a waiter that keeps its core gets the lock sooner than one that parks and
// is woken (a park-and-wake round trip costs 100-150 ns). Everywhere else
// prefer mutex.Mutex, which spins briefly and then parks: a spin lock whose
// holder is descheduled makes every waiter burn its time slice, and the Go
// scheduler does not know the waiters are waiting.
//
// Both locks here are bounded spinners: a waiter spins with exponential
// backoff (Lock: 2^k spin-wait hints, PAUSE on amd64, k from 4 to 5, about
// 0.9 µs at most, which it keeps between looks from then on; TicketLock:
// internal/backoff's 2^k relax iterations, k up to 6), then yields the
// processor with runtime.Gosched on every further attempt, so they stay
// live with more goroutines than cores, GOMAXPROCS=1 included. They never
// park, so a waiter keeps using CPU (yielding) for as long as it waits: do
// not hold them across anything that blocks.
//
//   - [Lock] is a test-and-test-and-set lock: waiters read the lock word
//     until it looks free and only then try to take it, so they spin on a
//     shared cache line without writing it. It is not fair: whoever sees
//     the lock free first wins. A free Lock costs one compare-and-swap,
//     and Unlock a load and a release store (on amd64 a plain MOV, where
//     sync/atomic's stores are locked exchanges; nobody parks on a spin
//     lock, so the unlock needs no fence): uncontended 0.63-0.65x
//     sync.Mutex's time on a machine where a locked instruction costs
//     about 6 ns (see BENCHMARKS.md).
//   - [TicketLock] is a FIFO lock: each waiter takes a ticket and waits for
//     its number to be served, so waiters get the lock in arrival order.
//     The price: if the waiter whose turn it is has been descheduled,
//     everyone behind it waits too. Only the next-in-line spins hard;
//     waiters further back yield at once, which keeps a ticket lock usable
//     when goroutines outnumber cores. And FIFO costs throughput even
//     without preemption: under contention the lock goes to another core
//     at every acquisition, where a barging lock lets the goroutine that
//     just unlocked take it again from its own cache. With two goroutines
//     hammering it on two cores, TicketLock takes 2-2.6x the time of
//     sync.Mutex or Lock (BenchmarkContended).
//
// Both are FIFO-or-not spin locks for a program that runs no more goroutines
// on a lock than it has processors, on a machine that runs no more threads
// than it has cores. A TicketLock under operating-system oversubscription
// (GOMAXPROCS above the number of cores, or a CPU-throttled container) hands
// the lock to a waiter whose thread is not running, and every waiter behind
// it waits for the OS to schedule it again: throughput falls by orders of
// magnitude ("queue-based locks handle preemption badly": He, Scherer and
// Scott, "Preemption Adaptivity in Time-Published Queue-Based Spin Locks",
// HiPC 2005). Lock degrades gracefully there; TicketLock does not.
//
// There is no MCS queue lock. MCS (Mellor-Crummey and Scott, 1991) gives
// each waiter its own cache line to spin on, which pays on machines with
// many sockets and many waiters; it shares the ticket lock's preemption
// problem and needs a queue node per acquisition (from the caller or a
// pool). Measured against the two locks here (BenchmarkMCS, with the node
// from the caller, reused: the lock's best case), it did not earn its
// place: uncontended 12.1 ns a Lock/Unlock pair against 4.6 for Lock and
// 5.0 for TicketLock (it takes four atomic operations: two to reset the
// node, a swap and a compare-and-swap), and contended level with
// TicketLock or slower (AMD EPYC, 2 vCPUs; see BENCHMARKS.md).
//
// Neither lock is reentrant, neither has a context-aware Lock (a ticket
// cannot be abandoned once taken; see mutex.Mutex.LockContext), and neither
// records its owner: any goroutine may unlock, as with sync.Mutex.
//
// # Memory model
//
// For both locks, the n'th call to Unlock "synchronizes before" the m'th
// call to Lock returns, for n < m, as for sync.Mutex. A successful TryLock
// is a Lock; a failed TryLock establishes no synchronization.
package spin
