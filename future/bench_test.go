package future_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/lockstep-go/lockstep/future"
	"github.com/lockstep-go/lockstep/pool"
	"golang.org/x/sync/errgroup"
)

// Benchmarks compare each future operation with the channel or x/sync
// idiom a Go programmer would write instead, through a small interface, in
// the same run. Run with
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2,4,8 -count 6 ./future/
//
// and compare with benchstat.

// oneShot is a single value handed from a producer to a consumer.
type oneShot interface {
	put(v int)
	take(ctx context.Context) int
}

type promiseShot struct{ p *future.Promise[int] }

func (s promiseShot) put(v int) { s.p.Resolve(v) }
func (s promiseShot) take(ctx context.Context) int {
	v, _ := s.p.Future().Get(ctx)
	return v
}

// chanShot is the baseline: a buffered channel of one, received from
// directly (no select on ctx, which would only slow it down).
type chanShot chan int

func (c chanShot) put(v int)                { c <- v }
func (c chanShot) take(context.Context) int { return <-c }

var oneShots = []struct {
	name string
	make func() oneShot
}{
	{"lockstep", func() oneShot { return promiseShot{future.NewPromise[int]()} }},
	{"chan", func() oneShot { return make(chanShot, 1) }},
}

var sink int

// loop runs body under b.Loop and reports, besides ns/op, the CPU time of
// the whole process (all goroutines, the GC included) per operation as
// cpu-ns/op; see cpuTime.
func loop(b *testing.B, body func()) {
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		body()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkResolveGet: a fresh promise resolved and then read, against a
// fresh buffered channel of one sent on and then received from. mode=same
// does both on one goroutine; mode=handoff has the consumer wait first and
// another goroutine complete it (a park and a wake for both).
func BenchmarkResolveGet(b *testing.B) {
	ctx := context.Background()
	for _, impl := range oneShots {
		b.Run("mode=same/impl="+impl.name, func(b *testing.B) {
			i := 0
			loop(b, func() {
				s := impl.make()
				s.put(i)
				sink += s.take(ctx)
				i++
			})
		})
	}
	for _, impl := range oneShots {
		b.Run("mode=handoff/impl="+impl.name, func(b *testing.B) {
			cells := make(chan oneShot)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for s := range cells {
					s.put(1)
				}
			}()
			loop(b, func() {
				s := impl.make()
				cells <- s
				sink += s.take(ctx)
			})
			close(cells)
			<-done
		})
	}
}

// BenchmarkGetComplete reads a complete future: the fast path of Get and
// TryGet, which allocate nothing.
func BenchmarkGetComplete(b *testing.B) {
	ctx := context.Background()
	f := future.Resolved(1)
	b.Run("op=Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _ := f.Get(ctx)
			sink += v
		}
	})
	b.Run("op=TryGet", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, _, _ := f.TryGet()
			sink += v
		}
	})
}

// pipeline is a chain of stages, each adding one to its input.
type pipeline interface {
	// build makes a chain of n stages waiting for its input and returns
	// a function that feeds it 0 and returns the chain's output.
	build(n int) (run func() int)
}

type thenPipeline struct{}

func inc(v int) (int, error) { return v + 1, nil }

func (thenPipeline) build(n int) func() int {
	p := future.NewPromise[int]()
	f := p.Future()
	for range n {
		f = future.Then(f, inc)
	}
	return func() int {
		p.Resolve(0)
		v, _ := f.Get(context.Background())
		return v
	}
}

// goroutinePipeline is the baseline, and what a future library that parks a
// goroutine per continuation (chebyrash/promise) costs: a goroutine per
// stage receiving from the previous stage's channel.
type goroutinePipeline struct{}

func (goroutinePipeline) build(n int) func() int {
	first := make(chan int, 1)
	in := first
	for range n {
		out := make(chan int, 1)
		go func(in <-chan int) {
			v, _ := inc(<-in)
			out <- v
		}(in)
		in = out
	}
	return func() int {
		first <- 0
		return <-in
	}
}

var pipelines = []struct {
	name string
	p    pipeline
}{
	{"lockstep", thenPipeline{}},
	{"goroutine", goroutinePipeline{}},
}

// BenchmarkThenChain builds a chain of stages and pushes one value through
// it. Besides ns/op and B/op (heap allocated per chain), it reports
// live-B/stage: heap and goroutine stack memory held by a built chain that
// is waiting for its input, per stage. B/op does not see goroutine stacks
// (they are recycled from the runtime's free lists between iterations), so
// live-B/stage is the figure that shows what a parked goroutine costs.
func BenchmarkThenChain(b *testing.B) {
	for _, stages := range []int{10, 1000} {
		for _, impl := range pipelines {
			b.Run(fmt.Sprintf("stages=%d/impl=%s", stages, impl.name), func(b *testing.B) {
				live := liveBytes(func() func() int { return impl.p.build(stages) })
				loop(b, func() {
					if v := impl.p.build(stages)(); v != stages {
						b.Fatalf("chain returned %d", v)
					}
				})
				b.ReportMetric(live/float64(stages), "live-B/stage")
			})
		}
	}
}

