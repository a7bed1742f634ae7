package suite

import (
	"testing"

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
