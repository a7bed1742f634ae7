package pool_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/pool"
)

// waitWithin runs p.Wait and reports whether it returned within d: a
// liveness bound of seconds, not a timing assertion.
func waitWithin(t *testing.T, p *pool.Pool, d time.Duration) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// A task waiting in Group.Wait "runs other queued tasks until its children
// are done" and parks only when there is nothing to run. A task queued
// after it parked used to be invisible to it: a submission wakes parked
// and searching workers only, so with the other worker inside the child
// (which waits for that very task), the pool hung with the joining worker
// idle. The starvation check, off here, only hid that behind a temporary
// worker started after an interval. The task comes from outside
// (injector) or is spawned by the blocked child (its deque).
func TestGroupWaiterRunsTaskQueuedAfterItParked(t *testing.T) {
	for _, from := range []string{"submit", "spawn"} {
		t.Run(from, func(t *testing.T) {
			p := pool.New(2, pool.WithStarvationCheck(0, 0))
			childStarted, queue, ran := make(chan struct{}), make(chan struct{}), make(chan struct{})
			var once sync.Once
			x := func() { once.Do(func() { close(ran) }) }
			var g pool.Group
			p.Go(func(w *pool.Worker) {
				g.Go(w, func(w *pool.Worker) {
					close(childStarted)
					if from == "spawn" {
						<-queue
						w.Spawn(func(*pool.Worker) { x() })
					}
					<-ran // the task X must run for this child to end
				})
				<-childStarted // the other worker stole the child and runs it
				g.Wait(w)      // nothing to run: parks until X comes
			})
			deadline := time.Now().Add(testutil.Liveness)
			for g.Parked() != 1 { // the condition itself, polled; the deadline is liveness
				if time.Now().After(deadline) {
					t.Fatal("the joining task never parked")
				}
				runtime.Gosched()
			}
			if from == "submit" {
				if err := p.Submit(x); err != nil {
					t.Fatal(err)
				}
			} else {
				close(queue)
			}
			if !waitWithin(t, p, 5*time.Second) {
				testutil.DumpGoroutines()
				x() // let the pool finish, so that the failure leaks nothing
				shutdown(t, p)
				t.Fatal("the task queued while a worker waited in Group.Wait never ran: the pool hung with that worker idle")
			}
			shutdown(t, p)
		})
	}
}
