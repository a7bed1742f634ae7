package waitq_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// rounds is the smallest primitive on a Gate: numbered rounds that a
// caller ends one after the other, as a barrier's generations end.
type rounds struct {
	mu    sync.Mutex
	gate  waitq.Gate
	ended atomic.Int64 // the rounds below this number have ended
}

// await waits for round to end; false if done closed first.
func (r *rounds) await(done <-chan struct{}, round int64) bool {
	return r.gate.Park(&r.mu, int(round&1), done, func() bool { return r.ended.Load() > round })
}

// end ends the current round: the state change first, then the look at
// the gate, as Gate's doc requires of an ender.
func (r *rounds) end() {
	round := r.ended.Add(1) - 1
	if r.gate.Parked() {
		r.mu.Lock()
		r.gate.Open(int(round & 1))
		r.mu.Unlock()
	}
}

// A waiter whose ctx ends reports false if its round has not ended, and
// true if it has, even when the round's ender has not opened the gate yet:
// the end beats the cancellation. Either way it leaves nothing parked.
func TestGateCancellation(t *testing.T) {
	for _, ended := range []bool{false, true} {
		t.Run(fmt.Sprintf("ended=%v", ended), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var r rounds
				done := make(chan struct{})
				got := make(chan bool, 1)
				go func() { got <- r.await(done, 0) }()
				synctest.Wait() // parked on round 0's channel
				if !r.gate.Parked() {
					t.Fatal("Parked reports nobody while a waiter is parked")
				}
				if ended {
					r.ended.Store(1) // the round ends; its ender has not opened the gate yet
				}
				close(done)
				if res := <-got; res != ended {
					t.Fatalf("Park reported %v when its ctx ended with the round ended=%v", res, ended)
				}
				if r.gate.Parked() {
					t.Fatal("Parked still reports a waiter after Park returned")
				}
			})
		})
	}
}

// Ending a round releases every waiter of that round, and only them: the
// waiters of the next round, already parked on the other channel, stay
// parked until it ends too.
func TestGateReleasesOneRoundAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r rounds
		const each = 3
		got := [2]chan bool{make(chan bool, each), make(chan bool, each)}
		for round := range int64(2) {
			for range each {
				go func() { got[round] <- r.await(nil, round) }()
			}
		}
		synctest.Wait()
		r.end() // round 0
		synctest.Wait()
		for range each {
			if !<-got[0] {
				t.Fatal("a waiter of round 0 reported a cancellation it never had")
			}
		}
		if n := len(got[1]); n != 0 {
			t.Fatalf("%d waiters of round 1 returned when round 0 ended", n)
		}
		r.end() // round 1
		for range each {
			if !<-got[1] {
				t.Fatal("a waiter of round 1 reported a cancellation it never had")
			}
		}
	})
}

// No lost wake-up: waiters and an ender go through many rounds, the ender
// ending each round as soon as every waiter has announced that it is
// about to wait for it, so that the waiters' re-checks race the ender's
// look at the gate (with the test hook in Park's window under -race). A
// lost wake-up leaves a waiter parked for good, and WaitLive fails.
func TestGateNoLostWakeup(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		var r rounds
		const waiters = 3
		n := int64(testutil.Scale(20000))
		var arrived atomic.Int64
		var wg sync.WaitGroup
		for range waiters {
			wg.Go(func() {
				for round := range n {
					arrived.Add(1)
					if !r.await(nil, round) {
						panic("a Park with a nil done reported a cancellation")
					}
				}
			})
		}
		wg.Go(func() {
			for round := range n {
				for arrived.Load() < (round+1)*waiters {
					runtime.Gosched()
				}
				r.end()
			}
		})
		testutil.WaitLive(t, &wg)
	})
}
