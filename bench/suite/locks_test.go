package suite

import (
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/mutex"
	"github.com/lockstep-go/lockstep/spin"
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

var lockImpls = []impl[locker]{
	{"sync.Mutex", func() locker { return new(sync.Mutex) }},
	{"chan", func() locker { return make(chanLock, 1) }},
	{"lockstep.mutex.Mutex", func() locker { return new(mutex.Mutex) }},
	{"lockstep.mutex.Fair", func() locker { return new(mutex.Fair) }},
	{"lockstep.spin.Lock", func() locker { return new(spin.Lock) }},
	{"lockstep.spin.TicketLock", func() locker { return new(spin.TicketLock) }},
}

// BenchmarkLocks: one goroutine (uncontended: the fast path's atomics),
// every P on one lock with an empty or small critical section (contended),
// and four goroutines per P (oversubscribed: holders get preempted).
func BenchmarkLocks(b *testing.B) {
	run(b, kv("workload", "uncontended"), lockImpls, func(b *testing.B, l locker) {
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
		run(b, kv("workload", c.name), lockImpls, func(b *testing.B, l locker) {
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
