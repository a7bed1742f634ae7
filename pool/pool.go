package pool

import (
	"context"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/panics"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// Pool is a pool of worker goroutines that run submitted tasks. Each worker
// has its own work-stealing deque; tasks submitted from outside go through
// one shared queue; idle workers steal, and park when there is nothing to
// steal. See the package documentation for the model.
//
// The zero value is a pool with GOMAXPROCS workers and default options,
// started on first use. A Pool must not be copied after first use.
//
// In the terminology of the Go memory model, a call to Submit, SubmitContext
// or Go "synchronizes before" the task starts, Spawn and Group.Go
// synchronize before the child starts, and the end of every task that Wait
// waited for synchronizes before Wait returns.
type Pool struct {
	_ noCopy

	// pending counts the tasks out of the injector (in a worker's batch or
	// deque, or running) that are not yet known to have finished, plus the
	// units that workers hold in reserve for spawns. A spawn counts its
	// child before it pushes, out of its worker's reserve (Worker.spawn); a
	// worker taking a batch from the injector adds its size, under the
	// injector's lock, before it takes it off the injector's count; workers
	// subtract finished tasks in batches and give back their unused reserve
	// when they run out of own work (Worker.flush). So inj.n + pending is
	// never 0 while a task is queued or running, read in that order (see
	// quiet). Outside submissions do not touch it: inj.n counts them, which
	// saves the per-task path an atomic add.
	pending atomic.Int64
	_       cacheline.Pad

	inj injector
	_   cacheline.Pad

	idle idle
	_    cacheline.Pad

	ready  atomic.Bool // init done; checked on every call for the zero value
	closed atomic.Bool // Shutdown was called: Submit fails, workers exit when idle
	cfg    config

	// workers lists every worker that can hold tasks, core and temporary.
	// Thieves load it without a lock; changes copy it under mu.
	workers atomic.Pointer[[]*Worker]

	initOnce sync.Once
	mu       sync.Mutex // guards the fields below and worker starts and exits
	nextID   int
	live     int // worker goroutines that have not exited
	extra    int // temporary workers that have not exited
	retired  counts
	stopped  chan struct{} // closed when the pool is closed and the last worker has exited

	panicked     atomic.Pointer[PanicError] // first panic not yet returned by Wait
	panics       atomic.Uint64
	callerRan    atomic.Uint64 // tasks submitted with CallerRuns that ran in the caller
	callerDone   atomic.Uint64 // of those, plain func() tasks, which no worker counted
	extraStarted atomic.Uint64

	waitMu  sync.Mutex // guards waiters
	waiters waitq.Queue
	nwait   atomic.Int64 // goroutines registered to wait for quiet

	// helpers lists the workers parked in Group.Wait (see helpUntilDone),
	// so that a task queued while every other worker is busy wakes one of
	// them to run it. nhelp mirrors its length for notify's one load.
	helpMu  sync.Mutex
	helpers []*Worker
	nhelp   atomic.Int64

	mon monitor
}

// counts are the totals of exited workers.
type counts struct {
	submitted, completed, stolen uint64
}

// noCopy makes go vet's copylocks check report copies of a Pool, Worker
// or Group. It is a field, not embedded, so Lock and Unlock are not methods
// of those types.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// New returns a pool with the given number of workers (workers < 1 means
// runtime.GOMAXPROCS(0)), started at once.
func New(workers int, opts ...Option) *Pool {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	p := &Pool{}
	p.initOnce.Do(func() { p.init(workers, cfg) })
	return p
}

func (p *Pool) ensure() {
	if !p.ready.Load() {
		p.initOnce.Do(func() { p.init(0, defaultConfig()) })
	}
}

func (p *Pool) init(workers int, cfg config) {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	p.cfg = cfg
	p.inj.limit = cfg.limit
	p.stopped = make(chan struct{})
	p.workers.Store(new([]*Worker))
	if cfg.starvation > 0 {
		p.mon.wake = make(chan struct{}, 1)
		p.mon.done = make(chan struct{})
		go p.monitor()
	}
	p.mu.Lock()
	for range workers {
		p.startWorker(false)
	}
	p.mu.Unlock()
	p.ready.Store(true)
}

// newWorker makes a worker and lists it, so that thieves see its deque.
// Called with p.mu held.
func (p *Pool) newWorker(temp bool) *Worker {
	w := &Worker{p: p, id: p.nextID, temp: temp, wake: make(chan struct{}, 1)}
	w.idle.Store(true)
	p.nextID++
	w.rng = uint64(w.id)*0x9E3779B97F4A7C15 | 1
	w.dq.init()
	old := *p.workers.Load()
	ws := make([]*Worker, len(old), len(old)+1)
	copy(ws, old)
	ws = append(ws, w)
	p.workers.Store(&ws)
	return w
}

// startWorker starts a worker goroutine, counted as searching. Called with
// p.mu held.
func (p *Pool) startWorker(temp bool) {
	w := p.newWorker(temp)
	p.live++
	if temp {
		p.extra++
	}
	p.idle.state.Add(searchOne)
	go w.loop(true)
}

// unlist removes w from the worker list and keeps its counters. Called with
// p.mu held; w's deque must be empty.
func (p *Pool) unlist(w *Worker) {
	old := *p.workers.Load()
	ws := make([]*Worker, 0, len(old))
	for _, v := range old {
		if v != w {
			ws = append(ws, v)
		}
	}
	p.workers.Store(&ws)
	p.retired.submitted += w.spawned.Load()
	p.retired.completed += w.completed.Load()
	p.retired.stolen += w.stolen.Load()
}

// exitWorker is a worker goroutine's last act.
func (p *Pool) exitWorker(w *Worker) {
	p.mu.Lock()
	p.unlist(w)
	p.live--
	if w.temp {
		p.extra--
	}
	if p.live == 0 && p.closed.Load() {
		close(p.stopped)
	}
	p.mu.Unlock()
}

// Submit queues task to run on a worker. It returns ErrClosed after
// Shutdown. With a queue limit, a full queue makes it follow the limit's
// policy: Block waits for room (with no deadline; see SubmitContext),
// FailFast returns ErrQueueFull, CallerRuns runs task before returning.
//
// Submit allocates nothing: it costs one lock, two atomic adds and a load
// when a worker is busy or searching, and a wakeup when all are parked.
func (p *Pool) Submit(task func()) error {
	if task == nil {
		panic("pool: nil task")
	}
	return p.submit(context.Background(), funcTask(task))
}

// SubmitContext is Submit with a bound on the wait for room in a pool with
// a queue limit and the Block policy. If ctx is done before task is queued,
// SubmitContext returns an error for which errors.Is(err, ctx.Err()) holds,
// and task is not queued. A ctx that is already done fails the call even
// when there is room (use Submit, or a FailFast limit, not to wait).
func (p *Pool) SubmitContext(ctx context.Context, task func()) error {
	if task == nil {
		panic("pool: nil task")
	}
	if err := waitq.Err(ctx); err != nil {
		return err
	}
	return p.submit(ctx, funcTask(task))
}

// Go is Submit for a task that receives its Worker, through which it can
// fork children onto its worker's deque (Worker.Spawn, Group.Go,
// Worker.Join). Like Submit it allocates nothing itself. Under a
// CallerRuns limit, a full queue makes the caller run task as a temporary
// worker of the pool, so that its children are stealable too.
func (p *Pool) Go(task func(w *Worker)) error {
	if task == nil {
		panic("pool: nil task")
	}
	return p.submit(context.Background(), workerTask(task))
}

func (p *Pool) submit(ctx context.Context, t task) error {
	p.ensure()
	if p.inj.limit == 0 {
		n, ok := p.inj.push(t, &p.closed)
		if !ok {
			return ErrClosed
		}
		p.notify()
		if n&63 == 0 && n > yieldPerWorker*len(*p.workers.Load()) {
			// The workers are far behind: make sure none is parked, and
			// lend them this processor rather than grow the queue further
			// (see yieldPerWorker).
			p.wakeParked()
			runtime.Gosched()
		}
		return nil
	}
	switch err := p.inj.pushBounded(ctx, t, p.cfg.policy, &p.closed); err {
	case nil:
		p.notify()
		return nil
	case errRunHere:
		if runHereHook != nil {
			runHereHook()
		}
		// Count the task before a last look at closed. Shutdown writes
		// closed and then reads pending (quiet): either it sees this task
		// and waits for it, or this call sees the pool closed and refuses
		// the task. (Counting it only in runHere let a Shutdown that came
		// in between find the pool quiet and return, and the task run
		// after Shutdown had returned.)
		p.pending.Add(1)
		if p.closed.Load() {
			p.finish(1)
			return ErrClosed
		}
		p.runHere(t)
		return nil
	default:
		return err
	}
}

// runHereHook, when non-nil, is called by a CallerRuns submission that has
// decided to run its task in the caller, before it counts the task. Tests
// use it to hold a submission in that window; it is nil otherwise.
var runHereHook func()

// yieldPerWorker: an unbounded Submit yields the processor
// (runtime.Gosched) when more than this many tasks per worker are queued.
// It never blocks, but a producer that outruns the workers then shares its
// processor with them instead of running ahead for a whole scheduler time
// slice (10ms, hundreds of thousands of tiny tasks): the queue stays small
// enough to stay in cache and out of the garbage collector's way, where
// running ahead measured 2.5x the per-task cost at GOMAXPROCS=1. A channel
// of func() gets the same effect by blocking the producer when its buffer
// is full. Use WithQueueLimit for a hard bound.
const yieldPerWorker = 256

// runHere runs a task in the submitting goroutine (CallerRuns). The caller
// has counted it in pending already (for Wait and Shutdown, which must wait
// for it too).
func (p *Pool) runHere(t task) {
	p.callerRan.Add(1)
	if tag(t) == tagFunc {
		defer func() { // deferred: also if the task or a panic handler calls runtime.Goexit
			p.callerDone.Add(1)
			p.finish(1)
		}()
		if e := panics.Try(asFunc(t)); e != nil {
			p.reportPanic(e)
		}
		return
	}
	// The caller becomes a temporary, listed worker for the task's
	// duration, so the task can fork and its children can be stolen.
	p.mu.Lock()
	w := p.newWorker(true)
	w.borrowed = true // under mu, where Stats reads it
	p.mu.Unlock()
	defer w.retire() // deferred: also if the task calls runtime.Goexit
	w.idle.Store(false)
	w.run(t)
}

// retire ends a worker borrowed by runHere: it runs the tasks left in the
// worker's deque (children the task forked that nobody stole), publishes
// what the worker finished, and unlists it. If one of those tasks ends the
// goroutine (runtime.Goexit, also from a panic handler), its bookkeeping
// is done (run defers it) but this call is cut short, and the rest of the
// work would be left undone: the drain, the flush that lets Wait return,
// the unlisting. The rest then goes on in a new goroutine, as a worker's
// loop does after a Goexit.
func (w *Worker) retire() {
	normal := false
	defer func() {
		if !normal {
			go w.retire()
		}
	}()
	w.drain()
	w.p.mu.Lock()
	w.p.unlist(w)
	w.p.mu.Unlock()
	normal = true
}

// finish subtracts n finished tasks from pending and, when that leaves
// the pool quiet, wakes Wait callers and, after Shutdown, the parked
// workers, which then exit.
func (p *Pool) finish(n int64) {
	if p.pending.Add(-n) == 0 && p.inj.n.Load() == 0 {
		p.quiesce()
	}
}

// quiet reports whether no task is queued or running. It reads inj.n
// before pending: a task moves from the first count to the second by
// being added to pending before it is taken off inj.n, so reading in this
// order cannot miss it.
func (p *Pool) quiet() bool {
	return p.inj.n.Load() == 0 && p.pending.Load() == 0
}

func (p *Pool) quiesce() {
	// Wait registers (nwait) before it checks quiet; we wrote pending
	// before reading nwait: one of the two sees the other. Under waitMu we
	// look at quiet again: this call may be stale, its pending having
	// reached 0 before a Wait that returned then, after which new tasks
	// came and a new Wait parked; that Wait is not ours to end.
	if p.nwait.Load() > 0 {
		p.waitMu.Lock()
		if p.quiet() {
			n := p.waiters.WakeAll()
			p.nwait.Add(int64(-n))
		}
		p.waitMu.Unlock()
	}
	if p.closed.Load() {
		p.wakeAll()
	}
}

// Wait waits until no task is queued or running: every task submitted
// before the call, and every task those spawned, has finished. Tasks
// submitted while Wait waits may be waited for too, as with
// sync.WaitGroup. The pool stays usable.
//
// Wait returns the first task panic recovered since the previous Wait
// returned one, as a *PanicError (unless a panic handler is set, which
// receives them instead), or nil. Panics in Group tasks go to their
// Group.Wait instead.
//
// A task must not call Wait: it would wait for itself. A task that waits
// for tasks it forked uses a Group or Worker.Join.
func (p *Pool) Wait() error { return p.WaitContext(context.Background()) }

// WaitContext is Wait with a bound: if ctx is done first, it returns an
// error for which errors.Is(err, ctx.Err()) holds, and leaves any panic for
// a later Wait. A ctx that is already done fails the call at once.
func (p *Pool) WaitContext(ctx context.Context) error {
	p.ensure()
	if err := waitq.Err(ctx); err != nil {
		return err
	}
	if !p.quiet() {
		p.waitMu.Lock()
		p.nwait.Add(1)
		if p.quiet() {
			p.nwait.Add(-1)
			p.waitMu.Unlock()
		} else {
			w := p.waiters.Enqueue(0)
			err := p.waiters.Wait(ctx, &p.waitMu, w, func(bool) { p.nwait.Add(-1) })
			w.Recycle()
			if err != nil {
				return err
			}
		}
	}
	if e := p.panicked.Swap(nil); e != nil {
		return e
	}
	return nil
}

// Shutdown stops the pool: from now on Submit, SubmitContext and Go return
// ErrClosed, also those blocked on a full queue; the tasks already accepted
// run to completion (they may still fork children, which run too); then
// the workers exit.
//
// Shutdown returns when every worker goroutine has exited, with the first
// task panic not yet returned by Wait, or nil. If ctx is done first it
// returns an error for which errors.Is(err, ctx.Err()) holds; the pool
// stays closed, and its workers exit on their own once the remaining tasks
// are done. A ctx that is already done fails the call even when the workers
// have exited already (it still closes the pool). Shutdown may be called
// more than once; each call waits as above.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.ensure()
	if p.inj.close(&p.closed) {
		// finish reads closed after it writes pending; we check quiet after
		// we wrote closed: if the pool is already quiet, the workers must be
		// woken here, to exit.
		if p.quiet() {
			p.wakeAll()
		}
	}
	if ctx.Err() != nil {
		// Rule 2 of the cancellation contract, as in Wait: it used to
		// succeed here once the workers had exited, and fail while they
		// had not, a matter of timing. (Found by a review, 2026-12-06.)
		return waitq.Err(ctx)
	}
	select {
	case <-p.stopped:
	default:
		select {
		case <-p.stopped:
		case <-ctx.Done():
			return waitq.Err(ctx)
		}
	}
	if p.mon.done != nil {
		<-p.mon.done
	}
	if e := p.panicked.Swap(nil); e != nil {
		return e
	}
	return nil
}

