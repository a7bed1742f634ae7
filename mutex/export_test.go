package mutex

// State is a snapshot of a Mutex's state word and queue, for tests.
type State struct {
	Locked, Woken, Starving bool
	Waiters                 int // the count in the state word
	Queued                  int // the length of the wait queue
}

// Snapshot reads m's state under its queue lock, where the waiter count and
// the queue length must agree.
func (m *Mutex) Snapshot() State {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	s := m.state.Load()
	return State{
		Locked:   s&mutexLocked != 0,
		Woken:    s&mutexWoken != 0,
		Starving: s&mutexStarving != 0,
		Waiters:  int(s >> mutexWaiterShift),
		Queued:   m.q.Len(),
	}
}

// Snapshot reads f's state under its queue lock.
func (f *Fair) Snapshot() State {
	f.qmu.Lock()
	defer f.qmu.Unlock()
	s := f.state.Load()
	queued := f.q.Len() + int(f.arrived-f.handed.Load())
	st := State{Locked: s&fairLocked != 0, Queued: queued}
	if s&fairQueued != 0 {
		st.Waiters = queued
	}
	return st
}

// Waiters returns the number of goroutines parked in c.
func (c *Cond) Waiters() (counted, queued int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.n.Load()), c.q.Len()
}
