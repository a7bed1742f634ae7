package pool

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/panics"
)

// Worker is one of a pool's worker goroutines, as seen by the task it is
// running. Tasks started with Pool.Go, Worker.Spawn, Group.Go and
// Worker.Join receive it, and use it to fork child tasks onto the worker's
// own deque, where they stay local (run next, depth first, on a warm cache)
// unless an idle worker steals them.
//
// A *Worker is valid only inside the task it was passed to, and only on
// that task's goroutine: keep it out of other goroutines and out of data
// that outlives the task. (Its deque has one owner; a second goroutine
// pushing or popping as owner would corrupt it.)
type Worker struct {
	_  noCopy
	dq deque // first: its own padding separates top, which thieves write

	// batch is the run of injector tasks this worker is working through.
	batch batch
	_     cacheline.Pad // claimers CAS batch.state

	p    *Pool
	id   int
	temp bool // started on starvation, or borrowed by CallerRuns
	// borrowed: the submitter's goroutine, borrowed by CallerRuns. Set
	// under Pool.mu before Stats can see the worker.
	borrowed bool

	retiring atomic.Bool   // set by Resize: exit once the own work is done
	wake     chan struct{} // parking token: capacity 1, sent by unpark

	// While its task parks in Group.Wait: the group (under Pool.helpMu),
	// and whether notify has woken it to look for work (see tickleHelper).
	helpG   *Group
	tickled atomic.Bool

	// idle is set while the worker searches or is parked, and clear while
	// it runs tasks. probe is set by the starvation monitor and cleared by
	// the worker after each task: a busy worker whose probe survives a
	// whole check interval has been inside one task all that time. That
	// costs the per-task path one load, where publishing a counter per task
	// would cost an atomic store.
	idle  atomic.Bool
	probe atomic.Bool

	// Owned by the worker's goroutine.
	rng       uint64
	ticks     uint32
	forked    bool  // the last task run took a *Worker (Go, Spawn, SpawnArgs, Group.Go, GoArgs), not Submit's func()
	unflushed int64 // tasks finished, not yet subtracted from Pool.pending
	reserved  int64 // units of Pool.pending taken for spawns not yet made
	ndone     uint64
	nstolen   uint64
	nspawned  uint64
	free      *argsJob // recycled SpawnArgs and GoArgs records; see argsJob
	nfree     int

	// Published copies of the counters above, for Stats: spawned and
	// completed are stored when the worker flushes (runs out of own work),
	// stolen as it changes.
	completed atomic.Uint64
	stolen    atomic.Uint64
	spawned   atomic.Uint64
}

// injectorInterval: a worker busy with its own work still takes a task
// from the injector every this many tasks, so that outside submissions are
// not starved by recursive work (tokio's global_queue_interval, 61 by
// default).
const injectorInterval = 61

// spawnReserve: a worker takes this many units of Pool.pending at a time
// for the children it spawns, and gives back what it did not use when it
// flushes. Counting each child in the shared pending counter moved that
// counter's cache line between the workers on every spawn of a fork-join
// (fib forking at 2 CPUs: 103 ns a fork with one add per spawn, 91 with
// the reserve). A reserve held by a busy worker only delays Wait, as its
// unflushed count does; the worker gives it back before it searches or
// parks.
const spawnReserve = 64

// ID returns the worker's number, unique within its pool. Core workers are
// numbered from 0 in start order; temporary workers get later numbers.
func (w *Worker) ID() int { return w.id }

// Pool returns the pool the worker belongs to.
func (w *Worker) Pool() *Pool { return w.p }

// Spawn queues task on w's own deque. It runs later, on w or on a worker
// that steals it; Pool.Wait waits for it. A panic in it is reported as a
// panic of any task outside a Group is. Spawn never blocks, also not in a
// pool with a queue limit, and works during Shutdown: work already accepted
// may fork to finish.
func (w *Worker) Spawn(task func(w *Worker)) {
	if w == nil { // misuse, as in Group.Go: say so rather than fault in spawn
		panic("pool: Spawn needs the Worker of the calling task")
	}
	if task == nil {
		panic("pool: nil task")
	}
	w.spawn(workerTask(task))
}

