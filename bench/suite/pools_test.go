package suite

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alitto/pond/v2"
	lpool "github.com/lockstep-go/lockstep/pool"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"
)

// executor is the pool family's interface: run task, eventually; Wait for
// every task submitted so far; Close to release the workers.
type executor interface {
	Go(task func())
	Wait()
	Close()
}

// goroutines is a goroutine per task and a WaitGroup.
type goroutines struct{ wg sync.WaitGroup }

func (g *goroutines) Go(task func()) { g.wg.Go(task) }
func (g *goroutines) Wait()          { g.wg.Wait() }
func (g *goroutines) Close()         {}

// chanWorkers is the simplest pool: GOMAXPROCS goroutines reading a shared
// buffered channel of tasks, the baseline the pool issue names. With
// callerRuns a submission that finds the channel full runs the task itself
// instead of waiting for room: a caller-runs pool, which the tree workload
// needs (its tasks submit children, and blocked senders inside every
// worker would deadlock it). On one CPU a caller-runs submitter ends up
// running most tasks itself, so it is compared in the tiny workload as a
// variant of its own, against lockstep's pool with the same policy.
type chanWorkers struct {
	tasks      chan func()
	callerRuns bool
	wg         sync.WaitGroup // tasks
	quit       sync.WaitGroup // workers
}

func newChanWorkers(callerRuns bool) *chanWorkers {
	c := &chanWorkers{tasks: make(chan func(), 4096), callerRuns: callerRuns}
	for range procs() {
		c.quit.Go(func() {
			for t := range c.tasks {
				t()
				c.wg.Done()
			}
		})
	}
	return c
}

func (c *chanWorkers) Go(task func()) {
	c.wg.Add(1)
	if !c.callerRuns {
		c.tasks <- task
		return
	}
	select {
	case c.tasks <- task:
	default:
		task()
		c.wg.Done()
	}
}
func (c *chanWorkers) Wait()  { c.wg.Wait() }
func (c *chanWorkers) Close() { close(c.tasks); c.quit.Wait() }

type antsPool struct {
	p  *ants.Pool
	wg sync.WaitGroup
}

func newAnts() *antsPool {
	p, err := ants.NewPool(procs())
	if err != nil {
		panic(err)
	}
	return &antsPool{p: p}
}

func (a *antsPool) Go(task func()) {
	a.wg.Add(1)
	if err := a.p.Submit(func() { defer a.wg.Done(); task() }); err != nil {
		panic(err)
	}
}
func (a *antsPool) Wait()  { a.wg.Wait() }
func (a *antsPool) Close() { a.p.Release() }

type pondPool struct {
	p  pond.Pool
	wg sync.WaitGroup
}

func (p *pondPool) Go(task func()) {
	p.wg.Add(1)
	// Go, not Submit: Submit makes a future per task, which this adapter
	// would throw away (5x the time per tiny task, measured 2026-12-06).
	if err := p.p.Go(func() { defer p.wg.Done(); task() }); err != nil {
		panic(err)
	}
}
func (p *pondPool) Wait()  { p.wg.Wait() }
func (p *pondPool) Close() { p.p.StopAndWait() }

type concPool struct{ p *pool.Pool }

func (c *concPool) Go(task func()) { c.p.Go(task) }
func (c *concPool) Wait()          { c.p.Wait(); c.p = pool.New().WithMaxGoroutines(procs()) }
func (c *concPool) Close()         {}

type errGroup struct{ g *errgroup.Group }

func (e *errGroup) Go(task func()) { e.g.Go(func() error { task(); return nil }) }
func (e *errGroup) Wait()          { _ = e.g.Wait() }
func (e *errGroup) Close()         {}

func newErrGroup() *errGroup {
	g := new(errgroup.Group)
	g.SetLimit(procs())
	return &errGroup{g}
}

// lockstepPool adapts pool.Pool for submissions from outside the pool.
type lockstepPool struct{ p *lpool.Pool }

func (l lockstepPool) Go(task func()) {
	if err := l.p.Submit(task); err != nil {
		panic(err)
	}
}

func (l lockstepPool) Wait() {
	if err := l.p.Wait(); err != nil {
		panic(err)
	}
}

func (l lockstepPool) Close() { _ = l.p.Shutdown(context.Background()) }

