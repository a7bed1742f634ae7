package pool_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/pool"
)

// Regression tests from a review of the spawn reserve (141f30c: a worker
// takes 64 units of Pool.pending at a time for its spawns and gives the
// unused ones back in flush) and of the longer searches (6862524). They
// pass on the reviewed code; each fails on a plausible bug, named in its
// comment.

// reserveBound is the liveness bound of these tests: far above what a
// correct pool needs, well below the package's test timeout.
const reserveBound = 10 * time.Second

// waitWithinOrFail runs p.Wait and fails the test, with a goroutine dump,
// if it has not returned within reserveBound.
func waitWithinOrFail(t *testing.T, p *pool.Pool, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case <-done:
	case <-time.After(reserveBound):
		testutil.DumpGoroutines()
		t.Fatalf("Wait hung after %s: a worker kept units of pending (its spawn reserve or finished tasks) without flushing them", what)
	}
}

// shutdownWithinOrFail shuts p down with reserveBound as its deadline.
func shutdownWithinOrFail(t *testing.T, p *pool.Pool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), reserveBound)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil && ctx.Err() != nil {
		testutil.DumpGoroutines()
		t.Fatalf("Shutdown hung after %s: %v", what, err)
	}
}

// Every way a worker stops running tasks (its goroutine ended by a Goexit
// in a task or in a panic handler, a temporary worker's exit, a retiring
// worker's exit, a CallerRuns borrowed worker's retire, also when that
// retire is cut short by a Goexit, also when the top task itself Goexits)
// must give back the spawn reserve the worker took, or Wait and Shutdown
// hang, and the counters must be exact once the pool is quiet. Each case's
// first task spawns, so that its worker holds a reserve (63 unused units)
// on its way out. Fails on: a worker goroutine restarted after a Goexit
// with a fresh reserve instead of the worker's own (the old units leak),
// a flush skipped on one exit path (temporary, retiring, borrowed), a
// flush that gives back finished tasks but not the reserve.
func TestReserveGivenBackOnEveryWayOut(t *testing.T) {
	type tc struct {
		name  string
		opts  []pool.Option
		n     int
		run   func(t *testing.T, p *pool.Pool, ran *atomic.Int64)
		tasks uint64 // tasks the pool must count as completed
	}
	leaf := func(ran *atomic.Int64) func(*pool.Worker) {
		return func(*pool.Worker) { ran.Add(1) }
	}
	callerRunsGoexit := func(name string, topGoexit bool) tc {
		return tc{
			name: name, n: 1,
			opts: []pool.Option{pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0)},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				g := block(p, 1)
				p.Submit(func() {}) // fills the queue: the Go below runs here
				done := make(chan struct{})
				go func() { // a Goexit ends this goroutine, not the test's
					defer close(done)
					p.Go(func(w *pool.Worker) {
						w.Spawn(leaf(ran))
						w.Spawn(func(*pool.Worker) { runtime.Goexit() }) // drained first
						if topGoexit {
							runtime.Goexit()
						}
					})
				}()
				<-done
				g.open()
			},
			tasks: 2 + 1 + 2,
		}
	}
	cases := []tc{
		{
			name: "goexit-after-spawn", n: 1,
			opts: []pool.Option{pool.WithStarvationCheck(0, 0)},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				p.Go(func(w *pool.Worker) {
					for range 3 {
						w.Spawn(leaf(ran))
					}
					runtime.Goexit()
				})
			},
			tasks: 4,
		},
		{
			name: "goexit-in-child-after-spawn", n: 2,
			opts: []pool.Option{pool.WithStarvationCheck(0, 0)},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				p.Go(func(w *pool.Worker) {
					w.Spawn(func(w *pool.Worker) {
						w.Spawn(leaf(ran))
						w.Spawn(leaf(ran))
						runtime.Goexit()
					})
					var g pool.Group
					g.Go(w, leaf(ran))
					g.Wait(w)
				})
			},
			tasks: 5,
		},
		{
			name: "panic-handler-goexit-after-spawn", n: 1,
			opts: []pool.Option{pool.WithStarvationCheck(0, 0),
				pool.WithPanicHandler(func(*pool.PanicError) { runtime.Goexit() })},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				p.Go(func(w *pool.Worker) {
					w.Spawn(leaf(ran))
					w.Spawn(leaf(ran))
					panic("boom")
				})
			},
			tasks: 3,
		},
		{
			// The only core worker is blocked until the monitor's
			// temporary worker has run a spawning task; that worker then
			// runs out of work and exits.
			name: "temporary-worker-exit", n: 1,
			opts: []pool.Option{pool.WithStarvationCheck(time.Millisecond, 1)},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				release := make(chan struct{})
				p.Go(func(w *pool.Worker) {
					p.Go(func(w *pool.Worker) {
						w.Spawn(leaf(ran))
						w.Spawn(leaf(ran))
						close(release)
					})
					<-release // blocks the core worker: only a temporary one can run the task above
				})
				waitWithinOrFail(t, p, "a temporary worker's exit")
				if s := p.Stats(); s.ExtraStarted == 0 {
					t.Fatal("no temporary worker started: the case did not test its exit")
				}
			},
			tasks: 4,
		},
		{
			// Both workers spawn and block; Resize(1) retires the newer
			// one, which, released, runs its child and exits.
			name: "retiring-worker-exit", n: 2,
			opts: []pool.Option{pool.WithStarvationCheck(0, 0)},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				var started sync.WaitGroup
				started.Add(2)
				gate := make(chan struct{})
				for range 2 {
					p.Go(func(w *pool.Worker) {
						w.Spawn(leaf(ran))
						started.Done()
						<-gate
					})
				}
				started.Wait()
				p.Resize(1)
				close(gate)
				waitWithinOrFail(t, p, "a retiring worker's exit")
				waitFor(t, func() bool { return p.Stats().Workers == 1 })
			},
			tasks: 4,
		},
		{
			// CallerRuns: the top task runs in this goroutine as a
			// borrowed worker and leaves its children in its deque.
			name: "caller-runs-drain", n: 1,
			opts: []pool.Option{pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0)},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				g := block(p, 1)
				p.Submit(func() {}) // fills the queue
				p.Go(func(w *pool.Worker) {
					for range 3 {
						w.Spawn(leaf(ran))
					}
				})
				g.open()
			},
			tasks: 2 + 1 + 3,
		},
		// A drained child Goexits inside the borrowed worker's retire;
		// with topGoexit the top task Goexits first as well.
		callerRunsGoexit("caller-runs-drain-goexit", false),
		callerRunsGoexit("caller-runs-top-goexit-then-drain-goexit", true),
		{
			// A worker's task submits with CallerRuns: a borrowed worker
			// on the goroutine of a pool worker, both spawning.
			name: "caller-runs-nested-in-worker", n: 1,
			opts: []pool.Option{pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0)},
			run: func(t *testing.T, p *pool.Pool, ran *atomic.Int64) {
				p.Go(func(w *pool.Worker) {
					w.Spawn(leaf(ran))
					p.Submit(func() {}) // fills the queue (this is the only worker)
					p.Go(func(w2 *pool.Worker) {
						w2.Spawn(leaf(ran))
						w2.Spawn(func(*pool.Worker) { runtime.Goexit() })
					})
				})
			},
			tasks: 1 + 1 + 1 + 1 + 1 + 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := pool.New(c.n, c.opts...)
			var ran atomic.Int64
			c.run(t, p, &ran)
			waitWithinOrFail(t, p, c.name)
			s := p.Stats()
			if s.Completed != c.tasks || s.Submitted != c.tasks || s.Queued != 0 || s.Running != 0 {
				t.Errorf("quiet pool: %+v; want %d submitted and completed, none queued or running", s, c.tasks)
			}
			shutdownWithinOrFail(t, p, c.name)
		})
	}
}

