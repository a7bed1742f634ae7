package suite

import (
	"context"
	"testing"

	"github.com/lockstep-go/lockstep/future"
	"golang.org/x/sync/errgroup"
)

// BenchmarkFutures: resolve-then-get of one value; a chain of 1000
// transformation stages (time and memory per chain); and collecting 1000
// concurrently computed values (time per collection).
func BenchmarkFutures(b *testing.B) {
	b.Run(kv("workload", "resolve-get")+"impl=chan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ch := make(chan int, 1)
			ch <- 1
			sink.Add(int64(<-ch))
		}
	})
	b.Run(kv("workload", "resolve-get")+"impl=lockstep.future", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			p := future.NewPromise[int]()
			p.Resolve(1)
			v, _ := p.Future().Get(ctx)
			sink.Add(int64(v))
		}
	})
	b.Run(kv("workload", "chain")+kv("stages", 1000)+"impl=lockstep.future.Then", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			p := future.NewPromise[int]()
			f := p.Future()
			for range 1000 {
				f = future.Then(f, func(v int) (int, error) { return v + 1, nil })
			}
			p.Resolve(0)
			if got, err := f.Get(ctx); err != nil || got != 1000 {
				b.Fatalf("chain = %d, %v", got, err)
			}
		}
	})
	b.Run(kv("workload", "chain")+kv("stages", 1000)+"impl=goroutine-per-stage", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			first := make(chan int, 1)
			in := first
			for range 1000 {
				out := make(chan int, 1)
				go func(in <-chan int, out chan<- int) { out <- <-in + 1 }(in, out)
				in = out
			}
			first <- 0
			if got := <-in; got != 1000 {
				b.Fatalf("chain = %d", got)
			}
		}
	})
	// The synchronous equivalent of a Then chain: the 1000 functions kept
	// in a slice and applied once the value is there, on the goroutine
	// that has it, as Then's stages run. It bounds what a chain of futures
	// costs beyond its functions; the goroutine per stage above is the
	// concurrent way, which a chain does not need. It is a bound, not a
	// peer (no futures library runs a chain for nothing), hence the
	// "bound." prefix: the report shows it and compares lockstep with the
	// peers only.
	b.Run(kv("workload", "chain")+kv("stages", 1000)+"impl=bound.func-slice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fns := make([]func(int) int, 0, 1000)
			for range 1000 {
				fns = append(fns, func(v int) int { return v + 1 })
			}
			v := 0
			for _, fn := range fns {
				v = fn(v)
			}
			if v != 1000 {
				b.Fatalf("chain = %d", v)
			}
		}
	})
	b.Run(kv("workload", "all")+kv("n", 1000)+"impl=lockstep.future.All", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		fs := make([]*future.Future[int], 1000)
		for b.Loop() {
			for i := range fs {
				fs[i] = future.Go(func() (int, error) { return work(10), nil })
			}
			if _, err := future.All(fs...).Get(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(kv("workload", "all")+kv("n", 1000)+"impl=errgroup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var g errgroup.Group
			out := make([]int, 1000)
			for i := range out {
				g.Go(func() error { out[i] = work(10); return nil })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
