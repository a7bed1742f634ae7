package pool_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/pool"
)

// The extra rounds before parking (searchLooks, joinLooks) are bounded by
// a count of runtime.Gosched calls, which the package doc turns into
// "about 50µs" (a searcher) and "about 200µs" (a Group.Wait). That holds
// only while the processor has nothing else to run. When it has, each
// Gosched lasts until the other runnable goroutines have had their turn:
// a CPU-bound goroutine runs a whole scheduler time slice (10ms) before it
// is preempted. At GOMAXPROCS=1 with two such goroutines, a Group.Wait
// with nothing to run went on yielding for 2000 rounds of ~20-30ms (about
// a minute) instead of parking, and the last searcher, counted as
// searching all that time (so no submission woke a parked worker), for
// 500 (10-15s), until the rounds were bounded in time too (searchTime,
// joinTime). Before 6862524 both parked after the backoff's four yields.
//
// These tests poll the parked counts (the condition itself, not a timing
// guess) with a 5s liveness bound, while two goroutines spin on the only
// processor. Each failed on the round-bounded code.

// hogs starts n goroutines that spin until the returned stop is
// called; stop waits for them.
func hogs(n int) (stop func()) {
	var quit atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for !quit.Load() {
			}
		})
	}
	return func() { quit.Store(true); wg.Wait() }
}

const parkBound = 5 * time.Second

// pollUntil polls cond until it holds or parkBound passes, and
// reports whether it held.
func pollUntil(cond func() bool) bool {
	deadline := time.Now().Add(parkBound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// A Group.Wait whose only child runs (blocked) on the other worker has
// nothing to run: it must register as a helper and park within "about
// 200µs", not keep a goroutine runnable for a minute.
func TestJoinWaitParksUnderCPUContention(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := pool.New(2, pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	var g pool.Group
	stolen, release := make(chan struct{}), make(chan struct{})
	p.Go(func(w *pool.Worker) {
		g.Go(w, func(*pool.Worker) { close(stolen); <-release })
		<-stolen // the other worker runs the child
		g.Wait(w)
	})
	<-stolen
	stop := hogs(2)
	parked := pollUntil(func() bool { return g.Parked() == 1 })
	stop()
	close(release)
	if !parked {
		t.Fatalf("a Group.Wait with nothing to run did not park within %v while the processor had other goroutines to run (doc: about 200µs): it kept yielding, one scheduler time slice a round", parkBound)
	}
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
}

// The last searcher after fork-join work must park within "about 50µs";
// while it searches, submissions wake nobody. Worker A's task forks a
// child that worker B steals and blocks in; A's task then ends, and A,
// the only searcher, searches on, its last task a fork-join one.
func TestLastSearcherParksUnderCPUContention(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := pool.New(2, pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	stolen, goOn, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	p.Go(func(w *pool.Worker) {
		w.Spawn(func(*pool.Worker) { close(stolen); <-release })
		<-stolen // the other worker runs the child
		<-goOn
	})
	<-stolen
	stop := hogs(2) // running before A runs out of work
	close(goOn)
	parked := pollUntil(func() bool { return p.Sleeping() == 1 })
	searching := p.Searching()
	stop()
	close(release)
	if !parked {
		t.Fatalf("the last searcher did not park within %v while the processor had other goroutines to run (doc: about 50µs); %d searching", parkBound, searching)
	}
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
}
