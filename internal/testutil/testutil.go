// Package testutil holds the test scaffolding every lockstep package shares:
// a goleak TestMain, stress sizes that scale with -short, a start gate, a
// goroutine runner with a liveness watchdog, and invariant hammers for locks.
//
// It is imported only from _test.go files.
package testutil

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Liveness is the generous bound within which a blocked goroutine must make
// progress before a test declares it stuck. It is a liveness check, never a
// timing assertion: on a loaded 2-core machine a correct program meets it
// by orders of magnitude.
const Liveness = 2 * time.Minute

// VerifyTestMain runs the package's tests and then fails the binary if any
// goroutine is left running. Every package with goroutines calls it from
// TestMain.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Scale returns full, or full/10 (at least 1) under -short. CI runs the full
// sizes; -short is for the edit-compile-test loop.
func Scale(full int) int {
	if testing.Short() {
		return max(1, full/10)
	}
	return full
}

// Gate releases many goroutines at once, so that they start contending
// together instead of one by one as they are scheduled.
type Gate struct{ ch chan struct{} }

// NewGate returns a closed gate.
func NewGate() *Gate { return &Gate{ch: make(chan struct{})} }

// Wait blocks until Open.
func (g *Gate) Wait() { <-g.ch }

// Open releases every goroutine blocked in Wait, and all later ones.
func (g *Gate) Open() { close(g.ch) }

// Run starts n goroutines, releases them together through a gate, and
// waits for all of them to return. If they have not returned within
// Liveness, it writes every goroutine's stack to stderr and fails the test:
// a deadlock shows up as a failure with a dump, not as a CI timeout.
func Run(t testing.TB, n int, fn func(id int)) {
	t.Helper()
	gate := NewGate()
	var wg sync.WaitGroup
	for id := range n {
		wg.Go(func() {
			gate.Wait()
			fn(id)
		})
	}
	gate.Open()
	WaitLive(t, &wg)
}

// WaitLive waits for wg, failing the test with a goroutine dump if that
// takes longer than Liveness.
func WaitLive(t testing.TB, wg *sync.WaitGroup) {
	t.Helper()
	WaitWithin(t, wg, Liveness, "goroutines still running: deadlock or lost wakeup", nil)
}

// WaitWithin waits for wg, failing the test if that takes longer than
// limit: it writes every goroutine's stack to stderr and reports what,
// followed by what state describes then when state is not nil (the
// primitive's counters, say).
func WaitWithin(t testing.TB, wg *sync.WaitGroup, limit time.Duration, what string, state func() string) {
	t.Helper()
	if !Within(wg, limit) {
		DumpGoroutines()
		if state != nil {
			what += ": " + state()
		}
		t.Fatalf("%s after %v (stacks above)", what, limit)
	}
}

// Within waits for wg at most limit and reports whether wg finished, for
// a test that has something to try before it fails (closing a queue to
// release parked goroutines, say). If wg did not finish, a goroutine stays
// waiting on it until it does.
func Within(wg *sync.WaitGroup, limit time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// DumpGoroutines writes every goroutine's stack to stderr.
func DumpGoroutines() {
	_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
}

// Locker is the lock shape the hammers drive.
type Locker interface {
	Lock()
	Unlock()
}

// HammerMutex runs goroutines x iters critical sections on l and checks
// mutual exclusion twice: an occupancy counter that must read 1 inside every
// critical section, and a plain (non-atomic) counter that must equal the
// number of critical sections afterwards. Under -race the plain counter
// also turns any missing happens-before edge into a reported race.
func HammerMutex(t testing.TB, l Locker, goroutines, iters int) {
	t.Helper()
	var inside atomic.Int32
	var bad atomic.Int64
	plain := 0
	Run(t, goroutines, func(int) {
		for range iters {
			l.Lock()
			if inside.Add(1) != 1 {
				bad.Add(1)
			}
			plain++
			inside.Add(-1)
			l.Unlock()
		}
	})
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d critical sections overlapped another", n)
	}
	if want := goroutines * iters; plain != want {
		t.Fatalf("counter = %d after %d critical sections: increments were lost", plain, want)
	}
}

// RWLocker is the read-write lock shape HammerRW drives.
type RWLocker interface {
	Locker
	RLock()
	RUnlock()
}

// HammerRW runs goroutines x iters critical sections on l, one in every
// readEvery a write (readEvery <= 1: writes only). It keeps the classic
// invariant counter (the sync package's hammerRWMutex): readers add 1,
// writers add 10000. A reader must see less than 10000 (no writer inside);
// a writer must see exactly 10000 (nobody else inside).
func HammerRW(t testing.TB, l RWLocker, goroutines, iters, readEvery int) {
	t.Helper()
	rlock := func() struct{} { l.RLock(); return struct{}{} }
	runlock := func(struct{}) { l.RUnlock() }
	HammerRWTokens(t, l, rlock, runlock, goroutines, iters, readEvery)
}

// HammerRWTokens is HammerRW for a lock whose read lock returns a token
// that its read unlock takes back (rwlock.ReadMostly): rlock and runlock
// take and release a read lock of the lock whose write side is l.
func HammerRWTokens[T any](t testing.TB, l Locker, rlock func() T, runlock func(T), goroutines, iters, readEvery int) {
	t.Helper()
	const writer = 10000
	var activity atomic.Int32
	var bad atomic.Int64
	plain := 0
	Run(t, goroutines, func(id int) {
		for i := range iters {
			if readEvery > 1 && (i+id)%readEvery != 0 {
				tok := rlock()
				if n := activity.Add(1); n < 1 || n >= writer {
					bad.Add(1)
				}
				_ = plain // a read racing a write is reported by -race
				activity.Add(-1)
				runlock(tok)
				continue
			}
			l.Lock()
			if n := activity.Add(writer); n != writer {
				bad.Add(1)
			}
			plain++
			activity.Add(-writer)
			l.Unlock()
		}
	})
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d critical sections broke reader/writer exclusion", n)
	}
	writes := 0
	for id := range goroutines {
		for i := range iters {
			if readEvery <= 1 || (i+id)%readEvery == 0 {
				writes++
			}
		}
	}
	if plain != writes {
		t.Fatalf("write counter = %d after %d writes: increments were lost", plain, writes)
	}
}

// Procs runs fn under each GOMAXPROCS value in turn, as a subtest named
// "procs=N", restoring the old value afterwards. Hammers use it so that the
// one-processor interleavings (every handoff through the scheduler) are
// covered on any machine.
func Procs(t *testing.T, values []int, fn func(t *testing.T)) {
	for _, p := range values {
		t.Run(fmt.Sprintf("procs=%d", p), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(p))
			fn(t)
		})
	}
}

// InBubble wraps the *testing.T of a testing/synctest bubble for
// pgregory.net/rapid's Check: rapid calls t.Deadline when it sees a
// *testing.T, and testing forbids that inside a bubble. Embedding the T in
// another type hides it from that check.
type InBubble struct{ testing.TB }
