package waitq

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
)

// gateRounds is numbered rounds on a Gate, ended one after the other by a
// single ender, as a barrier's generations are.
type gateRounds struct {
	mu    sync.Mutex
	gate  Gate
	ended atomic.Int64 // the rounds below this number have ended
}

func (r *gateRounds) await(done <-chan struct{}, round int64) bool {
	return r.gate.Park(&r.mu, int(round&1), done, func() bool { return r.ended.Load() > round })
}

// end ends the current round; yield widens the window between the state
// change and the look at the gate (a slow ender whose Open lands after
// later rounds' waiters parked on the same parity channel).
func (r *gateRounds) end(yield int) {
	round := r.ended.Add(1) - 1
	for range yield {
		runtime.Gosched()
	}
	if r.gate.Parked() {
		r.mu.Lock()
		r.gate.Open(int(round & 1))
		r.mu.Unlock()
	}
}

// Waiters park for the current round, for stale rounds (one or two back,
// already ended: the parity channel of round n-2 is the current round's),
// or for the next round (the other channel), some with a done channel that
// another goroutine closes at a random moment, some with one already
// closed. The ender yields at random between its state change and its look
// at the gate. Checked for every Park:
//   - true only if the round has ended;
//   - false only if done was closed, and never when the round had ended
//     before done was closed (the end beats a cancellation);
//   - no waiter stays parked (liveness), and nothing is left counted.
func TestGateStaleNextAndCancelStress(t *testing.T) {
	testhook.Enable(t)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		var r gateRounds
		const waiters = 6
		endRounds := int64(testutil.Scale(20000))
		var stop atomic.Bool
		var bad, parks, cancelled atomic.Int64
		var wg sync.WaitGroup
		for id := range waiters {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(id), 99))
				for {
					cur := r.ended.Load() // the current round
					if stop.Load() {
						return
					}
					round := cur
					switch rng.IntN(8) {
					case 0:
						round = cur - 1
					case 1:
						round = cur - 2
					case 2:
						round = cur + 1
					}
					if round < 0 {
						round = cur
					}
					var done chan struct{}
					var endedAtClose atomic.Int64
					endedAtClose.Store(-1)
					closed := make(chan struct{})
					switch rng.IntN(4) {
					case 0: // already closed
						done = make(chan struct{})
						endedAtClose.Store(r.ended.Load())
						close(done)
						close(closed)
					case 1: // closed by another goroutine at some point
						done = make(chan struct{})
						delay := rng.IntN(8)
						go func() {
							defer close(closed)
							for range delay {
								runtime.Gosched()
							}
							endedAtClose.Store(r.ended.Load())
							close(done)
						}()
					default:
						close(closed)
					}
					got := r.await(done, round)
					parks.Add(1)
					if !got {
						cancelled.Add(1)
					}
					now := r.ended.Load()
					if got && now <= round {
						bad.Add(1)
						t.Errorf("Park(round %d) = true with %d rounds ended", round, now)
					}
					if !got {
						if done == nil {
							bad.Add(1)
							t.Errorf("Park(round %d) with nil done = false", round)
						}
						<-closed
						if e := endedAtClose.Load(); e > round {
							bad.Add(1)
							t.Errorf("Park(round %d) = false, but the round had ended (%d ended) before done was closed", round, e)
						}
					}
					<-closed
					if bad.Load() > 10 {
						return
					}
				}
			})
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(1, 2))
			for range endRounds {
				// Let somebody park first, most of the time.
				for k := 0; k < 64 && !r.gate.Parked(); k++ {
					runtime.Gosched()
				}
				y := 0
				if rng.IntN(4) == 0 {
					y = rng.IntN(4)
				}
				r.end(y)
				if rng.IntN(2) == 0 {
					runtime.Gosched()
				}
			}
			// The waiters read the round before stop: any round they
			// picked is at most two past the last one ended so far.
			stop.Store(true)
			r.end(0)
			r.end(0)
			r.end(0)
		})
		testutil.WaitWithin(t, &wg, 10*time.Second, "a Park still parked: lost wakeup", func() string {
			return fmt.Sprintf("ended=%d sleepers=%d", r.ended.Load(), r.gate.sleepers.Load())
		})
		t.Logf("%d rounds, %d Parks, %d cancelled", r.ended.Load(), parks.Load(), cancelled.Load())
		if r.gate.Parked() {
			t.Fatalf("sleepers = %d after every Park returned", r.gate.sleepers.Load())
		}
	})
}