// SpawnArgs is Spawn for a task that is a function of two ints: it queues
// task(w2, x, y) on w's own deque, where w2 is the worker that runs it. It
// allocates nothing: the pool keeps the function and the ints in a record
// that each worker recycles, where Spawn's closure is an allocation per
// task. That matters for fine-grained fork-join (tasks of a microsecond or
// less), where the allocation and the garbage collection it brings cost
// about as much as the rest of the pool's bookkeeping; two ints carry a
// range [lo, hi), an index and a depth, or a node's id. Pass the same
// function value every time (a top-level function, or a func variable made
// once per fork-join, as in the Group.GoArgs example): a func literal that
// captures per-task values allocates its closure again. Records go back
// to the free list of the worker that ran the task, so a worker whose
// children are all stolen (a producer that only spawns) keeps taking new
// ones: a 32-record chunk, one allocation, every 32 tasks, while the
// thieves' lists fill up to their bound and drop the surplus.
//
// Pool.Wait waits for the task, and a panic in it is reported as in Spawn.
// Like Spawn, SpawnArgs never blocks and works during Shutdown. w must be
// the calling task's worker.
func (w *Worker) SpawnArgs(task func(w *Worker, x, y int), x, y int) {
	if w == nil {
		panic("pool: SpawnArgs needs the Worker of the calling task")
	}
	if task == nil {
		panic("pool: nil task")
	}
	w.spawn(argsTask(w.newArgs(task, x, y, nil)))
}

// newArgs takes a record off w's free list, filling the list a chunk at a
// time when it is empty.
func (w *Worker) newArgs(fn func(*Worker, int, int), x, y int, g *Group) *argsJob {
	j := w.free
	if j == nil {
		chunk := new([argsChunk]argsJob)
		for i := 1; i < argsChunk-1; i++ {
			chunk[i].next = &chunk[i+1]
		}
		j, w.free, w.nfree = &chunk[0], &chunk[1], argsChunk-1
	} else {
		w.free, w.nfree = j.next, w.nfree-1
	}
	j.fn, j.x, j.y, j.g, j.next = fn, x, y, g, nil
	return j
}

// recycle puts j, whose task has returned, on w's free list, or leaves it
// to the garbage collector when the list is long. It clears the function
// and the group so that a record on the list keeps nothing alive.
func (w *Worker) recycle(j *argsJob) {
	j.fn, j.g = nil, nil
	if w.nfree < maxFreeArgs {
		j.next, w.free = w.free, j
		w.nfree++
	}
}

func (w *Worker) spawn(t task) {
	p := w.p
	// Count the child in pending before the push, so that pending is never
	// 0 while it is queued. Out of a reserve: units are taken spawnReserve
	// at a time and the unused ones given back by flush, so a worker
	// forking many children writes the shared counter once every
	// spawnReserve spawns, not on each.
	if w.reserved == 0 {
		p.pending.Add(spawnReserve)
		w.reserved = spawnReserve
	}
	w.reserved--
	w.nspawned++
	w.dq.push(t)
	p.notify()
}

// Join runs tasks in parallel and returns when all have finished: the first
// runs at once in the calling task, the others are spawned onto w's deque.
// While it waits, w runs other queued tasks (its own first), so a join
// never leaves its worker idle and never deadlocks the pool. It returns the
// first panic among the tasks as a *PanicError, or nil. A nil task, or a
// nil w, is a bug: Join panics before it starts any of them.
func (w *Worker) Join(tasks ...func(w *Worker)) error {
	if w == nil { // misuse: panic before running any task (a single one ran inline)
		panic("pool: Join needs the Worker of the calling task")
	}
	if len(tasks) == 0 {
		return nil
	}
	for _, t := range tasks {
		if t == nil { // misuse: panic before forking any of them
			panic("pool: nil task")
		}
	}
	var g Group
	for _, t := range tasks[1:] {
		g.Go(w, t)
	}
	first := tasks[0]
	inline := panics.Try(func() { first(w) })
	err := g.Wait(w)
	if inline != nil {
		return inline
	}
	return err
}

func (w *Worker) unpark() {
	select {
	case w.wake <- struct{}{}:
	default: // a token is already there
	}
}

