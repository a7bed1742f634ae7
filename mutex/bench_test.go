package mutex_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/mutex"
	"golang.org/x/sync/semaphore"
)

// The lock implementations compared, through the smallest interface.
type benchLocker interface {
	Lock()
	Unlock()
}

// chanLock is the usual Go way to get a FIFO-ish lock: a channel of one.
// A blocked sender is handed the slot directly by the receive (a true
// handoff), and blocked senders queue in FIFO order.
type chanLock chan struct{}

func (c chanLock) Lock()   { c <- struct{}{} }
func (c chanLock) Unlock() { <-c }

// weightedLock is x/sync's FIFO semaphore with one permit.
type weightedLock struct{ s *semaphore.Weighted }

func (w weightedLock) Lock() {
	if err := w.s.Acquire(context.Background(), 1); err != nil {
		panic(err)
	}
}
func (w weightedLock) Unlock() { w.s.Release(1) }

// ctxLock locks through LockContext with a live ctx, for the cost of the
// ctx-aware path.
type ctxLock struct {
	l interface {
		LockContext(context.Context) error
		Unlock()
	}
	ctx context.Context
}

func (c ctxLock) Lock() {
	if err := c.l.LockContext(c.ctx); err != nil {
		panic(err)
	}
}
func (c ctxLock) Unlock() { c.l.Unlock() }

var impls = map[string]func() benchLocker{
	"lockstep":      func() benchLocker { return new(mutex.Mutex) },
	"sync":          func() benchLocker { return new(sync.Mutex) },
	"lockstep-fair": func() benchLocker { return new(mutex.Fair) },
	"chan":          func() benchLocker { return make(chanLock, 1) },
	"weighted":      func() benchLocker { return weightedLock{semaphore.NewWeighted(1)} },
	"lockstep-ctx": func() benchLocker {
		ctx, cancel := context.WithCancel(context.Background())
		_ = cancel // lives as long as the benchmark process; never ends
		return ctxLock{new(mutex.Mutex), ctx}
	},
}

// work is a few nanoseconds of local computation, as in the sync package's
// BenchmarkMutexWork.
func work(n int) {
	v := 1
	for range n {
		v *= 2
		v /= 2
	}
	if v != 1 {
		panic("unreachable")
	}
}

// BenchmarkMutex compares mutex.Mutex with sync.Mutex: uncontended (one
// goroutine), contended (RunParallel, one goroutine per P) with an empty or
// a small critical section, and oversubscribed (four goroutines per P).
// Run with -cpu 1,2,4,8.
func BenchmarkMutex(b *testing.B) {
	b.Run("case=uncontended", func(b *testing.B) {
		for _, impl := range []string{"lockstep", "sync", "lockstep-ctx"} {
			b.Run("impl="+impl, func(b *testing.B) {
				l := impls[impl]()
				b.ReportAllocs()
				for b.Loop() {
					l.Lock()
					l.Unlock()
				}
			})
		}
	})
	b.Run("case=trylock", func(b *testing.B) {
		for _, impl := range []string{"lockstep", "sync"} {
			b.Run("impl="+impl, func(b *testing.B) {
				l := impls[impl]().(interface {
					TryLock() bool
					Unlock()
				})
				b.ReportAllocs()
				for b.Loop() {
					if l.TryLock() {
						l.Unlock()
					}
				}
			})
		}
	})
	for _, c := range []struct {
		name         string
		inside, outs int // work units inside and outside the critical section
		parallelism  int
	}{
		{"contended/work=0", 0, 0, 1},
		{"contended/work=small", 5, 50, 1},
		{"oversubscribed/work=small", 5, 50, 4},
	} {
		b.Run("case="+c.name, func(b *testing.B) {
			for _, impl := range []string{"lockstep", "sync"} {
				b.Run("impl="+impl, func(b *testing.B) {
					l := impls[impl]()
					b.SetParallelism(c.parallelism)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							l.Lock()
							work(c.inside)
							l.Unlock()
							work(c.outs)
						}
					})
				})
			}
		})
	}
}

