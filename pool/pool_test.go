package pool_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/pool"
	"go.uber.org/goleak"
)

// shutdown shuts p down and fails the test if that does not finish.
func shutdown(t testing.TB, p *pool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Liveness)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		testutil.DumpGoroutines()
		t.Fatalf("Shutdown: %v", err)
	}
}

// waitLive calls p.Wait, failing the test with a goroutine dump if it does
// not return within testutil.Liveness.
func waitLive(t testing.TB, p *pool.Pool) error {
	t.Helper()
	var err error
	var wg sync.WaitGroup
	wg.Go(func() { err = p.Wait() })
	testutil.WaitLive(t, &wg)
	return err
}

// Every task runs exactly once: 1e6 tasks in CI (1e5 under -short),
// submitted from outside by several goroutines at once and spawned from
// inside tasks, so that the injector, batches, deques and stealing all
// carry some. Each task writes its own slot with a plain store, so a task
// that ran twice shows as a 2, or, if the two runs overlapped, as a data
// race; and a missing happens-before edge between a task and Wait is a
// data race too.
func TestEveryTaskRunsExactlyOnce(t *testing.T) {
	n := testutil.Scale(1_000_000)
	const submitters = 4
	const fanout = 3 // each outside task spawns fanout-1 children
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		p := pool.New(0)
		defer shutdown(t, p)
		ran := make([]uint8, n)
		per := n / submitters / fanout
		testutil.Run(t, submitters, func(id int) {
			for i := range per {
				base := (id*per + i) * fanout
				var err error
				if i%2 == 0 {
					err = p.Submit(func() {
						for k := range fanout {
							ran[base+k]++
						}
					})
				} else {
					err = p.Go(func(w *pool.Worker) {
						ran[base]++
						for k := 1; k < fanout; k++ {
							w.Spawn(func(*pool.Worker) { ran[base+k]++ })
						}
					})
				}
				if err != nil {
					t.Errorf("Submit: %v", err)
					return
				}
			}
		})
		if err := waitLive(t, p); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		total := per * submitters * fanout
		for i, c := range ran[:total] {
			if c != 1 {
				t.Fatalf("task %d ran %d times", i, c)
			}
		}
		s := p.Stats()
		if s.Queued != 0 || s.Running != 0 {
			t.Fatalf("after Wait: %+v", s)
		}
		t.Logf("%d tasks, %d stolen", total, s.Stolen)
	})
}

// A recursive fan-out: every task spawns children down to a depth; every
// node runs once, and Wait waits for all of them.
func TestRecursiveFanOut(t *testing.T) {
	const branch, depth = 4, 8 // 87381 nodes
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		p := pool.New(0)
		defer shutdown(t, p)
		var nodes atomic.Int64
		var grow func(w *pool.Worker, d int)
		grow = func(w *pool.Worker, d int) {
			nodes.Add(1)
			if d == 0 {
				return
			}
			for range branch {
				w.Spawn(func(w *pool.Worker) { grow(w, d-1) })
			}
		}
		if err := p.Go(func(w *pool.Worker) { grow(w, depth) }); err != nil {
			t.Fatal(err)
		}
		if err := waitLive(t, p); err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		for d, level := 0, int64(1); d <= depth; d, level = d+1, level*branch {
			want += level
		}
		if got := nodes.Load(); got != want {
			t.Fatalf("%d nodes ran, want %d", got, want)
		}
		if s := p.Stats(); s.Submitted != uint64(want) || s.Completed != uint64(want) {
			t.Fatalf("Stats %+v, want %d submitted and completed", s, want)
		}
	})
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// pfib forks at every level down to the cutoff, joining through a Group.
func pfib(w *pool.Worker, n, cutoff int) int {
	if n < cutoff {
		return fib(n)
	}
	var a int
	var g pool.Group
	g.Go(w, func(w *pool.Worker) { a = pfib(w, n-1, cutoff) })
	b := pfib(w, n-2, cutoff)
	if err := g.Wait(w); err != nil {
		panic(err)
	}
	return a + b
}

// jfib is pfib through Worker.Join.
func jfib(w *pool.Worker, n, cutoff int) int {
	if n < cutoff {
		return fib(n)
	}
	var a, b int
	if err := w.Join(
		func(w *pool.Worker) { a = jfib(w, n-1, cutoff) },
		func(w *pool.Worker) { b = jfib(w, n-2, cutoff) },
	); err != nil {
		panic(err)
	}
	return a + b
}