// Resize sets the number of core workers (n < 1 means GOMAXPROCS). Growing
// starts workers at once. Shrinking retires the newest workers: each
// finishes its current task and the tasks in its own deque, then exits.
// Temporary workers are not counted. After Shutdown, Resize does nothing.
func (p *Pool) Resize(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	p.ensure()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	var active []*Worker
	for _, w := range *p.workers.Load() {
		if !w.temp && !w.retiring.Load() {
			active = append(active, w)
		}
	}
	for i := len(active); i < n; i++ {
		p.startWorker(false)
	}
	for i := len(active) - 1; i >= n; i-- {
		w := active[i]
		w.retiring.Store(true)
		p.wakeWorker(w)
	}
}

// Stats is a snapshot of a pool's counters. The fields are read one by one
// while tasks run, so under load they are not mutually consistent (Queued
// and Running may not add up with Submitted - Completed). Completed, and
// Submitted for spawned tasks, also lag: a worker reports the tasks it
// finished and spawned when it runs out of work of its own, to keep shared
// writes off the per-task path. Each field is exact when the pool is quiet
// (after Wait, say).
type Stats struct {
	Workers      int    // worker goroutines now, temporary ones included
	Extra        int    // temporary workers now (started on starvation)
	ExtraStarted uint64 // temporary workers started so far
	Submitted    uint64 // tasks accepted: Submit, SubmitContext, Go, Spawn, Group.Go, Join (*)
	Completed    uint64 // tasks finished, panicked ones included
	Stolen       uint64 // tasks taken from another worker's deque or batch
	Queued       int    // tasks waiting to start (shared queue, deques, batches)
	Running      int    // workers inside a task (one per worker, also while it helps in Group.Wait)
	Panics       uint64 // tasks that panicked
	Wakeups      uint64 // times a parked worker was woken

	// (*) Join's first task runs inline, as part of the calling task, and
	// is counted in none of these (nor in Panics: its panic is Join's
	// error).
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() Stats {
	p.ensure()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Extra:        p.extra,
		ExtraStarted: p.extraStarted.Load(),
		Submitted:    p.retired.submitted + p.callerRan.Load(),
		Completed:    p.retired.completed + p.callerDone.Load(),
		Stolen:       p.retired.stolen,
		Queued:       int(p.inj.n.Load()),
		Panics:       p.panics.Load(),
	}
	for _, w := range *p.workers.Load() {
		s.Submitted += w.spawned.Load()
		s.Completed += w.completed.Load()
		s.Stolen += w.stolen.Load()
		s.Queued += w.dq.len()
		s.Queued += w.batch.left()
		if !w.idle.Load() && !w.borrowed {
			// A borrowed caller's goroutine is no worker (see Workers),
			// as a CallerRuns func task's is not.
			s.Running++
		}
	}
	s.Workers = p.live // not len(workers): CallerRuns lists borrowed workers too
	p.inj.mu.Lock()
	s.Submitted += p.inj.pushed
	p.inj.mu.Unlock()
	p.idle.mu.Lock()
	s.Wakeups = p.idle.wakeups
	p.idle.mu.Unlock()
	return s
}

