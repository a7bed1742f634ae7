package ringbuf_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Len is documented as a snapshot: the number of items at some instant
// during the call (stale on return, but once true). Here one goroutine
// pushes and pops in turn, so the queue never holds more than one item,
// while the test reads Len. Len loaded head and then tail; when the other
// goroutine ran several push-pop rounds between the two loads, Len reported
// up to Cap items (on 2 CPUs: about 10,000 times a second). It needs two
// goroutines running at once (GOMAXPROCS >= 2) to fail: at GOMAXPROCS=1 the
// reader is never preempted between Len's loads, which are adjacent
// instructions of a frameless function. Bounded at 1s per queue type.
func TestLenIsASnapshot(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		q := k.new(8)
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if !q.TryPush(1) {
					panic("TryPush failed on a queue of at most one item")
				}
				if _, ok := q.TryPop(); !ok {
					panic("TryPop failed after a push by the same goroutine")
				}
			}
		}()
		defer func() { stop.Store(true); wg.Wait() }()
		d := time.Second
		if testing.Short() {
			d = 300 * time.Millisecond
		}
		deadline := time.Now().Add(d)
		bad, worst := 0, 0
		for i := 0; ; i++ {
			if n := q.Len(); n > 1 {
				bad++
				worst = max(worst, n)
			}
			if i%1024 == 0 && (bad >= 100 || time.Now().After(deadline)) {
				break
			}
		}
		if bad != 0 {
			t.Fatalf("Len() exceeded 1 (up to %d) %d times, but the queue never held more than 1 item", worst, bad)
		}
	})
}