// Nested joins never deadlock a fixed pool, down to one worker: a joining
// worker runs its own children while it waits.
func TestNestedJoin(t *testing.T) {
	for _, workers := range []int{1, 2} {
		for _, impl := range []struct {
			name string
			fib  func(*pool.Worker, int, int) int
		}{{"group", pfib}, {"join", jfib}} {
			t.Run(fmt.Sprintf("%s/workers=%d", impl.name, workers), func(t *testing.T) {
				p := pool.New(workers, pool.WithStarvationCheck(0, 0)) // no help from extra workers
				defer shutdown(t, p)
				var got int
				if err := p.Go(func(w *pool.Worker) { got = impl.fib(w, 22, 2) }); err != nil {
					t.Fatal(err)
				}
				if err := waitLive(t, p); err != nil {
					t.Fatal(err)
				}
				if want := fib(22); got != want {
					t.Fatalf("fib(22) = %d, want %d", got, want)
				}
				if s := p.Stats(); s.ExtraStarted != 0 {
					t.Fatalf("the pool needed %d extra workers", s.ExtraStarted)
				}
			})
		}
	}
}

// A Group used from many tasks at once, each waiting on its own children,
// across procs: the counts come out right.
func TestGroupFanIn(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		p := pool.New(0)
		defer shutdown(t, p)
		const parents, children = 200, 50
		var sum atomic.Int64
		for range parents {
			p.Go(func(w *pool.Worker) {
				var g pool.Group
				var local atomic.Int64
				for range children {
					g.Go(w, func(*pool.Worker) { local.Add(1) })
				}
				if err := g.Wait(w); err != nil {
					t.Error(err)
				}
				if local.Load() != children {
					t.Errorf("Group.Wait returned with %d of %d children done", local.Load(), children)
				}
				sum.Add(local.Load())
			})
		}
		if err := waitLive(t, p); err != nil {
			t.Fatal(err)
		}
		if sum.Load() != parents*children {
			t.Fatalf("%d children ran, want %d", sum.Load(), parents*children)
		}
	})
}

// A Group reused across many Waits hands its embedded first job to each
// round's first child (pending 0 -> 1) and allocates for the others; the
// children of one round are forked from several tasks at once, and thieves
// run some of them. Every child must run exactly once with its own
// function: a slot reused before the worker that ran its previous child
// had finished with it would run a child twice or lose one (and -race
// would see the write).
func TestGroupReuseFirstJob(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		p := pool.New(4)
		defer shutdown(t, p)
		rounds := testutil.Scale(5000)
		const perRound = 3
		counts := make([]atomic.Int32, rounds*perRound)
		p.Go(func(w *pool.Worker) {
			var g pool.Group
			for r := range rounds {
				id := r * perRound
				g.Go(w, func(*pool.Worker) { counts[id].Add(1) })
				if r%2 == 1 {
					// Two more children, forked by a child while the
					// first may still be pending.
					g.Go(w, func(w *pool.Worker) {
						counts[id+1].Add(1)
						g.Go(w, func(*pool.Worker) { counts[id+2].Add(1) })
					})
				} else {
					counts[id+1].Add(1)
					counts[id+2].Add(1)
				}
				if err := g.Wait(w); err != nil {
					t.Error(err)
				}
				for k := id; k < id+perRound; k++ {
					if c := counts[k].Load(); c != 1 {
						t.Errorf("round %d: child %d ran %d times before Wait returned", r, k-id, c)
						return
					}
				}
			}
		})
		if err := waitLive(t, p); err != nil {
			t.Fatal(err)
		}
		for k := range counts {
			if c := counts[k].Load(); c != 1 {
				t.Fatalf("child %d ran %d times", k, c)
			}
		}
	})
}

// A Group reused right after Wait: the child that brought pending to 0 in
// one round checks for parked waiters only after the next round's Wait has
// parked (done has a test hook in that window; here the halves run in
// that order by hand). Its wake must not end the new Wait while the new
// round's child is pending: the waiter looks again and parks again.
func TestGroupStaleWakeDoesNotEndNextWait(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	var g pool.Group
	g.CountChild()         // round 1: a child, running elsewhere
	if !g.UncountChild() { // round 1's child: done's first half
		t.Fatal("pending did not reach 0")
	}
	g.CountChild() // round 2, after round 1's Wait returned: a new child
	returned := make(chan struct{})
	p.Go(func(w *pool.Worker) {
		w.HelpUntilDone(&g) // round 2's Wait: nothing to run, so it parks
		close(returned)
	})
	waitParked := func(why string) {
		for g.Parked() == 0 {
			select {
			case <-returned:
				t.Fatalf("Wait returned %s, with a child pending", why)
			default:
				runtime.Gosched()
			}
		}
	}
	waitParked("before parking")
	g.WakeWaiters() // round 1's child: done's second half, now stale
	waitParked("after a stale wake")
	if g.UncountChild() { // round 2's child finishes
		g.WakeWaiters()
	}
	<-returned
}