// flush publishes the finished tasks and subtracts them, and the unused
// spawn reserve, from the pool's pending count. Workers flush when they run
// out of own work, not after every task: that keeps the shared counter off
// the per-task path, and only delays Wait, never lets it return early.
func (w *Worker) flush() {
	if n := w.unflushed + w.reserved; n > 0 {
		w.unflushed, w.reserved = 0, 0
		w.spawned.Store(w.nspawned)
		w.completed.Store(w.ndone)
		w.p.finish(n)
	}
}

// loop is a worker goroutine: run tasks, search, park, until told to exit.
// A new worker starts as a searcher (its starter counted it).
func (w *Worker) loop(searching bool) {
	p := w.p
	normal := false
	defer func() {
		if !normal {
			// A task called runtime.Goexit (t.FailNow in a test, say): it
			// ended this goroutine, after run's deferred bookkeeping. The
			// worker, its deque and its place in the pool go on in a new
			// goroutine, still busy, so Wait and Shutdown stay exact.
			go w.loop(false)
		}
	}()
	idle := w.idle.Load()
	for {
		t := w.next()
		if t == nil {
			w.setIdle(true) // first: a Wait that the flush releases sees w idle
			idle = true
			w.flush()
			if !searching && !w.retiring.Load() {
				searching = p.tryStartSearching(len(*p.workers.Load()), w.forked)
			}
			switch {
			case w.retiring.Load():
			case searching:
				t = w.search()
			default:
				// Too many searchers to join them (see tryStartSearching),
				// but one look costs little next to parking and being woken.
				if t = w.fromInjector(); t == nil {
					t = w.steal()
				}
			}
			if t == nil {
				if !w.park(searching) {
					normal = true
					p.exitWorker(w)
					return
				}
				searching = true // a waker counted us as searching
				continue
			}
		}
		// A task, from the search above or from next, also right after a
		// wake (next takes from the injector every injectorInterval calls):
		// stop being idle and searching before running it. A worker that
		// ran a task still counted as searching made producers see a
		// searcher and wake nobody, and the monitor see it idle: a task
		// queued behind it could wait for ever.
		if idle {
			idle = false
			w.setIdle(false)
		}
		if searching {
			searching = false
			p.stopSearching()
		}
		w.run(t)
	}
}

func (w *Worker) setIdle(idle bool) {
	w.idle.Store(idle)
}

// next returns a task of w's own: from its deque, newest first (its
// children), then from its batch, oldest first. Every injectorInterval
// tasks it takes one from the injector first.
func (w *Worker) next() task {
	w.ticks++
	if w.ticks%injectorInterval == 0 {
		if t := w.fromInjector(); t != nil {
			return t
		}
	}
	return w.own()
}

// own returns a task from w's deque or else its batch.
func (w *Worker) own() task {
	if t := w.dq.pop(); t != nil {
		return t
	}
	return w.batch.claim()
}

// fromInjector takes a task from the injector, and a batch with it if w's
// batch is spent.
func (w *Worker) fromInjector() task {
	wantBatch := w.batch.left() == 0
	t := w.p.inj.pop(w, len(*w.p.workers.Load()), wantBatch)
	if t != nil && wantBatch && w.batch.left() > 0 {
		w.p.notify() // a batch landed here: others may steal from it
	}
	return t
}

// search looks for a task in the injector and in the other workers' deques
// and batches, with bounded backoff (spin, then yield, then, for the last
// two searchers, searchLooks/workers more yields), and gives up when that
// is spent.
func (w *Worker) search() task {
	var bo backoff.Backoff
	var more linger // rounds beyond bo's schedule; see searchLooks
	for {
		if t := w.fromInjector(); t != nil {
			return t
		}
		if t := w.steal(); t != nil {
			return t
		}
		if bo.Completed() {
			// Only the last extendedSearchers searchers go on, and only
			// after fork-join work (see searchLooks); none once Shutdown
			// waits for the workers to park and exit.
			if more.rounds == 0 && (!w.forked || nsearching(w.p.idle.state.Load()) > extendedSearchers) {
				return nil
			}
			if w.p.closed.Load() || !more.next(w.p, searchLooks, searchTime) {
				return nil
			}
			continue
		}
		bo.Snooze()
	}
}