// liveBytes returns the heap and stack bytes held by what build makes, until
// it is run.
func liveBytes(build func() func() int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	run := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	run()
	used := int64(after.HeapAlloc+after.StackInuse) - int64(before.HeapAlloc+before.StackInuse)
	return float64(max(used, 0))
}

// fanOut runs n tasks and collects their results in order, failing on the
// first error. limit > 0 bounds the tasks running at once.
type fanOut interface {
	run(ctx context.Context, n int, work func(int) (int, error)) ([]int, error)
}

// allFanOut starts each task with future.Go, or with future.Submit on exec
// when it is set, and waits with future.All.
type allFanOut struct{ exec future.Executor }

func (a allFanOut) run(ctx context.Context, n int, work func(int) (int, error)) ([]int, error) {
	fs := make([]*future.Future[int], n)
	for i := range fs {
		task := func() (int, error) { return work(i) }
		if a.exec != nil {
			fs[i] = future.Submit(a.exec, task)
		} else {
			fs[i] = future.Go(task)
		}
	}
	return future.All(fs...).Get(ctx)
}

// errgroupFanOut is the baseline: an errgroup writing into a slice, with
// SetLimit(limit) when limit > 0 (errgroup's way to bound concurrency; it
// still starts a goroutine per task). Like All it fails fast: the first
// error cancels the group's context (its Wait still waits for every
// goroutine; All does not).
type errgroupFanOut struct{ limit int }

func (e errgroupFanOut) run(ctx context.Context, n int, work func(int) (int, error)) ([]int, error) {
	results := make([]int, n)
	g, _ := errgroup.WithContext(ctx)
	if e.limit > 0 {
		g.SetLimit(e.limit)
	}
	for i := range results {
		g.Go(func() error {
			v, err := work(i)
			results[i] = v
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

var fanOuts = []struct {
	name string
	f    fanOut
}{
	{"lockstep", allFanOut{}},
	{"errgroup", errgroupFanOut{}},
}

func square(i int) (int, error) { return i * i, nil }

// BenchmarkAll runs n tasks and waits for all their results in order.
//
// spawn=goroutine: future.Go per task and future.All, against an
// errgroup.Group (goroutine per task) writing into a slice. This is the
// comparison the futures themselves must win or lose.
//
// spawn=executor: at most GOMAXPROCS tasks at once. future.Submit on a
// fixed set of GOMAXPROCS workers (the tests' channel-fed executor, a
// stand-in for pool.Pool) and future.All, against errgroup with
// SetLimit(GOMAXPROCS). This measures what running futures on an executor
// buys over a goroutine per task; most of the difference is the executor's.
//
// spawn=pool: what the package is built for, futures running on the
// work-stealing pool: future.Submit on a pool.Pool of GOMAXPROCS workers
// and future.All, against errgroup as a Go programmer writes it (a
// goroutine per task), the same baseline as spawn=goroutine's.
//
// spawn=goroutine cannot be won: errgroup's work per task (its closure, a
// goroutine, a WaitGroup count) is a subset of future.Go's, which also
// allocates the Future the caller holds. future.Go and a Get of each
// future in order, with no All at all, measured 1.14x errgroup at 1 CPU
// (medians of 8 interleaved runs, 2026-12-06); All adds its node per input.
func BenchmarkAll(b *testing.B) {
	ctx := context.Background()
	const n = 1000
	check := func(b *testing.B, vs []int, err error) {
		if err != nil || len(vs) != n || vs[n-1] != (n-1)*(n-1) {
			b.Fatalf("run = %d values, %v", len(vs), err)
		}
	}
	for _, impl := range fanOuts {
		b.Run(fmt.Sprintf("spawn=goroutine/n=%d/impl=%s", n, impl.name), func(b *testing.B) {
			loop(b, func() {
				vs, err := impl.f.run(ctx, n, square)
				check(b, vs, err)
			})
		})
	}
	b.Run(fmt.Sprintf("spawn=pool/n=%d/impl=lockstep", n), func(b *testing.B) {
		p := pool.New(0)
		defer p.Shutdown(ctx)
		f := allFanOut{exec: p}
		loop(b, func() {
			vs, err := f.run(ctx, n, square)
			check(b, vs, err)
		})
	})
	b.Run(fmt.Sprintf("spawn=pool/n=%d/impl=errgroup", n), func(b *testing.B) {
		loop(b, func() {
			vs, err := errgroupFanOut{}.run(ctx, n, square)
			check(b, vs, err)
		})
	})
	for _, name := range []string{"lockstep", "errgroup"} {
		b.Run(fmt.Sprintf("spawn=executor/n=%d/impl=%s", n, name), func(b *testing.B) {
			procs := runtime.GOMAXPROCS(0)
			var f fanOut = errgroupFanOut{limit: procs}
			if name == "lockstep" {
				w := newWorkers(procs)
				defer w.Close()
				f = allFanOut{exec: w}
			}
			loop(b, func() {
				vs, err := f.run(ctx, n, square)
				check(b, vs, err)
			})
		})
	}
}
