package pool

import "unsafe"

// Internals for the tests in package pool_test.

// SetBrokenPop turns the seeded deque bug on or off (see brokenPop).
func SetBrokenPop(on bool) { brokenPop = on }

// MonitorTicks returns how many starvation checks p's monitor has made.
func (p *Pool) MonitorTicks() uint64 { return p.mon.ticks.Load() }

// Deque is the work-stealing deque, for black-box tests.
type Deque struct{ d deque }

// NewDeque returns an empty deque.
func NewDeque() *Deque {
	d := &Deque{}
	d.d.init()
	return d
}

// Push, Pop and Steal move *int items; Pop and Steal return nil for none.
func (d *Deque) Push(x *int) { d.d.push(unsafe.Pointer(x)) }
func (d *Deque) Pop() *int   { return (*int)(d.d.pop()) }

// Steal returns the item and whether the caller should retry (it lost a
// race) when the item is nil.
func (d *Deque) Steal() (x *int, retry bool) {
	t, r := d.d.steal()
	return (*int)(t), r == stealRetry
}

func (d *Deque) Len() int { return d.d.len() }

// BlockedSubmitters returns how many submissions wait for room in p's queue.
func BlockedSubmitters(p *Pool) int {
	p.inj.mu.Lock()
	defer p.inj.mu.Unlock()
	return p.inj.blocked.Len()
}

// EncodeDecode passes f and g through the task encoding and back.
func EncodeDecode(f func(), g func(*Worker)) (func(), func(*Worker), [2]uintptr) {
	tf, tg := funcTask(f), workerTask(g)
	return asFunc(tf), asWorkerFunc(tg), [2]uintptr{tag(tf), tag(tg)}
}

// Batch is a worker's batch, for black-box tests.
type Batch struct{ b batch }

// Fill starts a new generation; the batch must be spent. Owner only.
func (b *Batch) Fill(xs []*int) {
	ts := make([]task, len(xs))
	for i, x := range xs {
		ts[i] = unsafe.Pointer(x)
	}
	b.b.fill(ts)
}

// Claim takes the next item, or returns nil. Anyone.
func (b *Batch) Claim() *int { return (*int)(b.b.claim()) }

// Left is the number of unclaimed items.
func (b *Batch) Left() int { return b.b.left() }

// MaxBatch is the most a batch holds.
const MaxBatch = maxBatch - 1

// The halves of a Group child's done, and the wait, for tests that run
// them in a chosen order: CountChild and UncountChild move pending (the
// latter reports whether it reached 0), WakeWaiters is done's second half,
// Parked counts the goroutines parked in Wait.
func (g *Group) CountChild()             { g.pending.Add(1) }
func (g *Group) UncountChild() bool      { return g.pending.Add(-1) == 0 }
func (g *Group) WakeWaiters()            { g.wakeWaiters() }
func (g *Group) Parked() int64           { return g.nwait.Load() }
func (w *Worker) HelpUntilDone(g *Group) { w.helpUntilDone(g) }

// The same for the pool's count of tasks and Wait: CountTask and
// UncountTask move pending (the latter reports whether the pool is then
// quiet), Quiesce is finish's second half, Waiting counts parked Waits.
func (p *Pool) CountTask()        { p.pending.Add(1) }
func (p *Pool) UncountTask() bool { return p.pending.Add(-1) == 0 && p.inj.n.Load() == 0 }
func (p *Pool) Quiesce()          { p.quiesce() }
func (p *Pool) Waiting() int64    { return p.nwait.Load() }

// Sleeping and Searching count the parked and the searching workers, from
// the idle state word.
func (p *Pool) Sleeping() int  { return int(nsleeping(p.idle.state.Load())) }
func (p *Pool) Searching() int { return int(nsearching(p.idle.state.Load())) }

// SetRunHereHook sets the hook a CallerRuns submission calls after it has
// decided to run its task in the caller and before it counts the task; nil
// removes it.
func SetRunHereHook(h func()) { runHereHook = h }

// FreeArgs returns the length of w's free list of SpawnArgs records. Only
// w's own goroutine may call it (from a task running on w).
func FreeArgs(w *Worker) int { return w.nfree }

// MaxFreeArgs is the bound on a worker's free list.
const MaxFreeArgs = maxFreeArgs
