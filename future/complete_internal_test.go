package future

import (
	"runtime"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// A completion that loses to a winner preempted between its claim and its
// publish waits for the publish, not for the callbacks: it used to park on
// the Done channel after its backoff, which closes only after the callbacks
// attached before the channel, and a callback that waited for the loser's
// call to return deadlocked with it. (Found by an adversarial review,
// 2026-12-06.) At GOMAXPROCS=1 the loser runs its whole backoff while the
// winner yields, so it has reached its wait by the time the winner
// publishes.
func TestLosingCompletionDoesNotWaitForCallbacks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := NewPromise[int]()
	f := p.Future()
	loserReturned := make(chan bool)
	gotLoser := make(chan bool, 1)
	// Attached before the Done channel's node, so it runs first.
	Then(f, func(v int) (int, error) {
		gotLoser <- <-loserReturned
		return v, nil
	})
	_ = f.Done()
	// The winner claims, and is "preempted" before it publishes.
	if !f.state.CompareAndSwap(statePending, stateClaimed) {
		t.Fatal("setup: claim failed")
	}
	f.val = 1
	go func() { loserReturned <- p.Resolve(2) }()
	for range 100 {
		runtime.Gosched() // the loser spins, yields, and waits
	}
	done := make(chan struct{})
	go func() { // the winner publishes and runs the callbacks
		defer close(done)
		runAll(f.head.Swap(closed))
	}()
	select {
	case won := <-gotLoser:
		if won {
			t.Fatal("the losing Resolve reported true")
		}
	case <-time.After(testutil.Liveness):
		t.Fatal("the losing Resolve never returned while a callback waited for it")
	}
	<-done
}
