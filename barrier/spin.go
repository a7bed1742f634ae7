package barrier

import (
	"runtime"

	"github.com/lockstep-go/lockstep/internal/backoff"
)

// poll is how a party that has arrived polls before it parks: see
// spinUntil for what each part pays, and pollFor for who gets which.
type poll uint8

const (
	// pollYield: yield the processor a few times, then park.
	pollYield poll = iota
	// pollBusy: busy-wait briefly, then yield a few times, then park.
	pollBusy
	// pollPark: park at once.
	pollPark
)

// pollFor is the poll for a party that waits for parties goroutines in
// all (itself included) when procs of them can run at once:
//   - pollBusy when every one can be running at once (parties <= procs);
//   - pollYield on one processor, where the parties still to come are
//     queued behind this one and a yield lets them run and arrive;
//   - pollPark with more parties than processors, and more than one
//     processor. A yield puts the goroutine on the scheduler's global run
//     queue, under its global lock, and from there another processor may
//     take it: the parties move between processors and the processors
//     contend for the lock. On a 2-vCPU AMD EPYC (Zen 5) virtual machine,
//     where a cache line costs more to move between the two vCPUs than on
//     the machines measured before, 8-party rounds at 2 CPUs took 6.1 µs
//     with four yields, 3.4 with one and 2.4 with none (the mutex-and-
//     channel barrier: 1.8); 64-party rounds were level with or without.
func pollFor(parties, procs int) poll {
	switch {
	case parties <= procs:
		return pollBusy
	case procs == 1:
		return pollYield
	default:
		return pollPark
	}
}

// spinUntil is what a party that has arrived does before it parks: it
// polls ended, first busy-waiting (only for pollBusy) and then yielding the
// processor a bounded number of times (not for pollPark), and reports
// whether ended became true.
//
// Each part pays in its own case, measured in BenchmarkSpin:
//   - Busy-waiting (a few hundred nanoseconds in all on x86) can pay when
//     every party still to come is running on another processor right now:
//     the trip then usually lands while the party polls, and a round trip
//     costs two cache-line transfers instead of a park and a wake (a
//     microsecond or more end to end). Only pollBusy busy-waits, and
//     pollFor gives it only where there are no more parties than
//     processors. With more, the parties still to come may well be queued
//     on this processor, behind the busy-waiting one: deciding by the
//     number still to come (as before 2026-12-06) made the 8-party rounds
//     of BenchmarkRound 16-23% slower at 2 CPUs, and bimodal (±150-320%
//     intervals against ±4-27%). On the 2-vCPU CI machine even 2-party
//     Cyclic rounds measured faster without the busy-wait (see
//     BENCHMARKS.md); whether it pays on real cores is for a many-core run
//     to show.
//   - Yielding (runtime.Gosched, a few times) pays on one processor, where
//     the parties still to come are runnable goroutines queued behind this
//     one: each yield lets them run and arrive, without the channel, park
//     and wake of a parked wait. When nothing else is runnable a yield
//     returns at once, so the bound keeps the cost to about a microsecond
//     of CPU before the party parks and burns nothing more. With more
//     processors than one and more parties than processors it cost more
//     than it saved (see pollFor).
//
// The busy-wait is in spin-wait hints (backoff.Pause: PAUSE on amd64,
// YIELD on arm64, as sync.Mutex spins), 1, 2, 4 and 8 of them between
// looks: a few hundred nanoseconds in all on current x86 cores (15 PAUSEs,
// about 400 ns on the AMD EPYC CI machine), much less on arm64, whose
// YIELD is nearly free. Against arithmetic (backoff's Snooze steps, about
// 130 ns in all, used before 2026-12-06) it made 2-party Phaser rounds 41%
// faster at 2 CPUs (144.8 to 85.0 ns, p=0.002, 10 interleaved runs), with
// Cyclic rounds level (p=0.25). Whether the hint or the longer wait earned
// that was not separated.
func spinUntil(how poll, ended func() bool) bool {
	if how == pollPark {
		return ended()
	}
	if how == pollBusy {
		for i := range busyRounds {
			if ended() {
				return true
			}
			backoff.Pause(1 << i)
		}
	}
	for range backoff.ParkYields {
		if ended() {
			return true
		}
		runtime.Gosched()
	}
	return ended()
}

// busyRounds is the number of busy-wait rounds of spinUntil.
const busyRounds = 4

// parallelism is how many goroutines can run at the same instant: the
// number of processors Go schedules on, bounded by the number of CPUs (with
// GOMAXPROCS above the CPU count, as in go test -cpu 8 on a small machine,
// a busy-waiting party would only take a CPU from the party it waits for).
func parallelism() int {
	if parallelismOverride != 0 {
		return parallelismOverride
	}
	return min(runtime.GOMAXPROCS(0), runtime.NumCPU())
}

// parallelismOverride replaces parallelism()'s answer when non-zero. Only
// benchmarks set it (export_test.go), to measure what busy-waiting buys.
var parallelismOverride int

// refreshProcs is how often (in generations or phases) a barrier re-reads
// parallelism(): runtime.GOMAXPROCS takes a global runtime lock, too dear
// for every arrival, and GOMAXPROCS can change while a program runs (the
// runtime adjusts it to container CPU limits since Go 1.25).
const refreshProcs = 64