// BenchmarkFair compares mutex.Fair under contention with the usual Go ways
// to get FIFO-like handoff (a channel of one, x/sync's Weighted(1)), and
// with the barging locks for reference. Besides ns/op it reports the spread
// of the time each Lock waited (every 4th is sampled): p50-ns, p99-ns,
// p99.9-ns and p99/p50, and how unevenly the goroutines shared the lock
// (ops-max/min). A barging lock lets the running goroutines re-take the lock
// while parked ones wait far longer: few, very long waits, and an uneven
// share. Strict FIFO makes every goroutine wait its turn.
func BenchmarkFair(b *testing.B) {
	for _, c := range []struct {
		name         string
		inside, outs int
		parallelism  int
	}{
		{"contended/work=small", 5, 50, 1},
		{"oversubscribed/work=small", 5, 50, 4},
	} {
		b.Run("case="+c.name, func(b *testing.B) {
			for _, impl := range []string{"lockstep-fair", "chan", "weighted", "sync", "lockstep"} {
				b.Run("impl="+impl, func(b *testing.B) {
					l := impls[impl]()
					var mu sync.Mutex
					var waits []time.Duration
					var opsPer []int
					b.SetParallelism(c.parallelism)
					b.RunParallel(func(pb *testing.PB) {
						local := make([]time.Duration, 0, 1024)
						i := 0
						for ; pb.Next(); i++ {
							if i%4 == 0 {
								t0 := time.Now()
								l.Lock()
								local = append(local, time.Since(t0))
							} else {
								l.Lock()
							}
							work(c.inside)
							l.Unlock()
							work(c.outs)
						}
						mu.Lock()
						waits = append(waits, local...)
						opsPer = append(opsPer, i)
						mu.Unlock()
					})
					reportSpread(b, waits, opsPer)
				})
			}
		})
	}
}

// reportSpread reports the spread of the sampled waits, and how unevenly
// the goroutines shared the lock: ops-max/min is the most operations one
// goroutine completed over the fewest (1 for perfect turn-taking).
func reportSpread(b *testing.B, waits []time.Duration, opsPer []int) {
	if len(waits) < 100 {
		return
	}
	slices.Sort(waits)
	p50 := waits[len(waits)/2]
	p99 := waits[len(waits)*99/100]
	p999 := waits[len(waits)*999/1000]
	b.ReportMetric(float64(p50), "p50-ns")
	b.ReportMetric(float64(p99), "p99-ns")
	b.ReportMetric(float64(p999), "p99.9-ns")
	b.ReportMetric(float64(p99)/float64(max(p50, 1)), "p99/p50")
	if len(opsPer) > 1 {
		b.ReportMetric(float64(slices.Max(opsPer))/float64(max(slices.Min(opsPer), 1)), "ops-max/min")
	}
}

// BenchmarkCond compares mutex.Cond with sync.Cond: Signal with nobody
// waiting, and a ping-pong between two goroutines that take turns.
func BenchmarkCond(b *testing.B) {
	b.Run("case=signal-idle", func(b *testing.B) {
		b.Run("impl=lockstep", func(b *testing.B) {
			c := mutex.NewCond(new(sync.Mutex))
			b.ReportAllocs()
			for b.Loop() {
				c.Signal()
			}
		})
		b.Run("impl=sync", func(b *testing.B) {
			c := sync.NewCond(new(sync.Mutex))
			b.ReportAllocs()
			for b.Loop() {
				c.Signal()
			}
		})
	})
	b.Run("case=pingpong", func(b *testing.B) {
		b.Run("impl=lockstep", func(b *testing.B) {
			var m sync.Mutex
			c := mutex.NewCond(&m)
			pingpong(b, &m, func() { _ = c.Wait(context.Background()) }, c.Signal)
		})
		b.Run("impl=sync", func(b *testing.B) {
			var m sync.Mutex
			c := sync.NewCond(&m)
			pingpong(b, &m, c.Wait, c.Signal)
		})
	})
}

// pingpong has two goroutines take turns through one condition variable;
// one op is one turn.
func pingpong(b *testing.B, m *sync.Mutex, wait, signal func()) {
	turn := 0
	n := b.N
	done := make(chan struct{})
	player := func(me int) {
		m.Lock()
		for i := 0; i < n; i++ {
			for turn != me {
				wait()
			}
			turn = 1 - me
			signal()
		}
		m.Unlock()
	}
	b.ResetTimer()
	go func() {
		player(1)
		close(done)
	}()
	player(0)
	<-done
}
