package pool

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// Group is a set of child tasks that a task forks onto its worker and then
// joins: fork-join, as in ForkJoinPool's fork/join or rayon's scope.
//
//	var g pool.Group
//	g.Go(w, left)
//	g.Go(w, right)
//	err := g.Wait(w) // w runs queued tasks until left and right are done
//
// Wait never deadlocks a pool, however few its workers: the waiting worker
// runs other queued tasks, its own children first, while it waits, and
// parks only when there is nothing to run and its children are running
// elsewhere. A task it runs meanwhile runs on the waiter's goroutine, so
// one that blocks until the waiting task has gone on past its Wait
// deadlocks with it (see the package doc).
//
// The zero value is an empty group, ready to use, and a group can be reused
// after Wait. A Group must not be copied after first use.
//
// The end of every child synchronizes before the Wait that waits for it
// returns.
type Group struct {
	_       noCopy
	pending atomic.Int64 // children not yet finished
	nwait   atomic.Int64 // waiters parked in q

	// err is the first child panic since the last Wait. A child stores it
	// before it counts itself done, so the Wait that sees pending reach 0
	// sees it too; Wait reads it without a lock and swaps it out only when
	// there is one.
	err atomic.Pointer[PanicError]

	mu sync.Mutex // guards q
	q  waitq.Queue

	// first is the job of a child forked while no other child was
	// pending, which is every child of the usual fork-join (one Go, then
	// Wait): it saves that child an allocation. The Go whose increment
	// takes pending from 0 to 1 owns it until pending is back at 0, which
	// is after that child's done and so after the worker's last look at
	// its job; a Go that finds other children pending allocates a job of
	// its own.
	first job
}

// Go forks task as a child of g onto w's deque; w is the worker of the
// calling task. Like Worker.Spawn it never blocks.
func (g *Group) Go(w *Worker, task func(w *Worker)) {
	if w == nil {
		panic("pool: Group.Go needs the Worker of the calling task")
	}
	if task == nil {
		panic("pool: nil task")
	}
	var j *job
	if g.pending.Add(1) == 1 {
		j = &g.first
	} else {
		j = new(job)
	}
	j.fn, j.g = task, g
	w.spawn(jobTask(j))
}

// GoArgs is Go for a task that is a function of two ints, as
// Worker.SpawnArgs is Spawn's: it forks task(w2, x, y) as a child of g onto
// w's deque, and allocates nothing (see SpawnArgs). It never blocks.
func (g *Group) GoArgs(w *Worker, task func(w *Worker, x, y int), x, y int) {
	if w == nil {
		panic("pool: Group.GoArgs needs the Worker of the calling task")
	}
	if task == nil {
		panic("pool: nil task")
	}
	g.pending.Add(1)
	w.spawn(argsTask(w.newArgs(task, x, y, g)))
}

// Wait waits until every child forked so far has finished, running queued
// tasks on w meanwhile, and returns the first child panic since the
// previous Wait as a *PanicError, or nil. w must be the calling task's
// worker.
func (g *Group) Wait(w *Worker) error {
	if w == nil {
		panic("pool: Group.Wait needs the Worker of the calling task")
	}
	if g.pending.Load() != 0 {
		w.helpUntilDone(g)
	}
	if g.err.Load() != nil {
		if e := g.err.Swap(nil); e != nil {
			return e
		}
	}
	return nil
}

