package rwlock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/rwlock"
)

// The invariant-counter hammers: at full size each lock type runs 1.2e6
// critical sections (goroutines x iters x 3 read shares) under -race in CI.
func TestHammer(t *testing.T) {
	const goroutines = 8
	shares := []struct {
		name      string
		readEvery int
		iters     int
	}{
		{"reads=0%", 1, 25_000},
		{"reads=90%", 10, 50_000},
		{"reads=99%", 100, 75_000},
	}
	for _, sh := range shares {
		iters := testutil.Scale(sh.iters)
		t.Run("RWMutex/"+sh.name, func(t *testing.T) {
			l := new(rwlock.RWMutex)
			testutil.HammerRW(t, l, goroutines, iters, sh.readEvery)
			mustBeFree(t, rwAdapter{l})
		})
		t.Run("ReadMostly/"+sh.name, func(t *testing.T) {
			l := rmAdapter{new(rwlock.ReadMostly)}
			hammerTokens(t, l, goroutines, iters, sh.readEvery)
			mustBeFree(t, l)
		})
	}
}

// One processor: every handoff goes through the scheduler.
func TestHammerOneProc(t *testing.T) {
	testutil.Procs(t, []int{1}, func(t *testing.T) {
		forEach(t, func(t *testing.T, newLock func() rwl) {
			l := newLock()
			hammerTokens(t, l, 4, testutil.Scale(20_000), 4)
			mustBeFree(t, l)
		})
	})
}

// RLocker's read locks exclude writers and share with readers, for both
// locks (ReadMostly's go through the underlying RWMutex).
func TestRLocker(t *testing.T) {
	var rw rwlock.RWMutex
	rl := rw.RLocker()
	rl.Lock()
	if rw.TryLock() {
		t.Fatal("TryLock succeeded while RLocker holds a read lock")
	}
	if !rw.TryRLock() {
		t.Fatal("TryRLock failed next to an RLocker read lock")
	}
	rw.RUnlock()
	rl.Unlock()
	mustBeFree(t, rwAdapter{&rw})

	var rm rwlock.ReadMostly
	rm.RUnlock(rm.RLock()) // bias on: RLocker must still exclude writers
	rml := rm.RLocker()
	rml.Lock()
	if rm.TryLock() {
		t.Fatal("TryLock succeeded while ReadMostly's RLocker holds a read lock")
	}
	tok, ok := rm.TryRLock()
	if !ok {
		t.Fatal("TryRLock failed next to an RLocker read lock")
	}
	rm.RUnlock(tok)
	rml.Unlock()
	mustBeFree(t, rmAdapter{&rm})
	testutil.HammerRW(t, rlockerRW{rml, &rm}, 4, testutil.Scale(10_000), 10)
	mustBeFree(t, rmAdapter{&rm})
}

// rlockerRW reads through a ReadMostly's RLocker and writes through the
// lock itself, for HammerRW.
type rlockerRW struct {
	rl sync.Locker
	rm *rwlock.ReadMostly
}

func (a rlockerRW) Lock()    { a.rm.Lock() }
func (a rlockerRW) Unlock()  { a.rm.Unlock() }
func (a rlockerRW) RLock()   { a.rl.Lock() }
func (a rlockerRW) RUnlock() { a.rl.Unlock() }

// holders builds one combination of lock holders and waiters, and returns
// a function that releases them all.
type holders struct {
	name      string
	tryLock   bool // expected TryLock result
	tryRLock  bool // expected TryRLock result
	arrange   func(l rwl) (release func())
	onlyRWMtx bool // needs the RWMutex's queue semantics
}

