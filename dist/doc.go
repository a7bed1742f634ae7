// Package dist is lockstep's distributed coordination: locks, leader
// election, semaphores, barriers and latches shared by processes on many
// machines, built on coordination engines that already solve consensus
// (etcd, and Redis for efficiency locks) rather than on a home-made one.
//
// This package holds what the backends share: the sentinel errors and
// [Fence], the check a protected resource runs on fencing tokens. The
// primitives live in the backend packages:
//
//   - [github.com/lockstep-go/lockstep/dist/etcd]: the reference backend.
//     Session (a lease kept alive in the background), Mutex and Lock,
//     Election and Leadership, Semaphore and Permit, Barrier, DoubleBarrier,
//     Latch. Waiters are served first come, first served; every held lock
//     has a fencing token that grows with each acquisition.
//   - [github.com/lockstep-go/lockstep/dist/etcd/etcdtest]: an etcd server
//     started inside the process, for tests and examples (as httptest is
//     for HTTP).
//   - [github.com/lockstep-go/lockstep/dist/redislock]: a lock on one Redis
//     server, for efficiency only (see its doc).
//
// dist is a separate Go module: programs that use only lockstep's local
// primitives never download etcd. Use the local primitives (lockstep/mutex,
// lockstep/semaphore, ...) whenever the goroutines share one process: a
// distributed lock costs a network round trip and a consensus write (about a
// millisecond on embedded etcd, see BENCHMARKS.md) where a local one costs
// nanoseconds.
//
// # Distributed locks are leases
//
// A lock that a crashed process could hold forever would be useless, so
// every distributed lock is a lease: it ends when its holder releases it or
// when the holder fails to renew it within a TTL. That makes it unsafe in a
// way no local lock is, as Martin Kleppmann showed ("How to do distributed
// locking", 2016): a holder can pause (a GC pause, swapping, a stalled
// network, a VM migration) for longer than the TTL, wake up believing it
// still holds the lock, and write to the shared resource while the lock's
// next holder writes too. No check the holder makes before writing closes
// this gap, because the pause can fall between the check and the write.
// Watching etcd.Lock.Lost only narrows it.
//
// The fix is on the resource's side. Every acquisition comes with a fencing
// token (etcd.Lock.Token) that is larger than the token of every earlier
// acquisition of the lock. The holder sends its token with every write, and
// the resource refuses a write whose token is lower than one it has already
// accepted. The paused holder's token is lower than its successor's, so its
// late writes are refused:
//
//	lock, err := mutex.Lock(ctx)   // token 33
//	...                            // pause: the lease expires, another
//	                               // process locks with token 34 and writes
//	store.Write(ctx, lock.Token(), data) // refused: 33 < 34
//
// [Fence] is that check for a resource that is a single process; for a
// database, put it in the write itself (see [Fence]); for data in etcd, make
// the write a transaction conditional on etcd.Lock.IsOwner, which etcd
// evaluates atomically with the write, so no token is needed.
//
// The etcd backend's token is the revision at which the lock's key was
// created, drawn from etcd's single, replicated revision counter: it grows
// with every acquisition and survives the failure of any minority of etcd
// members. The Redis backend's token is a counter on one Redis server, lost
// with that server's unsynced writes: that is why Redis gives an efficiency
// lock (doing work twice is wasteful but harmless), not a correctness lock.
//
// # Errors and cancellation
//
// Every call that talks to the engine takes a ctx first and follows
// lockstep's cancellation contract: a ctx that is already done fails the
// call; when ctx ends during the call the error satisfies errors.Is(err,
// ctx.Err()) and the call leaves nothing behind (a cancelled Lock, Campaign,
// Acquire or Enter deletes its waiting key, so the waiters behind it move
// up, and a grant that raced with the cancellation passes to the next
// waiter). When the engine cannot be reached for that delete, the call
// returns after a bounded wait (5s) and the delete goes on in the
// background: etcd's sessions retry it until it gets through or the session
// ends; a Redis key that was left expires with its TTL. Outcomes a correct
// program meets at run time are the sentinel
// errors below; misuse (Unlock of a lock already unlocked) panics with a
// message prefixed by the package name.
//
// A call that fails for another reason (etcd unreachable) may or may not
// have taken effect on the server, as with any remote call; releases are
// safe to retry, because they delete only their own acquisition's key.
package dist
