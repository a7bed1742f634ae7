package ringbuf_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/ringbuf"
)

// Batches against parked goroutines: the batch side (TryPushN or TryPopN)
// never parks, the other side only parks (Push or Pop), on queues of 1 and
// 3 slots, so that every batch moves several items past goroutines that
// wait for one each. A batch wakes one waiter, which must pass the wake on
// (the chain in waiters' doc); a lost wakeup leaves a waiter parked while
// items (or room) are there. The watchdog closes the queue after a bound
// to release the goroutines, and fails the test. Every item is counted.
func TestBatchesWakeParkedChains(t *testing.T) {
	testhook.Enable(t)
	per := testutil.Scale(6000)
	for _, c := range []int{1, 3} {
		for _, pc := range [][2]int{{1, 3}, {3, 1}, {2, 2}} {
			for _, batchPush := range []bool{true, false} {
				name := fmt.Sprintf("cap=%d/producers=%d/consumers=%d/batchPush=%v", c, pc[0], pc[1], batchPush)
				t.Run("MPMC/"+name, func(t *testing.T) {
					batchesVersusParked(t, ringbuf.NewMPMC[uint64](c), pc[0], pc[1], per/pc[0], batchPush)
				})
			}
		}
		for _, batchPush := range []bool{true, false} {
			t.Run(fmt.Sprintf("SPSC/cap=%d/batchPush=%v", c, batchPush), func(t *testing.T) {
				batchesVersusParked(t, ringbuf.NewSPSC[uint64](c), 1, 1, per, batchPush)
			})
		}
	}
}

func batchesVersusParked(t *testing.T, q ring[uint64], producers, consumers, per int, batchPush bool) {
	ctx := context.Background()
	tallies := make([]*tally, consumers)
	for c := range tallies {
		tallies[c] = newTally(producers, per)
	}
	var producing atomic.Int32
	producing.Store(int32(producers))
	var closed atomic.Bool // set after the producers' Close
	var failed atomic.Bool // set by the watchdog
	var wg sync.WaitGroup
	for id := range producers + consumers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(id), uint64(per)))
			if id < producers {
				var batch [4]uint64
				for seq := 0; seq < per; {
					if !batchPush {
						if err := q.Push(ctx, item(id, seq)); err != nil {
							if !failed.Load() {
								t.Errorf("Push: %v", err)
							}
							return
						}
						seq++
						continue
					}
					n := min(1+r.IntN(len(batch)), per-seq)
					for i := range n {
						batch[i] = item(id, seq+i)
					}
					k := q.TryPushN(batch[:n])
					if k == 0 {
						if failed.Load() {
							return
						}
						runtime.Gosched()
					}
					seq += k
				}
				if producing.Add(-1) == 0 {
					q.Close()
					closed.Store(true)
				}
				return
			}
			tl := tallies[id-producers]
			var batch [4]uint64
			for {
				if batchPush {
					v, err := q.Pop(ctx)
					if err != nil {
						if err != ringbuf.ErrClosed {
							t.Errorf("Pop: %v", err)
						}
						return
					}
					tl.add(v, per)
					continue
				}
				n := q.TryPopN(batch[:1+r.IntN(len(batch))])
				if n == 0 {
					if failed.Load() || closed.Load() && q.Len() == 0 {
						return
					}
					runtime.Gosched()
				}
				for _, v := range batch[:n] {
					tl.add(v, per)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		failed.Store(true)
		t.Errorf("no progress for 10s: a waiter is parked with Len %d and %d parked (lost wakeup); closing the queue", q.Len(), q.(parkedRing0).Parked())
		q.Close()
		<-done
		return
	}
	checkTallies(t, tallies, producers, per)
}

// parkedRing0 is the test-only count of parked goroutines on a ring of any
// item type.
type parkedRing0 interface{ Parked() int }
