// Package backoff is lockstep's bounded exponential backoff for spin loops:
// spin a little, then yield the processor, then tell the caller to park.
//
// It follows crossbeam-utils' Backoff (crossbeam-rs/crossbeam,
// crossbeam-utils/src/backoff.rs): the k'th step spins 2^k iterations up to
// step SpinLimit, then each step calls runtime.Gosched, and after YieldLimit
// steps Completed reports that the caller should stop spinning and block.
//
// Two measured facts shape it: pure spinning with more
// goroutines than cores took 50 µs to 0.6 ms a round on the 2-core CI
// machine, so every spin loop needs a bound; and the Go runtime itself spins
// at most 4 x 30 PAUSE instructions before parking (runtime_canSpin), so
// spinning far past a microsecond buys nothing a park would not.
//
// runtime.Gosched requeues the caller on the global run queue, which can
// starve it behind a long queue (golang/go#13546); that is why yielding is
// bounded too and callers park after Completed.
package backoff

import "runtime"

const (
	// SpinLimit is the last step that busy-spins: 2^6 = 64 relax iterations
	// (about 1 ns each), some 130 ns over all the spinning steps.
	SpinLimit = 6
	// YieldLimit is the last step that yields; after it Completed is true.
	YieldLimit = 10

	// ParkYields is how often a blocking call that expects its event soon
	// (a ring buffer's Push or Pop, a barrier party, a future's Get, a
	// latch's Wait) yields the processor, looking again after each yield,
	// before it parks: the yield steps of the schedule above. A park and
	// the wake that ends it cost more than a few yields when the goroutine
	// that will act is runnable but not running.
	ParkYields = YieldLimit - SpinLimit
)

// Backoff is the state of one spin loop. The zero value is ready to use; it
// is meant to live on the stack of a single goroutine.
type Backoff struct {
	step uint32
}

// Spin backs off after a failed atomic operation in a contended lock-free
// loop (another goroutine won the CAS): it spins 2^step iterations, growing
// to 2^SpinLimit, and never yields. Use it where progress is guaranteed,
// because the winner is already running.
func (b *Backoff) Spin() {
	Relax(1 << min(b.step, SpinLimit))
	if b.step <= SpinLimit {
		b.step++
	}
}

// Snooze backs off while waiting for another goroutine to do something (an
// unlock, a publish): it spins while step <= SpinLimit and yields the
// processor after that, so a holder that was preempted can run even at
// GOMAXPROCS=1.
func (b *Backoff) Snooze() {
	if b.step <= SpinLimit {
		Relax(1 << b.step)
	} else {
		runtime.Gosched()
	}
	if b.step <= YieldLimit {
		b.step++
	}
}

// PauseYield backs off after a goroutine lost a compare-and-swap to
// another that is running right now: n spin-wait hints (Pause) off the
// contended cache line, so that the winner keeps it for a streak of
// operations, then a yield of the processor, so that a goroutine queued
// behind this one (the other side of a queue, the next owner) can run.
// semaphore's lost race and ringbuf's lost claim use it, each with its own
// n and the measurements that chose it.
func PauseYield(n uint32) {
	Pause(n)
	runtime.Gosched()
}

// Completed reports whether the loop has spun and yielded its budget and the
// caller should park instead.
func (b *Backoff) Completed() bool { return b.step > YieldLimit }

// Reset restarts the schedule, after the loop made progress.
func (b *Backoff) Reset() { b.step = 0 }

// sink keeps Relax's loop from being optimised away.
var sink uint32

// Relax busy-waits for about n iterations of a dependent add, about a
// nanosecond each. It does not touch shared memory, so it does not disturb
// the cache line the caller is waiting on.
func Relax(n uint32) {
	x := n
	for i := uint32(0); i < n; i++ {
		x = x*31 + i
	}
	if x == 1 { // practically never; keeps x live
		sink = x
	}
}