// The same for Pool.Wait: the task that left the pool quiet in one round
// looks for parked Waits only after the next round's Wait parked, with a
// new task running. That Wait must stay parked (the pool is not quiet),
// and end when the new task finishes.
func TestPoolStaleQuiesceDoesNotEndNextWait(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	p.CountTask()         // round 1: a task, running
	if !p.UncountTask() { // round 1's task finishes: finish's first half
		t.Fatal("the pool is not quiet")
	}
	p.CountTask()          // round 2, after round 1's Wait returned: a new task
	finishTask := func() { // round 2's task finishes
		if p.UncountTask() {
			p.Quiesce()
		}
	}
	returned := make(chan error, 1)
	go func() { returned <- p.Wait() }()
	for p.Waiting() == 0 {
		select {
		case err := <-returned:
			finishTask() // so that shutdown finds the pool quiet
			t.Fatalf("Wait returned (%v) before parking, with a task running", err)
		default:
			runtime.Gosched()
		}
	}
	p.Quiesce() // round 1's finish: its second half, now stale
	n := p.Waiting()
	finishTask()
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("a stale quiesce woke the Wait of a pool with a task running (%d parked after it)", n)
	}
}

// A task blocked on a plain channel for a child it submitted, in a pool of
// one worker, completes: the starvation monitor adds a temporary worker
// that runs the child. Both ways a child can be queued are covered.
func TestBlockedOnChildCompletes(t *testing.T) {
	for _, how := range []string{"Submit", "Spawn"} {
		t.Run(how, func(t *testing.T) {
			p := pool.New(1)
			defer shutdown(t, p)
			done := make(chan int, 1)
			p.Go(func(w *pool.Worker) {
				ch := make(chan int)
				if how == "Submit" {
					p.Submit(func() { ch <- 42 })
				} else {
					w.Spawn(func(*pool.Worker) { ch <- 42 })
				}
				done <- <-ch // blocks this, the only worker
			})
			if err := waitLive(t, p); err != nil {
				t.Fatal(err)
			}
			if v := <-done; v != 42 {
				t.Fatalf("got %d", v)
			}
			if s := p.Stats(); s.ExtraStarted == 0 {
				t.Fatal("completed without an extra worker: the test did not block the worker")
			}
		})
	}
}

// Without the starvation check the same program deadlocks, as it would in
// any fixed pool: the test above really depends on the monitor. Run on fake
// time, the deadlock shows as every goroutine durably blocked.
func TestBlockedOnChildDeadlocksWithoutMonitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(1, pool.WithStarvationCheck(0, 0))
		release := make(chan int)
		ch := make(chan int)
		p.Submit(func() {
			p.Submit(func() { ch <- 1 })
			select {
			case <-ch:
			case <-release:
			}
		})
		synctest.Wait()
		if s := p.Stats(); s.Queued != 1 || s.Running != 1 {
			t.Fatalf("Stats %+v: want the child queued behind its blocked parent", s)
		}
		close(release) // unblock, so the bubble can end
		<-ch
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// ants#197: a task that submits to its own full pool (bounded, Block)
// deadlocks a fixed pool. Here the monitor adds a worker, which drains the
// queue and lets the blocked submission in.
func TestSubmitToOwnFullPool(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.Block))
	defer shutdown(t, p)
	var ran atomic.Int64
	p.Submit(func() {
		for range 10 {
			p.Submit(func() { ran.Add(1) }) // the queue holds 1: blocks
		}
	})
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 10 {
		t.Fatalf("%d of 10 children ran", ran.Load())
	}
}

// panickingTask is a named function so that the stack can be checked for it.
func panickingTask() { panic("boom") }

func TestPanicsAreCapturedAndReported(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	const panicking = 100
	for range panicking {
		p.Submit(panickingTask)
	}
	var ran atomic.Int64
	for range 100 {
		p.Submit(func() { ran.Add(1) })
	}
	err := waitLive(t, p)
	var pe *pool.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Wait = %v, want a *PanicError", err)
	}
	if pe.Value != "boom" {
		t.Fatalf("panic value %v", pe.Value)
	}
	if !strings.Contains(string(pe.Stack), "pool_test.panickingTask") {
		t.Fatalf("the stack does not name the panicking task:\n%s", pe.Stack)
	}
	if ran.Load() != 100 {
		t.Fatalf("after the panics %d of 100 tasks ran: a worker died", ran.Load())
	}
	if s := p.Stats(); s.Panics != panicking || s.Workers != 1 {
		t.Fatalf("Stats %+v", s)
	}
	// The panic was reported once; the pool is still at full strength.
	if err := waitLive(t, p); err != nil {
		t.Fatalf("second Wait = %v, want nil", err)
	}
	for range 10 {
		p.Submit(func() { ran.Add(1) })
	}
	if err := waitLive(t, p); err != nil || ran.Load() != 110 {
		t.Fatalf("Wait = %v, ran %d", err, ran.Load())
	}
}