// searchLooks: the last two searching workers (extendedSearchers), after
// their backoff, go on looking at every queue, yielding the processor
// between looks, for searchLooks/workers more rounds each (each round
// looks at every worker's deque: 500 rounds, about 50 µs on the machine
// measured, with 2 workers or one; 15 with 64), before they park. A parked
// worker costs the next task a wake, which readies the worker behind the
// waker on its processor, where an idle processor takes it only after a
// sleep (see joinLooks); a fork-join submitted again and again (a server
// answering requests with one) found its workers parked each time. With
// joinLooks it took fib(30) at 2 CPUs from 2.77 to 2.31 ms. Two awake,
// not one: with one, the first task it found made it wake the next
// worker, which then sat out that sleep; the bench suite's fib (through
// Worker.Join, its end signalled on a channel) took 2.548 ms at 2 CPUs
// with one and 2.175 with two (-14.6%, p=0.001, 10 interleaved runs; the
// package's fib unchanged). Other searchers park after their backoff, so
// an idle pool parks every worker but two at once and those within about
// 50 µs: with every searcher going on, a 64-worker pool burnt 0.7 ms of
// CPU after each burst of work, against 0.09 ms without the rounds (a
// review's measurement). And only after fork-join work (the worker's last
// task took a *Worker: Go, Spawn, Group.Go), which forks more soon: after
// Submit's func() tasks the rounds made the bench suite's tiny tasks (a
// closure allocated per task) 11-16% slower at 2 CPUs (84.4 to 93.8 ns a
// task, p=0.005), perhaps because a P that never goes idle runs no
// idle-time garbage collection; with the rule, 80.9 (p=0.33).
const searchLooks = 1000

// extendedSearchers is how many searching workers go on past their
// backoff (searchLooks), and, after fork-join work, the least number that
// tryStartSearching lets search at once.
const extendedSearchers = 2

// searchTime and joinTime bound the extra rounds (searchLooks, joinLooks)
// in time as well, at twice the time the doc gives them. A round lasts a
// few hundred nanoseconds only while the processor has nothing else to
// run: when it has, each yield lasts until the other runnable goroutines
// have had their turn, a whole time slice (10ms) for a CPU-bound one, and
// the rounds went on for seconds (a Group.Wait's 2000 for about a minute at
// GOMAXPROCS=1 with two spinning goroutines), the searcher counted as
// searching all that time. Parking is then no dearer than yielding. In a
// synctest bubble time stands still while goroutines run, and the count
// alone bounds the rounds.
const (
	searchTime = 100 * time.Microsecond
	joinTime   = 400 * time.Microsecond
)

// linger counts the extra rounds of a worker that looks for work past its
// backoff (search, helpUntilDone). The zero value is ready.
type linger struct {
	rounds int
	since  time.Time // when the first round began
}

// next yields the processor for one more round and reports true, or
// reports false when the rounds are spent: budget deque looks in p, that
// is budget/workers rounds (as for two workers when there is one, whose
// rounds look at the injector and its own deque only), or limit of time.
func (l *linger) next(p *Pool, budget int, limit time.Duration) bool {
	if l.rounds == 0 {
		l.since = time.Now()
	} else if time.Since(l.since) > limit {
		return false // the processor had other goroutines to run: see searchTime
	}
	if l.rounds >= budget/max(len(*p.workers.Load()), 2) {
		return false
	}
	l.rounds++
	runtime.Gosched()
	return true
}

// steal makes one pass over the other workers, starting at a random victim
// (rayon's registry.rs and tokio's worker.rs both start at a random index,
// so that thieves spread out), and takes the oldest task of the first
// deque that has one, or else a task of its batch.
func (w *Worker) steal() task {
	ws := *w.p.workers.Load()
	n := len(ws)
	if n < 2 {
		return nil
	}
	start := int(w.random() % uint64(n))
	for i := range n {
		v := ws[(start+i)%n]
		if v == w {
			continue
		}
		t := v.stealFrom()
		if t == nil {
			t = v.batch.claim()
		}
		if t != nil {
			w.nstolen++
			w.stolen.Store(w.nstolen)
			return t
		}
	}
	return nil
}

