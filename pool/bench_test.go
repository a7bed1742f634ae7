package pool_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/pool"
)

// Benchmarks compare the pool with the baselines a Go programmer would
// otherwise write, in the same run:
//
//	impl=lockstep     this package
//	impl=chanworkers  GOMAXPROCS goroutines reading one chan func() (1024
//	                  buffered), counted with a sync.WaitGroup: the
//	                  simplest pool
//	impl=goroutines   a goroutine per task, counted with a sync.WaitGroup
//	impl=serial       no concurrency (fork-join workloads)
//
// Peer pools (ants, pond, conc) are compared in the bench/ module, which
// may depend on them; this module may not.

// executor is what the tiny-task benchmark drives.
type executor interface {
	Submit(func()) error
	Wait() error
	Close()
}

type lockstepExec struct{ *pool.Pool }

func (e lockstepExec) Close() { e.Shutdown(context.Background()) }

// chanWorkers is the simplest pool: a fixed set of workers reading a
// channel of tasks.
type chanWorkers struct {
	ch      chan func()
	pending sync.WaitGroup
	workers sync.WaitGroup
}

func newChanWorkers(n int) *chanWorkers {
	c := &chanWorkers{ch: make(chan func(), 1024)}
	for range n {
		c.workers.Go(func() {
			for f := range c.ch {
				f()
				c.pending.Done()
			}
		})
	}
	return c
}

func (c *chanWorkers) Submit(f func()) error { c.pending.Add(1); c.ch <- f; return nil }
func (c *chanWorkers) Wait() error           { c.pending.Wait(); return nil }
func (c *chanWorkers) Close()                { close(c.ch); c.workers.Wait() }

// goroutines starts a goroutine per task.
type goroutines struct{ wg sync.WaitGroup }

func (g *goroutines) Submit(f func()) error { g.wg.Go(f); return nil }
func (g *goroutines) Wait() error           { g.wg.Wait(); return nil }
func (g *goroutines) Close()                {}

var executors = []struct {
	name string
	make func() executor
}{
	{"lockstep", func() executor { return lockstepExec{pool.New(0)} }},
	{"chanworkers", func() executor { return newChanWorkers(runtime.GOMAXPROCS(0)) }},
	{"goroutines", func() executor { return new(goroutines) }},
}

var sink atomic.Int64

func tiny() { sink.Add(1) }

// BenchmarkTinyTasks: the per-task overhead, for tasks that do almost
// nothing (an atomic add). One goroutine submits every task, then waits,
// inside the timing.
func BenchmarkTinyTasks(b *testing.B) {
	for _, e := range executors {
		b.Run("impl="+e.name, func(b *testing.B) {
			x := e.make()
			defer x.Close()
			// Wait is timed (b.Loop would stop the timer before it): an
			// executor that queues without bound pays for running the
			// tasks, not only for queueing them.
			for i := 0; i < b.N; i++ {
				x.Submit(tiny)
			}
			x.Wait()
		})
	}
}

// BenchmarkTinyTasksParallel: as BenchmarkTinyTasks, with GOMAXPROCS
// goroutines submitting at once.
func BenchmarkTinyTasksParallel(b *testing.B) {
	for _, e := range executors {
		b.Run("impl="+e.name, func(b *testing.B) {
			x := e.make()
			defer x.Close()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					x.Submit(tiny)
				}
			})
			x.Wait()
		})
	}
}

// Fork-join: fib(n) forking down to a cutoff, below which it runs serially
// (each leaf is then a few microseconds of work).
const fibN, fibCutoff = 30, 16

// fibGo forks with a goroutine per spawn, joined with a WaitGroup.
func fibGo(n, cutoff int) int {
	if n < cutoff {
		return fib(n)
	}
	var a int
	var wg sync.WaitGroup
	wg.Go(func() { a = fibGo(n-1, cutoff) })
	b := fibGo(n-2, cutoff)
	wg.Wait()
	return a + b
}

// BenchmarkFib: fib(30), a fork-join of 2.5-5 ms here (1,597 forks), and
// fib(33), four times the work (6,765 forks); the fixed cost of each run
// (waking the workers, Wait) weighs less in the second.
func BenchmarkFib(b *testing.B) {
	for _, n := range []int{fibN, 33} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchFib(b, n) })
	}
}