// Shutdown without a Wait, with workers that hold reserves: the parked
// workers exit only once pending reaches 0, which needs every reserve back.
// Fork-join trees at several GOMAXPROCS values, with Resize and Goexits
// mixed in. Fails on the same bugs as above, and on a flush that keeps
// the reserve of a worker that then parks.
func TestReserveShutdownUnderForkJoin(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		for round := range testutil.Scale(20) {
			p := pool.New(4, pool.WithStarvationCheck(time.Millisecond, 2))
			var ran atomic.Int64
			var tree func(w *pool.Worker, depth int)
			tree = func(w *pool.Worker, depth int) {
				ran.Add(1)
				if depth == 0 {
					return
				}
				if depth == 3 && round%3 == 0 {
					w.Spawn(func(*pool.Worker) { runtime.Goexit() })
				}
				var g pool.Group
				for range 3 {
					g.Go(w, func(w *pool.Worker) { tree(w, depth-1) })
				}
				w.Spawn(func(w *pool.Worker) { ran.Add(1) })
				g.Wait(w)
			}
			for range 4 {
				p.Go(func(w *pool.Worker) { tree(w, 5) })
			}
			if round%2 == 1 {
				p.Resize(1 + round%4)
			}
			shutdownWithinOrFail(t, p, "fork-join trees")
			// 4 trees of sum_{d=0..5} 3^d nodes, each inner node (d>0) also
			// spawning one leaf: 4 * (364 + 121).
			if got, want := ran.Load(), int64(4*(364+121)); got != want {
				t.Fatalf("ran %d tasks before Shutdown returned, want %d", got, want)
			}
		}
	})
}

// The longer waits before parking must stay bounded: on fake time, a
// Group.Wait whose child (stolen by the other worker) sleeps can return
// only once every goroutine of the bubble is durably blocked, so the
// waiter must stop yielding and park, and so must the searching workers.
// Fails on: a yield count that resets without progress (a waiter or a
// searcher that never parks), which freezes fake time. The bubble runs in
// a goroutine of its own, so that a hang fails here, within reserveBound,
// rather than at the package's test timeout.
func TestJoinWaitParksOnFakeTime(t *testing.T) {
	done := make(chan struct{})
	var failure atomic.Pointer[string]
	fail := func(s string) { failure.CompareAndSwap(nil, &s) }
	go func() {
		defer close(done)
		synctest.Test(t, func(*testing.T) {
			p := pool.New(2, pool.WithStarvationCheck(0, 0))
			const rounds = 20
			for range rounds {
				returned := make(chan time.Duration, 1)
				p.Go(func(w *pool.Worker) {
					stolen := make(chan struct{})
					start := time.Now()
					var g pool.Group
					g.Go(w, func(*pool.Worker) {
						close(stolen)
						time.Sleep(time.Second) // fake time: passes only when all are blocked
					})
					<-stolen // the other worker runs the child
					g.Wait(w)
					returned <- time.Since(start)
				})
				if d := <-returned; d != time.Second {
					fail("Group.Wait returned after " + d.String() + " of fake time, want 1s")
				}
				if err := p.Wait(); err != nil {
					fail(err.Error())
				}
			}
			synctest.Wait() // the idle pool parks
			if s := p.Stats(); s.Running != 0 || s.Queued != 0 {
				fail("idle pool not idle")
			}
			if err := p.Shutdown(context.Background()); err != nil {
				fail(err.Error())
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(reserveBound):
		testutil.DumpGoroutines()
		t.Fatal("fake time never advanced: a Group.Wait or a searching worker kept yielding instead of parking")
	}
	if f := failure.Load(); f != nil {
		t.Fatal(*f)
	}
}
