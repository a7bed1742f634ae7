package pool

import (
	"sync/atomic"
	"time"
)

// monitor finds starvation: every worker inside one task for a whole check
// interval (blocked on a channel, a lock, I/O, or a child it cannot reach)
// while tasks wait. It then starts a temporary worker, as .NET's thread
// pool injects a thread when its queue makes no progress (the "starvation
// avoidance" of dotnet/runtime's PortableThreadPool.GateThread), and as
// ForkJoinPool adds a compensating thread around a managed block. Without
// it, a task that waits on a plain channel for a child it submitted
// deadlocks a one-worker pool (panjf2000/ants#197 is that deadlock).
//
// It costs nothing while the pool is idle: the goroutine is parked on a
// channel and no timer runs. Producers arm it (notify, when no worker is
// searching or parked, that is, when all are busy), and it disarms itself
// at the first check that finds no queued task.
type monitor struct {
	armed atomic.Bool
	wake  chan struct{} // token from armMonitor; nil when the check is off
	done  chan struct{} // closed when the monitor goroutine has exited
	ticks atomic.Uint64 // checks made, for tests
}

// armMonitor starts the checks unless they are running. One load when armed.
func (p *Pool) armMonitor() {
	if p.mon.wake == nil || p.mon.armed.Load() {
		return
	}
	if p.mon.armed.CompareAndSwap(false, true) {
		select {
		case p.mon.wake <- struct{}{}:
		default:
		}
	}
}

func (p *Pool) monitor() {
	defer close(p.mon.done)
	for {
		select {
		case <-p.mon.wake:
		case <-p.stopped:
			return
		}
		if !p.watch() {
			return
		}
	}
}

// watch checks every interval while armed. It returns false when the pool
// has stopped, true when it disarmed itself.
func (p *Pool) watch() bool {
	interval := p.cfg.starvation
	timer := time.NewTimer(interval)
	defer timer.Stop()
	due := time.Now().Add(interval)
	for {
		select {
		case <-timer.C:
		case <-p.stopped:
			return false
		}
		p.mon.ticks.Add(1)
		late := time.Since(due) > interval/2
		if !p.hasWork() {
			// Disarm, then look again: a producer that saw the monitor
			// armed did not arm it, so one of us must see the other's task.
			p.mon.armed.Store(false)
			if !p.hasWork() || !p.mon.armed.CompareAndSwap(false, true) {
				return true
			}
		}
		// A check that ran late says this process was short of CPU (an
		// overloaded machine, a CPU quota): the workers may have been
		// descheduled rather than blocked, so it only sets the probes.
		stuck := p.starved() && !late
		switch {
		case stuck && p.addExtra():
			interval = min(2*interval, maxStarvation)
		case !stuck:
			interval = p.cfg.starvation
			p.notify() // a safety net only: a queued task with a parked worker
		}
		timer.Reset(interval)
		due = time.Now().Add(interval)
	}
}

// starved reports whether every worker is busy and has not finished a
// task since the previous check. It leaves each busy worker's probe set for
// the next check; the worker clears it when it finishes a task.
func (p *Pool) starved() bool {
	ws := *p.workers.Load()
	stuck := len(ws) > 0
	for _, w := range ws {
		if w.idle.Load() {
			stuck = false // searching or parked
			continue
		}
		if !w.probe.Swap(true) {
			stuck = false // finished a task since the last check, or just started
		}
	}
	return stuck
}

// addExtra starts a temporary worker, unless maxExtra are running or the
// pool has stopped.
func (p *Pool) addExtra() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.extra >= p.cfg.maxExtra || (p.closed.Load() && p.live == 0) {
		return false
	}
	p.startWorker(true)
	p.extraStarted.Add(1)
	return true
}