func benchFib(b *testing.B, fibN int) { // fibN shadows the default size
	want := fib(fibN)
	check := func(b *testing.B, got int) {
		if got != want {
			b.Fatalf("fib(%d) = %d, want %d", fibN, got, want)
		}
	}
	b.Run("impl=serial", func(b *testing.B) {
		for b.Loop() {
			check(b, fib(fibN))
		}
	})
	b.Run("impl=lockstep", func(b *testing.B) {
		p := pool.New(0)
		defer p.Shutdown(context.Background())
		for b.Loop() {
			var got int
			p.Go(func(w *pool.Worker) { got = pfib(w, fibN, fibCutoff) })
			p.Wait()
			check(b, got)
		}
	})
	b.Run("impl=goroutines", func(b *testing.B) {
		for b.Loop() {
			check(b, fibGo(fibN, fibCutoff))
		}
	})
	// impl=ideal is the ceiling no scheduler can beat on this machine: the
	// same leaves (fib below the cutoff) dealt round-robin, in advance, to
	// GOMAXPROCS goroutines that share nothing until a final WaitGroup.
	// serial/ideal is the best speedup the machine allows for this work
	// (on a VM whose vCPUs are hyperthreads of shared cores, well under
	// the processor count), the figure to read impl=lockstep's against.
	b.Run("impl=ideal", func(b *testing.B) {
		leaves := fibLeaves(fibN, fibCutoff, nil)
		procs := runtime.GOMAXPROCS(0)
		sums := make([]int, procs)
		var wg sync.WaitGroup
		for b.Loop() {
			for i := range procs {
				wg.Go(func() {
					s := 0
					for j := i; j < len(leaves); j += procs {
						s += fib(leaves[j])
					}
					sums[i] = s
				})
			}
			wg.Wait()
			got := 0
			for _, s := range sums {
				got += s
			}
			check(b, got)
		}
	})
}

