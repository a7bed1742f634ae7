package spin_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/spin"
)

// locker is what the benchmarks drive: each implementation, with
// sync.Mutex as the baseline measured in the same run.
type locker interface {
	Lock()
	Unlock()
}

var benchImpls = []struct {
	name string
	new  func() locker
}{
	{"sync", func() locker { return new(sync.Mutex) }},
	{"spin", func() locker { return new(spin.Lock) }},
	{"ticket", func() locker { return new(spin.TicketLock) }},
}

// work spins for about n dependent multiply-adds: a critical section
// (or the work between two of them) that touches no shared memory.
func work(n int) int {
	x := 1
	for i := range n {
		x = x*31 + i
	}
	return x
}

var sink int

// BenchmarkUncontended is one goroutine locking and unlocking: the cost
// of the two atomic operations on the fast path.
func BenchmarkUncontended(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) { uncontended(b, impl.new()) })
	}
}

// uncontended is BenchmarkUncontended's loop.
func uncontended(b *testing.B, l locker) {
	b.ReportAllocs()
	for b.Loop() {
		l.Lock()
		l.Unlock()
	}
}

// BenchmarkContended is every P locking the same lock in a loop, with an
// empty or small critical section and some local work between sections;
// par=4 runs four goroutines per P, so goroutines outnumber processors and
// holders get preempted.
func BenchmarkContended(b *testing.B) {
	for _, cs := range []int{0, 20} {
		for _, par := range []int{1, 4} {
			for _, impl := range benchImpls {
				b.Run(fmt.Sprintf("cs=%d/par=%d/impl=%s", cs, par, impl.name), func(b *testing.B) {
					l := impl.new()
					contended(b, cs, par, func() locker { return l })
				})
			}
		}
	}
}

// contended is BenchmarkContended's loop: par goroutines per P each lock,
// work cs steps, unlock and work 20 steps, in a loop. per is called once
// per goroutine for the locker it uses (the same lock for all of them; a
// queue lock's locker also carries the goroutine's own node).
func contended(b *testing.B, cs, par int, per func() locker) {
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		l := per()
		local := 0
		for pb.Next() {
			l.Lock()
			local += work(cs)
			l.Unlock()
			local += work(20)
		}
		sink += local & 0 // keep local live without racing on sink's value
	})
}
