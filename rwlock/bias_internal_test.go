package rwlock

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// ReadMostly's bias after writers that queue. (Found by an adversarial
// review, 2026-12-06.)

// waitQueuedWriters polls until n writers are queued on rw: a liveness
// bound, not a timing check.
func waitQueuedWriters(t *testing.T, rw *RWMutex, n int) {
	t.Helper()
	deadline := time.Now().Add(testutil.Liveness)
	for {
		rw.mu.Lock()
		c := 0
		for w := rw.q.Front(); w != nil; w = w.Next() {
			if isWriter(w.Value) {
				c++
			}
		}
		rw.mu.Unlock()
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writers queued, want %d", c, n)
		}
		runtime.Gosched()
	}
}

// A writer that queues behind another writer and gives up leaves the bias
// off (&revoked: it cannot tell whether the writer ahead will find the
// counters drained). Readers used to restore the bias only from nil, so it
// stayed off, every read taking the underlying lock, until some later
// write succeeded. Now readers restore it once the writers are gone and
// the inhibit period is over.
func TestReadMostlyBiasComesBackAfterCancelledWriter(t *testing.T) {
	var m ReadMostly
	m.RUnlock(m.RLock()) // the counter table exists, the bias is on
	m.Lock()             // revoked: the bias is off
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.LockContext(ctx) }()
	waitQueuedWriters(t, &m.rw, 1) // its queueing left &revoked
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("LockContext = %v, want context.Canceled", err)
	}
	m.Unlock()
	m.inhibit = 0 // the inhibit period is over (nobody else is running)
	for range 1000 {
		m.RUnlock(m.RLock())
		if Biased(&m) {
			return
		}
	}
	t.Fatalf("the bias never came back (still &revoked: %v)", m.bias.Load() == &revoked)
}

// A writer that queued (bias &revoked) and then found counted readers to
// wait for starts the inhibit period like any other revocation: it used to
// start it only when it swapped out the table itself, so under write
// contention, where writers queue, the period never applied.
func TestReadMostlyQueuedWriterStartsInhibit(t *testing.T) {
	var m ReadMostly
	m.RUnlock(m.RLock()) // the counter table exists, the bias is on
	biased := m.RLock()  // a reader on the counters
	if !biased.Biased() {
		t.Fatal("setup: want a biased reader")
	}
	under := m.RLocker()
	under.Lock() // a reader on the underlying lock, so the writer queues
	locked := make(chan struct{})
	go func() { m.Lock(); close(locked) }()
	waitQueuedWriters(t, &m.rw, 1)
	under.Unlock()    // the writer gets rw and waits for the counter
	m.RUnlock(biased) // and now can go in
	<-locked
	if m.inhibit == 0 {
		t.Fatal("no inhibit period after a revocation that had a counted reader to wait for")
	}
	m.Unlock()
}

// A misused RUnlock of a counter token takes the counter below zero before
// it looks and panics. A writer that revokes the bias meanwhile reads the
// counter as a reader still inside and parks in drain; the panicking
// RUnlock restores the counter, and must then wake that writer as the
// last reader out would, or it stays parked with the lock free. The test
// plays the misused RUnlock in its two steps, with the writer parked in
// between.
func TestReadMostlyMisusedRUnlockDoesNotStrandDrainingWriter(t *testing.T) {
	var m ReadMostly
	m.RUnlock(m.RLock()) // the counter table exists, the bias is on
	tok := m.RLock()
	if tok.s == nil {
		t.Fatal("the read did not use a counter")
	}
	m.RUnlock(tok)
	tok.s.n.Add(-1) // a second RUnlock of tok: its decrement
	done := make(chan struct{})
	go func() { m.Lock(); m.Unlock(); close(done) }()
	deadline := time.Now().Add(testutil.Liveness)
	for {
		m.drainMu.Lock()
		parked := m.drainQ.Len()
		m.drainMu.Unlock()
		if parked == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer did not park in drain")
		}
		runtime.Gosched()
	}
	func() { // the rest of that RUnlock: it restores the counter and panics
		defer func() {
			if r := recover(); r == nil {
				t.Error("a second RUnlock of a token did not panic")
			}
		}()
		m.runlockSlow(tok.s, -1)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // a liveness bound
		m.drained() // unstick it for goleak
		<-done
		t.Fatal("the writer stayed parked in drain after the counter was restored")
	}
}
