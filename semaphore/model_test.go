package semaphore_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/semaphore"
	"pgregory.net/rapid"
)

// modelWaiter is a goroutine blocked in Acquire, as the model sees it.
type modelWaiter struct {
	n      int64
	cancel context.CancelFunc
	res    chan error
}

// semModel is the sequential specification: a capacity, the permits
// available (negative after a shrink below what is held), the permits held
// by the test, and a FIFO of waiters served with head-of-line blocking.
type semModel struct {
	capacity, avail, held int64
	queue                 []*modelWaiter
}

// settle grants waiters from the front while they fit and returns them.
func (m *semModel) settle() []*modelWaiter {
	var granted []*modelWaiter
	for len(m.queue) > 0 && m.queue[0].n <= m.avail {
		w := m.queue[0]
		m.queue = m.queue[1:]
		m.avail -= w.n
		m.held += w.n
		granted = append(granted, w)
	}
	return granted
}

// TestStateMachine drives a real semaphore, with real goroutines blocked in
// Acquire, through random operations and compares every observable against
// the model: who is woken, with what result, and Available, Capacity and
// Waiters after every step. It runs in a synctest bubble so that
// synctest.Wait can tell "not woken" from "not yet scheduled".
func TestStateMachine(t *testing.T) {
	// Each Check runs 100 cases from a fresh random seed; rare shapes (a
	// Resize that fails a waiter behind one that does not fit) need about a
	// thousand cases to show up.
	for range testutil.Scale(10) {
		synctest.Test(t, func(t *testing.T) { rapid.Check(testutil.InBubble{TB: t}, semStateMachine) })
	}
}

// semStateMachine is one rapid case of TestStateMachine.
func semStateMachine(t *rapid.T) {
	capacity := rapid.Int64Range(0, 6).Draw(t, "capacity")
	s := semaphore.New(capacity)
	m := &semModel{capacity: capacity, avail: capacity}

	// result returns what w's Acquire returned, once every goroutine
	// in the bubble is blocked; a waiter that is still blocked then
	// fails the test (instead of deadlocking the bubble, so that
	// rapid can shrink the case).
	result := func(t *rapid.T, w *modelWaiter) error {
		synctest.Wait()
		select {
		case err := <-w.res:
			return err
		default:
			t.Fatalf("waiter of %d still blocked; the model says it returned", w.n)
			return nil
		}
	}
	// expectGranted checks that the waiters the model says were just
	// granted have returned nil.
	expectGranted := func(t *rapid.T, ws []*modelWaiter) {
		for _, w := range ws {
			if err := result(t, w); err != nil {
				t.Fatalf("granted waiter of %d: Acquire = %v, want nil", w.n, err)
			}
		}
	}
	// expectStillQueued checks that no waiter the model keeps queued
	// has returned.
	expectStillQueued := func(t *rapid.T) {
		synctest.Wait()
		for _, w := range m.queue {
			select {
			case err := <-w.res:
				t.Fatalf("queued waiter of %d returned %v; the model keeps it queued", w.n, err)
			default:
			}
		}
	}
	// Every waiter goroutine ends with the case: cancel them all
	// (returned ones ignore it) and let them finish.
	var all []*modelWaiter
	defer func() {
		for _, w := range all {
			w.cancel()
		}
		synctest.Wait()
	}()

	t.Repeat(map[string]func(*rapid.T){
		"TryAcquire": func(t *rapid.T) {
			n := rapid.Int64Range(0, m.capacity+1).Draw(t, "n")
			want := n == 0 || (len(m.queue) == 0 && m.avail >= n)
			if got := s.TryAcquire(n); got != want {
				t.Fatalf("TryAcquire(%d) = %v, want %v", n, got, want)
			}
			if want {
				m.avail -= n
				m.held += n
			}
		},
		"Release": func(t *rapid.T) {
			if m.held == 0 {
				t.Skip("nothing held")
			}
			n := rapid.Int64Range(1, m.held).Draw(t, "n")
			s.Release(n)
			m.avail += n
			m.held -= n
			expectGranted(t, m.settle())
			expectStillQueued(t)
		},
		"ReleaseTooMuch": func(t *rapid.T) {
			n := m.held + rapid.Int64Range(1, 3).Draw(t, "extra")
			func() {
				defer func() {
					if r := recover(); r != "semaphore: released more than held" {
						t.Fatalf("Release(%d) with %d held: recovered %v", n, m.held, r)
					}
				}()
				s.Release(n)
			}()
		},
		"AcquireBlocking": func(t *rapid.T) {
			n := rapid.Int64Range(1, m.capacity+1).Draw(t, "n")
			ctx, cancel := context.WithCancel(context.Background())
			w := &modelWaiter{n: n, cancel: cancel, res: make(chan error, 1)}
			all = append(all, w)
			go func() { w.res <- s.Acquire(ctx, n) }()
			synctest.Wait()
			switch {
			case n > m.capacity:
				if err := result(t, w); !errors.Is(err, semaphore.ErrTooLarge) {
					t.Fatalf("Acquire(%d) on capacity %d = %v, want ErrTooLarge", n, m.capacity, err)
				}
				cancel()
			case len(m.queue) == 0 && m.avail >= n:
				if err := result(t, w); err != nil {
					t.Fatalf("Acquire(%d) with %d available = %v", n, m.avail, err)
				}
				cancel()
				m.avail -= n
				m.held += n
			default:
				m.queue = append(m.queue, w)
				expectStillQueued(t)
			}
		},
		"AcquireDoneCtx": func(t *rapid.T) {
			n := rapid.Int64Range(0, m.capacity+1).Draw(t, "n")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := s.Acquire(ctx, n); !errors.Is(err, context.Canceled) {
				t.Fatalf("Acquire(done ctx, %d) = %v, want context.Canceled", n, err)
			}
		},
		"AcquireZero": func(t *rapid.T) {
			if err := s.Acquire(context.Background(), 0); err != nil {
				t.Fatalf("Acquire(0) = %v", err)
			}
		},
		"CancelWaiter": func(t *rapid.T) {
			if len(m.queue) == 0 {
				t.Skip("nobody queued")
			}
			i := rapid.IntRange(0, len(m.queue)-1).Draw(t, "i")
			w := m.queue[i]
			w.cancel()
			if err := result(t, w); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled waiter of %d: %v, want context.Canceled", w.n, err)
			}
			m.queue = append(m.queue[:i:i], m.queue[i+1:]...)
			expectGranted(t, m.settle())
			expectStillQueued(t)
		},
		"Resize": func(t *rapid.T) {
			n := rapid.Int64Range(0, 6).Draw(t, "n")
			s.Resize(n)
			m.avail += n - m.capacity
			m.capacity = n
			var kept []*modelWaiter
			for _, w := range m.queue {
				if w.n > n {
					if err := result(t, w); !errors.Is(err, semaphore.ErrTooLarge) {
						t.Fatalf("waiter of %d after Resize(%d): %v, want ErrTooLarge", w.n, n, err)
					}
					w.cancel()
					continue
				}
				kept = append(kept, w)
			}
			m.queue = kept
			expectGranted(t, m.settle())
			expectStillQueued(t)
		},
		"": func(t *rapid.T) {
			if got := s.Available(); got != m.avail {
				t.Fatalf("Available() = %d, model %d", got, m.avail)
			}
			if got := s.Capacity(); got != m.capacity {
				t.Fatalf("Capacity() = %d, model %d", got, m.capacity)
			}
			if got := s.Waiters(); got != len(m.queue) {
				t.Fatalf("Waiters() = %d, model %d", got, len(m.queue))
			}
		},
	})
}
