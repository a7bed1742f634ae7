package mutex_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/mutex"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// locker is what Mutex and Fair have in common.
type locker interface {
	Lock()
	Unlock()
	TryLock() bool
	LockContext(ctx context.Context) error
	Snapshot() mutex.State
}

var lockTypes = []struct {
	name string
	new  func() locker
}{
	{"Mutex", func() locker { return new(mutex.Mutex) }},
	{"Fair", func() locker { return new(mutex.Fair) }},
}

// idle fails the test unless l is unlocked with nobody waiting, awake or
// queued: what every race must leave behind.
func idle(t testing.TB, l locker) {
	t.Helper()
	if s := l.Snapshot(); s != (mutex.State{}) {
		t.Fatalf("lock not idle afterwards: %+v", s)
	}
	if !l.TryLock() {
		t.Fatal("TryLock failed on a lock that should be free")
	}
	l.Unlock()
}

// The TryLock matrix: every way TryLock can meet the lock, and what it must
// do there.
func TestTryLockMatrix(t *testing.T) {
	for _, lt := range lockTypes {
		t.Run(lt.name, func(t *testing.T) {
			l := lt.new()
			if !l.TryLock() {
				t.Fatal("TryLock of a zero lock failed")
			}
			if l.TryLock() {
				t.Fatal("TryLock of a locked lock succeeded")
			}
			l.Unlock()
			if !l.TryLock() {
				t.Fatal("TryLock after Unlock failed")
			}
			l.Unlock()

			// Locked through Lock and LockContext: TryLock fails.
			l.Lock()
			if l.TryLock() {
				t.Fatal("TryLock succeeded while held through Lock")
			}
			l.Unlock()
			if err := l.LockContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			if l.TryLock() {
				t.Fatal("TryLock succeeded while held through LockContext")
			}
			l.Unlock()

			// A done ctx fails LockContext even on a free lock, and leaves
			// it free.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := l.LockContext(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("LockContext(done ctx) = %v, want context.Canceled", err)
			}
			idle(t, l)

			// With a waiter parked behind the holder.
			synctest.Test(t, func(t *testing.T) {
				l.Lock()
				got := make(chan struct{})
				go func() {
					l.Lock()
					close(got)
				}()
				synctest.Wait()
				if s := l.Snapshot(); s.Queued != 1 || s.Waiters != 1 {
					t.Fatalf("one parked waiter: %+v", s)
				}
				if l.TryLock() {
					t.Fatal("TryLock succeeded while held, with a waiter")
				}
				l.Unlock()
				<-got
				// The waiter holds the lock now.
				if l.TryLock() {
					t.Fatal("TryLock succeeded after the waiter took the lock")
				}
				l.Unlock()
			})
			idle(t, l)
		})
	}
}

// Fair.TryLock never barges past a queued waiter; Mutex.TryLock does, when
// the lock is free and the woken waiter has not taken it yet.
func TestFairTryLockDoesNotBarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f mutex.Fair
		f.Lock()
		done := make(chan struct{})
		go func() {
			f.Lock()
			close(done)
		}()
		synctest.Wait()
		// Unlock hands the lock to the waiter before returning: there is
		// no instant at which TryLock could take it.
		f.Unlock()
		if f.TryLock() {
			t.Fatal("Fair.TryLock barged past the waiter it had been handed to")
		}
		<-done
		f.Unlock()
		idle(t, &f)
	})
}

// hammerLocker adapts a lock to testutil.Locker through one of its ways to
// lock.
type hammerLocker struct {
	lock   func()
	unlock func()
}

func (h hammerLocker) Lock()   { h.lock() }
func (h hammerLocker) Unlock() { h.unlock() }

// Invariant-counter hammers: at least 1e6 critical sections per lock type
// (Mutex and Fair each: through Lock, LockContext and TryLock-then-Lock),
// under GOMAXPROCS 1, 2 and 4.
func TestHammer(t *testing.T) {
	const goroutines = 8
	procs := []int{1, 2, 4}
	for _, lt := range lockTypes {
		ways := []struct {
			name  string
			share int // of the critical sections, per mille
			lock  func(l locker) func()
		}{
			{"Lock", 500, func(l locker) func() { return l.Lock }},
			{"LockContext", 300, func(l locker) func() {
				// A live ctx that never ends: the slow path selects on
				// its Done channel.
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				return func() {
					if err := l.LockContext(ctx); err != nil {
						panic(err)
					}
				}
			}},
			{"TryLock", 200, func(l locker) func() {
				return func() {
					if !l.TryLock() {
						l.Lock()
					}
				}
			}},
		}
		for _, way := range ways {
			// Full size: 1e6 * share/1000 per way, split over the procs.
			iters := testutil.Scale(1_000_000*way.share/1000) / len(procs) / goroutines
			t.Run(lt.name+"/"+way.name, func(t *testing.T) {
				testutil.Procs(t, procs, func(t *testing.T) {
					l := lt.new()
					testutil.HammerMutex(t, hammerLocker{way.lock(l), l.Unlock}, goroutines, iters)
					idle(t, l)
				})
			})
		}
	}
}

