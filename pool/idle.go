package pool

import (
	"sync"
	"sync/atomic"
)

// idle tracks which workers are searching for work and which are parked,
// so that a submission wakes at most one parked worker, and only when no
// worker is already searching. It is tokio's scheme (tokio-rs/tokio,
// tokio/src/runtime/scheduler/multi_thread/idle.rs: num_searching,
// num_unparked, transition_worker_to_parked, notify_should_wakeup).
//
// A worker is in one of three states:
//
//	state      counted in     how it leaves
//	running    neither        finds no task in its own deque: to searching, or
//	                          (when half the workers already search) to parked
//	searching  state.search   finds a task: to running, and if it was the last
//	                          searcher it wakes another to keep searching;
//	                          finds none after a bounded backoff: to parked
//	parked     state.sleep    a waker picks it: to searching (the waker counts
//	           and sleepers   it as searching before it wakes it)
//
// No lost wakeup: a producer queues a task, then reads state; the last
// searcher to give up updates state, then looks at every queue again. All
// of these are sequentially consistent, so either the producer sees no
// searcher (and wakes a parked worker, which the searcher made sure exists
// by counting itself parked in the same atomic add) or the searcher sees
// the task (and wakes a worker itself). The same argument as tokio's, with
// Go's seq-cst atomics standing in for its SeqCst fences.
//
// No thundering herd: a producer wakes one worker and only when nobody
// searches; a woken worker searches, and only the last searcher to find
// work wakes the next one, so wakeups ramp up one at a time with the work.
type idle struct {
	// state holds two counts, so that a producer reads both in one load:
	// bits 0-31 the searching workers, bits 32-63 the parked ones.
	state atomic.Uint64

	mu       sync.Mutex // guards sleepers; parking and waking hold it
	sleepers []*Worker  // parked workers, most recently parked last
	wakeups  uint64     // parked workers woken so far, for Stats; under mu
}

const (
	searchOne  uint64 = 1       // one searching worker
	sleepOne   uint64 = 1 << 32 // one parked worker
	searchMask uint64 = sleepOne - 1
	minusOne   uint64 = ^uint64(0) // Add(minusOne) subtracts one
)

// parkedToSearching moves one worker from parked to searching: it adds
// searchOne and subtracts sleepOne, modulo 2^64.
const parkedToSearching = ^(sleepOne - searchOne) + 1

func nsearching(s uint64) uint64 { return s & searchMask }
func nsleeping(s uint64) uint64  { return s >> 32 }

// notify makes sure someone will look at a task just queued: if a worker is
// searching it will; else a parked worker is woken; else every worker is
// busy, and the starvation monitor is armed in case they are all blocked.
// It costs one load when a worker is searching or the monitor is armed.
func (p *Pool) notify() {
	s := p.idle.state.Load()
	if nsearching(s) != 0 {
		return
	}
	if nsleeping(s) == 0 {
		if p.nhelp.Load() != 0 {
			p.tickleHelper()
		}
		p.armMonitor()
		return
	}
	p.wakeOne()
}

// addHelper registers w, whose task is about to park in g's Wait, as a
// worker that notify may wake to run new tasks. The caller then looks at
// the queues once more before it parks: a task queued before the
// registration is seen there, and one queued after it finds w registered.
func (p *Pool) addHelper(w *Worker, g *Group) {
	p.helpMu.Lock()
	w.helpG = g
	w.tickled.Store(false)
	p.helpers = append(p.helpers, w)
	p.nhelp.Add(1)
	p.helpMu.Unlock()
}

// removeHelper unregisters w, if tickleHelper has not already, and reports
// whether it did: false means notify picked w to look for a task.
func (p *Pool) removeHelper(w *Worker) bool {
	p.helpMu.Lock()
	defer p.helpMu.Unlock()
	for i, h := range p.helpers {
		if h == w {
			p.helpers = append(p.helpers[:i], p.helpers[i+1:]...)
			p.nhelp.Add(-1)
			return true
		}
	}
	return false
}

