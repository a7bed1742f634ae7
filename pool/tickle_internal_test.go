package pool

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// A tickle that notify sends to a helper whose group has just run out of
// children (pending at 0, its waiter not yet out of helpUntilDone) is
// spent on a worker that leaves Wait without looking at the queues, while
// another helper, whose children are still pending, stays parked: the task
// the tickle was for waits for a busy worker, which is what the helpers
// were added to prevent. Here both workers' tasks wait in Group.Wait (their
// children counted by hand, as export_test's CountChild does); the most
// recently registered helper's group reaches 0 children (its waiter is not
// woken yet), then a task X is submitted. The helper picked leaves Wait and
// its task waits for X; the other helper must run X.
func TestTickleOfLeavingHelperIsPassedOn(t *testing.T) {
	p := New(2, WithStarvationCheck(0, 0))
	var ga, gb Group
	ran := make(chan struct{})
	var once sync.Once
	x := func() { once.Do(func() { close(ran) }) }
	waiter := func(g *Group) func(*Worker) {
		return func(w *Worker) {
			g.pending.Add(1) // a child that the test finishes by hand
			_ = g.Wait(w)
			<-ran // the task X must run for this task to end
		}
	}
	deadline := time.Now().Add(testutil.Liveness)
	poll := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if time.Now().After(deadline) {
				testutil.DumpGoroutines()
				t.Fatal(what)
			}
			runtime.Gosched()
		}
	}
	if err := p.Go(waiter(&ga)); err != nil {
		t.Fatal(err)
	}
	poll("the first waiter never parked, or the other worker never did",
		func() bool { return ga.nwait.Load() == 1 && p.Sleeping() == 1 })
	if err := p.Go(waiter(&gb)); err != nil {
		t.Fatal(err)
	}
	// Both workers parked in Wait, both registered as helpers, nobody
	// searching or parked in the pool.
	var top, other *Group
	poll("the two waiters never both parked as helpers", func() bool {
		p.helpMu.Lock()
		defer p.helpMu.Unlock()
		if len(p.helpers) != 2 || ga.nwait.Load() != 1 || gb.nwait.Load() != 1 ||
			p.Sleeping() != 0 || p.Searching() != 0 {
			return false
		}
		top, other = p.helpers[1].helpG, p.helpers[0].helpG
		return true
	})
	// The most recently registered helper's last child ends: pending is 0,
	// its waiter not yet woken (done's window before wakeWaiters).
	if top.pending.Add(-1) != 0 {
		t.Fatal("pending")
	}
	if err := p.Submit(x); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		testutil.DumpGoroutines()
		t.Error("the task queued while a worker was parked in Group.Wait never ran: notify's tickle went to a helper that left Wait")
		x()
	}
	top.wakeWaiters() // done's second half, a no-op if the tickle woke it
	if other.pending.Add(-1) == 0 {
		other.wakeWaiters()
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Liveness)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