func TestPanicHandler(t *testing.T) {
	var got []any
	var mu sync.Mutex
	p := pool.New(2, pool.WithPanicHandler(func(e *pool.PanicError) {
		mu.Lock()
		got = append(got, e.Value)
		mu.Unlock()
	}))
	defer shutdown(t, p)
	for range 10 {
		p.Submit(panickingTask)
	}
	if err := waitLive(t, p); err != nil {
		t.Fatalf("Wait = %v; with a handler panics go to the handler", err)
	}
	if len(got) != 10 {
		t.Fatalf("handler got %d panics, want 10", len(got))
	}
	// A panicking handler is kept for Wait.
	p2 := pool.New(1, pool.WithPanicHandler(func(*pool.PanicError) { panic("handler") }))
	defer shutdown(t, p2)
	p2.Submit(panickingTask)
	var pe *pool.PanicError
	if err := waitLive(t, p2); !errors.As(err, &pe) || pe.Value != "handler" {
		t.Fatalf("Wait = %v, want the handler's panic", err)
	}
}

func TestGroupPanics(t *testing.T) {
	p := pool.New(2)
	defer shutdown(t, p)
	sentinel := errors.New("sentinel")
	var werr, jerr error
	p.Go(func(w *pool.Worker) {
		var g pool.Group
		g.Go(w, func(*pool.Worker) { panic(sentinel) })
		g.Go(w, func(*pool.Worker) {})
		werr = g.Wait(w)
		jerr = w.Join(func(*pool.Worker) {}, func(*pool.Worker) { panickingTask() })
	})
	if err := waitLive(t, p); err != nil {
		t.Fatalf("Wait = %v: group panics go to Group.Wait", err)
	}
	var pe *pool.PanicError
	if !errors.As(werr, &pe) || !errors.Is(werr, sentinel) {
		t.Fatalf("Group.Wait = %v, want a PanicError wrapping the sentinel", werr)
	}
	if !errors.As(jerr, &pe) || pe.Value != "boom" {
		t.Fatalf("Join = %v", jerr)
	}
	if s := p.Stats(); s.Panics != 2 {
		t.Fatalf("Stats.Panics = %d, want 2", s.Panics)
	}
}

// A task that ends its goroutine with runtime.Goexit (as t.FailNow does)
// does not take its worker with it, nor the pool's accounting.
func TestGoexitInTask(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	for range 5 {
		p.Submit(runtime.Goexit)
	}
	var ran atomic.Int64
	for range 5 {
		p.Submit(func() { ran.Add(1) })
	}
	if err := waitLive(t, p); err != nil || ran.Load() != 5 {
		t.Fatalf("Wait = %v, ran %d of 5", err, ran.Load())
	}
	if s := p.Stats(); s.Completed != 10 || s.Workers != 1 {
		t.Fatalf("Stats %+v", s)
	}
}

// gate blocks a pool's workers until opened, so that tests can fill queues.
type gate struct {
	ch      chan struct{}
	started sync.WaitGroup
}

// block occupies n workers of p.
func block(p *pool.Pool, n int) *gate {
	g := &gate{ch: make(chan struct{})}
	g.started.Add(n)
	for range n {
		p.Submit(func() { g.started.Done(); <-g.ch })
	}
	g.started.Wait()
	return g
}

func (g *gate) open() { close(g.ch) }

func TestQueueLimitFailFast(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(2, pool.FailFast), pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	g := block(p, 1)
	var ran atomic.Int64
	for i := range 2 {
		if err := p.Submit(func() { ran.Add(1) }); err != nil {
			t.Fatalf("Submit %d: %v", i, err)
		}
	}
	if err := p.Submit(func() { ran.Add(100) }); !errors.Is(err, pool.ErrQueueFull) {
		t.Fatalf("Submit to a full queue = %v, want ErrQueueFull", err)
	}
	if s := p.Stats(); s.Queued != 2 {
		t.Fatalf("Queued = %d, want 2", s.Queued)
	}
	g.open()
	if err := waitLive(t, p); err != nil || ran.Load() != 2 {
		t.Fatalf("Wait = %v, ran %d", err, ran.Load())
	}
}

func TestQueueLimitCallerRuns(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	g := block(p, 1)
	p.Submit(func() {}) // fills the queue
	ranHere := false
	if err := p.Submit(func() { ranHere = true }); err != nil {
		t.Fatal(err)
	}
	if !ranHere { // a plain read: the task must have run in this goroutine
		t.Fatal("CallerRuns: the task had not run when Submit returned")
	}
	// A Go task run by the caller can fork, and its children run too.
	var kids atomic.Int64
	p.Go(func(w *pool.Worker) {
		for range 3 {
			w.Spawn(func(*pool.Worker) { kids.Add(1) })
		}
	})
	if kids.Load() != 3 {
		t.Fatalf("%d of 3 children of a caller-run task had run", kids.Load())
	}
	p.Submit(panickingTask) // recovered, reported to Wait
	g.open()
	var pe *pool.PanicError
	if err := waitLive(t, p); !errors.As(err, &pe) {
		t.Fatalf("Wait = %v, want the caller-run panic", err)
	}
}

