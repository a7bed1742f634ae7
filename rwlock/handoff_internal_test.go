package rwlock

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// What a writer's Unlock does with the waiters it finds, set up by hand
// under the queue lock so that nothing else moves: a lone writer that is
// not starving is woken to re-contend with the lock left open (passToWriter);
// a starving one, or one with waiters behind it, is handed the lock.
func TestUnlockPassesOrHandsOff(t *testing.T) {
	for _, c := range []struct {
		name       string
		queue      []int64 // Values of the queued waiters, front first
		wantState  uint64  // the state word after Unlock
		wantFront  int64   // the front waiter's Value after Unlock
		wantQueued int     // waiters left queued
	}{
		{"lone writer re-contends", []int64{waitWriter}, 0, waitRecheck, 0},
		{"lone starving writer is handed the lock", []int64{waitWriterStarving}, stateWriter, waitWriterStarving, 0},
		{"writer with a reader behind is handed the lock", []int64{waitWriter, waitReader}, stateWriter | stateQueued, waitWriter, 1},
		{"readers are admitted", []int64{waitReader, waitReader}, 2 * readerUnit, waitReader, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rw RWMutex
			rw.state.Store(stateWriter | stateQueued)
			rw.mu.Lock()
			front := rw.q.Enqueue(c.queue[0])
			for _, v := range c.queue[1:] {
				rw.q.Enqueue(v)
			}
			rw.mu.Unlock()

			rw.Unlock()

			if got := rw.state.Load(); got != c.wantState {
				t.Errorf("state after Unlock = %#x, want %#x", got, c.wantState)
			}
			if front.Value != c.wantFront {
				t.Errorf("front waiter's Value = %d, want %d", front.Value, c.wantFront)
			}
			if rw.q.Len() != c.wantQueued {
				t.Errorf("%d waiters still queued, want %d", rw.q.Len(), c.wantQueued)
			}
		})
	}
}

// A writer woken to re-contend that keeps losing to a barging writer, for
// longer than starvationThreshold or more than maxLosses times, requeues
// as starving and is then handed the lock. One processor makes the
// interleaving exact: Unlock readies the woken writer, but the unlocking
// goroutine runs on and takes the lock again before it; synctest.Wait
// then lets the woken writer run, lose and park again. The bubble's clock
// moves only by the Sleeps; without them it stands still, which is why
// the count bound exists (a goroutine that never blocks stops the clock).
func TestBargedWriterStarvesThenGetsIn(t *testing.T) {
	// want[i] is the Value the writer requeues with after its i+1'th loss.
	byTime := []int64{waitWriter, waitWriterStarving}
	var byCount []int64
	for range maxLosses {
		byCount = append(byCount, waitWriter)
	}
	byCount = append(byCount, waitWriterStarving)
	for _, c := range []struct {
		name  string
		sleep time.Duration // between losses
		want  []int64
	}{
		{"time", time.Duration(2 * starvationThreshold), byTime},
		{"count", 0, byCount},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.Procs(t, []int{1}, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { bargeUntilStarving(t, c.sleep, c.want) })
			})
		})
	}
}

func bargeUntilStarving(t *testing.T, sleep time.Duration, want []int64) {
	var rw RWMutex
	rw.Lock()
	got := make(chan struct{})
	go func() {
		rw.Lock()
		close(got)
		rw.Unlock()
	}()
	synctest.Wait() // the writer is queued

	for i, wantValue := range want {
		rw.Unlock()        // wakes the writer to re-contend ...
		if !rw.TryLock() { // ... and barges in before it runs
			t.Fatalf("round %d: the unlocking goroutine could not take the lock back", i)
		}
		synctest.Wait() // the woken writer lost and queued again
		rw.mu.Lock()
		n, value := rw.q.Len(), int64(-1)
		if front := rw.q.Front(); front != nil {
			value = front.Value
		}
		rw.mu.Unlock()
		if n != 1 || value != wantValue {
			t.Fatalf("round %d: %d waiters, the front one's Value %d; want 1 with Value %d", i, n, value, wantValue)
		}
		time.Sleep(sleep)
	}
	rw.Unlock() // hands the lock to the starving writer
	if rw.TryLock() {
		t.Fatal("the unlocking goroutine took the lock from a starving writer")
	}
	<-got
}