// hasWork reports whether any task is queued, in the injector or a deque.
func (p *Pool) hasWork() bool {
	if p.inj.n.Load() > 0 {
		return true
	}
	for _, w := range *p.workers.Load() {
		if w.dq.len() > 0 {
			return true
		}
		if w.batch.left() > 0 {
			return true
		}
	}
	return false
}

// reportPanic hands a recovered task panic to the handler, or keeps the
// first for Wait.
func (p *Pool) reportPanic(e *PanicError) {
	p.panics.Add(1)
	if h := p.cfg.onPanic; h != nil {
		if he := panics.Try(func() { h(e) }); he != nil {
			p.panicked.CompareAndSwap(nil, he)
		}
		return
	}
	p.panicked.CompareAndSwap(nil, e)
}

// Size returns the worker count the classic sizing rule gives for tasks
// that spend wait waiting (on I/O, locks, other services) for every compute
// spent on a CPU: GOMAXPROCS x (1 + wait/compute), rounded up, at least 1.
// With 2 cores, 90ms of I/O and 10ms of CPU per task it is 2 x (1 + 9) = 20.
// CPU-bound work (wait = 0) gets GOMAXPROCS, the default of New.
// wait < 0 or compute <= 0 panics.
func Size(wait, compute time.Duration) int {
	if wait < 0 || compute <= 0 {
		panic("pool: Size needs wait >= 0 and compute > 0")
	}
	cores := uint64(runtime.GOMAXPROCS(0))
	// ceil(cores * (compute + wait) / compute), in 128 bits.
	hi, lo := bits.Mul64(cores, uint64(compute)+uint64(wait))
	if hi >= uint64(compute) {
		return math.MaxInt
	}
	q, r := bits.Div64(hi, lo, uint64(compute))
	if r != 0 {
		q++
	}
	if q > math.MaxInt {
		return math.MaxInt
	}
	return max(1, int(q))
}