// stealFrom steals from v's deque, retrying for as long as it loses races:
// each loss means another thief or the owner took a task, so the loop is
// lock-free, and the winner is running, so the backoff only spins.
func (v *Worker) stealFrom() task {
	var bo backoff.Backoff
	for {
		t, r := v.dq.steal()
		if r != stealRetry {
			return t
		}
		bo.Spin()
	}
}

// random is xorshift64* (Vigna, "An experimental exploration of Marsaglia's
// xorshift generators, scrambled", 2016): enough to pick a victim.
func (w *Worker) random() uint64 {
	x := w.rng
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	w.rng = x
	return x * 0x2545F4914F6CDD1D
}

// park parks a worker that found no work, and reports false if instead it
// should exit: it is temporary or retiring, or the pool is shut down and
// nothing is pending. Parking and the exit decision happen under idle.mu,
// where Shutdown and the final flush look for sleepers to wake.
func (w *Worker) park(searching bool) bool {
	p := w.p
	p.idle.mu.Lock()
	exit := w.temp || w.retiring.Load() || (p.closed.Load() && p.quiet())
	var s uint64
	switch {
	case exit && searching:
		s = p.idle.state.Add(minusOne)
	case exit:
		s = p.idle.state.Load()
	case searching:
		s = p.idle.state.Add(sleepOne - searchOne)
	default:
		s = p.idle.state.Add(sleepOne)
	}
	if !exit {
		p.idle.sleepers = append(p.idle.sleepers, w)
	}
	p.idle.mu.Unlock()
	w.batch.clear() // spent: let the GC have its tasks
	// With no searcher left, look at every queue once more, after updating
	// the state: a producer that saw a searcher woke nobody, and that
	// searcher may have found other work and stopped before we counted
	// ourselves parked. (This may wake w itself, through the token it then
	// finds.) tokio re-checks only in the last searcher; a worker that
	// parks without searching re-checks too, because here a task queued
	// behind blocked workers must not wait for one of them to finish.
	if nsearching(s) == 0 && p.hasWork() {
		p.notify()
	}
	if exit {
		return false
	}
	<-w.wake
	return true
}

// run runs one task on w. Its deferred half, after, recovers a panic and
// does the bookkeeping, also when the task ends its goroutine with
// runtime.Goexit.
func (w *Worker) run(t task) {
	defer w.after(t)
	w.forked = tag(t) != tagFunc
	switch tag(t) {
	case tagFunc:
		asFunc(t)()
	case tagWorkerFunc:
		asWorkerFunc(t)(w)
	case tagArgs:
		j := asArgs(t)
		j.fn(w, j.x, j.y)
	default:
		asJob(t).fn(w)
	}
}

// after is run's deferred half. It does what panics.Try does, inline: an
// open-coded defer in run costs a few nanoseconds a task, where calling
// panics.Try (a call, its defer, a closure for job tasks) cost about 10.
// recover must be called by the deferred function itself, so it is here.
func (w *Worker) after(t task) {
	var e *PanicError
	if v := recover(); v != nil {
		e = &PanicError{Value: v, Stack: debug.Stack()}
	}
	// Count the task before a panic handler runs: a handler that ends the
	// goroutine (runtime.Goexit, as t.FailNow does) would otherwise leave
	// it pending for ever. The count is published by a later flush, after
	// the panic is recorded.
	w.ndone++
	w.unflushed++
	if w.probe.Load() {
		w.probe.Store(false) // finished a task since the monitor's last look
	}
	var g *Group
	switch tag(t) {
	case tagJob:
		g = asJob(t).g
	case tagArgs:
		j := asArgs(t)
		g = j.g
		w.recycle(j) // the task has returned: nobody else refers to j
	}
	if g != nil {
		w.p.groupPanic(g, e)
		g.done()
	} else if e != nil {
		w.p.reportPanic(e)
	}
}

// drain runs the tasks left in w's own deque and batch: a borrowed worker
// (CallerRuns) does this before it returns to the caller.
func (w *Worker) drain() {
	for t := w.own(); t != nil; t = w.own() {
		w.run(t)
	}
	w.flush()
}