var poolImpls = []impl[executor]{
	{"goroutines", func() executor { return new(goroutines) }},
	{"chanworkers", func() executor { return newChanWorkers(false) }},
	{"ants", func() executor { return newAnts() }},
	{"pond", func() executor { return &pondPool{p: pond.NewPool(procs())} }},
	{"conc", func() executor { return &concPool{p: pool.New().WithMaxGoroutines(procs())} }},
	{"errgroup", func() executor { return newErrGroup() }},
	{"lockstep.pool", func() executor { return lockstepPool{lpool.New(0)} }},
}

// callerRunsImpls are pools whose submitter runs the task itself when 4096
// tasks wait: compared among themselves (workload=tiny-callerruns), since
// on one CPU such a submitter runs most tasks itself, which a pool that
// queues every task cannot match and should not be asked to.
var callerRunsImpls = []impl[executor]{
	{"chanworkers.callerruns", func() executor { return newChanWorkers(true) }},
	{"lockstep.pool.callerruns", func() executor {
		return lockstepPool{lpool.New(0, lpool.WithQueueLimit(4096, lpool.CallerRuns))}
	}},
}

// forkJoinImpls can run tasks that submit subtasks to the same executor
// and wait for them. Bounded pools (ants, pond, conc, errgroup with a
// limit) deadlock on that pattern once every worker waits for a child that
// no worker is free to run (ants#197), so they are not in this list.
var forkJoinImpls = []impl[executor]{
	{"goroutines", func() executor { return new(goroutines) }},
}

