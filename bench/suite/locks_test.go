package suite

import (
	"context"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/mutex"
	"github.com/lockstep-go/lockstep/spin"
	"golang.org/x/sync/semaphore"
)

// locker is the lock family's interface.
type locker interface {
	Lock()
	Unlock()
}

// chanLock is the channel-of-one lock: Go's usual way to get a lock that
// works in select, FIFO-ish through the channel's wait queue.
type chanLock chan struct{}

func (c chanLock) Lock()   { c <- struct{}{} }
func (c chanLock) Unlock() { <-c }

// weightedLock is x/sync's Weighted(1) used as a lock: FIFO, since its
// waiters are served in order and TryAcquire does not barge.
type weightedLock struct{ s *semaphore.Weighted }

func (w weightedLock) Lock()   { _ = w.s.Acquire(context.Background(), 1) }
func (w weightedLock) Unlock() { w.s.Release(1) }

// lockImpls are the barging locks: whoever comes first when the lock is
// free takes it, which is what makes sync.Mutex fast under contention.
var lockImpls = []impl[locker]{
	{"sync.Mutex", func() locker { return new(sync.Mutex) }},
	{"lockstep.mutex.Mutex", func() locker { return new(mutex.Mutex) }},
	{"lockstep.spin.Lock", func() locker { return new(spin.Lock) }},
}

// fairLockImpls hand the lock over in arrival order (or close to it): the
// usual Go ways to get that are a channel of one and x/sync's Weighted(1).
// A FIFO handoff costs a wake-up per acquisition under contention, so these
// are compared among themselves, not with the barging locks.
var fairLockImpls = []impl[locker]{
	{"chan", func() locker { return make(chanLock, 1) }},
	{"x-sync.Weighted", func() locker { return weightedLock{semaphore.NewWeighted(1)} }},
	{"lockstep.mutex.Fair", func() locker { return new(mutex.Fair) }},
	{"lockstep.spin.TicketLock", func() locker { return new(spin.TicketLock) }},
}

// BenchmarkLocks: one goroutine (uncontended: the fast path's atomics),
// every P on one lock with an empty or small critical section (contended),
// and four goroutines per P (oversubscribed: holders get preempted).
func BenchmarkLocks(b *testing.B) { benchmarkLocks(b, lockImpls) }

// BenchmarkFairLocks: the same workloads on the FIFO locks.
func BenchmarkFairLocks(b *testing.B) { benchmarkLocks(b, fairLockImpls) }

func benchmarkLocks(b *testing.B, impls []impl[locker]) {
	run(b, kv("workload", "uncontended"), impls, func(b *testing.B, l locker) {
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	})
	for _, c := range []struct {
		name  string
		cs    int
		par   int
		think int
	}{
		{"contended/cs=0", 0, 1, 20},
		{"contended/cs=20", 20, 1, 20},
		{"oversubscribed/cs=20", 20, 4, 20},
	} {
		run(b, kv("workload", c.name), impls, func(b *testing.B, l locker) {
			b.SetParallelism(c.par)
			b.RunParallel(func(pb *testing.PB) {
				local := 0
				for pb.Next() {
					l.Lock()
					local += work(c.cs)
					l.Unlock()
					local += work(c.think)
				}
				sink.Add(int64(local & 1))
			})
		})
	}
}