// A full queue does not hide Shutdown: once the pool is closed, FailFast
// and CallerRuns submissions fail with ErrClosed, not ErrQueueFull, and a
// CallerRuns task is not run (their full-queue check skips the lock).
func TestQueueLimitFullAfterShutdown(t *testing.T) {
	for _, policy := range []pool.Policy{pool.FailFast, pool.CallerRuns} {
		p := pool.New(1, pool.WithQueueLimit(1, policy), pool.WithStarvationCheck(0, 0))
		g := block(p, 1)
		if err := p.Submit(func() {}); err != nil { // fills the queue
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.Shutdown(context.Background()) }()
		var ranAfter atomic.Bool
		waitFor(t, func() bool {
			err := p.Submit(func() {})
			if err != nil && !errors.Is(err, pool.ErrClosed) && !errors.Is(err, pool.ErrQueueFull) {
				t.Fatalf("policy %d: Submit = %v", policy, err)
			}
			return errors.Is(err, pool.ErrClosed)
		})
		for range 100 {
			if err := p.Submit(func() { ranAfter.Store(true) }); !errors.Is(err, pool.ErrClosed) {
				t.Fatalf("policy %d: Submit to a closed pool with a full queue = %v, want ErrClosed", policy, err)
			}
		}
		if ranAfter.Load() {
			t.Fatalf("policy %d: a task submitted after close ran", policy)
		}
		g.open()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueueLimitBlock(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.Block), pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	g := block(p, 1)
	var order []int
	var mu sync.Mutex
	record := func(i int) func() {
		return func() { mu.Lock(); order = append(order, i); mu.Unlock() }
	}
	p.Submit(record(0)) // fills the queue

	// A done ctx fails at once, even with room to spare elsewhere.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.SubmitContext(ctx, record(-1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("SubmitContext with a done ctx = %v", err)
	}
	// A deadline that passes while waiting for room fails, leaving nothing.
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer tcancel()
	if err := p.SubmitContext(tctx, record(-2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SubmitContext past its deadline = %v", err)
	}
	// Blocked submitters get in first come, first served.
	var wg sync.WaitGroup
	for i := 1; i <= 3; i++ {
		wg.Go(func() {
			if err := p.Submit(record(i)); err != nil {
				t.Error(err)
			}
		})
		waitFor(t, func() bool { return blockedSubmitters(p) == i })
	}
	g.open()
	testutil.WaitLive(t, &wg)
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 3}; !equal(order, want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds; a liveness bound, not a timing check.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testutil.Liveness)
	for !cond() {
		if time.Now().After(deadline) {
			testutil.DumpGoroutines()
			t.Fatal("condition not reached")
		}
		runtime.Gosched()
	}
}

// blockedSubmitters counts goroutines parked in a bounded Submit.
func blockedSubmitters(p *pool.Pool) int { return pool.BlockedSubmitters(p) }

// The cancellation contract for a blocked SubmitContext: a cancelled head
// waiter lets the ones behind it in when there is room (golang/go#37852),
// and a grant racing a cancellation is never lost: every submission that
// returned nil runs exactly once, and none that failed runs.
func TestSubmitContextCancellationRaces(t *testing.T) {
	p := pool.New(2, pool.WithQueueLimit(2, pool.Block), pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	const submitters = 8
	iters := testutil.Scale(2000)
	ran := make([]atomic.Int32, submitters*iters)
	accepted := make([]bool, submitters*iters)
	testutil.Run(t, submitters, func(id int) {
		for i := range iters {
			k := id*iters + i
			ctx, cancel := context.WithCancel(context.Background())
			if i%3 == 0 {
				go cancel() // races with the grant
			}
			err := p.SubmitContext(ctx, func() { ran[k].Add(1) })
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("SubmitContext = %v", err)
			}
			accepted[k] = err == nil
		}
	})
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range ran {
		want := int32(0)
		if accepted[k] {
			want = 1
			n++
		}
		if got := ran[k].Load(); got != want {
			t.Fatalf("submission %d (accepted %v) ran %d times", k, accepted[k], got)
		}
	}
	if s := p.Stats(); s.Queued != 0 || pool.BlockedSubmitters(p) != 0 {
		t.Fatalf("after the races: %+v, %d blocked", s, pool.BlockedSubmitters(p))
	}
	t.Logf("%d of %d submissions accepted", n, len(ran))
}

