package pool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/pool"
)

// argsCheck is the second argument every task of the args tests gets with
// its first: a task whose record was reused while it was queued, or
// recycled before the task read it, sees a pair that does not match.
func argsCheck(id int) int { return int(uint64(id)*0x9e3779b97f4a7c15>>7) ^ id }

// argsRuns counts the runs of an args test's tasks by id, and the tasks
// that got a pair they were not spawned with.
type argsRuns struct {
	runs []atomic.Int32
	bad  atomic.Int64
}

func newArgsRuns(n int) *argsRuns { return &argsRuns{runs: make([]atomic.Int32, n)} }

// visit counts a run of task id, which got check with it, and reports
// whether the pair is the one task id was spawned with.
func (r *argsRuns) visit(id, check int) bool {
	if check != argsCheck(id) {
		r.bad.Add(1)
		return false
	}
	r.runs[id].Add(1)
	return true
}

// verify fails the test unless every task ran exactly once with its pair.
func (r *argsRuns) verify(t *testing.T, what string) {
	t.Helper()
	if n := r.bad.Load(); n != 0 {
		t.Fatalf("%s: %d tasks got arguments they were not spawned with", what, n)
	}
	for id := range r.runs {
		if n := r.runs[id].Load(); n != 1 {
			t.Fatalf("%s: task %d ran %d times", what, id, n)
		}
	}
}

