package suite

import (
	"context"
	"testing"

	lsema "github.com/lockstep-go/lockstep/semaphore"
	"golang.org/x/sync/semaphore"
)

// sema is the semaphore family's interface.
type sema interface {
	Acquire(ctx context.Context, n int64) error
	Release(n int64)
}

// chanSema is the buffered-channel semaphore.
type chanSema chan struct{}

func (c chanSema) Acquire(ctx context.Context, n int64) error {
	for range n {
		select { // a plain send first: the two-case select is the runtime's slow general one
		case c <- struct{}{}:
			continue
		default:
		}
		select {
		case c <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c chanSema) Release(n int64) {
	for range n {
		<-c
	}
}

func semaImpls(capacity int64) []impl[sema] {
	return []impl[sema]{
		{"x-sync.Weighted", func() sema { return semaphore.NewWeighted(capacity) }},
		{"chan", func() sema { return make(chanSema, capacity) }},
		{"lockstep.semaphore.Weighted", func() sema { return lsema.New(capacity) }},
	}
}

// BenchmarkSemaphores: Acquire(1)+Release(1) from one goroutine
// (uncontended), and from every P with capacity 1 (a lock) and capacity
// GOMAXPROCS (admission never waits but every call touches the shared
// count).
func BenchmarkSemaphores(b *testing.B) {
	ctx := context.Background()
	run(b, kv("workload", "uncontended"), semaImpls(1), func(b *testing.B, s sema) {
		for b.Loop() {
			_ = s.Acquire(ctx, 1)
			s.Release(1)
		}
	})
	for _, c := range []struct {
		name     string
		capacity int64
	}{{"cap=1", 1}, {"cap=procs", int64(procs())}} {
		run(b, kv("workload", "contended/"+c.name), semaImpls(c.capacity), func(b *testing.B, s sema) {
			b.RunParallel(func(pb *testing.PB) {
				local := 0
				for pb.Next() {
					_ = s.Acquire(ctx, 1)
					local += work(20)
					s.Release(1)
					local += work(20)
				}
				sink.Add(int64(local & 1))
			})
		})
	}
}