// BenchmarkPools: tiny tasks (an atomic add each; time per task), fork-join
// fib(30) with a cutoff of 16 (time per fib), and an unbalanced tree of
// 3,576 nodes of uneven work (time per tree).
func BenchmarkPools(b *testing.B) {
	tiny := func(b *testing.B, e executor) {
		defer e.Close()
		var n atomic.Int64
		// Wait is timed: a pool that queues without bound must pay for
		// running the tasks too, not for submitting them only (b.Loop
		// stops the timer when it returns false, before a Wait after it).
		for i := 0; i < b.N; i++ {
			e.Go(func() { n.Add(1) })
		}
		e.Wait()
		b.StopTimer()
		if got := n.Load(); got != int64(b.N) {
			b.Fatalf("%d tasks ran, want %d", got, b.N)
		}
	}
	run(b, kv("workload", "tiny"), poolImpls, tiny)
	run(b, kv("workload", "tiny-callerruns"), callerRunsImpls, tiny)
	b.Run(kv("workload", "fib")+"impl=serial", func(b *testing.B) {
		for b.Loop() {
			sink.Add(int64(fibSerial(fibN) & 1))
		}
	})
	run(b, kv("workload", "fib"), forkJoinImpls, func(b *testing.B, e executor) {
		defer e.Close()
		for b.Loop() {
			if got := fibSpawn(e, fibN); got != fibWant {
				b.Fatalf("fib = %d, want %d", got, fibWant)
			}
		}
	})
	b.Run(kv("workload", "fib")+"impl=lockstep.pool.Join", func(b *testing.B) {
		b.ReportAllocs()
		p := lpool.New(0)
		defer p.Shutdown(context.Background())
		for b.Loop() {
			var got int
			done := make(chan struct{})
			if err := p.Go(func(w *lpool.Worker) { got = fibJoin(w, fibN); close(done) }); err != nil {
				b.Fatal(err)
			}
			<-done
			if got != fibWant {
				b.Fatalf("fib = %d, want %d", got, fibWant)
			}
		}
	})
	b.Run(kv("workload", "tree")+"impl=serial", func(b *testing.B) {
		for b.Loop() {
			sink.Add(int64(treeSerial(0, 0) & 1))
		}
	})
	run(b, kv("workload", "tree"), append(forkJoinImpls, impl[executor]{"chanworkers.callerruns", func() executor { return newChanWorkers(true) }}),
		func(b *testing.B, e executor) {
			defer e.Close()
			for b.Loop() {
				var sum atomic.Int64
				treeSpawn(e, 0, 0, &sum)
				e.Wait()
				if got := sum.Load(); got != treeWant {
					b.Fatalf("tree sum = %d, want %d: Wait returned before every task ran", got, treeWant)
				}
			}
		})
	b.Run(kv("workload", "tree")+"impl=lockstep.pool.Spawn", func(b *testing.B) {
		b.ReportAllocs()
		p := lpool.New(0)
		defer p.Shutdown(context.Background())
		for b.Loop() {
			var sum atomic.Int64
			if err := p.Go(func(w *lpool.Worker) { treeWorker(w, 0, 0, &sum) }); err != nil {
				b.Fatal(err)
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
			if got := sum.Load(); got != treeWant {
				b.Fatalf("tree sum = %d, want %d", got, treeWant)
			}
		}
	})
	// The same walk through SpawnArgs: (depth, id) are its two ints, and
	// the pool recycles the task records instead of allocating a closure
	// per node.
	b.Run(kv("workload", "tree")+"impl=lockstep.pool.SpawnArgs", func(b *testing.B) {
		b.ReportAllocs()
		p := lpool.New(0)
		defer p.Shutdown(context.Background())
		for b.Loop() {
			var sum atomic.Int64
			var walk func(w *lpool.Worker, depth, id int)
			walk = func(w *lpool.Worker, depth, id int) {
				sum.Add(int64(treeWork(id)))
				for k := range treeKids(depth, id) {
					w.SpawnArgs(walk, depth+1, id*5+k+1)
				}
			}
			if err := p.Go(func(w *lpool.Worker) { walk(w, 0, 0) }); err != nil {
				b.Fatal(err)
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
			if got := sum.Load(); got != treeWant {
				b.Fatalf("tree sum = %d, want %d", got, treeWant)
			}
		}
	})
}

// fibJoin is fibSpawn on the pool's own join: the two halves run as
// children of the current worker, which runs other tasks while it waits.
func fibJoin(w *lpool.Worker, n int) int {
	if n < fibCutoff {
		return fibSerial(n)
	}
	var x, y int
	if err := w.Join(
		func(w *lpool.Worker) { x = fibJoin(w, n-1) },
		func(w *lpool.Worker) { y = fibJoin(w, n-2) },
	); err != nil {
		panic(err)
	}
	return x + y
}

// treeWorker is treeSpawn on the pool: children go onto the worker's own
// deque, where idle workers steal them.
func treeWorker(w *lpool.Worker, depth, id int, sum *atomic.Int64) {
	sum.Add(int64(treeWork(id)))
	for k := range treeKids(depth, id) {
		w.Spawn(func(w *lpool.Worker) { treeWorker(w, depth+1, id*5+k+1, sum) })
	}
}

// fib(30) with a cutoff of 16: leaves of fib(15), a few microseconds each,
// as a user sizing a fork-join would choose them.
const (
	fibN      = 30
	fibCutoff = 16
	fibWant   = 832040
)

func fibSerial(n int) int {
	if n < 2 {
		return n
	}
	return fibSerial(n-1) + fibSerial(n-2)
}

// fibSpawn runs fib(n-1) as a subtask above the cutoff and waits for it on
// a channel.
func fibSpawn(e executor, n int) int {
	if n < fibCutoff {
		return fibSerial(n)
	}
	ch := make(chan int, 1)
	e.Go(func() { ch <- fibSpawn(e, n-1) })
	y := fibSpawn(e, n-2)
	return <-ch + y
}

// The tree: node (depth, id) has 0 to 4 children, a number that depends on
// id and depth so that subtrees differ wildly in size (3,576 nodes; the
// root's four subtrees have 1,124, 2, 1 and 2,448); each node does work
// proportional to its id's low bits.
func treeKids(depth, id int) int {
	if depth >= 12 {
		return 0
	}
	return [...]int{4, 0, 3, 1, 0, 2}[(id*7+depth)%6]
}

func treeWork(id int) int { return work(200 + (id%8)*100) }

// treeWant is the sum of the tree's work, which every implementation must
// reach.
var treeWant = int64(treeSerial(0, 0))

func treeSerial(depth, id int) int {
	s := treeWork(id)
	for k := range treeKids(depth, id) {
		s += treeSerial(depth+1, id*5+k+1)
	}
	return s
}

func treeSpawn(e executor, depth, id int, sum *atomic.Int64) {
	e.Go(func() {
		sum.Add(int64(treeWork(id)))
		for k := range treeKids(depth, id) {
			treeSpawn(e, depth+1, id*5+k+1, sum)
		}
	})
}
