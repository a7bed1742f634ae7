package pool_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/pool"
)

// argsBound bounds the waits of these tests that are not waits for a
// pool (waitLive) or a WaitGroup (testutil.WaitLive).
const argsBound = 10 * time.Second

// Stress tests for SpawnArgs and GoArgs, from an adversarial review: the
// task records are recycled by the worker that runs them, so each test below
// drives records through one of the paths where a record could be reused
// while something still refers to it, or a free list touched by two
// goroutines: nested runs in Group.Wait, panics and panic handlers,
// runtime.Goexit (a worker goroutine restarted, a borrowed worker's retire
// restarted), CallerRuns borrowed workers, temporary and retiring workers,
// Shutdown, and the garbage collector. Every task checks that it got the
// pair it was spawned with (argsCheck) and counts its runs; -race sees a
// free list used by two goroutines, checkptr the tag arithmetic.

// Group.Wait runs tasks on the waiting worker while the waiting task, a
// record task itself, is still on the stack; some leaves panic. A binary
// GoArgs tree: every node runs once with its own pair, every internal
// node's Wait returns exactly the panic of one of its own panicking leaf
// children (never another group's, never a pool's), SpawnArgs leaves'
// panics reach the pool's handler each exactly once, and no group panic
// reaches the handler. Catches a record recycled (and refilled by a task
// the waiter runs) before after() has read its group, a group or pool
// panic misattributed through a reused record, a GoArgs that forgets to
// count the child.
func TestArgsNestedWaitPanicsAttributed(t *testing.T) {
	const depth = 11
	nodes := 1<<(depth+1) - 1
	for _, workers := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			var hmu sync.Mutex
			handled := map[int]int{}
			var foreign atomic.Int64
			p := pool.New(workers, pool.WithPanicHandler(func(e *pool.PanicError) {
				v, ok := e.Value.(int)
				if !ok || v >= 0 {
					foreign.Add(1) // a group's panic, or garbage
					return
				}
				hmu.Lock()
				handled[v]++
				hmu.Unlock()
			}))
			defer shutdownWithinOrFail(t, p, "the nested-wait test")
			for round := range 3 {
				r := newArgsRuns(nodes)
				var wrong atomic.Int64
				leafPanics := func(k int) bool { return k%7 == 3 }
				var node func(w *pool.Worker, k, check int)
				node = func(w *pool.Worker, k, check int) {
					if !r.visit(k, check) {
						return
					}
					if 2*k+1 >= nodes { // a leaf
						// A SpawnArgs grandchild whose panic is the pool's.
						if k%5 == 0 {
							w.SpawnArgs(func(w *pool.Worker, v, c int) {
								if c != argsCheck(v) {
									r.bad.Add(1)
								}
								panic(v)
							}, -k-1, argsCheck(-k-1))
						}
						if leafPanics(k) {
							panic(k)
						}
						return
					}
					var g pool.Group
					g.GoArgs(w, node, 2*k+1, argsCheck(2*k+1))
					g.GoArgs(w, node, 2*k+2, argsCheck(2*k+2))
					err := g.Wait(w)
					var want []int
					for _, c := range []int{2*k + 1, 2*k + 2} {
						if 2*c+1 >= nodes && leafPanics(c) {
							want = append(want, c)
						}
					}
					var pe *pool.PanicError
					switch {
					case len(want) == 0 && err != nil:
						wrong.Add(1)
						t.Errorf("node %d: Wait returned %v, none of its children panicked", k, err)
					case len(want) > 0 && !errors.As(err, &pe):
						wrong.Add(1)
						t.Errorf("node %d: Wait returned %v, want the panic of one of %v", k, err, want)
					case len(want) > 0:
						v, _ := pe.Value.(int)
						if v != want[0] && (len(want) < 2 || v != want[1]) {
							wrong.Add(1)
							t.Errorf("node %d: Wait returned the panic %v, want one of %v", k, pe.Value, want)
						}
					}
				}
				hmu.Lock()
				clear(handled)
				hmu.Unlock()
				p.Go(func(w *pool.Worker) { node(w, 0, argsCheck(0)) })
				if err := waitLive(t, p); err != nil {
					t.Fatalf("pool.Wait: %v (a handler is set)", err)
				}
				r.verify(t, fmt.Sprintf("round %d", round))
				if n := foreign.Load(); n != 0 {
					t.Fatalf("round %d: %d group panics reached the pool's handler", round, n)
				}
				hmu.Lock()
				for k := (nodes - 1) / 2; k < nodes; k++ {
					if k%5 == 0 && handled[-k-1] != 1 {
						t.Errorf("round %d: the SpawnArgs panic %d reached the handler %d times", round, -k-1, handled[-k-1])
					}
				}
				hmu.Unlock()
				if t.Failed() {
					t.FailNow()
				}
			}
		})
	}
}