// Cancel-versus-unlock races, at least 1e5 per lock type: a holder unlocks
// while the ctx of each of up to three waiters is cancelled, with up to two
// waiters that cannot give up (plain Lock calls, which Fair parks apart)
// queued among them in random places. Whatever wins, every waiter returns
// (nobody is stranded: a cancelled front waiter passes the lock or the
// wake-up on), a waiter that returned nil held the lock alone, and
// afterwards the lock is idle.
func TestCancelVersusUnlock(t *testing.T) {
	for _, lt := range lockTypes {
		t.Run(lt.name, func(t *testing.T) {
			const workers = 4
			races := testutil.Scale(100_000)
			var acquired, cancelled, parked atomic.Int64
			testutil.Run(t, workers, func(id int) {
				r := rand.New(rand.NewPCG(uint64(id), 7))
				l := lt.new()
				var inside atomic.Int32
				for i := 0; i < races/workers; i++ {
					n := 1 + r.IntN(3)
					plain := r.IntN(3) // waiters that cannot give up
					l.Lock()
					results := make(chan error, n+plain)
					cancels := make([]context.CancelFunc, 0, n)
					for k := range n + plain {
						lock := func() error { l.Lock(); return nil }
						if r.IntN(n+plain-k) < n-len(cancels) {
							ctx, cancel := context.WithCancel(context.Background())
							cancels = append(cancels, cancel)
							lock = func() error { return l.LockContext(ctx) }
						}
						go func() {
							err := lock()
							if err == nil {
								if inside.Add(1) != 1 {
									panic("two holders")
								}
								inside.Add(-1)
								l.Unlock()
							}
							results <- err
						}()
					}
					switch r.IntN(3) {
					case 0: // let them park
						for l.Snapshot().Queued < n+plain {
							runtime.Gosched()
						}
						parked.Add(1)
					case 1:
						runtime.Gosched()
					}
					// The race: cancel each waiter (in another goroutine,
					// or right here before or after the Unlock) while
					// unlocking.
					var wg sync.WaitGroup
					order := r.IntN(3)
					for _, cancel := range cancels {
						switch order {
						case 0:
							wg.Go(cancel)
						case 1:
							cancel()
						}
					}
					l.Unlock()
					if order == 2 {
						for _, cancel := range cancels {
							cancel()
						}
					}
					wg.Wait()
					for range n + plain {
						switch err := <-results; {
						case err == nil:
							acquired.Add(1)
						case errors.Is(err, context.Canceled):
							cancelled.Add(1)
						default:
							panic(err)
						}
					}
					if s := l.Snapshot(); s != (mutex.State{}) {
						panic(fmt.Sprintf("lock not idle after race %d: %+v", i, s))
					}
				}
				idle(t, l)
			})
			t.Logf("%d races: %d waiters acquired, %d cancelled; %d races with all waiters parked",
				races, acquired.Load(), cancelled.Load(), parked.Load())
			if acquired.Load() == 0 || cancelled.Load() == 0 {
				t.Fatalf("the races never went both ways (acquired %d, cancelled %d): the test did not race",
					acquired.Load(), cancelled.Load())
			}
		})
	}
}

// A waiter whose deadline passes while the lock is held gives up at exactly
// the deadline (fake clock) and leaves the lock as if it had never asked.
func TestLockContextDeadline(t *testing.T) {
	for _, lt := range lockTypes {
		t.Run(lt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := lt.new()
				l.Lock()
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				err := l.LockContext(ctx)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("LockContext = %v, want DeadlineExceeded", err)
				}
				if d := time.Since(start); d != 3*time.Second {
					t.Fatalf("gave up after %v of fake time, want 3s", d)
				}
				if s := l.Snapshot(); s != (mutex.State{Locked: true}) {
					t.Fatalf("after the timeout: %+v, want locked with no waiter", s)
				}
				l.Unlock()
				idle(t, l)
			})
		})
	}
}

