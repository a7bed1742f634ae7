// Package barrier provides barriers: points where a group of goroutines
// (the parties) wait for each other before any of them goes on.
//
// [Cyclic] is a cyclic barrier for a fixed number of parties, after Java's
// CyclicBarrier: Await blocks until every party has arrived, an optional
// barrier action runs once per round (generation) before anyone is
// released, and the barrier then starts the next round by itself. Its
// breakage is all-or-none: if one party gives up (its context ends) or the
// action fails, the whole round fails, every party learns it (the one that
// gave up gets its context error, the others [ErrBroken], with the cause),
// and the barrier stays broken until Reset. Nobody is left waiting for a
// party that is not coming.
//
// [Phaser] is a barrier whose parties register and deregister while it
// runs, after Java's Phaser, which no other Go library offers: a phase
// advances when every party registered in it has arrived. Arriving and
// waiting are separate calls, so a party can arrive and go on with other
// work (split-phase, like C++'s std::barrier arrive/wait), and goroutines
// that are not parties can wait for a phase. It terminates when its last
// party leaves.
//
// # When not to use it
//
//   - To wait once for N goroutines to finish, use sync.WaitGroup (or
//     errgroup.Group, which also collects the first error); for N events to
//     happen once, use the latch package. A barrier is for rounds.
//   - For a pipeline, where each stage hands results to the next, use
//     channels: a barrier makes every party wait for the slowest one each
//     round, and the round time is the slowest party's time.
//   - If the number of parties changes, a Cyclic is the wrong tool: use a
//     Phaser, or a new Cyclic per round.
//
// # Cancellation
//
// Every call that waits for other parties (Await, AwaitAdvance,
// ArriveAndAwaitAdvance) takes a context and follows the module's
// cancellation contract (see the root package), with one difference for
// Cyclic that its semantics demand: a party that gives up breaks the round
// for everyone (a barrier where one party silently withdraws leaves the
// others waiting for it). A trip that races with a cancellation wins: if
// the last party arrived before the cancellation took effect, every party
// succeeds. A Phaser does not break: a waiter whose context ends leaves
// the phaser as if it had never called (ArriveAndAwaitAdvance withdraws its
// arrival).
//
// # Memory model
//
// For a Cyclic, every party's Await call of a generation synchronizes
// before the barrier action runs, and the action synchronizes before every
// Await of that generation returns (Java's "memory consistency effects":
// actions prior to await happen-before the barrier action, which
// happens-before actions following a successful return from await). For a
// Phaser, every arrival in a phase synchronizes before that phase's
// OnAdvance call and before every wait for that phase's advance returns.
// Calls that fail with a context error establish nothing.
//
// # Cost
//
// Measured on the 2-core CI machine while other jobs loaded it (see
// bench_test.go; figures vary 2-4x between runs, so compare only within one
// run). At one processor a Cyclic round costs about half a
// mutex-and-channel barrier's for 2 parties and 0.7-0.9 of it for 8 and 64,
// where every party's yield or park and the scheduler dominate both; at two
// processors 2-party rounds cost about a third of it in package runs, and
// 8- and 64-party rounds about the same (BENCHMARKS.md has the runs; on a
// 2-vCPU machine where moving a cache line between the vCPUs costs more,
// 8-party rounds at two processors cost 1.3-1.4x it). The difference is
// the wait: a party that arrives early polls before it parks. When there
// are no more parties than processors (so every party can be running at
// once), it first busy-waits in spin-wait hints (a few hundred
// nanoseconds on x86, less on arm64), then yields the processor a few
// times; on one processor it only yields (so the parties still to come
// run and arrive); with more parties than processors, and more than one
// processor, it parks at once, since yields there moved the parties
// between processors and cost more than they saved. It often sees the
// trip without parking. Both are bounded by internal/backoff: a party that
// waits longer parks after about a microsecond and burns no CPU.
// Arriving at a Cyclic is one compare-and-swap on one state word, and the
// last arrival's trips the generation (without a barrier action, in that same
// compare-and-swap); a round allocates nothing but one channel if a party
// parks. A break allocates a few small objects (the error and a record of
// it).
//
// Phaser's Arrive, Register and ArriveAndDeregister are one compare-and-swap
// on one state word and allocate nothing; a Phaser round
// (ArriveAndAwaitAdvance by every party) costs about what a Cyclic round
// does, and likewise allocates nothing but one channel if a party parks.
package barrier