// runtime.Goexit everywhere: in record tasks run directly by the loop, in
// record tasks run by a Group.Wait whose own task is a record task (the
// Goexit then ends the waiting task too, so its record is recycled by the
// unwinding), in a Group.Wait deferred by a task that Goexits or panics
// (tasks run while the goroutine unwinds), and in a panic handler (after
// the record was recycled). Every worker goroutine so ended goes on in a
// new goroutine with the same free list. Every node runs exactly once with
// its pair, round after round (a free list corrupted by two goroutines, or
// a record recycled twice, shows as a lost or duplicated task or a race).
// (CallerRuns drains that Goexit are in the next test.)
func TestArgsGoexitEverywhere(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			p := pool.New(workers, pool.WithPanicHandler(func(e *pool.PanicError) {
				if v, _ := e.Value.(int); v%2 == 0 {
					runtime.Goexit()
				}
			}))
			defer shutdownWithinOrFail(t, p, "the Goexit test")
			const nodes = 4000
			for round := range 3 {
				r := newArgsRuns(nodes)
				var node func(w *pool.Worker, k, check int)
				node = func(w *pool.Worker, k, check int) {
					if !r.visit(k, check) {
						return
					}
					c1, c2 := 3*k+1, 3*k+2
					if c1 < nodes {
						w.SpawnArgs(node, c1, argsCheck(c1)) // queued before any exit below
					}
					if c2 < nodes {
						var g pool.Group
						g.GoArgs(w, node, c2, argsCheck(c2))
						if c3 := 3*k + 3; c3 < nodes {
							g.GoArgs(w, node, c3, argsCheck(c3))
						}
						defer g.Wait(w) // also joins while a Goexit unwinds this task
					}
					switch k % 11 {
					case 4:
						runtime.Goexit()
					case 7:
						panic(k) // the handler ends the goroutine for even k
					}
				}
				p.Go(func(w *pool.Worker) { node(w, 0, argsCheck(0)) })
				if err := waitLive(t, p); err != nil {
					t.Fatal(err)
				}
				r.verify(t, fmt.Sprintf("round %d", round))
			}
		})
	}
}

// CallerRuns: a full queue makes Pool.Go run its task in the submitting
// goroutine as a borrowed, temporary worker with a free list of its own,
// also from inside a record task (a worker borrowed on top of a worker, on
// one goroutine), and its drain may end in a Goexit (the retire goes on in
// a new goroutine). Records spawned on borrowed workers are stolen and
// recycled by core workers and the reverse. Every node runs exactly once
// with its pair.
func TestArgsCallerRunsBorrowedWorkers(t *testing.T) {
	p := pool.New(2, pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0))
	defer shutdownWithinOrFail(t, p, "the CallerRuns test")
	const submitters = 3
	const trees = 40
	const perTree = 300
	nodes := submitters * trees * perTree
	r := newArgsRuns(nodes)
	var borrowed atomic.Int64
	var node func(w *pool.Worker, k, check int)
	node = func(w *pool.Worker, k, check int) {
		if !r.visit(k, check) {
			return
		}
		base, i := k/perTree*perTree, k%perTree
		c1, c2 := 2*i+1, 2*i+2
		if c2 < perTree && i%9 == 4 {
			// Pool.Go from a task: runs here, on a borrowed worker, when the
			// queue is full.
			if err := p.Go(func(w2 *pool.Worker) {
				if w2.ID() >= 2 {
					borrowed.Add(1)
				}
				var g pool.Group
				g.GoArgs(w2, node, base+c1, argsCheck(base+c1))
				w2.SpawnArgs(node, base+c2, argsCheck(base+c2))
				g.Wait(w2)
			}); err != nil {
				t.Errorf("Go: %v", err)
			}
			return
		}
		if c1 < perTree {
			var g pool.Group
			g.GoArgs(w, node, base+c1, argsCheck(base+c1))
			if c2 < perTree {
				w.SpawnArgs(node, base+c2, argsCheck(base+c2))
			}
			g.Wait(w)
		}
	}
	var wg sync.WaitGroup
	for s := range submitters {
		wg.Go(func() {
			for tr := range trees {
				root := (s*trees + tr) * perTree
				exit := tr%4 == 3
				done := make(chan struct{})
				go func() { // a Goexit in a drain ends this goroutine, not the submitter
					defer close(done)
					if err := p.Go(func(w *pool.Worker) {
						if exit {
							// Drained by a borrowed worker's retire, or run by
							// a core worker: either way it ends its goroutine.
							w.SpawnArgs(func(*pool.Worker, int, int) { runtime.Goexit() }, 0, 0)
						}
						node(w, root, argsCheck(root))
					}); err != nil {
						t.Errorf("Go: %v", err)
					}
				}()
				<-done
			}
		})
	}
	testutil.WaitLive(t, &wg)
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
	r.verify(t, "CallerRuns")
	if borrowed.Load() == 0 {
		t.Fatal("no Pool.Go ran on a borrowed worker: the test did not exercise CallerRuns")
	}
	if s := p.Stats(); s.Workers != 2 {
		t.Fatalf("%d workers after the borrowed ones retired, want 2", s.Workers)
	}
}

