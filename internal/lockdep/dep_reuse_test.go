//go:build lockstep_debug

package lockdep

import (
	"runtime"
	"testing"
)

// A lock that dies and whose address a new lock reuses gets a fresh
// record; the dead record's class, and the edges into it from long-lived
// locks, must be dropped like those of any collected lock (the package
// promises that records of collected locks are dropped). The record
// replaced in stateOf was never seen by sweep, so every lock nested under
// a long-lived one at a reused address left an edge for ever.
func TestReusedAddressDropsDeadEdges(t *testing.T) {
	collect(t)
	hub := fakeLock()
	lock(hub, Write)
	for i := range 10000 {
		p := fakeLock()
		lock(p, Write)
		unlock(p, Write)
		if i%50 == 49 {
			runtime.GC()
		}
	}
	unlock(hub, Write)
	// The sweeps that run as locks come and go (when the count of records
	// doubles, at least every 1024) bound the edges to dead locks.
	mu.Lock()
	n := len(locks[uintptr(hub)].cls.out)
	mu.Unlock()
	runtime.KeepAlive(hub)
	if n > 2000 {
		t.Fatalf("%d edges from a live lock to 10000 locks, nearly all collected", n)
	}
}

// A goroutine that holds A, then B, and locks A again is reported for
// recursive locking, and for that only: the "inversion" B -> A closes a
// cycle only with the goroutine's own A -> B, which the recursion report
// already explains. Reported as an inversion too, it named a lock-order
// problem between goroutines that does not exist.
func TestRecursionIsNoInversion(t *testing.T) {
	c := collect(t)
	a, b := fakeLock(), fakeLock()
	lock(a, Read)
	lock(b, Write)
	lock(a, Read) // read recursion: proceeds unless a writer queues
	c.want(t, Recursion)
	unlock(a, Read)
	unlock(b, Write)
	unlock(a, Read)
	c.want(t, Recursion)
}
