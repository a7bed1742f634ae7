package rwlock

import (
	"time"
	"unsafe"
)

// Snapshot is an RWMutex's state word and queue, read under the queue lock.
type Snapshot struct {
	Writer, WriterWait, Queued bool
	Readers                    int // including phantom readers in flight
	QueuedReaders              int
	QueuedWriters              int
}

func Inspect(rw *RWMutex) Snapshot {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	s := rw.state.Load()
	snap := Snapshot{
		Writer:     s&stateWriter != 0,
		WriterWait: s&stateWriterWait != 0,
		Queued:     s&stateQueued != 0,
		Readers:    int(readers(s)),
	}
	for w := rw.q.Front(); w != nil; w = w.Next() {
		if isWriter(w.Value) {
			snap.QueuedWriters++
		} else {
			snap.QueuedReaders++
		}
	}
	return snap
}

// SetOnAbandon installs fn to run (under the queue lock) whenever a queued
// waiter gives up. Call it before starting goroutines; it returns a restore
// function.
func SetOnAbandon(fn func()) (restore func()) {
	old := onAbandon
	onAbandon = fn
	return func() { onAbandon = old }
}

// Underlying returns m's underlying RWMutex.
func Underlying(m *ReadMostly) *RWMutex { return &m.rw }

// Biased reports whether m's readers currently take the counter path.
func Biased(m *ReadMostly) bool {
	b := m.bias.Load()
	return b != nil && b != &revoked
}

// Inhibit returns the time until which m's bias stays off.
// InhibitLeft returns how long m's bias stays off from now.
func InhibitLeft(m *ReadMostly) time.Duration { return time.Duration(m.inhibit - nanotime()) }

// Counters returns the sum of m's reader counters and how many there are.
func Counters(m *ReadMostly) (sum int64, n int) {
	t := m.table.Load()
	if t == nil {
		return 0, 0
	}
	for i := range t.slots {
		sum += t.slots[i].n.Load()
	}
	return sum, len(t.slots)
}

// DrainWaiters is the number of writers parked waiting for counters.
func DrainWaiters(m *ReadMostly) int {
	m.drainMu.Lock()
	defer m.drainMu.Unlock()
	return m.drainQ.Len()
}

// Slot reports whether tok is a counter token (not the underlying lock).
func (tok RToken) Biased() bool { return tok.s != nil }

const InhibitFactor = inhibitFactor

var (
	SlotSize        = unsafe.Sizeof(slot{})
	BiasOffset      = unsafe.Offsetof(ReadMostly{}.bias)
	AfterBiasOffset = unsafe.Offsetof(ReadMostly{}.rw)
)