func TestLockContextCause(t *testing.T) {
	for _, lt := range lockTypes {
		t.Run(lt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := lt.new()
				l.Lock()
				cause := errors.New("shutting down")
				ctx, cancel := context.WithCancelCause(context.Background())
				errc := make(chan error)
				go func() { errc <- l.LockContext(ctx) }()
				synctest.Wait()
				cancel(cause)
				err := <-errc
				if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
					t.Fatalf("LockContext = %v, want context.Canceled carrying the cause", err)
				}
				l.Unlock()
				idle(t, l)
			})
		})
	}
}

// Fair: waiters acquire in the order they queued; cancelled waiters leave
// the queue and the rest keep their order. With mixed, every other waiter
// calls Lock, which cannot give up and parks apart from the others (on the
// Fair's Cond), so the one order must hold across both kinds.
func TestFairFIFO(t *testing.T) {
	for _, tc := range []struct {
		cancelEvery int
		mixed       bool
	}{{0, false}, {3, false}, {0, true}, {3, true}} {
		cancelEvery := tc.cancelEvery
		plain := func(i int) bool { return tc.mixed && i%2 == 0 }
		t.Run(fmt.Sprintf("cancelEvery=%d/mixed=%v", cancelEvery, tc.mixed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 20
				var f mutex.Fair
				var order []int // written under f
				f.Lock()
				var wg sync.WaitGroup
				cancels := make([]context.CancelFunc, n)
				for i := range n {
					ctx, cancel := context.WithCancel(context.Background())
					cancels[i] = cancel
					wg.Go(func() {
						if plain(i) {
							f.Lock()
						} else if err := f.LockContext(ctx); err != nil {
							return
						}
						order = append(order, i)
						f.Unlock()
					})
					// Parked, so queued in the order of i.
					synctest.Wait()
					if s := f.Snapshot(); s.Queued != i+1 {
						t.Fatalf("after starting %d waiters: %+v", i+1, s)
					}
				}
				var want []int
				for i := range n {
					if cancelEvery > 0 && i%cancelEvery == 1 && !plain(i) {
						cancels[i]()
					} else {
						want = append(want, i)
					}
				}
				synctest.Wait()
				if s := f.Snapshot(); s.Queued != len(want) {
					t.Fatalf("after the cancellations: %+v, want %d queued", s, len(want))
				}
				f.Unlock()
				wg.Wait()
				for _, cancel := range cancels {
					cancel()
				}
				if fmt.Sprint(order) != fmt.Sprint(want) {
					t.Fatalf("acquisition order %v, want %v", order, want)
				}
				idle(t, &f)
			})
		})
	}
}

// Fair's order under churn: every holder, while it holds the lock, queues
// a new waiter (a Lock or a LockContext, at random) and may cancel one of
// the LockContext waiters already queued, so arrivals and departures fall
// between handoffs, in both of Fair's places to park. A model queue, kept
// by the holders, says who must get the lock next.
func TestFairFIFOChurn(t *testing.T) {
	for seed := range uint64(testutil.Scale(20)) {
		synctest.Test(t, func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 11))
			const total = 60
			var f mutex.Fair
			// Under f: the model, and the cancel funcs by id.
			var queue []int
			cancels := map[int]context.CancelFunc{}
			var wg sync.WaitGroup
			spawned, acquired := 0, 0
			var spawn func()
			var holder func(id int)
			spawn = func() {
				id := spawned
				spawned++
				ctx, cancel := context.Background(), context.CancelFunc(nil)
				if r.IntN(2) == 0 {
					ctx, cancel = context.WithCancel(context.Background())
					cancels[id] = cancel
				}
				queue = append(queue, id)
				wg.Go(func() {
					if cancel == nil {
						f.Lock()
					} else if err := f.LockContext(ctx); err != nil {
						return
					}
					holder(id)
				})
				synctest.Wait() // parked behind everyone queued before
			}
			holder = func(id int) {
				acquired++
				if len(queue) == 0 || queue[0] != id {
					t.Errorf("waiter %d got the lock; the queue was %v", id, queue)
				} else {
					queue = queue[1:]
				}
				if c := cancels[id]; c != nil {
					c()
					delete(cancels, id)
				}
				if spawned < total {
					spawn()
				}
				if len(cancels) > 0 && r.IntN(3) == 0 {
					k := queue[r.IntN(len(queue))]
					if c := cancels[k]; c != nil {
						c()
						delete(cancels, k)
						synctest.Wait() // gone from the queue
						i := slices.Index(queue, k)
						queue = slices.Delete(queue, i, i+1)
					}
				}
				f.Unlock()
			}
			f.Lock()
			for range 6 {
				spawn()
			}
			f.Unlock()
			wg.Wait()
			if len(queue) != 0 || acquired == 0 {
				t.Errorf("%d acquisitions; left in the model queue: %v", acquired, queue)
			}
			idle(t, &f)
		})
	}
}