var matrix = []holders{
	{"free", true, true, func(l rwl) func() { return func() {} }, false},
	{"one reader", false, true, func(l rwl) func() {
		t := l.RL()
		return func() { l.RU(t) }
	}, false},
	{"two readers", false, true, func(l rwl) func() {
		a, b := l.RL(), l.RL()
		return func() { l.RU(a); l.RU(b) }
	}, false},
	{"reader via TryRLock", false, true, func(l rwl) func() {
		t, ok := l.TryRL()
		if !ok {
			panic("TryRLock failed on a free lock")
		}
		return func() { l.RU(t) }
	}, false},
	{"writer", false, false, func(l rwl) func() {
		l.Lock()
		return l.Unlock
	}, false},
	{"writer via TryLock", false, false, func(l rwl) func() {
		if !l.TryLock() {
			panic("TryLock failed on a free lock")
		}
		return l.Unlock
	}, false},
	{"downgraded writer", false, true, func(l rwl) func() {
		l.Lock()
		t := l.Down()
		return func() { l.RU(t) }
	}, false},
	{"reader and a queued writer", false, false, func(l rwl) func() {
		t := l.RL()
		done := make(chan struct{})
		go func() { l.Lock(); close(done) }()
		synctest.Wait()
		return func() { l.RU(t); <-done; l.Unlock() }
	}, false},
	{"writer and a queued reader", false, false, func(l rwl) func() {
		l.Lock()
		done := make(chan rwlock.RToken)
		go func() { done <- l.RL() }()
		synctest.Wait()
		return func() { l.Unlock(); l.RU(<-done) }
	}, false},
	{"writer and a queued writer", false, false, func(l rwl) func() {
		l.Lock()
		done := make(chan struct{})
		go func() { l.Lock(); close(done) }()
		synctest.Wait()
		return func() { l.Unlock(); <-done; l.Unlock() }
	}, false},
}

// The TryLock matrix: every combination of holders, both Try calls, both
// locks. A successful Try is released and must leave the combination as it
// was (checked by trying again).
func TestTryMatrix(t *testing.T) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		for _, h := range matrix {
			t.Run(h.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					l := newLock()
					release := h.arrange(l)
					for range 2 {
						if got := l.TryLock(); got != h.tryLock {
							t.Fatalf("TryLock = %v, want %v", got, h.tryLock)
						} else if got {
							l.Unlock()
						}
						tok, got := l.TryRL()
						if got != h.tryRLock {
							t.Fatalf("TryRLock = %v, want %v", got, h.tryRLock)
						} else if got {
							l.RU(tok)
						}
					}
					release()
					synctest.Wait()
					mustBeFree(t, l)
				})
			})
		}
	})
}

// A done context fails every blocking call, even on a free lock, and
// changes nothing; the error matches ctx.Err() and the cause.
func TestDoneContextFails(t *testing.T) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		l := newLock()
		cause := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		if err := l.LockContext(ctx); !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
			t.Fatalf("LockContext with a done ctx: %v", err)
		}
		if _, err := l.RLCtx(ctx); !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
			t.Fatalf("RLockContext with a done ctx: %v", err)
		}
		mustBeFree(t, l)
		// And with the lock read-held, where RLock would succeed at once.
		tok := l.RL()
		if _, err := l.RLCtx(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("RLockContext with a done ctx next to a reader: %v", err)
		}
		l.RU(tok)
		mustBeFree(t, l)
	})
}

// Cancel-versus-unlock races: goroutines take the lock with contexts that
// are cancelled at random moments, often exactly while a holder releases
// the lock to them. Every successful call must hold the lock exclusively
// (writers) or shared (readers); afterwards the lock is free, nobody is
// queued, and goleak (TestMain) finds no stranded goroutine. At full size
// each lock type runs 1e5 LockContext and 1e5 RLockContext calls, each
// with a cancellation that races with it.
func TestCancelRaces(t *testing.T) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		l := newLock()
		var abandoned atomic.Int64
		defer rwlock.SetOnAbandon(func() { abandoned.Add(1) })()
		const goroutines = 8 // 4 writers, 4 readers
		iters := testutil.Scale(25_000)
		var activity atomic.Int64
		var bad, granted, failed, races atomic.Int64
		testutil.Run(t, goroutines, func(id int) {
			r := rand.New(rand.NewPCG(uint64(id), 7))
			write := id%2 == 0
			for range iters {
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(2) == 0 {
					go cancel()
				} else {
					go func() { runtime.Gosched(); cancel() }()
				}
				races.Add(1)
				yield := r.IntN(2) == 0
				var err error
				var tok rwlock.RToken
				if write {
					err = l.LockContext(ctx)
				} else {
					tok, err = l.RLCtx(ctx)
				}
				cancel()
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("ctx call: %v, want context.Canceled", err)
					}
					failed.Add(1)
					continue
				}
				granted.Add(1)
				if write {
					if activity.Add(1<<32) != 1<<32 {
						bad.Add(1)
					}
					if yield {
						runtime.Gosched() // let others queue behind us
					}
					activity.Add(-1 << 32)
					l.Unlock()
				} else {
					if activity.Add(1) >= 1<<32 {
						bad.Add(1)
					}
					if yield {
						runtime.Gosched()
					}
					activity.Add(-1)
					l.RU(tok)
				}
			}
		})
		if bad.Load() != 0 {
			t.Fatalf("%d critical sections broke exclusion", bad.Load())
		}
		mustBeFree(t, l)
		t.Logf("%d calls raced a cancel; granted %d, failed %d, of which %d gave up while queued",
			races.Load(), granted.Load(), failed.Load(), abandoned.Load())
		if !testing.Short() && abandoned.Load() == 0 {
			t.Fatal("no waiter was cancelled while queued: the races did not happen")
		}
	})
}

