package spin

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/relstore"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// noCopy may be added to structs which must not be copied after first use;
// go vet's -copylocks check reports copies. See sync.noCopy.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// Lock word values.
const (
	unlocked uint32 = 0 // nobody holds the lock
	locked   uint32 = 1 // a goroutine holds it; waiters spin reading the word
)

// Lock is a test-and-test-and-set spin lock with bounded exponential backoff.
//
// The zero value for a Lock is an unlocked lock. A Lock must not be copied
// after first use.
//
// In the terminology of the Go memory model, the n'th call to Unlock
// "synchronizes before" the m'th call to Lock returns, for any n < m. A
// successful TryLock is equivalent to a call to Lock; a failed TryLock
// establishes no "synchronizes before" relation.
type Lock struct {
	_     noCopy
	state atomic.Uint32
}

// Lock locks l, spinning (then yielding) until it is free.
func (l *Lock) Lock() {
	// Fast path: one CAS on a free lock (inlined into the caller), unless
	// package diag tracks locks (see lockdep.go).
	if l.state.CompareAndSwap(lockdep.FastFree(), locked) {
		return
	}
	l.lockTracked()
}

// maxPauseShift caps a waiter's backoff at 2^5 spin-wait hints
// (backoff.Pause, the instruction the runtime spins with), about 0.9 µs on
// the AMD EPYC CI machine, as long as one round of sync.Mutex's spin. The
// cap is long on purpose: a waiter that looks at the lock word often pulls
// its cache line away from the holder, and with short critical sections
// the holder re-taking the lock from its own cache is what makes a TTAS
// lock fast (Anderson, "The Performance of Spin Lock Alternatives for
// Shared-Memory Multiprocessors", IEEE TPDS 1(1), 1990: exponential
// backoff with a cap). Spinning on PAUSE rather than on arithmetic
// (backoff.Relax, 2^10 iterations before) also tells the core it is a
// spin loop; BenchmarkContended at -cpu 2, cs=20: par=1 54.1 to 46.5 ns
// (p=0.005), par=4 60.0 to 46.4 ns (p=0.002), 8 interleaved runs.
//
// minPauseShift is where the backoff starts: the first look after a
// failed one comes 2^4 hints later (about 0.4 µs here, half a round of
// sync.Mutex's spin), not after one. Looking sooner only pulls the line
// from a holder that is about to re-take the lock: BenchmarkContended at
// -cpu 2, 8 interleaved runs, starting at 2^2 against 2^0: cs=0/par=1 41.0
// to 26.8 ns (p=0.001), cs=20/par=1 39.7 to 32.5 (p=0.028); at 2^4 against
// 2^2: cs=0/par=4 31.6 to 22.1 (p=0.038), cs=20/par=4 37.0 to 30.0
// (p=0.028), the others level. It also reaches the cap, and starts
// yielding to a preempted holder, sooner at GOMAXPROCS=1.
const (
	minPauseShift = 4
	maxPauseShift = 5
)

// lockSlow is outlined so that Lock inlines. It reads the word until the
// lock looks free (the "test" that keeps waiters off the bus while the lock
// is held) and only then tries the CAS (the "test-and-set"); between looks
// it backs off exponentially, and once the cap is reached it keeps backing
// off at the cap and also yields after every look, so that a preempted
// holder can run, even at GOMAXPROCS=1. (Yielding alone at the cap made a
// long waiter look every couple of hundred nanoseconds whenever nothing
// else was runnable, pulling the line from the holder that often:
// BenchmarkContended at -cpu 2, cs=20/par=4, 78.9 to 52.6 ns, p=0.009.)
func (l *Lock) lockSlow() {
	shift := uint32(minPauseShift)
	for {
		if l.state.Load() == unlocked {
			testhook.Yield() // racy window: another waiter may take it here
			if l.state.CompareAndSwap(unlocked, locked) {
				return
			}
		}
		backoff.Pause(1 << shift)
		if shift < maxPauseShift {
			shift++
		} else {
			runtime.Gosched()
		}
	}
}

// TryLock tries to lock l without waiting and reports whether it succeeded.
func (l *Lock) TryLock() bool {
	return l.state.Load() == unlocked &&
		(l.state.CompareAndSwap(lockdep.FastFree(), locked) || l.tryLockTracked())
}

// Unlock unlocks l. It panics if l is not locked. Any goroutine may unlock
// a locked Lock.
func (l *Lock) Unlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(l), &lockType, lockdep.Write)
	}
	// A load and a release store. The load detects an unlock of an
	// unlocked lock. The store needs to follow the critical section and
	// nothing more: waiters spin on the word, nobody parks, so no load
	// after it has to wait for it. On amd64 it is a plain MOV
	// (internal/relstore) where a Swap or a Store is an XCHG.
	if l.state.Load() != locked {
		panic("spin: unlock of unlocked Lock")
	}
	relstore.Uint32(&l.state, unlocked)
}