func TestCancelledHeadLetsOthersIn(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.Block), pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	g := block(p, 1)
	p.Submit(func() {}) // fills the queue
	ctx, cancel := context.WithCancel(context.Background())
	headErr := make(chan error, 1)
	go func() { headErr <- p.SubmitContext(ctx, func() { t.Error("the cancelled submission ran") }) }()
	waitFor(t, func() bool { return pool.BlockedSubmitters(p) == 1 })
	behind := make(chan error, 1)
	go func() { behind <- p.Submit(func() {}) }()
	waitFor(t, func() bool { return pool.BlockedSubmitters(p) == 2 })
	cancel()
	if err := <-headErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("head: %v", err)
	}
	g.open() // room appears: the one behind must get in
	if err := <-behind; err != nil {
		t.Fatal(err)
	}
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
}

// Shutdown runs everything queued, then stops every goroutine it started.
func TestShutdownDrainsAndLeavesNoGoroutine(t *testing.T) {
	p := pool.New(2)
	g := block(p, 2)
	var ran atomic.Int64
	const n = 1000
	for range n {
		p.Submit(func() { ran.Add(1) })
	}
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	waitFor(t, func() bool { return errors.Is(p.Submit(func() {}), pool.ErrClosed) })
	g.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran.Load() != n {
		t.Fatalf("Shutdown returned with %d of %d queued tasks run", ran.Load(), n)
	}
	if err := p.Submit(func() {}); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Submit after Shutdown = %v, want ErrClosed", err)
	}
	if err := p.Go(func(*pool.Worker) {}); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Go after Shutdown = %v, want ErrClosed", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
	goleak.VerifyNone(t)
}

// Tasks still running when Shutdown's ctx ends: Shutdown says so, and the
// workers exit on their own once the tasks finish.
func TestShutdownContextEnds(t *testing.T) {
	p := pool.New(1)
	g := block(p, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if err := p.Submit(func() {}); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Submit = %v, want ErrClosed", err)
	}
	g.open()
	shutdown(t, p)
	goleak.VerifyNone(t)
}

// Spawned children of tasks accepted before Shutdown still run.
// Rule 2 of the cancellation contract: a done ctx fails Shutdown even when
// the pool has stopped already (it used to return nil then, and the ctx
// error while the workers were still exiting: a matter of timing).
func TestShutdownDoneContextFailsOnStoppedPool(t *testing.T) {
	p := pool.New(2)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("cause")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	if err := p.Shutdown(ctx); !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
		t.Fatalf("Shutdown(done ctx) on a stopped pool = %v, want the ctx error and its cause", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("a later Shutdown = %v, want nil", err)
	}
}

func TestShutdownRunsChildren(t *testing.T) {
	p := pool.New(2)
	var kids atomic.Int64
	g := &gate{ch: make(chan struct{})}
	g.started.Add(1)
	p.Go(func(w *pool.Worker) {
		g.started.Done()
		<-g.ch
		for range 100 {
			w.Spawn(func(*pool.Worker) { kids.Add(1) })
		}
	})
	g.started.Wait()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	waitFor(t, func() bool { return errors.Is(p.Submit(func() {}), pool.ErrClosed) })
	g.open()
	if err := <-done; err != nil || kids.Load() != 100 {
		t.Fatalf("Shutdown = %v with %d of 100 children run", err, kids.Load())
	}
}

func TestShutdownReportsUnwaitedPanic(t *testing.T) {
	p := pool.New(1)
	p.Submit(panickingTask)
	var pe *pool.PanicError
	if err := p.Shutdown(context.Background()); !errors.As(err, &pe) {
		t.Fatalf("Shutdown = %v, want the panic nobody waited for", err)
	}
}

