// Package ringbuf provides bounded first-in first-out queues on a fixed
// ring of slots: no allocation per item, compare-and-swap instead of locks,
// and a blocking layer that parks instead of spinning.
//
//   - [MPMC] is for any number of producers and consumers: Dmitry Vyukov's
//     bounded queue with a sequence number (stamp) per slot, in the
//     exact-capacity form of crossbeam's ArrayQueue.
//   - [SPSC] is for one producer and one consumer: Lamport's ring,
//     wait-free, with readiness in a stamp per slot as in MPMC, so that
//     neither side loads the other's index on its fast path.
//
// Both hold exactly the capacity they were created with (any capacity >= 1,
// no rounding to a power of two) and offer the same methods:
//
//	TryPush(v) bool, TryPop() (v, bool)      never wait
//	TryPushN(vs) int, TryPopN(dst) int       batches: a few atomics for many items
//	Push(ctx, v) error, Pop(ctx) (v, error)   wait: yield a few times (not in a stream), then park
//	Close(), Len(), Cap()
//
// There is no separate multi-producer single-consumer type: with one
// consumer, MPMC's compare-and-swap on head never fails, and it costs what
// the atomic store a single consumer would need instead (both are one
// locked instruction on amd64). An MPSC type built on MPMC's ring (the
// consumer moving head and releasing slots with stores) measured level
// with MPMC on one goroutine and at 1 CPU, and not decidably faster with
// one or three producers at 2 CPUs (16 runs, p >= 0.07); an early version
// that looked a third faster released each slot before moving head, which
// made a TryPush on a full queue wait for the consumer instead of
// reporting full (see BENCHMARKS.md).
//
// # When to use it, and when not
//
// Use a ring where a buffered channel is the bottleneck: many small items
// handed between goroutines at a high rate, or batches. TryPush and TryPop
// move an item in a third to a half of the time a buffered channel's send
// and receive take, SPSC's batches of 16 a quarter of that again, and
// MPMC's about a third.
//
// Prefer a channel when you need select (a ring cannot take part in a
// select statement), when items are few (a channel's cost does not
// matter then), or when you want unbuffered rendezvous. A ring is a queue,
// not a broadcast: each item goes to one consumer. An unbounded queue is
// a different structure; a bounded one is what gives back-pressure.
//
// # Blocking and closing
//
// Push waits while the queue is full, Pop while it is empty. Each first
// yields the processor a few times (which hands the processor straight to
// the goroutine it is waiting for when that one is runnable), and then
// parks on a wait queue, so a goroutine waiting on an idle queue uses no
// CPU. It never busy-spins. A call that finds its side has moved more than
// one item since its side last waited is in a stream, where the other side
// is the slower one, and parks at once: yielding there makes the two sides
// chase each other slot by slot across their cores, while parked it lets
// the other side run ahead (a stream at 2 CPUs took 26% less time on SPSC
// and 41% less on MPMC, a ping-pong the same; see BENCHMARKS.md, "Streams
// park at once"). Between yields, MPMC's Push and Pop look only at the slot
// they would use next and retry once it is ready: a full retry reads the
// other side's index too, and each such read takes that index's cache line
// from the core that writes it on every operation (one producer and one
// consumer at 2 CPUs, in the package benchmark: 93.5 ns an item that way,
// 47.6 this way; a channel about 57). The lock-free fast paths pay one
// extra atomic load to learn whether anybody is parked; only then do they
// take the wait-queue lock to wake one. Both follow the module's
// cancellation contract: a ctx that is already done fails the call, a
// failed call leaves the queue as if it had never been made and returns an
// error for which errors.Is(err, ctx.Err()) holds, and a wake that races
// with cancellation is never lost (the woken goroutine retries once and
// keeps what it gets).
//
// Close makes every later push fail with [ErrClosed] (TryPush reports
// false), lets pops drain the items already queued and then fail with
// ErrClosed, and wakes every parked goroutine. It is how a producer tells
// consumers that no more items will come, as closing a channel does.
//
// # Memory model
//
// The push that stores an item synchronizes before the pop that returns it:
// everything the producer wrote before pushing is visible to the consumer
// after popping, as with a channel send and receive. Close synchronizes
// before every call that fails because the queue is closed. A failed try,
// or a blocking call that returns an error, establishes nothing.
//
// # Progress, and an honest caveat
//
// SPSC's TryPush and TryPop are wait-free. MPMC's are lock-free except at
// one point, shared with every array queue built on per-slot sequence
// numbers (Vyukov's, crossbeam's, Rigtorp's, folly's): a producer that is
// preempted between claiming a slot and publishing its item delays the
// consumer that pops that slot, and a consumer preempted between claiming
// and releasing a slot delays the producer that next writes it. The
// delayed goroutine spins briefly and then yields until the other has run
// its few remaining instructions. A batch waits the same way for each slot
// it claimed, after claiming them all, so one preempted goroutine can
// delay a batch and, through it, the later users of the batch's other
// slots; goroutines working on slots nobody waiting has claimed go on.
//
// # Cost
//
// An uncontended TryPush plus TryPop on amd64 is two locked instructions on
// MPMC, the two claims' compare-and-swaps, and two on SPSC, the push's
// compare-and-swap and the pop's store of head; the other stores (MPMC's
// publication and release of the slot, SPSC's release of the slot and count
// of tail) are plain release stores, a few lines of assembly (Go's atomic
// stores are all locked instructions there). Elsewhere, and in race builds,
// those are atomic stores: four locked instructions on each. A buffered
// channel takes its lock for each operation. On the 2-core CI machine, with
// four, that came to about 14 ns per item for MPMC and 9 to 11 for SPSC,
// against 30 to 120 for a channel (the machine was shared and the figures
// move with its load; see bench_test.go); on a machine where a locked
// instruction costs about 6 ns the release stores took 30% off MPMC and 16%
// off SPSC, and SPSC's second one, with a producer that waits at a full
// queue on its slot's stamp instead of the consumer's head, 8-24% more. An
// MPMC batch claims its slots with one compare-and-swap per side. SPSC's
// TryPushN writes its stamps with plain stores (on amd64 without -race;
// atomic stores elsewhere) and publishes them with one compare-and-swap,
// and its TryPopN releases its slots the same way and counts them with one
// store of head, so 16 items cost a quarter of 16 single operations or less
// (0.14 on that machine). MPMC's batches claim by count (the room or the
// items between head and tail), then write or read each slot once its stamp
// shows it ready, and still store each slot's stamp on both sides: on amd64
// with plain stores and one locked exchange at the end (a few lines of
// assembly: Go's atomic stores are all locked instructions there),
// elsewhere and in race builds with an atomic store per slot. They cost
// about 0.3 of the single operations (package benchmark; 0.4 before they
// claimed by count), and 0.13 on a machine whose locked instructions cost
// more (about 6 ns each). Batches of items that hold no pointers do not
// zero the slots they empty: zeroing only lets the garbage collector free
// what an item referenced, and it was a quarter of a batch's stores. Len is
// three atomic loads (tail, head, tail again: the length at one instant).
// The blocking layer costs nothing until a goroutine parks; a park and a
// wake cost a few hundred nanoseconds, and allocate nothing unless the ctx
// can end (then a channel to select on).
//
// Neighbouring slots share cache lines (Go cannot pad an array element by
// the size of a type parameter), so a consumer and a producer working one
// slot apart contend for a line; head and tail are padded apart. Each
// slot's stamp sits next to its item, so the consumer finds both on one
// line: SPSC with stamps and items in two arrays took 19-24 ns per item in
// a stream at 2 CPUs, against 12-15 with them together (see
// BENCHMARKS.md, "SPSC on stamps").
//
// A push that loses its claim to another push (or a pop to another pop)
// does not retry at once: it pauses off the index's cache line (30
// spin-wait hints, 0.6 µs on an AMD Zen 5) and yields the processor, which
// lets the winner run a streak and, where goroutines outnumber processors,
// lets the other side run. With four producers and four consumers at 2 CPUs
// that took an item from 212 to 42 ns through Push and Pop (xsync's
// MPMCQueue, whose callers yield on every failed try, 40; a channel 117).
package ringbuf