// A Fair may be contended in one testing/synctest bubble after another, and
// outside any: nothing it keeps from one contention to the next belongs to
// a bubble (a channel made in one would, and touching it from outside is a
// fatal error), and its waiters are durably blocked inside one, or
// synctest.Wait would not return.
func TestFairAcrossBubbles(t *testing.T) {
	var f mutex.Fair
	contend := func(parked func(n int)) {
		f.Lock()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() { f.Lock(); f.Unlock() })
		parked(1)
		wg.Go(func() {
			if err := f.LockContext(ctx); err != nil {
				panic(err)
			}
			f.Unlock()
		})
		parked(2)
		f.Unlock()
		wg.Wait()
	}
	for range 2 {
		synctest.Test(t, func(t *testing.T) {
			contend(func(n int) {
				synctest.Wait()
				if s := f.Snapshot(); s.Queued != n {
					t.Fatalf("%+v, want %d parked", s, n)
				}
			})
		})
	}
	contend(func(n int) {
		for f.Snapshot().Queued != n {
			runtime.Gosched()
		}
	})
	idle(t, &f)
}

// A cancelled front waiter of a Fair lock does not strand the waiters
// behind it (rule 4 of the cancellation contract).
func TestFairCancelledFrontWakesBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f mutex.Fair
		f.Lock()
		ctx, cancel := context.WithCancel(context.Background())
		front := make(chan error, 1)
		go func() { front <- f.LockContext(ctx) }()
		synctest.Wait()
		behind := make(chan struct{})
		go func() {
			f.Lock()
			close(behind)
		}()
		synctest.Wait()
		cancel()
		if err := <-front; !errors.Is(err, context.Canceled) {
			t.Fatalf("front waiter: %v", err)
		}
		f.Unlock()
		<-behind
		f.Unlock()
		idle(t, &f)
	})
}

// Eventual fairness: once the front waiter has been parked for more than
// 1 ms, Unlock hands the lock to it directly, so the unlocker's immediate
// re-Lock cannot barge ahead of it.
func TestMutexFairUnlock(t *testing.T) {
	for range testutil.Scale(20) {
		synctest.Test(t, func(t *testing.T) {
			var m mutex.Mutex
			var order []string // written under m
			m.Lock()
			done := make(chan struct{})
			go func() {
				m.Lock()
				order = append(order, "waiter")
				m.Unlock()
				close(done)
			}()
			synctest.Wait() // parked
			time.Sleep(2 * time.Millisecond)
			m.Unlock() // hands off: the waiter waited 2 ms
			m.Lock()
			order = append(order, "unlocker")
			if got := fmt.Sprint(order); got != "[waiter unlocker]" {
				t.Fatalf("acquisition order %s, want [waiter unlocker]: a starving waiter was barged", got)
			}
			if s := m.Snapshot(); s != (mutex.State{Locked: true}) {
				t.Fatalf("after the fair unlock: %+v, want plain locked", s)
			}
			m.Unlock()
			<-done
			idle(t, &m)
		})
	}
}