// A waiting writer gets in under continuous overlapping readers.
func TestWriterNotStarved(t *testing.T) {
	notStarved(t, 4, func(l rwl) {
		tok := l.RL()
		runtime.Gosched() // overlap with the other readers
		l.RU(tok)
	}, 1, writeOnce)
}

// A writer gets in under a stream of writers that barge in: an unlock
// wakes a lone queued writer to re-contend rather than handing it the
// lock, and the one that keeps losing (more than maxLosses times, or for
// starvationThreshold) is handed the lock.
func TestWriterNotStarvedByWriters(t *testing.T) {
	notStarved(t, 2, writeOnce, 1, writeOnce)
}

// Readers get in under continuous writers.
func TestReadersNotStarved(t *testing.T) {
	notStarved(t, 4, func(l rwl) {
		l.Lock()
		runtime.Gosched()
		l.Unlock()
	}, 2, func(l rwl) { l.RU(l.RL()) })
}

func writeOnce(l rwl) {
	l.Lock()
	l.Unlock()
}

// notStarved runs, on a fresh lock of each kind, n goroutines that repeat
// load until stopped, and checks that probers goroutines each get through
// probe 200 times (scaled) within testutil.Liveness.
func notStarved(t *testing.T, n int, load func(rwl), probers int, probe func(rwl)) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		l := newLock()
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				for !stop.Load() {
					load(l)
				}
			})
		}
		testutil.Run(t, probers, func(int) {
			for range testutil.Scale(200) {
				probe(l)
			}
		})
		stop.Store(true)
		testutil.WaitLive(t, &wg)
		mustBeFree(t, l)
	})
}

// received returns the values waiting in ch without blocking.
func received[T any](ch chan T) []T {
	var out []T
	for {
		select {
		case v := <-ch:
			out = append(out, v)
		default:
			return out
		}
	}
}

// Batch admission: N readers queued behind a writer all get in when it
// unlocks, before the writer that queued after them; the readers that
// queued after that writer wait for it.
func TestBatchAdmission(t *testing.T) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		synctest.Test(t, func(t *testing.T) {
			const n, m = 5, 3
			l := newLock()
			l.Lock()
			first := make(chan rwlock.RToken, n)
			for range n {
				go func() { first <- l.RL() }()
			}
			synctest.Wait()
			writerIn := make(chan struct{})
			go func() { l.Lock(); close(writerIn) }()
			synctest.Wait()
			second := make(chan rwlock.RToken, m)
			for range m {
				go func() { second <- l.RL() }()
			}
			synctest.Wait()
			if s := rwlock.Inspect(l.Under()); s.QueuedReaders != n+m || s.QueuedWriters != 1 {
				t.Fatalf("before Unlock: %+v, want %d readers and 1 writer queued", s, n+m)
			}

			l.Unlock()
			synctest.Wait()
			batch := received(first)
			if len(batch) != n {
				t.Fatalf("Unlock admitted %d of the %d readers queued before the writer", len(batch), n)
			}
			if got := received(second); len(got) != 0 {
				t.Fatalf("%d readers queued after the writer got in before it", len(got))
			}
			s := rwlock.Inspect(l.Under())
			if s.Readers != n || !s.WriterWait || s.QueuedWriters != 1 || s.QueuedReaders != m {
				t.Fatalf("after Unlock: %+v", s)
			}
			for i, tok := range batch {
				select {
				case <-writerIn:
					t.Fatalf("writer got in with %d readers still inside", n-i)
				default:
				}
				l.RU(tok)
				synctest.Wait()
			}
			<-writerIn
			if got := received(second); len(got) != 0 {
				t.Fatal("readers got in while the writer holds the lock")
			}
			l.Unlock()
			synctest.Wait()
			rest := received(second)
			if len(rest) != m {
				t.Fatalf("writer's Unlock admitted %d of %d readers", len(rest), m)
			}
			for _, tok := range rest {
				l.RU(tok)
			}
			mustBeFree(t, l)
		})
	})
}