// A round-2 waiter shares the parity channel of round 0 when round 0's
// ender is slow to open it (it has changed the state but not yet looked at
// the gate). That ender's Open then wakes the round-2 waiter spuriously:
// it must park again, on a fresh channel, and be released by round 2's
// end, not before.
func TestGateSlowEnderTwoRoundsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r gateRounds
		res0, res2 := make(chan bool, 1), make(chan bool, 1)
		go func() { res0 <- r.await(nil, 0) }()
		synctest.Wait()
		c0 := r.gate.ch[0]
		if c0 == nil {
			t.Fatal("round 0's waiter made no channel")
		}
		r.ended.Store(1) // round 0 ends; its ender does not look at the gate yet
		r.end(0)         // round 1 ends normally
		go func() { res2 <- r.await(nil, 2) }()
		synctest.Wait()
		if r.gate.ch[0] != c0 {
			t.Fatal("round 2's waiter did not share round 0's channel")
		}
		// Round 0's ender looks at the gate at last.
		if !r.gate.Parked() {
			t.Fatal("Parked() false with two waiters")
		}
		r.mu.Lock()
		r.gate.Open(0)
		r.mu.Unlock()
		synctest.Wait()
		if !<-res0 {
			t.Fatal("round 0's waiter reported a cancellation")
		}
		select {
		case v := <-res2:
			t.Fatalf("round 2's waiter returned %v before round 2 ended", v)
		default:
		}
		if r.gate.ch[0] == nil || r.gate.ch[0] == c0 {
			t.Fatal("round 2's waiter is not parked again on a fresh channel")
		}
		r.end(0) // round 2
		if !<-res2 {
			t.Fatal("round 2's waiter reported a cancellation")
		}
		if r.gate.Parked() {
			t.Fatal("Parked() true after every waiter returned")
		}
	})
}

// A waiter that gives up leaves its round's channel behind; the ender of
// that round then sees nobody parked and does not open it. A waiter of
// the round two later reuses that channel, and its own ender must find it
// and release it.
func TestGateChannelLeftByCancelledWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r gateRounds
		done := make(chan struct{})
		res := make(chan bool, 1)
		go func() { res <- r.await(done, 0) }()
		synctest.Wait()
		left := r.gate.ch[0]
		close(done)
		if <-res {
			t.Fatal("a cancelled Park of an open round reported true")
		}
		if r.gate.Parked() {
			t.Fatal("Parked() true after the waiter gave up")
		}
		r.end(0) // round 0: nobody parked, the channel stays
		r.end(0) // round 1
		if r.gate.ch[0] != left {
			t.Fatal("the abandoned channel was not left in place")
		}
		go func() { res <- r.await(nil, 2) }()
		synctest.Wait()
		r.end(0) // round 2
		if !<-res {
			t.Fatal("round 2's waiter reported a cancellation")
		}
		if r.gate.ch[0] != nil {
			t.Fatal("round 2's end did not consume the channel")
		}
	})
}

// One waiter and one ender, in lock step: the ender ends each round as
// soon as the waiter has announced that it is about to wait for it. With a
// single waiter, Parked() is false whenever that waiter is between its
// re-check and its announcement, so a waiter that announced itself after
// its re-check (instead of before) would sleep through the end of its
// round here, while with several waiters another one's count usually
// covers it. (TestGateNoLostWakeup, with three, did not catch that
// ordering with the hook inside the re-check's critical section.)
func TestGateOneWaiterLostWakeup(t *testing.T) {
	testhook.Enable(t)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		var r gateRounds
		n := int64(testutil.Scale(30000))
		var arrived atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			for round := range n {
				arrived.Store(round + 1)
				if !r.await(nil, round) {
					panic("a Park with a nil done reported a cancellation")
				}
			}
		})
		wg.Go(func() {
			for round := range n {
				for arrived.Load() <= round {
					runtime.Gosched()
				}
				r.end(0)
			}
		})
		testutil.WaitWithin(t, &wg, 10*time.Second, "the waiter slept through the end of its round", func() string {
			return fmt.Sprintf("ended=%d arrived=%d parked=%v", r.ended.Load(), arrived.Load(), r.gate.Parked())
		})
	})
}