// Fair unlocks serve the parked waiters in order, each one handed the lock
// once it has waited its millisecond and the last fair unlock is 0.5 ms
// past; a goroutine that arrives meanwhile queues behind them.
func TestMutexFairUnlockChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m mutex.Mutex
		var order []string // written under m
		m.Lock()
		hold := make(chan struct{})
		var wg sync.WaitGroup
		for _, name := range []string{"w1", "w2"} {
			wg.Go(func() {
				m.Lock()
				order = append(order, name)
				if name == "w1" {
					<-hold // keep the lock while the test looks
				}
				m.Unlock()
			})
			synctest.Wait() // parked, in this order
		}
		time.Sleep(2 * time.Millisecond)
		m.Unlock() // fair unlock to w1
		synctest.Wait()
		if s := m.Snapshot(); !s.Locked || s.Starving || s.Waiters != 1 || s.Queued != 1 {
			t.Fatalf("after the fair unlock to w1: %+v, want locked, w2 parked, normal mode", s)
		}
		wg.Go(func() {
			m.Lock()
			order = append(order, "late")
			m.Unlock()
		})
		synctest.Wait() // parked behind w2
		time.Sleep(time.Millisecond)
		close(hold) // w1's Unlock is a fair unlock to w2
		wg.Wait()
		if got := fmt.Sprint(order); got != "[w1 w2 late]" {
			t.Fatalf("acquisition order %s, want [w1 w2 late]", got)
		}
		idle(t, &m)
	})
}

// A handoff to a waiter that has waited more than 1 ms, racing the
// cancellation of that waiter: it keeps the lock (nil), or it is gone and
// the lock goes to the waiter behind it. Nobody is stranded, and the mutex
// ends idle.
func TestMutexHandoffVersusCancel(t *testing.T) {
	races := testutil.Scale(1000)
	var kept, passed int
	for i := range races {
		synctest.Test(t, func(t *testing.T) {
			var m mutex.Mutex
			m.Lock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			front := make(chan error, 1)
			go func() {
				err := m.LockContext(ctx)
				if err == nil {
					m.Unlock()
				}
				front <- err
			}()
			synctest.Wait()
			behind := make(chan struct{})
			go func() {
				m.Lock()
				m.Unlock()
				close(behind)
			}()
			synctest.Wait()
			time.Sleep(2 * time.Millisecond) // both now qualify for a handoff
			switch i % 3 {
			case 0:
				go cancel()
				m.Unlock()
			case 1:
				go m.Unlock()
				cancel()
			case 2:
				cancel()
				m.Unlock()
			}
			if err := <-front; err == nil {
				kept++
			} else if errors.Is(err, context.Canceled) {
				passed++
			} else {
				t.Fatal(err)
			}
			<-behind
			idle(t, &m)
		})
	}
	t.Logf("%d races: the handoff was kept %d times, passed on %d times", races, kept, passed)
	if kept == 0 || passed == 0 {
		t.Fatalf("the race never went both ways (kept %d, passed %d)", kept, passed)
	}
}

// A waiter that has waited less than 1 ms gets no handoff: the mutex stays
// in normal mode and barges.
func TestMutexNoStarvationUnderThreshold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m mutex.Mutex
		m.Lock()
		got := make(chan struct{})
		go func() {
			m.Lock()
			m.Unlock()
			close(got) // after Unlock: the idle check below must not race it
		}()
		synctest.Wait()
		time.Sleep(500 * time.Microsecond)
		m.Unlock()
		m.Lock()
		synctest.Wait()
		if s := m.Snapshot(); s.Starving {
			t.Fatalf("starvation mode after a wait of 0.5 ms: %+v", s)
		}
		m.Unlock()
		<-got
		idle(t, &m)
	})
}

// Misuse panics with a "mutex: " message and leaves the lock usable.
func TestMisusePanics(t *testing.T) {
	for _, lt := range lockTypes {
		t.Run(lt.name, func(t *testing.T) {
			l := lt.new()
			msg := mustPanic(t, l.Unlock)
			if !strings.HasPrefix(msg, "mutex: unlock of unlocked") {
				t.Fatalf("panic %q, want \"mutex: unlock of unlocked ...\"", msg)
			}
			idle(t, l)
			l.Lock()
			l.Unlock()
			mustPanic(t, l.Unlock)
			idle(t, l)
		})
	}
	t.Run("NewCond(nil)", func(t *testing.T) {
		if msg := mustPanic(t, func() { mutex.NewCond(nil) }); !strings.HasPrefix(msg, "mutex: ") {
			t.Fatalf("panic %q", msg)
		}
	})
}

func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

// The package doc quotes the sizes on 64-bit platforms; keep it honest.
// (On 32-bit ones pointers and the queue's fields shrink: 40 and 36.)
func TestSizes(t *testing.T) {
	wantMutex, wantFair := uintptr(48), uintptr(56)
	if strconv.IntSize == 32 {
		wantMutex, wantFair = 40, 36
	}
	if s := unsafe.Sizeof(mutex.Mutex{}); s != wantMutex {
		t.Errorf("sizeof(Mutex) = %d, want %d", s, wantMutex)
	}
	if s := unsafe.Sizeof(mutex.Fair{}); s != wantFair {
		t.Errorf("sizeof(Fair) = %d, want %d", s, wantFair)
	}
}