// tickleHelper wakes the most recently registered worker parked in
// Group.Wait, so that it looks for the task just queued (and parks again
// if another worker took it). Without this, a task queued while the other
// workers were busy waited for one of them, or for the starvation check,
// while the joining worker sat parked.
func (p *Pool) tickleHelper() {
	p.helpMu.Lock()
	n := len(p.helpers)
	if n == 0 {
		p.helpMu.Unlock()
		return
	}
	w := p.helpers[n-1]
	p.helpers[n-1] = nil
	p.helpers = p.helpers[:n-1]
	p.nhelp.Add(-1)
	g := w.helpG
	p.helpMu.Unlock()
	// Set the flag, then wake g's waiters under g.mu: Group.park checks
	// the flag under g.mu before it parks, so either it sees the flag or
	// it is parked by the time WakeAll runs. Other waiters of g, if any,
	// wake too; they look at g's count again and park again.
	w.tickled.Store(true)
	g.mu.Lock()
	g.nwait.Add(int64(-g.q.WakeAll()))
	g.mu.Unlock()
}

// wakeOne wakes the most recently parked worker, unless a worker started
// searching meanwhile.
func (p *Pool) wakeOne() { p.wake(false) }

// wakeParked wakes a parked worker, if any, even while others search: the
// queue is long, so a searcher that has not found it yet (it may not even
// be running) is no reason to leave a worker parked.
func (p *Pool) wakeParked() {
	if nsleeping(p.idle.state.Load()) != 0 {
		p.wake(true)
	}
}

func (p *Pool) wake(evenIfSearching bool) {
	p.idle.mu.Lock()
	n := len(p.idle.sleepers)
	if n == 0 || !evenIfSearching && nsearching(p.idle.state.Load()) != 0 {
		p.idle.mu.Unlock()
		return
	}
	w := p.idle.sleepers[n-1]
	p.idle.sleepers[n-1] = nil
	p.idle.sleepers = p.idle.sleepers[:n-1]
	p.idle.state.Add(parkedToSearching)
	p.idle.wakeups++
	p.idle.mu.Unlock()
	w.unpark()
}

// wakeAll wakes every parked worker, so that each looks at the pool again:
// at shutdown, to exit.
func (p *Pool) wakeAll() {
	p.idle.mu.Lock()
	ws := p.idle.sleepers
	p.idle.sleepers = nil
	p.idle.state.Add(uint64(len(ws)) * parkedToSearching)
	p.idle.wakeups += uint64(len(ws))
	p.idle.mu.Unlock()
	for _, w := range ws {
		w.unpark()
	}
}

// wakeWorker wakes w if it is parked, so that it notices it must retire.
func (p *Pool) wakeWorker(w *Worker) {
	p.idle.mu.Lock()
	for i, s := range p.idle.sleepers {
		if s == w {
			p.idle.sleepers = append(p.idle.sleepers[:i], p.idle.sleepers[i+1:]...)
			p.idle.state.Add(parkedToSearching)
			p.idle.wakeups++
			p.idle.mu.Unlock()
			w.unpark()
			return
		}
	}
	p.idle.mu.Unlock()
}

// tryStartSearching moves a running worker to searching, unless half the
// workers already search (tokio's transition_worker_to_searching: more
// searchers would only contend on the same deques); after fork-join work,
// unless half and at least two do, so that both workers of a two-worker
// pool can stay awake for the next fork-join (see searchLooks). (Two
// searchers after Submit's tasks made BenchmarkSubmitWake 27% slower at 2
// CPUs: the worker that ran the task searched beside the one it had woken,
// instead of parking, while Wait's goroutine waited for a processor.)
func (p *Pool) tryStartSearching(workers int, forked bool) bool {
	least := uint64(1)
	if forked {
		least = extendedSearchers
	}
	for {
		s := p.idle.state.Load()
		if n := nsearching(s); n >= least && 2*n >= uint64(workers) {
			return false
		}
		if p.idle.state.CompareAndSwap(s, s+searchOne) {
			return true
		}
	}
}

// stopSearching moves a searching worker that found a task to running. The
// last searcher to do so wakes another worker: there may be more work where
// it found its task.
func (p *Pool) stopSearching() {
	if nsearching(p.idle.state.Add(minusOne)) == 0 {
		p.notify()
	}
}