// Temporary workers (the starvation monitor's) and retiring workers
// (Resize) run records that others spawned and exit with a free list of
// them; their own records wander to the core workers. A few tasks block
// until a child queued under a newer one has run, so only a stealing or
// temporary worker can make progress. Every node runs once with its pair.
func TestArgsTemporaryAndRetiringWorkers(t *testing.T) {
	p := pool.New(2, pool.WithStarvationCheck(time.Millisecond, 8))
	defer shutdownWithinOrFail(t, p, "the temporary-worker test")
	const nodes = 6000
	for round := range 4 {
		r := newArgsRuns(nodes)
		released := make([]chan struct{}, nodes)
		for i := range released {
			released[i] = make(chan struct{})
		}
		var node func(w *pool.Worker, k, check int)
		node = func(w *pool.Worker, k, check int) {
			if check != argsCheck(k) {
				r.bad.Add(1)
				return
			}
			if r.runs[k].Add(1) == 1 {
				close(released[k])
			}
			c1, c2 := 2*k+1, 2*k+2
			if c1 < nodes {
				w.SpawnArgs(node, c1, argsCheck(c1))
			}
			if c2 < nodes {
				w.SpawnArgs(node, c2, argsCheck(c2))
				if k < 4 || k == 1000 || k == 2000 {
					// Block on a child still in this worker's deque: a
					// thief or the monitor's temporary worker must run it.
					// (At most 6 block at once, under the monitor's 8.)
					select {
					case <-released[c1]:
					case <-time.After(argsBound):
						t.Errorf("node %d: child %d never ran while its parent blocked", k, c1)
					}
				}
			}
		}
		resized := make(chan struct{})
		go func() {
			defer close(resized)
			for _, n := range []int{1, 3, 1, 4, 2} {
				p.Resize(n)
				runtime.Gosched()
			}
		}()
		p.Go(func(w *pool.Worker) { node(w, 0, argsCheck(0)) })
		<-resized
		if err := waitLive(t, p); err != nil {
			t.Fatal(err)
		}
		r.verify(t, fmt.Sprintf("round %d", round))
	}
	t.Logf("temporary workers started: %d", p.Stats().ExtraStarted)
}

// Shutdown while record tasks fork: Shutdown returns only after every task
// already accepted, and every record task those spawned, has run once.
func TestArgsShutdownWaitsForRecords(t *testing.T) {
	for round := range 5 {
		p := pool.New(2)
		const nodes = 20000
		r := newArgsRuns(nodes)
		started := make(chan struct{})
		var once sync.Once
		var node func(w *pool.Worker, k, check int)
		node = func(w *pool.Worker, k, check int) {
			if !r.visit(k, check) {
				return
			}
			once.Do(func() { close(started) })
			for c := 4*k + 1; c <= 4*k+4 && c < nodes; c++ {
				w.SpawnArgs(node, c, argsCheck(c))
			}
		}
		p.Go(func(w *pool.Worker) { node(w, 0, argsCheck(0)) })
		<-started
		shutdownWithinOrFail(t, p, "record tasks")
		r.verify(t, fmt.Sprintf("round %d", round))
	}
}