// Starvation mode is set for a starving waiter at the front; if that waiter
// gives up (its ctx ends) while others still wait, the mode must not
// outlive it unless the new front has itself waited past the threshold:
// otherwise the next Unlock hands the lock over to a waiter that waited
// microseconds, and the mutex is not as if the call had never been made.
// (Found by an adversarial review, 2026-12-06.) At GOMAXPROCS=1 and on
// fake time the sequence is exact: a fair unlock to W0 at 2 ms makes the
// next fair unlock due at 2.5 ms, so W0's Unlock at 2 ms only wakes A,
// and W0 takes the lock back before A runs; A, now waiting 2 ms, requeues
// starving.
func TestMutexStarvingWaiterCancelEndsStarvation(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	synctest.Test(t, func(t *testing.T) {
		var m mutex.Mutex
		m.Lock()
		release0, release1 := make(chan struct{}), make(chan struct{})
		w0done := make(chan struct{})
		go func() { // W0
			defer close(w0done)
			m.Lock()
			<-release0
			m.Unlock() // wakes A: no fair unlock due yet
			m.Lock()   // barges back before A runs
			<-release1
			m.Unlock()
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		aerr := make(chan error, 1)
		go func() { aerr <- m.LockContext(ctx) }() // A, behind W0
		synctest.Wait()
		time.Sleep(2 * time.Millisecond)
		m.Unlock() // a fair unlock to W0
		synctest.Wait()
		close(release0)
		synctest.Wait()
		if s := m.Snapshot(); !s.Locked || !s.Starving || s.Queued != 1 {
			t.Fatalf("setup: %+v; want W0 holding, A requeued starving", s)
		}
		bdone := make(chan struct{})
		go func() { // B, a newcomer: queues behind A in starvation mode
			defer close(bdone)
			m.Lock()
			m.Unlock()
		}()
		synctest.Wait()
		cancel()
		synctest.Wait()
		if err := <-aerr; !errors.Is(err, context.Canceled) {
			t.Fatalf("A's LockContext = %v, want context.Canceled", err)
		}
		if s := m.Snapshot(); s.Starving {
			t.Fatalf("after the starving waiter gave up: %+v; want normal mode (B waited microseconds)", s)
		}
		close(release1)
		<-w0done
		<-bdone
		idle(t, &m)
	})
}

// A waiter woken by Unlock (it owns the wake: mutexWoken) whose ctx has
// ended gives up without the lock. If a holder unlocked meanwhile, that
// Unlock woke nobody, counting on the woken waiter to compete; giving up,
// the waiter must pass the wake to the next waiter, or that one sleeps
// with the lock free. The yield hook sits between the waiter's look at
// the lock and its giving up, where that Unlock must land.
func TestWokenWaiterGivingUpPassesTheWake(t *testing.T) {
	testhook.Enable(t)
	for range testutil.Scale(2000) {
		var m mutex.Mutex
		m.Lock()
		ctx, cancel := context.WithCancel(context.Background())
		front := make(chan error, 1)
		go func() {
			err := m.LockContext(ctx)
			if err == nil {
				m.Unlock() // it took the lock before looking at ctx
			}
			front <- err
		}()
		waitQueued(t, &m, 1)
		behind := make(chan struct{})
		go func() {
			m.Lock()
			m.Unlock()
			close(behind)
		}()
		waitQueued(t, &m, 2)
		m.Unlock() // wakes the front waiter: it owns mutexWoken
		cancel()
		m.Lock() // barges in before it, or waits for it
		m.Unlock()
		select {
		case <-behind:
		case <-time.After(5 * time.Second):
			t.Fatalf("the waiter behind a woken waiter that gave up was never woken: %+v", m.Snapshot())
		}
		if err := <-front; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("front waiter: %v", err)
		}
		if s := m.Snapshot(); s != (mutex.State{}) {
			t.Fatalf("mutex not idle at the end: %+v", s)
		}
	}
}

// waitQueued waits until n goroutines are queued on m.
func waitQueued(t *testing.T, m *mutex.Mutex, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for m.Snapshot().Queued != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", m.Snapshot().Queued, n)
		}
		runtime.Gosched()
	}
}
