package pool_test

import (
	"runtime"
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
