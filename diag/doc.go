// Package diag finds lock-order deadlocks before they happen and shows
// which locks are contended, for every lock in lockstep: mutex.Mutex,
// mutex.Fair, rwlock's locks, spin.Lock, spin.TicketLock, and a
// semaphore.Weighted of capacity one used as a lock.
//
// It has two tools, switched on in different ways:
//
//   - The lock-order checker, compiled in only with the build tag
//     lockstep_debug (go test -tags lockstep_debug ./...). It records which
//     locks each goroutine holds and in which order locks are taken, and
//     reports an order that could deadlock the first time it is attempted,
//     even if no deadlock happens in that run; also a lock taken again by
//     the goroutine that holds it, an unlock by a goroutine that does not
//     hold the lock, and a goroutine that has waited for a lock longer than
//     a threshold, with the stacks of the holder and the waiters. Without
//     the tag it does not exist: the hooks in the locks are empty functions
//     that the compiler removes ([Enabled] is false).
//   - Contention statistics, in every build, for the locks a program
//     chooses with [Watch]: acquisitions, contended acquisitions, total and
//     longest wait, handoffs and cancellations, and [Top] for the most
//     contended. They are cheap enough to leave on in production for the
//     locks one cares about.
//
// It does not see sync.Mutex, sync.RWMutex or channels; for those use the
// runtime's profiles (see below) and the race detector. The checker finds
// deadlocks between locks; a goroutine that waits for a channel, a
// WaitGroup or a latch while holding a lock is not a lock-order edge (a
// long wait on the lock behind it is reported, though).
//
// # A worked example
//
// A bank transfers between accounts under its accounts lock and writes the
// journal under its ledger lock; an audit reads the journal, then the
// balances:
//
//	type Bank struct {
//		accounts mutex.Mutex // guards balances
//		ledger   mutex.Mutex // guards the journal
//	}
//
//	func (b *Bank) Transfer() {
//		b.accounts.Lock()
//		defer b.accounts.Unlock()
//		b.ledger.Lock()
//		defer b.ledger.Unlock()
//		...
//	}
//
//	func (b *Bank) Audit() {
//		b.ledger.Lock()
//		defer b.ledger.Unlock()
//		b.accounts.Lock()
//		defer b.accounts.Unlock()
//		...
//	}
//
// A Transfer and an Audit that run at the same time can deadlock: each
// takes its first lock and waits forever for the other's. Tests rarely hit
// that window, and the deadlock waits for production. Built with
// -tags lockstep_debug, the first Audit after any Transfer (in any
// goroutine, at any earlier time) prints, before it can block:
//
//	lockstep/diag: lock order inversion
//	goroutine 1 locks "Bank.accounts" while holding "Bank.ledger", but "Bank.ledger" was locked while
//	holding "Bank.accounts" before: goroutines that take these locks at the same time can deadlock
//
//	goroutine 1 locked "Bank.ledger" here:
//	main.(*Bank).Audit(...)
//		/src/bank/main.go:21
//	main.main(...)
//		/src/bank/main.go:34
//
//	then, holding "Bank.ledger", goroutine 1 locks "Bank.accounts" here:
//	main.(*Bank).Audit(...)
//		/src/bank/main.go:23
//	main.main(...)
//		/src/bank/main.go:34
//
//	earlier, goroutine 21 locked "Bank.accounts" here:
//	main.(*Bank).Transfer(...)
//		/src/bank/main.go:14
//	main.main.func1(...)
//		/src/bank/main.go:32
//
//	then, holding "Bank.accounts", goroutine 21 locked "Bank.ledger" here:
//	main.(*Bank).Transfer(...)
//		/src/bank/main.go:16
//	main.main.func1(...)
//		/src/bank/main.go:32
//
// (the names come from diag.SetName(&b.accounts, "Bank.accounts") and
// diag.SetName(&b.ledger, "Bank.ledger"); unnamed locks are called by type,
// address and the place where they were first locked). The cure is one
// global order: Audit takes accounts first, or copies the journal under
// the ledger lock and releases it before taking accounts. In tests,
// [Config.Panic] turns every report into a panic in the offending goroutine
// (before the lock is taken, so the test can recover), and [Config.Report]
// collects reports to assert on. Example_inversion in this package runs
// this scenario.
//
// # What the checker records, and why it reports no false positives
//
// Each blocking acquisition (Lock, RLock, LockContext, RLockContext,
// Acquire(ctx, 1) of a semaphore of capacity one) of lock L by a goroutine
// that holds locks H1..Hn adds the edges Hi -> L to one graph for the whole
// program. An edge that closes a cycle is reported with the two stacks of
// every edge on the cycle, the shortest cycle first, and is not added. The
// rules, after Linux's lockdep (Documentation/locking/lockdep-design.rst),
// with the choices Go's locks force:
//
//   - Nodes are lock instances. Go locks are zero values with no creation
//     site, and the nearest observable key, the place of a lock's first
//     acquisition, splits one kind of lock into classes at random: locks
//     always taken in index order (lock(min), then lock(max)) would get the
//     class of whichever line first locked each, and two of them, first
//     locked at opposite lines, would form a cycle no schedule can deadlock
//     on. Instances never do. [SetName] puts locks into a named class, as
//     lockdep's classes do: name every account's lock "Account.mu" and an
//     inversion between Account.mu and Bank.ledger is found whichever
//     accounts were involved. Locks of one named class nested inside each
//     other (hand-over-hand traversal, or two accounts locked by a
//     transfer) add no edge: the class cannot say which instance comes
//     first, and reporting every such nesting would report correct code.
//   - Holds are per goroutine, so a read lock held by many goroutines at
//     once, and the same locks taken by many goroutines in one order, are
//     never confused with one goroutine's nesting.
//   - The order of releases does not matter: A, B, unlock A, C records
//     A -> B and B -> C, nothing about C and A.
//   - A successful TryLock (TryRLock, TryAcquire) adds no edge into the lock
//     it takes, because it never waits: "hold A, TryLock B" cannot deadlock
//     on B. The lock is held afterwards, so locks taken while holding it get
//     edges from it. A loop that retries TryLock until it succeeds is a
//     blocking acquisition the checker cannot see.
//   - Read locks make edges like write locks. Every lockstep read-write lock
//     stops new readers while a writer waits (so that writers do not
//     starve), so a reader can wait for a reader: goroutine 1 holds A for
//     reading and wants B for reading, goroutine 2 holds B for reading and
//     wants A for reading, and a writer queued on each lock blocks both
//     readers forever. lockdep treats Linux's rwsem readers, which behave
//     the same, the same way.
//   - Recursion: a blocking acquisition of a lock the goroutine already
//     holds is reported before it blocks. For a write hold, or a write lock
//     wanted under one's own read hold, the goroutine would wait for itself
//     forever; a read lock wanted again for reading deadlocks as soon as a
//     writer queues between the two read locks (sync.RWMutex's
//     documentation forbids recursive read locking for the same reason).
//     Locks marked [Unowned] and semaphores are the exception: another
//     goroutine may be about to release the earlier hold (a semaphore's
//     permit handed to a worker, which releases it when its job is done),
//     so the goroutine may be waiting for that release, not for itself.
//   - Ownership: lockstep's locks, like sync.Mutex, may be unlocked by a
//     goroutine other than the one that locked them. The checker reports it
//     anyway (Kind UnlockNotHeld), because a lock unlocked by a stranger is
//     usually a bug, and moves the hold so that the books stay right. Locks
//     handed between goroutines on purpose are marked with [Unowned];
//     semaphores are never reported.
//   - A context-aware acquisition that gives up (LockContext returning the
//     context's error) leaves no hold, but its order was attempted: the
//     edge stays, because the same code will block on another day. A
//     context does not exempt an acquisition from the checks either: a
//     deadlock that ends at a deadline is still a failed request.
//   - A semaphore.Weighted is checked as a lock when its capacity is one
//     and one permit is acquired; with more permits, holding some and
//     waiting for another semaphore deadlocks only when all are taken, and
//     taking two is no self-deadlock. Any goroutine may release permits.
//
// Each finding is reported once per set of source locations ([Reset]
// forgets them, and the graph, for tests that run more than once).
//
// # Long waits
//
// A goroutine that has waited longer than [Config.LongWait] (30 s by
// default) for a lock is reported once per wait, with the lock's holders:
// the stack where each took the lock and the stack where each is now (from
// a dump of all goroutines), and every goroutine waiting for the lock.
// The clock is a timer started when a wait begins and stopped when it ends,
// so nothing runs while no one waits. A spin lock's waiters are waiting
// while they spin.
//
// # Cost of the debug build
//
// The checker takes every acquisition off the lock's fast path and, for
// each, reads the goroutine id (parsed from runtime.Stack, which formats
// the caller's whole stack: Go has no goroutine-local storage and no
// cheaper public way to tell goroutines apart) and records the stack
// (runtime.Callers), under one global mutex; each release reads the
// goroutine id again. A lock and unlock cost 10 to 40 microseconds instead
// of 5 to 10 nanoseconds (BenchmarkUncontended with the tag, shallow
// stacks; deeper stacks cost more), so: tests, not production. Lock-heavy
// stress tests slow down accordingly; lockstep's CI runs the tagged suite
// at full sizes, which takes several times as long as the untagged one.
//
// Because every lock operation passes through that global mutex, the race
// detector sees them all ordered, and a data race between two goroutines
// that only ever meet through lockstep locks can go unreported in a tagged
// -race run: run -race without the tag as well.
//
// Memory grows with the number of lock instances and distinct orders;
// records of garbage-collected locks are dropped (the checker holds locks
// by weak pointers and sweeps dead ones when the number of locks doubles).
//
// # Statistics
//
// [Watch] registers a lock under a name; [Stats] reads its counters and
// [Top] lists the watched locks by total wait, with the place each was
// watched. Each acquisition of a watched lock finds the lock's counters in
// a copy-on-write hash table by address (no lock, a probe or two) and
// increments them; only a contended acquisition reads the clock.
//
// The cost, measured on a 2-core VM shared with other work (so read the
// ratios): while nothing is watched, none (a lock's fast path loads one
// global word that is folded into the compare-and-swap it does anyway, or
// tests one predictable branch; benchstat finds no difference from the
// locks without hooks). While something is watched, every lockstep lock
// leaves its inlined fast path for the tracked path: an uncontended lock
// and unlock of a mutex.Mutex goes from about 6 ns to 12 ns when another
// lock is watched (a failed compare-and-swap, two calls and a table lookup
// more) and to 18 ns when it is watched itself (the counting more); other
// lock types pay alike (BenchmarkUncontended). Contended acquisitions,
// which spin or park for 100 ns or more, hardly notice. Cheap enough to
// leave on in production for the locks one cares about; too dear to watch
// every lock of a hot path.
//
// Counting the fast path inside the lock instead (a counter or a "watched"
// bit in each lock) would add a field to every lock, watched or not, and a
// check to every fast path; the table keeps the locks' layout untouched and
// their fast paths as they were while nothing is watched.
//
// # Relation to Go's mutex and block profiles
//
// runtime.SetMutexProfileFraction samples contention on sync.Mutex and
// sync.RWMutex: the profile charges the time waiters waited to the stack of
// the Unlock that released them. lockstep's locks are not sync.Mutex: their
// waiters park in internal/waitq, on a channel (in a select with ctx.Done)
// when the wait can be cancelled and on a sync.Cond when it cannot
// (plain Lock). Both are recorded by the block profile
// (runtime.SetBlockProfileRate), as runtime.selectgo or
// sync.(*Cond).Wait under the lockstep method that waited, and a
// lockstep wait does not appear in the mutex profile. The mutex profile may
// still show short contention on the sync.Mutex that guards a lockstep
// lock's wait queue, charged to lockstep's internal frames; in a build with
// -tags lockstep_debug, also contention on the checker's own sync.Mutex
// (internal/lockdep), under any lockstep lock, spin locks included. Spin
// locks never park: their waits show only in the CPU profile. TestProfilesSpin
// and TestProfilesParkedLock check these claims for every lock type. The
// profiles are sampled, process-wide and keyed by stack; [Watch] is exact,
// per lock and by name, and counts uncontended acquisitions too.
package diag