// TestSpawnArgsRunsEachOnce: a tree of SpawnArgs tasks, each spawning
// children by id, on pools of 1 to 8 workers that steal from each other:
// every task runs exactly once, with the arguments it was spawned with.
// Records are recycled by the workers that run them, so a record reused
// while still queued or read after its recycling shows up as a wrong pair
// or a task run twice or never.
func TestSpawnArgsRunsEachOnce(t *testing.T) {
	nodes := testutil.Scale(200_000)
	for _, workers := range []int{1, 2, 3, 8} {
		p := pool.New(workers)
		for round := range 3 {
			r := newArgsRuns(nodes)
			// Node i has children 4i+1 ... 4i+4: a complete 4-ary tree of
			// node ids, spawned depth first and stolen breadth first.
			var visit func(w *pool.Worker, id, check int)
			visit = func(w *pool.Worker, id, check int) {
				if !r.visit(id, check) {
					return
				}
				for c := 4*id + 1; c <= 4*id+4 && c < nodes; c++ {
					w.SpawnArgs(visit, c, argsCheck(c))
				}
			}
			p.Go(func(w *pool.Worker) { w.SpawnArgs(visit, 0, argsCheck(0)) })
			if err := waitLive(t, p); err != nil {
				t.Fatal(err)
			}
			r.verify(t, fmt.Sprintf("%d workers, round %d", workers, round))
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGoArgsJoins: a parallel sum over [0, n) that splits its range in two
// with GoArgs and joins with Group.Wait, each half writing its partial sum
// for the parent to add: the total is exact, so every join waited for its
// children, and no record was reused under a running task.
func TestGoArgsJoins(t *testing.T) {
	const n = 1 << 16
	for _, workers := range []int{1, 2, 4} {
		p := pool.New(workers)
		sums := make([]int64, 2*n) // partial sum of the node at heap index k
		var sum func(w *pool.Worker, k, span int)
		sum = func(w *pool.Worker, k, span int) {
			// Node k covers [lo, lo+span) with lo from k's position in its level.
			lo := (k - (n/span - 1)) * span
			if span <= 64 {
				var s int64
				for i := lo; i < lo+span; i++ {
					s += int64(i)
				}
				sums[k] = s
				return
			}
			var g pool.Group
			g.GoArgs(w, sum, 2*k+1, span/2)
			g.GoArgs(w, sum, 2*k+2, span/2)
			if err := g.Wait(w); err != nil {
				panic(err)
			}
			sums[k] = sums[2*k+1] + sums[2*k+2]
		}
		for range 5 {
			p.Go(func(w *pool.Worker) { sum(w, 0, n) })
			if err := waitLive(t, p); err != nil {
				t.Fatal(err)
			}
			if want := int64(n) * (n - 1) / 2; sums[0] != want {
				t.Fatalf("%d workers: sum %d, want %d", workers, sums[0], want)
			}
			clear(sums)
		}
		p.Shutdown(context.Background())
	}
}

// TestArgsPanics: a panic in a GoArgs task is its group's error, with a
// stack that names the task's function; one in a SpawnArgs task is the
// pool's; neither kills the worker, and the records stay usable.
func TestArgsPanics(t *testing.T) {
	p := pool.New(2)
	defer p.Shutdown(context.Background())
	var groupErr error
	p.Go(func(w *pool.Worker) {
		var g pool.Group
		for i := range 100 {
			g.GoArgs(w, panicOnSeven, i, 0)
		}
		groupErr = g.Wait(w)
	})
	if err := p.Wait(); err != nil {
		t.Fatalf("pool.Wait: %v (the panic belongs to the group)", err)
	}
	var pe *pool.PanicError
	if !errors.As(groupErr, &pe) {
		t.Fatalf("Group.Wait returned %v, want a *PanicError", groupErr)
	}
	if pe.Value != "seven" || !strings.Contains(string(pe.Stack), "panicOnSeven") {
		t.Fatalf("panic %v, stack without the task's frame:\n%s", pe.Value, pe.Stack)
	}

	p.Go(func(w *pool.Worker) {
		for i := range 100 {
			w.SpawnArgs(panicOnSeven, i, 0)
		}
	})
	if err := p.Wait(); !errors.As(err, &pe) || pe.Value != "seven" {
		t.Fatalf("pool.Wait returned %v, want the SpawnArgs task's panic", err)
	}

	// The workers and their records still work.
	var ran atomic.Int64
	p.Go(func(w *pool.Worker) {
		for i := range 1000 {
			w.SpawnArgs(func(w *pool.Worker, x, y int) { ran.Add(int64(x + y)) }, i, 1)
		}
	})
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got, want := ran.Load(), int64(1000*999/2+1000); got != want {
		t.Fatalf("after the panics: sum %d, want %d", got, want)
	}
}

func panicOnSeven(w *pool.Worker, x, _ int) {
	if x == 7 {
		panic("seven")
	}
}

// TestArgsGoexit: a SpawnArgs or GoArgs task that ends its goroutine
// (runtime.Goexit, as t.FailNow does) still counts as finished, and the
// worker goes on in a new goroutine with its free list.
func TestArgsGoexit(t *testing.T) {
	p := pool.New(1)
	defer p.Shutdown(context.Background())
	var after atomic.Int64
	exit := func(w *pool.Worker, x, _ int) {
		if x%10 == 0 {
			runtime.Goexit()
		}
		after.Add(1)
	}
	p.Go(func(w *pool.Worker) { spawnBoth(w, exit, 100, 0) })
	waitWithinOrFail(t, p, "args tasks that called runtime.Goexit")
	if got := after.Load(); got != 180 {
		t.Fatalf("%d tasks went on past the Goexit check, want 180", got)
	}
}

// spawnBoth runs task(w2, i, y) for i in [0, n) twice: spawned with
// SpawnArgs, and as children of a Group with GoArgs, which it waits for.
func spawnBoth(w *pool.Worker, task func(w *pool.Worker, x, y int), n, y int) {
	for i := range n {
		w.SpawnArgs(task, i, y)
	}
	var g pool.Group
	for i := range n {
		g.GoArgs(w, task, i, y)
	}
	g.Wait(w)
}

// TestSpawnArgsAllocatesNothing: once a worker's free list is warm, 800
// SpawnArgs and GoArgs tasks, all queued at once (fewer than a free list
// keeps), allocate nothing (the enclosing Pool.Go's closure and Group
// aside), where Spawn allocates a closure each.
func TestSpawnArgsAllocatesNothing(t *testing.T) {
	p := pool.New(1)
	defer p.Shutdown(context.Background())
	var sum atomic.Int64
	add := func(w *pool.Worker, x, y int) { sum.Add(int64(x * y)) }
	var outer sync.WaitGroup
	run := func() {
		outer.Add(1)
		p.Go(func(w *pool.Worker) {
			defer outer.Done()
			spawnBoth(w, add, 400, 1)
		})
		outer.Wait()
		p.Wait()
	}
	run() // warm the free list
	allocs := testing.AllocsPerRun(20, run)
	if allocs > 5 {
		t.Fatalf("%.1f allocations for 800 args tasks, want at most 5 (the enclosing closures and Group)", allocs)
	}
}

// TestFreeArgsBounded: records wander to the workers that run them; a
// worker that runs many tasks that others spawned keeps at most
// MaxFreeArgs of them.
func TestFreeArgsBounded(t *testing.T) {
	p := pool.New(2)
	defer p.Shutdown(context.Background())
	var mu sync.Mutex
	largest := 0
	note := func(w *pool.Worker) {
		n := pool.FreeArgs(w)
		mu.Lock()
		largest = max(largest, n)
		mu.Unlock()
	}
	for range 20 {
		p.Go(func(w *pool.Worker) {
			for i := range 10 * pool.MaxFreeArgs {
				w.SpawnArgs(func(w *pool.Worker, _, _ int) { note(w) }, i, 0)
			}
			note(w)
		})
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if largest > pool.MaxFreeArgs {
		t.Fatalf("a worker's free list held %d records, more than %d", largest, pool.MaxFreeArgs)
	}
}

// SpawnArgs and GoArgs with a nil task are misuse, as Spawn(nil) is: a
// "pool: " panic in the calling task, and nothing queued.
func TestArgsNilTaskPanics(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	for name, call := range map[string]func(w *pool.Worker){
		"SpawnArgs": func(w *pool.Worker) { w.SpawnArgs(nil, 1, 2) },
		"GoArgs":    func(w *pool.Worker) { var g pool.Group; g.GoArgs(w, nil, 1, 2); g.Wait(w) },
	} {
		got := make(chan any, 1)
		p.Go(func(w *pool.Worker) {
			defer func() { got <- recover() }()
			call(w)
		})
		r := <-got
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, "pool: ") {
			t.Errorf("%s with a nil task: recovered %v, want a \"pool: \" panic", name, r)
		}
	}
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
}
