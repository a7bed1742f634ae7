package pool_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/pool"
)

// Lost wakeups around a worker's wake, and bookkeeping skipped by
// runtime.Goexit. (Found by an adversarial review, 2026-12-06.)

// waitSleeping waits until n of p's workers are parked. Polling a counter
// is the condition here, not a timing guess; the deadline is a liveness
// bound.
func waitSleeping(t *testing.T, p *pool.Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(testutil.Liveness)
	for p.Sleeping() != n {
		if time.Now().After(deadline) {
			t.Fatalf("workers never parked: %d sleeping, %d searching", p.Sleeping(), p.Searching())
		}
		runtime.Gosched()
	}
}

// A woken worker re-enters its loop counted as searching, and every
// injectorInterval (61) calls its next takes a task from the injector: it
// used to run that task still counted as searching and marked idle. A
// submission meanwhile saw a searcher and woke nobody, and the monitor saw
// the worker idle and never declared starvation, so task B below, which A
// waits for, was never run. With one worker the monitor must rescue A
// (TestBlockedOnChildCompletes); with two the second worker must run B.
// Each round wakes a parked worker once; 200 rounds cross the interval
// several times (it hung at round 60 and 59).
func TestWokenWorkerRunsTaskAsBusy(t *testing.T) {
	for _, c := range []struct {
		name    string
		workers int
		opts    []pool.Option
	}{
		{"workers=1/monitor", 1, nil},
		{"workers=2/no-monitor", 2, []pool.Option{pool.WithStarvationCheck(0, 0)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := pool.New(c.workers, c.opts...)
			defer shutdown(t, p)
			for range 200 { // not scaled: -short must cross the interval too
				waitSleeping(t, p, c.workers)
				started, release := make(chan struct{}), make(chan struct{})
				p.Submit(func() { close(started); <-release }) // A wakes a worker
				<-started
				p.Submit(func() { close(release) }) // B must run somewhere
				if err := waitLive(t, p); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A task run right after a wake that ends its goroutine with
// runtime.Goexit: the worker restarts in a new goroutine, and used to keep
// the searcher count it held for ever, after which no submission woke a
// parked worker again.
func TestGoexitAfterWakeKeepsNoSearcher(t *testing.T) {
	p := pool.New(1, pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	for range 200 { // not scaled: see TestWokenWorkerRunsTaskAsBusy
		waitSleeping(t, p, 1)
		p.Submit(runtime.Goexit)
		if err := waitLive(t, p); err != nil {
			t.Fatal(err)
		}
		waitSleeping(t, p, 1)
		p.Submit(func() {})
		if err := waitLive(t, p); err != nil {
			t.Fatal(err)
		}
	}
}

// A CallerRuns task that calls runtime.Goexit ends the submitter's
// goroutine; it used to skip runHere's bookkeeping, leaving the task
// pending for ever: Wait and Shutdown hung.
func TestCallerRunsGoexitFinishes(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0))
	defer shutdown(t, p)
	g := block(p, 1)
	p.Submit(func() {}) // fills the queue: the next Submit runs its task here
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Submit(runtime.Goexit)
	}()
	<-done
	g.open()
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Completed; got != 3 {
		t.Fatalf("Completed = %d, want 3", got)
	}
}

// A panic handler that calls runtime.Goexit (t.FailNow in a test's
// handler) used to run before the task was counted, leaving it pending for
// ever: Wait hung.
func TestPanicHandlerGoexitFinishes(t *testing.T) {
	handled := make(chan *pool.PanicError, 1)
	p := pool.New(1, pool.WithStarvationCheck(0, 0), pool.WithPanicHandler(func(e *pool.PanicError) {
		handled <- e
		runtime.Goexit()
	}))
	defer shutdown(t, p)
	p.Submit(func() { panic("boom") })
	if err := waitLive(t, p); err != nil {
		t.Fatal(err)
	}
	if e := <-handled; e.Value != "boom" {
		t.Fatalf("handler got %v, want the task's panic", e.Value)
	}
}

// A CallerRuns worker task borrows the submitter's goroutine as a
// temporary worker, which runs the children left in its deque once the
// task returns. A child that called runtime.Goexit there (itself, or
// through a panic handler) cut that drain short: the borrowed worker's
// finished tasks were never published and it stayed listed, so Wait and
// Shutdown hung, and the children behind the Goexit never ran. (Found by an
// adversarial review, 2026-12-06.)
func TestCallerRunsDrainedChildGoexitFinishes(t *testing.T) {
	for _, c := range []struct {
		name  string
		child func(*pool.Worker)
		opts  []pool.Option
	}{
		{"goexit", func(*pool.Worker) { runtime.Goexit() }, nil},
		{"panic-handler-goexit", func(*pool.Worker) { panic("boom") },
			[]pool.Option{pool.WithPanicHandler(func(*pool.PanicError) { runtime.Goexit() })}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := append([]pool.Option{pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0)}, c.opts...)
			p := pool.New(1, opts...)
			defer shutdown(t, p)
			g := block(p, 1)
			p.Submit(func() {}) // fills the queue: the next submission runs here
			var after atomic.Bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				p.Go(func(w *pool.Worker) {
					// Left in the borrowed worker's deque; drained newest
					// first, so the Goexit comes before after's child.
					w.Spawn(func(*pool.Worker) { after.Store(true) })
					w.Spawn(c.child)
				})
			}()
			<-done
			g.open()
			if err := waitLive(t, p); err != nil {
				t.Fatal(err)
			}
			if !after.Load() {
				t.Fatal("the child left behind the Goexit never ran")
			}
			if s := p.Stats(); s.Completed != 5 || s.Running != 0 || s.Workers != 1 {
				t.Fatalf("after Wait: %+v; want 5 completed, none running, 1 worker", s)
			}
		})
	}
}

// A CallerRuns submission that had decided to run its task in the caller
// (queue full, pool open) counted the task only when it started it: a
// Shutdown in between found the pool quiet and returned, and the task then
// ran after Shutdown had returned, its panic reported to nobody. The hook
// holds the submission in that window until Shutdown has returned; the
// submission must then refuse the task. (Found by an adversarial review,
// 2026-12-06.)
func TestCallerRunsNotAfterShutdown(t *testing.T) {
	p := pool.New(1, pool.WithQueueLimit(1, pool.CallerRuns), pool.WithStarvationCheck(0, 0))
	g := block(p, 1)
	p.Submit(func() {}) // fills the queue
	inWindow, release := make(chan struct{}), make(chan struct{})
	pool.SetRunHereHook(func() { close(inWindow); <-release })
	defer pool.SetRunHereHook(nil)
	var shutDown, late atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- p.Submit(func() { late.Store(shutDown.Load()) })
	}()
	<-inWindow
	g.open()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	shutDown.Store(true)
	close(release)
	if err := <-errc; !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Submit = %v, want ErrClosed: it was decided before Shutdown but not counted", err)
	}
	if late.Load() {
		t.Fatal("a CallerRuns task ran after Shutdown had returned")
	}
}