// An idle pool burns no CPU: on fake time, once the work is done every
// goroutine of the pool is durably blocked (parked on a channel, or the
// starvation monitor on its timer), and once the monitor's last check has
// found no work, an hour passes without it checking anything.
func TestIdlePoolIsParked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(4)
		var n atomic.Int64
		for range 10000 {
			p.Submit(func() { n.Add(1) })
		}
		if err := p.Wait(); err != nil || n.Load() != 10000 {
			t.Fatalf("Wait = %v, ran %d", err, n.Load())
		}
		synctest.Wait() // every goroutine durably blocked: parked
		// If the submissions above found every worker busy, they armed the
		// monitor, and its check is still due (after at most its longest
		// interval, 1s): that check finds no work and disarms it.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		ticks := p.MonitorTicks()
		time.Sleep(time.Hour)
		synctest.Wait()
		if d := p.MonitorTicks() - ticks; d != 0 {
			t.Fatalf("the monitor checked %d times in an idle hour", d)
		}
		if s := p.Stats(); s.Running != 0 || s.Queued != 0 || s.Workers != 4 {
			t.Fatalf("idle pool: %+v", s)
		}
		// And it wakes up for new work.
		p.Submit(func() { n.Add(1) })
		if err := p.Wait(); err != nil || n.Load() != 10001 {
			t.Fatalf("after idling: Wait = %v, ran %d", err, n.Load())
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// Parking without lost wakeups: bursts of work separated by idle periods,
// with the starvation monitor off, so that a lost wakeup would hang (and
// fail through the liveness watchdog) instead of being rescued.
func TestNoLostWakeups(t *testing.T) {
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		p := pool.New(0, pool.WithStarvationCheck(0, 0))
		defer shutdown(t, p)
		var n atomic.Int64
		rounds := testutil.Scale(3000)
		for i := range rounds {
			for range 1 + i%7 {
				p.Submit(func() { n.Add(1) })
			}
			if i%2 == 0 {
				p.Go(func(w *pool.Worker) { w.Spawn(func(*pool.Worker) { n.Add(1) }) })
			}
			if err := waitLive(t, p); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestResize(t *testing.T) {
	p := pool.New(2)
	defer shutdown(t, p)
	if s := p.Stats(); s.Workers != 2 {
		t.Fatalf("Workers = %d", s.Workers)
	}
	p.Resize(5)
	if s := p.Stats(); s.Workers != 5 {
		t.Fatalf("after Resize(5): Workers = %d", s.Workers)
	}
	// Shrinking lets running tasks finish; then the retired workers exit.
	g := block(p, 5)
	p.Resize(1)
	var ran atomic.Int64
	for range 100 {
		p.Submit(func() { ran.Add(1) })
	}
	g.open()
	if err := waitLive(t, p); err != nil || ran.Load() != 100 {
		t.Fatalf("Wait = %v, ran %d", err, ran.Load())
	}
	waitFor(t, func() bool { return p.Stats().Workers == 1 })
	for range 100 {
		p.Submit(func() { ran.Add(1) })
	}
	if err := waitLive(t, p); err != nil || ran.Load() != 200 {
		t.Fatalf("Wait = %v, ran %d", err, ran.Load())
	}
	if s := p.Stats(); s.Completed != 205 || s.Submitted != 205 {
		t.Fatalf("Stats %+v: retired workers' counts must be kept", s)
	}
}

func TestZeroValuePool(t *testing.T) {
	var p pool.Pool
	var n atomic.Int64
	for range 100 {
		if err := p.Submit(func() { n.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Wait(); err != nil || n.Load() != 100 {
		t.Fatalf("Wait = %v, ran %d", err, n.Load())
	}
	if s := p.Stats(); s.Workers != runtime.GOMAXPROCS(0) {
		t.Fatalf("Workers = %d, want GOMAXPROCS", s.Workers)
	}
	shutdown(t, &p)
}

func TestWaitContext(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	g := block(p, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.WaitContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext = %v", err)
	}
	p.Submit(panickingTask)
	g.open()
	var pe *pool.PanicError
	if err := waitLive(t, p); !errors.As(err, &pe) {
		t.Fatalf("Wait = %v: the panic must survive a cancelled WaitContext", err)
	}
}

func TestMisusePanics(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	var nilWorker *pool.Worker
	ran := false // a task given with a nil Worker must not run
	for name, f := range map[string]func(){
		"Spawn on nil Worker":        func() { nilWorker.Spawn(func(*pool.Worker) { ran = true }) },
		"Join on nil Worker, 1 task": func() { _ = nilWorker.Join(func(*pool.Worker) { ran = true }) },
		"Submit(nil)":                func() { p.Submit(nil) },
		"SubmitContext(nil)":         func() { p.SubmitContext(context.Background(), nil) },
		"Go(nil)":                    func() { p.Go(nil) },
		"Group.Go(nil w)":            func() { var g pool.Group; g.Go(nil, func(*pool.Worker) {}) },
		"SpawnArgs on nil Worker":    func() { nilWorker.SpawnArgs(func(*pool.Worker, int, int) { ran = true }, 0, 0) },
		"Group.GoArgs(nil w)":        func() { var g pool.Group; g.GoArgs(nil, func(*pool.Worker, int, int) { ran = true }, 0, 0) },
		"Group.Wait(nil w)":          func() { var g pool.Group; g.Wait(nil) },
		"WithQueueLimit(0)":          func() { pool.WithQueueLimit(0, pool.Block) },
		"Size(0, 0)":                 func() { pool.Size(0, 0) },
		"Size(-1, 1)":                func() { pool.Size(-1, 1) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "pool: ") {
					t.Errorf("%s: recovered %v, want a \"pool: \" panic", name, r)
				}
			}()
			f()
		}()
		if ran {
			t.Errorf("%s: ran the task before panicking", name)
			ran = false
		}
	}
}

func TestSize(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, c := range []struct {
		wait, compute time.Duration
		want          int
	}{
		{90 * time.Millisecond, 10 * time.Millisecond, 20}, // the notes' example
		{0, time.Millisecond, 2},                           // CPU-bound: the cores
		{time.Nanosecond, 3 * time.Nanosecond, 3},          // 2 x 4/3 = 2.67: rounded up
		{time.Second, time.Second, 4},
		{1<<63 - 1, 1, math.MaxInt}, // saturates
	} {
		if got := pool.Size(c.wait, c.compute); got != c.want {
			t.Errorf("Size(%v, %v) = %d, want %d", c.wait, c.compute, got, c.want)
		}
	}
}

// Queued tasks are cheap: a million waiting tasks (a hundred thousand
// under -short), each with its own closure, take at most a tenth of the
// memory of a million goroutines parked holding the same closures. The
// goroutines' cost is measured on a tenth as many and scaled (a goroutine's
// cost does not depend on how many there are), which keeps the test within
// CI's memory under -race, where a goroutine is several times bigger.
func TestQueuedTasksTakeATenthOfGoroutines(t *testing.T) {
	n := testutil.Scale(1_000_000)
	perTask := queuedMemory(n, true)
	perGoroutine := queuedMemory(n/10, false)
	t.Logf("%d queued tasks: %.0f B each; parked goroutines: %.0f B each (ratio %.3f)",
		n, perTask, perGoroutine, perTask/perGoroutine)
	if perTask > perGoroutine/10 {
		t.Fatalf("a queued task takes %.0f B, more than a tenth of a parked goroutine's %.0f B", perTask, perGoroutine)
	}
}

// A submission blocked on a full queue when Shutdown begins fails with
// ErrClosed; the tasks already queued still run.
func TestShutdownFailsBlockedSubmitters(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.Block), pool.WithStarvationCheck(0, 0))
	g := block(p, 1)
	var ran atomic.Int64
	p.Submit(func() { ran.Add(1) }) // fills the queue
	blocked := make(chan error, 1)
	go func() { blocked <- p.Submit(func() { ran.Add(100) }) }()
	waitFor(t, func() bool { return pool.BlockedSubmitters(p) == 1 })
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	if err := <-blocked; !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("blocked Submit = %v, want ErrClosed", err)
	}
	g.open()
	if err := <-done; err != nil || ran.Load() != 1 {
		t.Fatalf("Shutdown = %v, ran %d; want the queued task run, the blocked one not", err, ran.Load())
	}
}

// No thundering herd: one task submitted to a pool of eight parked workers
// wakes one worker to run it, and that one, finding work as the last
// searcher, wakes at most one more to look for more (tokio's rule); the
// rest stay parked.
func TestOneSubmissionWakesFewWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pool.New(8)
		synctest.Wait() // all parked
		before := p.Stats().Wakeups
		var ran atomic.Int64
		p.Submit(func() { ran.Add(1) })
		if err := p.Wait(); err != nil || ran.Load() != 1 {
			t.Fatalf("Wait = %v, ran %d", err, ran.Load())
		}
		synctest.Wait() // all parked again
		if woken := p.Stats().Wakeups - before; woken < 1 || woken > 2 {
			t.Fatalf("one submission woke %d of 8 parked workers, want 1 or 2", woken)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// Join with a nil task is misuse, like Spawn(nil) and Group.Go(w, nil): it
// must panic with a "pool: " message. A nil first task used to be called
// inline under panics.Try, so Join returned the nil-func dereference as a
// *PanicError, as if a task had panicked.
func TestJoinNilTaskPanics(t *testing.T) {
	p := pool.New(1)
	defer shutdown(t, p)
	for name, tasks := range map[string][]func(*pool.Worker){
		"first":  {nil, func(*pool.Worker) {}},
		"second": {func(*pool.Worker) {}, nil},
	} {
		got := make(chan any, 1)
		var err error
		p.Go(func(w *pool.Worker) {
			defer func() { got <- recover() }()
			err = w.Join(tasks...)
		})
		r := <-got
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, "pool: ") {
			t.Errorf("Join with a nil %s task: recovered %v (Join = %v), want a \"pool: \" panic", name, r, err)
		}
	}
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
}

// Stats.Running counts workers inside a task, at most one per worker, and
// Workers does not count the submitter's goroutine that a CallerRuns Go
// task borrows (nor does Running count a CallerRuns func task). Running
// used to count the borrowed goroutine: with the one worker busy and a
// caller-run Go task in progress, Stats said 2 running of 1 worker (and,
// between the borrowed worker's last flush and its unlisting, 1 running in
// a quiet pool).
func TestStatsRunningExcludesCallerRunsGoroutine(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	g := block(p, 1)
	p.Submit(func() {}) // fills the queue: the next submission runs here
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- p.Go(func(*pool.Worker) { close(started); <-release })
	}()
	<-started
	funcStarted, funcRelease := make(chan struct{}), make(chan struct{})
	go func() {
		done <- p.Submit(func() { close(funcStarted); <-funcRelease })
	}()
	<-funcStarted
	s := p.Stats()
	close(release)
	close(funcRelease)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	g.open()
	if s.Running > s.Workers || s.Running != 1 {
		t.Fatalf("one worker busy, two tasks running in callers: %+v; want Running 1 (<= Workers)", s)
	}
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
}