// Go and GoArgs children of one reused Group, stolen and run everywhere:
// Group.Go's first-child job is reused once the group's pending is back at
// 0, and GoArgs now moves pending too. Each parent's Wait must see all of
// its children (an exact sum), and every child runs once.
func TestArgsMixedWithGroupGo(t *testing.T) {
	p := pool.New(3)
	defer shutdownWithinOrFail(t, p, "the mixed Go/GoArgs test")
	const parents, rounds, kids = 16, 40, 6
	total := parents * rounds * kids
	runs := newArgsRuns(total)
	for par := range parents {
		p.Go(func(w *pool.Worker) {
			var g pool.Group
			for r := range rounds {
				var sum atomic.Int64
				base := (par*rounds + r) * kids
				add := func(w *pool.Worker, k, check int) {
					if !runs.visit(k, check) {
						return
					}
					sum.Add(int64(k))
				}
				var want int64
				for i := range kids {
					k := base + i
					want += int64(k)
					if (i+r)%2 == 0 {
						g.Go(w, func(w *pool.Worker) { add(w, k, argsCheck(k)) })
					} else {
						g.GoArgs(w, add, k, argsCheck(k))
					}
				}
				if err := g.Wait(w); err != nil {
					t.Errorf("Wait: %v", err)
				}
				if got := sum.Load(); got != want {
					t.Errorf("parent %d round %d: Wait returned with sum %d, want %d", par, r, got, want)
					return
				}
			}
		})
	}
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
	runs.verify(t, "mixed")
}

// The windows of the deques (between a thief's slot load and its CAS, and
// the owner's race for the last task) widened by testhook: a thief that
// read a stale task word (a record since run, recycled and spawned again)
// and won its CAS anyway would run a record twice or with another task's
// pair.
func TestArgsStaleSlotsWithHooks(t *testing.T) {
	testhook.Enable(t)
	for _, workers := range []int{2, 3} {
		p := pool.New(workers)
		const nodes = 30000
		for round := range 3 {
			r := newArgsRuns(nodes)
			var node func(w *pool.Worker, k, check int)
			node = func(w *pool.Worker, k, check int) {
				if !r.visit(k, check) {
					return
				}
				// Two children: the deques run near empty, where the owner
				// and the thieves race for the last task.
				for c := 2*k + 1; c <= 2*k+2 && c < nodes; c++ {
					w.SpawnArgs(node, c, argsCheck(c))
				}
			}
			p.Go(func(w *pool.Worker) { node(w, 0, argsCheck(0)) })
			if err := waitLive(t, p); err != nil {
				t.Fatal(err)
			}
			r.verify(t, fmt.Sprintf("%d workers, round %d", workers, round))
		}
		shutdownWithinOrFail(t, p, "the hooks test")
	}
}

// Records keep nothing alive once their tasks have returned: the function
// value (and what it captures) and the group are cleared on recycling, also
// for records dropped past the free list's bound, so a closure handed to
// SpawnArgs is collected after Wait, while the garbage collector runs
// throughout (records hold func values behind tagged pointers).
func TestArgsReleaseClosures(t *testing.T) {
	p := pool.New(2)
	defer shutdownWithinOrFail(t, p, "the release test")
	stop := make(chan struct{})
	var gcs sync.WaitGroup
	gcs.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	})
	collected := make(chan struct{})
	func() {
		big := make([]int64, 1<<16)
		runtime.AddCleanup(&big[0], func(ch chan struct{}) { close(ch) }, collected)
		var sum atomic.Int64
		var fn func(w *pool.Worker, x, y int)
		fn = func(w *pool.Worker, x, y int) {
			sum.Add(big[x%len(big)] + int64(y))
			if x < 5000 {
				w.SpawnArgs(fn, 2*x+1, 1)
				var g pool.Group
				g.GoArgs(w, fn, 2*x+2, 1)
				g.Wait(w)
			}
		}
		p.Go(func(w *pool.Worker) { fn(w, 0, 1) })
		if err := waitLive(t, p); err != nil {
			t.Fatal(err)
		}
	}()
	close(stop)
	gcs.Wait()
	deadline := time.After(argsBound)
	for {
		runtime.GC()
		select {
		case <-collected:
			return
		case <-deadline:
			t.Fatal("a closure passed to SpawnArgs and GoArgs is still reachable after its tasks returned: a record keeps its function alive")
		default:
		}
	}
}