// A writer that gives up while queued re-admits the readers queued behind
// it (golang/go#37852), whether it was waiting for readers to drain or for
// another writer.
func TestCancelledWriterReadmitsReaders(t *testing.T) {
	cases := []struct {
		name   string
		holdRd bool // a reader holds the lock (else a writer)
	}{{"behind readers", true}, {"behind a writer", false}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var l rwlock.RWMutex
				if c.holdRd {
					l.RLock()
				} else {
					l.Lock()
				}
				ctx, cancel := context.WithCancel(context.Background())
				werr := make(chan error, 1)
				go func() { werr <- l.LockContext(ctx) }()
				synctest.Wait()
				const n = 4
				in := make(chan struct{}, n)
				for range n {
					go func() { l.RLock(); in <- struct{}{} }()
				}
				synctest.Wait()
				if len(in) != 0 {
					t.Fatal("readers passed a queued writer")
				}
				cancel()
				synctest.Wait()
				if err := <-werr; !errors.Is(err, context.Canceled) {
					t.Fatalf("LockContext: %v, want context.Canceled", err)
				}
				if c.holdRd {
					// Re-admitted at once, next to the reader inside.
					if len(in) != n {
						t.Fatalf("%d of %d readers re-admitted", len(in), n)
					}
					l.RUnlock()
				} else {
					if len(in) != 0 {
						t.Fatal("readers got in while a writer holds the lock")
					}
					l.Unlock()
					synctest.Wait()
					if len(in) != n {
						t.Fatalf("%d of %d readers admitted", len(in), n)
					}
				}
				for range n {
					l.RUnlock()
				}
				mustBeFree(t, rwAdapter{&l})
			})
		})
	}
}

// A queued reader that gives up leaves the others as they were.
func TestCancelledReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l rwlock.RWMutex
		l.Lock()
		ctx, cancel := context.WithCancel(context.Background())
		rerr := make(chan error, 1)
		go func() { rerr <- l.RLockContext(ctx) }()
		in := make(chan struct{})
		go func() { l.RLock(); close(in) }()
		synctest.Wait()
		cancel()
		synctest.Wait()
		if err := <-rerr; !errors.Is(err, context.Canceled) {
			t.Fatalf("RLockContext: %v", err)
		}
		if s := rwlock.Inspect(&l); s.QueuedReaders != 1 || !s.Writer {
			t.Fatalf("after the cancel: %+v", s)
		}
		l.Unlock()
		<-in
		l.RUnlock()
		mustBeFree(t, rwAdapter{&l})
	})
}