// helpUntilDone runs tasks on w until g has no pending children: w's own
// deque first (newest first: most likely g's children) and batch, then
// steals, then the injector. With nothing to run it backs off, yields for
// a while (joinLooks), and then parks on g (rayon's wait_until_cold does
// the same, with its sleep module).
func (w *Worker) helpUntilDone(g *Group) {
	var bo backoff.Backoff
	// owed: notify picked w (tickleHelper took it off the helpers) to run
	// a task, and w has not looked at the queues since. If g's children
	// are done by then, w leaves without looking: it passes the wake on.
	owed := false
	var more linger // rounds beyond bo's schedule; see joinLooks
	for g.pending.Load() != 0 {
		owed = false // w looks at every queue below before it parks again
		t := w.next()
		if t == nil {
			t = w.steal()
		}
		if t == nil {
			t = w.fromInjector()
		}
		if t != nil {
			w.run(t)
			bo.Reset()
			more = linger{}
			continue
		}
		if !bo.Completed() {
			bo.Snooze()
			continue
		}
		if more.next(w.p, joinLooks, joinTime) {
			continue
		}
		// Park, then look again: between the wake and this goroutine's
		// running, another task may have forked new children onto g, or
		// (woken by notify) a task may wait to be run. Registered as a
		// helper first, then one more look at the queues: a task queued
		// after the look finds w registered, and notify wakes it.
		p := w.p
		p.addHelper(w, g)
		if !p.hasWork() {
			g.park(w)
		}
		owed = !p.removeHelper(w)
		bo.Reset()
		more = linger{}
	}
	if owed && w.p.hasWork() {
		w.p.notify()
	}
}

// joinLooks: a Group.Wait that finds nothing to run, after its backoff,
// goes on looking at the group and at every queue, yielding the processor
// between looks, for joinLooks/workers more rounds (2000, about 200 µs on
// the machine measured, with 2 workers or one; 62 with 64, whose rounds
// each look at 64 deques) before it parks. What it waits for is a child that another
// worker stole and is running, which ends or forks stealable work soon in
// a fork-join; a parked waiter pays for that event with a wake, which puts
// it behind the running goroutine of the waker's processor (its runnext
// slot), where an idle processor takes it only after a sleep of its own
// (60-115 µs measured; see BENCHMARKS.md). fib(30) forked on two workers
// at 2 CPUs: 2.77 ms without these rounds and searchLooks', 2.31 ms with
// both (-17%, p=0.003, 8 interleaved runs); serial takes 4.1. The yields
// cost CPU only while the processor has nothing else to run: other
// goroutines run at each one.
const joinLooks = 4000

// park blocks until g has no pending children, or notify wakes w to run
// a new task (tickleHelper).
func (g *Group) park(w *Worker) {
	g.mu.Lock()
	g.nwait.Add(1)
	// done writes pending, then reads nwait; we wrote nwait, now read
	// pending: one of us sees the other. tickleHelper sets tickled before
	// it takes g.mu.
	if g.pending.Load() == 0 || w.tickled.Load() {
		g.nwait.Add(-1)
		g.mu.Unlock()
		return
	}
	wt := g.q.Enqueue(0)
	_ = g.q.Wait(context.Background(), &g.mu, wt, nil) // cannot fail: no deadline
	wt.Recycle()
}

// done records that one child finished.
func (g *Group) done() {
	if g.pending.Add(-1) == 0 {
		// window: the Wait that sees pending at 0 may return, and its
		// goroutine reuse g and park for new children, before
		// wakeWaiters runs; wakeWaiters must then leave it parked.
		testhook.Yield()
		g.wakeWaiters()
	}
}

// wakeWaiters wakes the goroutines parked in g's Wait, if any, and if g
// still has no pending child: the caller's pending may have reached 0 a
// while ago (see done), and the Wait parked since is waiting for newer
// children, whose own done will wake it.
func (g *Group) wakeWaiters() {
	if g.nwait.Load() != 0 {
		g.mu.Lock()
		if g.pending.Load() == 0 {
			n := g.q.WakeAll()
			g.nwait.Add(int64(-n))
		}
		g.mu.Unlock()
	}
}

// groupPanic keeps a child's panic for its group's Wait.
func (p *Pool) groupPanic(g *Group, e *PanicError) {
	if e == nil {
		return
	}
	p.panics.Add(1)
	g.err.CompareAndSwap(nil, e) // the first since the last Wait wins
}