// BenchmarkFork: what one fork costs, through Group (pfib) and through
// Worker.Join (jfib): fib(22) forked down to a cutoff of 2, 28,656 forks a
// run and almost no work in the leaves, reported per fork.
func BenchmarkFork(b *testing.B) {
	const n, cutoff = 22, 2
	forks := len(fibLeaves(n, cutoff, nil)) - 1
	want := fib(n)
	for _, c := range []struct {
		name string
		fn   func(w *pool.Worker, n, cutoff int) int
	}{{"group", pfib}, {"join", jfib}} {
		b.Run("via="+c.name, func(b *testing.B) {
			p := pool.New(0)
			defer p.Shutdown(context.Background())
			b.ReportAllocs()
			for b.Loop() {
				var got int
				p.Go(func(w *pool.Worker) { got = c.fn(w, n, cutoff) })
				p.Wait()
				if got != want {
					b.Fatalf("fib(%d) = %d, want %d", n, got, want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*forks), "ns/fork")
		})
	}
}

// BenchmarkSpawn: what a spawned task costs when it does nothing, through
// Spawn (a closure per task) and SpawnArgs (a recycled record): a binary
// tree of 2^17-1 tasks, each spawning two children down to depth 16,
// reported per task.
func BenchmarkSpawn(b *testing.B) {
	const depth = 16
	tasks := 1<<(depth+1) - 1
	b.Run("via=closure", func(b *testing.B) {
		p := pool.New(0)
		defer p.Shutdown(context.Background())
		b.ReportAllocs()
		for b.Loop() {
			var leaves atomic.Int64
			var walk func(w *pool.Worker, d int)
			walk = func(w *pool.Worker, d int) {
				if d == 0 {
					leaves.Add(1)
					return
				}
				w.Spawn(func(w *pool.Worker) { walk(w, d-1) })
				w.Spawn(func(w *pool.Worker) { walk(w, d-1) })
			}
			p.Go(func(w *pool.Worker) { walk(w, depth) })
			p.Wait()
			if leaves.Load() != 1<<depth {
				b.Fatalf("%d leaves, want %d", leaves.Load(), 1<<depth)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tasks), "ns/task")
	})
	b.Run("via=args", func(b *testing.B) {
		p := pool.New(0)
		defer p.Shutdown(context.Background())
		b.ReportAllocs()
		for b.Loop() {
			var leaves atomic.Int64
			var walk func(w *pool.Worker, d, _ int)
			walk = func(w *pool.Worker, d, _ int) {
				if d == 0 {
					leaves.Add(1)
					return
				}
				w.SpawnArgs(walk, d-1, 0)
				w.SpawnArgs(walk, d-1, 0)
			}
			p.Go(func(w *pool.Worker) { walk(w, depth, 0) })
			p.Wait()
			if leaves.Load() != 1<<depth {
				b.Fatalf("%d leaves, want %d", leaves.Load(), 1<<depth)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tasks), "ns/task")
	})
}

// fibLeaves appends the arguments of the leaves of the fork tree of fib(n)
// with the given cutoff: the serial fib calls a fork-join run makes.
func fibLeaves(n, cutoff int, leaves []int) []int {
	if n < cutoff {
		return append(leaves, n)
	}
	return fibLeaves(n-2, cutoff, fibLeaves(n-1, cutoff, leaves))
}

// An unbalanced tree, in the manner of the UTS benchmark's binomial trees
// (Olivier et al., "UTS: An Unbalanced Tree Search Benchmark", LCPC 2006):
// the root has treeRoots children; every other node has treeM children
// with probability treeQ and none otherwise, decided by a hash of its id,
// so subtree sizes vary wildly and unpredictably. Every node does a little
// work (nodeWork). Workers that cannot steal end up with very different
// amounts of work.
const (
	treeRoots = 2000
	treeM     = 4
	treeQ     = 0.245 // q*m = 0.98: subtrees of expected size 50, heavy-tailed
	nodeWork  = 100
)

type node uint64

func (n node) children() int {
	if treeHash(uint64(n))%1_000_000 < uint64(treeQ*1_000_000) {
		return treeM
	}
	return 0
}

func (n node) child(i int) node { return node(treeHash(uint64(n)*31 + uint64(i) + 1)) }

func treeHash(x uint64) uint64 { // splitmix64's finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// visit is a node's own work; its result feeds the count so it is not
// optimised away.
func (n node) visit() int64 {
	x := uint64(n)
	for range nodeWork {
		x = treeHash(x)
	}
	return int64(x&1) + 1
}

func treeSerial(n node) int64 {
	c := n.visit()
	for i := range n.children() {
		c += treeSerial(n.child(i))
	}
	return c
}

func rootChild(i int) node { return node(treeHash(uint64(i) + 0x9e3779b97f4a7c15)) }

func treeWant() int64 {
	var c int64
	for i := range treeRoots {
		c += treeSerial(rootChild(i))
	}
	return c
}

// chanLocal is a pool of channel-fed workers that cannot steal: each
// worker has its own channel; outside submissions are dealt round-robin
// and a task's children go to its own worker's channel (as the lockstep
// pool's children go to their worker's deque), but an idle worker cannot
// take another's. A full channel makes the spawner run the child itself.
type chanLocal struct {
	chs     []chan func(self int)
	pending sync.WaitGroup
	workers sync.WaitGroup
}

func newChanLocal(n int) *chanLocal {
	c := &chanLocal{chs: make([]chan func(int), n)}
	for i := range c.chs {
		c.chs[i] = make(chan func(int), 1<<16)
		c.workers.Go(func() {
			for f := range c.chs[i] {
				f(i)
				c.pending.Done()
			}
		})
	}
	return c
}

func (c *chanLocal) spawn(self int, f func(self int)) {
	c.pending.Add(1)
	select {
	case c.chs[self] <- f:
	default:
		f(self)
		c.pending.Done()
	}
}

func (c *chanLocal) close() {
	for _, ch := range c.chs {
		close(ch)
	}
	c.workers.Wait()
}

func BenchmarkUnbalancedTree(b *testing.B) {
	want := treeWant()
	check := func(b *testing.B, got int64) {
		if got != want {
			b.Fatalf("visited %d, want %d", got, want)
		}
	}
	b.Run("impl=serial", func(b *testing.B) {
		for b.Loop() {
			var c int64
			for i := range treeRoots {
				c += treeSerial(rootChild(i))
			}
			check(b, c)
		}
	})
	b.Run("impl=lockstep", func(b *testing.B) {
		p := pool.New(0)
		defer p.Shutdown(context.Background())
		for b.Loop() {
			var count atomic.Int64
			var walk func(w *pool.Worker, n node)
			walk = func(w *pool.Worker, n node) {
				count.Add(n.visit())
				for i := range n.children() {
					ch := n.child(i)
					w.Spawn(func(w *pool.Worker) { walk(w, ch) })
				}
			}
			p.Go(func(w *pool.Worker) {
				for i := range treeRoots {
					r := rootChild(i)
					w.Spawn(func(w *pool.Worker) { walk(w, r) })
				}
			})
			p.Wait()
			check(b, count.Load())
		}
	})
	// impl=lockstep-args: the same walk through SpawnArgs, which recycles
	// its task records instead of allocating a closure per node.
	b.Run("impl=lockstep-args", func(b *testing.B) {
		p := pool.New(0)
		defer p.Shutdown(context.Background())
		for b.Loop() {
			var count atomic.Int64
			var walk func(w *pool.Worker, id, _ int)
			walk = func(w *pool.Worker, id, _ int) {
				n := node(id)
				count.Add(n.visit())
				for i := range n.children() {
					w.SpawnArgs(walk, int(n.child(i)), 0)
				}
			}
			p.Go(func(w *pool.Worker) {
				for i := range treeRoots {
					w.SpawnArgs(walk, int(rootChild(i)), 0)
				}
			})
			p.Wait()
			check(b, count.Load())
		}
	})
	b.Run("impl=goroutines", func(b *testing.B) {
		for b.Loop() {
			var count atomic.Int64
			var wg sync.WaitGroup
			var walk func(n node)
			walk = func(n node) {
				count.Add(n.visit())
				for i := range n.children() {
					ch := n.child(i)
					wg.Go(func() { walk(ch) })
				}
			}
			for i := range treeRoots {
				r := rootChild(i)
				wg.Go(func() { walk(r) })
			}
			wg.Wait()
			check(b, count.Load())
		}
	})
	b.Run("impl=chanworkers", func(b *testing.B) {
		c := newChanLocal(runtime.GOMAXPROCS(0))
		defer c.close()
		for b.Loop() {
			var count atomic.Int64
			var walk func(self int, n node)
			walk = func(self int, n node) {
				count.Add(n.visit())
				for i := range n.children() {
					ch := n.child(i)
					c.spawn(self, func(self int) { walk(self, ch) })
				}
			}
			for i := range treeRoots {
				r := rootChild(i)
				c.spawn(i%len(c.chs), func(self int) { walk(self, r) })
			}
			c.pending.Wait()
			check(b, count.Load())
		}
	})
}

// BenchmarkQueuedMemory: the memory of one million tasks waiting in a pool
// whose only worker is busy, against one million goroutines parked on a
// channel, each holding its task. Reported as bytes per task (heap and
// stacks); ns/op is the time to queue or start them all.
func BenchmarkQueuedMemory(b *testing.B) {
	const n = 1_000_000
	b.Run("impl=lockstep", func(b *testing.B) {
		for b.Loop() {
			b.ReportMetric(queuedMemory(n, true), "B/task")
		}
	})
	b.Run("impl=goroutines", func(b *testing.B) {
		for b.Loop() {
			b.ReportMetric(queuedMemory(n, false), "B/task")
		}
	})
}

// queuedMemory queues n tasks, each with its own closure, in a pool (or in
// n parked goroutines), and returns the heap and stack bytes per task that
// holding them costs.
func queuedMemory(n int, usePool bool) float64 {
	var sum atomic.Int64
	release := make(chan struct{})
	before := memInUse()
	var after uint64
	if usePool {
		p := pool.New(1, pool.WithStarvationCheck(0, 0))
		started := make(chan struct{})
		p.Submit(func() { close(started); <-release })
		<-started
		for i := range n {
			p.Submit(func() { sum.Add(int64(i)) })
		}
		after = memInUse()
		close(release)
		p.Shutdown(context.Background())
	} else {
		var wg, started sync.WaitGroup
		started.Add(n)
		for i := range n {
			wg.Go(func() { started.Done(); <-release; sum.Add(int64(i)) })
		}
		started.Wait()
		after = memInUse()
		close(release)
		wg.Wait()
	}
	if after < before {
		return 0
	}
	return float64(after-before) / float64(n)
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkCallerRuns: Submit to a pool whose queue (WithQueueLimit(1,
// CallerRuns)) stays full because its only worker is busy, so every
// Submit runs its task in the submitting goroutine: the cost of the
// policy's decision and of running a task inline, against a channel-fed
// pool that runs the task itself when its channel is full.
func BenchmarkCallerRuns(b *testing.B) {
	b.Run("impl=lockstep", func(b *testing.B) {
		p := pool.New(1, pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0))
		release := make(chan struct{})
		started := make(chan struct{})
		p.Submit(func() { close(started); <-release })
		<-started
		p.Submit(tiny) // fills the queue
		for b.Loop() {
			p.Submit(tiny)
		}
		close(release)
		p.Shutdown(context.Background())
	})
	b.Run("impl=chanworkers", func(b *testing.B) {
		var pending sync.WaitGroup
		ch := make(chan func(), 1)
		release := make(chan struct{})
		started := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for f := range ch {
				f()
				pending.Done()
			}
		}()
		pending.Add(2)
		ch <- func() { close(started); <-release }
		<-started
		ch <- tiny // fills the channel
		for b.Loop() {
			pending.Add(1)
			select {
			case ch <- tiny:
			default:
				tiny()
				pending.Done()
			}
		}
		close(release)
		close(ch)
		<-done
		pending.Wait()
	})
}

// BenchmarkSubmitWake: one task at a time into an idle pool, waiting for
// each: the cost of waking a parked worker and of Wait, against starting a
// goroutine.
func BenchmarkSubmitWake(b *testing.B) {
	for _, e := range executors {
		b.Run("impl="+e.name, func(b *testing.B) {
			x := e.make()
			defer x.Close()
			for b.Loop() {
				x.Submit(tiny)
				x.Wait()
			}
		})
	}
}