// Downgrade keeps the lock from any writer, admits the readers queued
// before the next writer, and leaves that writer waiting for all of them.
func TestDowngrade(t *testing.T) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		synctest.Test(t, func(t *testing.T) {
			l := newLock()
			l.Lock()
			readers := make(chan rwlock.RToken, 2)
			go func() { readers <- l.RL() }()
			synctest.Wait()
			writerIn := make(chan struct{})
			go func() { l.Lock(); close(writerIn) }()
			synctest.Wait()
			late := make(chan rwlock.RToken, 1)
			go func() { late <- l.RL() }()
			synctest.Wait()

			mine := l.Down()
			synctest.Wait()
			if got := len(readers); got != 1 {
				t.Fatalf("Downgrade admitted %d of 1 queued reader", got)
			}
			if len(late) != 0 {
				t.Fatal("Downgrade admitted a reader queued behind a writer")
			}
			if l.TryLock() {
				t.Fatal("TryLock succeeded after Downgrade")
			}
			if _, ok := l.TryRL(); ok {
				t.Fatal("TryRLock passed a queued writer after Downgrade")
			}
			l.RU(<-readers)
			synctest.Wait()
			select {
			case <-writerIn:
				t.Fatal("writer got in while the downgraded reader holds the lock")
			default:
			}
			l.RU(mine)
			<-writerIn
			l.Unlock()
			l.RU(<-late)
			mustBeFree(t, l)
		})
	})
}

// Misuse panics with an rwlock: message and leaves the lock usable.
func TestMisusePanics(t *testing.T) {
	type misuse struct {
		name string
		fn   func(l rwl)
		want string
	}
	cases := []misuse{
		{"Unlock of unlocked", func(l rwl) { l.Unlock() }, "rwlock: Unlock of unlocked %s"},
		{"Unlock of read-locked", func(l rwl) {
			tok := l.RL()
			defer l.RU(tok)
			l.Unlock()
		}, "rwlock: Unlock of unlocked %s"},
		{"RUnlock of unlocked", func(l rwl) { l.RU(rwlock.RToken{}) }, "rwlock: RUnlock of unlocked %s"},
		{"RUnlock of write-locked", func(l rwl) {
			l.Lock()
			defer l.Unlock()
			l.RU(rwlock.RToken{})
		}, "rwlock: RUnlock of unlocked %s"},
		{"double RUnlock", func(l rwl) {
			tok := l.RL()
			l.RU(tok)
			l.RU(tok)
		}, "rwlock: RUnlock of unlocked %s"},
		{"Downgrade of unlocked", func(l rwl) { l.Down() }, "rwlock: Downgrade of unlocked %s"},
		{"Downgrade of read-locked", func(l rwl) {
			tok := l.RL()
			defer l.RU(tok)
			l.Down()
		}, "rwlock: Downgrade of unlocked %s"},
	}
	for _, im := range impls {
		for _, c := range cases {
			t.Run(im.name+"/"+c.name, func(t *testing.T) {
				l := im.new()
				// Two reads first so that the ReadMostly token of "double
				// RUnlock" is a counter token.
				l.RU(l.RL())
				want := fmt.Sprintf(c.want, im.name)
				func() {
					defer func() {
						if r := recover(); r != want {
							t.Fatalf("panic %v, want %q", r, want)
						}
					}()
					c.fn(l)
				}()
				mustBeFree(t, l)
			})
		}
	}
}

// Deadlines on fake time: a writer queued behind a long reader gives up
// exactly at its deadline, and the readers that queued behind it get in at
// that moment.
func TestDeadline(t *testing.T) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		synctest.Test(t, func(t *testing.T) {
			l := newLock()
			long := l.RL()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			werr := make(chan error, 1)
			var gaveUp time.Time
			go func() {
				err := l.LockContext(ctx)
				gaveUp = time.Now()
				werr <- err
			}()
			synctest.Wait()
			readerIn := make(chan rwlock.RToken, 1)
			var readerAt time.Time
			go func() {
				tok := l.RL()
				readerAt = time.Now()
				readerIn <- tok
			}()
			synctest.Wait()
			if len(readerIn) != 0 {
				t.Fatal("a reader passed the queued writer")
			}
			time.Sleep(2 * time.Second)
			if err := <-werr; !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("LockContext: %v, want context.DeadlineExceeded", err)
			}
			if d := gaveUp.Sub(start); d != time.Second {
				t.Fatalf("writer gave up after %v, want 1s", d)
			}
			tok := <-readerIn
			if d := readerAt.Sub(start); d != time.Second {
				t.Fatalf("queued reader got in after %v, want 1s (when the writer gave up)", d)
			}
			l.RU(tok)
			l.RU(long)
			mustBeFree(t, l)
		})
	})
}
