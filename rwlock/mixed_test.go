package rwlock_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/rwlock"
)

// TestMixedOperationsStress drives every operation of both locks at once
// (Lock, LockContext racing a cancel, TryLock, RLock, RLockContext racing
// a cancel, TryRLock, Lock+Downgrade, RLocker) with the yield hooks on,
// checking reader/writer exclusion inside every critical section and, for
// Downgrade, that no writer got in between the write and the read phase.
func TestMixedOperationsStress(t *testing.T) {
	testhook.Enable(t)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		forEach(t, func(t *testing.T, newLock func() rwl) {
			l := newLock()
			const writer = 1 << 32
			var activity atomic.Int64
			var bad atomic.Int64
			var version atomic.Int64
			iters := testutil.Scale(10000)
			testutil.Run(t, 6, func(id int) {
				r := rand.New(rand.NewPCG(uint64(id), 20))
				write := func() {
					if n := activity.Add(writer); n != writer {
						bad.Add(1)
					}
					version.Add(1)
					if r.IntN(4) == 0 {
						runtime.Gosched()
					}
					activity.Add(-writer)
				}
				read := func() {
					if n := activity.Add(1); n >= writer || n < 1 {
						bad.Add(1)
					}
					if r.IntN(4) == 0 {
						runtime.Gosched()
					}
					activity.Add(-1)
				}
				for range iters {
					switch r.IntN(9) {
					case 0:
						l.Lock()
						write()
						l.Unlock()
					case 1:
						ctx, cancel := context.WithCancel(context.Background())
						go func() { runtime.Gosched(); cancel() }()
						if err := l.LockContext(ctx); err == nil {
							write()
							l.Unlock()
						} else if !errors.Is(err, context.Canceled) {
							t.Errorf("LockContext: %v", err)
						}
						cancel()
					case 2:
						if l.TryLock() {
							write()
							l.Unlock()
						}
					case 3, 4:
						tok := l.RL()
						read()
						l.RU(tok)
					case 5:
						ctx, cancel := context.WithCancel(context.Background())
						go func() { runtime.Gosched(); cancel() }()
						if tok, err := l.RLCtx(ctx); err == nil {
							read()
							l.RU(tok)
						} else if !errors.Is(err, context.Canceled) {
							t.Errorf("RLockContext: %v", err)
						}
						cancel()
					case 6:
						if tok, ok := l.TryRL(); ok {
							read()
							l.RU(tok)
						}
					case 7:
						l.Lock()
						if n := activity.Add(writer); n != writer {
							bad.Add(1)
						}
						v := version.Add(1)
						// Become a reader while still holding the write lock.
						activity.Add(1 - writer)
						tok := l.Down()
						if n := activity.Load(); n >= writer {
							bad.Add(1)
						}
						runtime.Gosched()
						if version.Load() != v {
							bad.Add(1) // a writer got in after Downgrade
						}
						activity.Add(-1)
						l.RU(tok)
					case 8:
						var rl interface {
							Lock()
							Unlock()
						}
						switch x := l.(type) {
						case rwAdapter:
							rl = x.RLocker()
						case rmAdapter:
							rl = x.RLocker()
						}
						rl.Lock()
						read()
						rl.Unlock()
					}
				}
			})
			if n := bad.Load(); n != 0 {
				t.Fatalf("%d critical sections broke exclusion", n)
			}
			mustBeFree(t, l)
		})
	})
}

// An RUnlock of an unlocked lock panics; while it does, the reader count is
// briefly negative, which a writer that queues at that moment reads as
// readers inside: it sets stateWriterWait and parks, waiting for the last
// reader out to dispatch. The panicking RUnlock restores the count, and
// nobody dispatched: the writer stayed parked on a free lock until some
// other goroutine happened to queue. One processor and the yield hook in
// that window make the interleaving the common case.
func TestMisusedRUnlockDoesNotStrandWriter(t *testing.T) {
	testhook.Enable(t)
	testutil.Procs(t, []int{1}, func(t *testing.T) {
		forEach(t, func(t *testing.T, newLock func() rwl) {
			for i := range 30 {
				l := newLock() // fresh: a ReadMostly's reads go to the underlying lock
				done := make(chan struct{})
				go func() { l.Lock(); l.Unlock(); close(done) }()
				func() {
					defer func() {
						if r := recover(); r == nil {
							t.Fatal("RUnlock of an unlocked lock did not panic")
						}
					}()
					l.RU(rwlock.RToken{})
				}()
				timer := time.NewTimer(5 * time.Second) // a liveness bound
				select {
				case <-done:
					timer.Stop()
				case <-timer.C:
					snap := rwlock.Inspect(l.Under())
					go func() { l.RU(l.RL()) }() // queues, and so dispatches: unsticks the writer
					<-done
					t.Fatalf("round %d: a writer stayed parked on a free lock after a misused RUnlock: %+v", i, snap)
				}
			}
		})
	})
}
