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
// Every blocking call takes a context and follows the module's
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
// Measured on the 2-core CI machine (see bench_test.go; figures vary 2-4x
// with core placement): a full Cyclic round for 2 goroutines costs about a
// third to a half of a mutex-and-channel barrier, because a party that
// arrives early spins briefly (a few hundred nanoseconds, then a few
// yields, bounded by internal/backoff) and usually sees the trip without
// parking. A round allocates one small generation record, plus one channel
// when a party parks. Phaser's Arrive, Register and ArriveAndDeregister are
// a single compare-and-swap on one state word when uncontended, and
// allocate nothing.
package barrier
