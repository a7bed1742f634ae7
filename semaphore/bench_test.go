package semaphore_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/lockstep-go/lockstep/semaphore"
	xsync "golang.org/x/sync/semaphore"
)

// weighted is the subset of the API the benchmarks drive, so that the same
// workload runs on lockstep, x/sync and a buffered channel in one run.
type weighted interface {
	Acquire(ctx context.Context, n int64) error
	TryAcquire(n int64) bool
	Release(n int64)
}

// chanSem is the buffered-channel semaphore: a send takes a permit, a
// receive returns it. It serves weight 1 only, which is all the benchmarks
// ask of it.
type chanSem chan struct{}

func (c chanSem) Acquire(ctx context.Context, n int64) error {
	select {
	case c <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c chanSem) TryAcquire(n int64) bool {
	select {
	case c <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c chanSem) Release(n int64) { <-c }

var impls = []struct {
	name string
	new  func(n int64) weighted
}{
	{"lockstep", func(n int64) weighted { return semaphore.New(n) }},
	{"xsync", func(n int64) weighted { return xsync.NewWeighted(n) }},
	{"chan", func(n int64) weighted { return make(chanSem, n) }},
}

// BenchmarkAcquireRelease: one goroutine, Acquire(1) then Release(1), never
// contended. lockstep's fast path is two CAS; x/sync takes a mutex twice.
func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			s := impl.new(1)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Acquire(ctx, 1); err != nil {
					b.Fatal(err)
				}
				s.Release(1)
			}
		})
	}
}

// BenchmarkTryAcquireRelease: TryAcquire(1) then Release(1), uncontended.
func BenchmarkTryAcquireRelease(b *testing.B) {
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			s := impl.new(1)
			b.ReportAllocs()
			for b.Loop() {
				if !s.TryAcquire(1) {
					b.Fatal("TryAcquire failed")
				}
				s.Release(1)
			}
		})
	}
}

// BenchmarkAcquireReleaseCancelable: as AcquireRelease with a cancellable
// ctx (which has a Done channel to check).
func BenchmarkAcquireReleaseCancelable(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, impl := range impls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			s := impl.new(1)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Acquire(ctx, 1); err != nil {
					b.Fatal(err)
				}
				s.Release(1)
			}
		})
	}
}

// BenchmarkContended: GOMAXPROCS goroutines (RunParallel) loop on
// Acquire(1)+Release(1). With capacity=procs nobody ever waits and the cost
// is contention on the semaphore's word (or mutex); with capacity=1 every
// acquisition but the first queues and the cost is the park/wake handoff.
func BenchmarkContended(b *testing.B) {
	ctx := context.Background()
	for _, capacity := range []string{"1", "procs"} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("cap=%s/impl=%s", capacity, impl.name), func(b *testing.B) {
				n := int64(1)
				if capacity == "procs" {
					n = int64(runtime.GOMAXPROCS(0))
				}
				s := impl.new(n)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.Acquire(ctx, 1); err != nil {
							b.Error(err)
							return
						}
						s.Release(1)
					}
				})
			})
		}
	}
}

// BenchmarkWeightedMix: GOMAXPROCS goroutines with weights 1..4 on a
// capacity of 4: waiters of mixed size, head-of-line blocking. The channel
// semaphore has no weights and is left out.
func BenchmarkWeightedMix(b *testing.B) {
	ctx := context.Background()
	for _, impl := range impls[:2] {
		b.Run("impl="+impl.name, func(b *testing.B) {
			s := impl.new(4)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := int64(0)
				for pb.Next() {
					w = w%4 + 1
					if err := s.Acquire(ctx, w); err != nil {
						b.Error(err)
						return
					}
					s.Release(w)
				}
			})
		})
	}
}
