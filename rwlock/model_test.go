package rwlock_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/lockstep-go/lockstep/rwlock"
	"pgregory.net/rapid"
)

// The queue policy as a sequential model: who holds the lock, and who waits
// in which order. Every blocking call's outcome is predicted exactly.
type model struct {
	writer  int   // holder id, or -1
	readers []int // holder ids, ascending
	queue   []modelWaiter
}

type modelWaiter struct {
	id    int
	write bool
}

// admit grants the lock to the front of the queue while the policy allows:
// a writer when nobody holds the lock; all readers up to the next writer
// when no writer holds it. It returns the ids granted.
func (m *model) admit() []int {
	var granted []int
	for len(m.queue) > 0 {
		f := m.queue[0]
		if f.write {
			if m.writer < 0 && len(m.readers) == 0 {
				m.writer = f.id
				m.queue = m.queue[1:]
				granted = append(granted, f.id)
			}
			return granted
		}
		if m.writer >= 0 {
			return granted
		}
		m.readers = append(m.readers, f.id)
		slices.Sort(m.readers)
		m.queue = m.queue[1:]
		granted = append(granted, f.id)
	}
	return granted
}

type outcome struct {
	id    int
	write bool
	tok   rwlock.RToken
	err   error
}

// harness drives a real lock and the model side by side inside a synctest
// bubble, where "every other goroutine is parked" is observable.
type harness struct {
	l       rwl
	rwOnly  bool // the lock is a plain RWMutex: compare its state word too
	m       model
	next    int
	cancel  map[int]context.CancelFunc
	toks    map[int]rwlock.RToken
	results chan outcome
	want    map[int]bool // outcome expected at the next settle: true = granted
}

func newHarness(l rwl, rwOnly bool) *harness {
	return &harness{
		l: l, rwOnly: rwOnly,
		m:       model{writer: -1},
		cancel:  map[int]context.CancelFunc{},
		toks:    map[int]rwlock.RToken{},
		results: make(chan outcome, 1024),
		want:    map[int]bool{},
	}
}

func (h *harness) grant(ids []int) {
	for _, id := range ids {
		h.want[id] = true
	}
}

// spawn starts a blocking LockContext or RLockContext as waiter id.
func (h *harness) spawn(write bool) {
	id := h.next
	h.next++
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel[id] = cancel
	go func() {
		o := outcome{id: id, write: write}
		if write {
			o.err = h.l.LockContext(ctx)
		} else {
			o.tok, o.err = h.l.RLCtx(ctx)
		}
		h.results <- o
	}()
	h.m.queue = append(h.m.queue, modelWaiter{id, write})
	h.grant(h.m.admit())
}

// settle waits until every goroutine in the bubble is parked and checks
// that exactly the predicted calls returned, with the predicted results.
func (h *harness) settle(t *rapid.T) {
	synctest.Wait()
	for {
		select {
		case o := <-h.results:
			granted, ok := h.want[o.id]
			if !ok {
				t.Fatalf("waiter %d returned (err %v), the model says it still waits", o.id, o.err)
			}
			delete(h.want, o.id)
			if granted != (o.err == nil) {
				t.Fatalf("waiter %d: err %v, model says granted=%v", o.id, o.err, granted)
			}
			if o.err != nil && !errors.Is(o.err, context.Canceled) {
				t.Fatalf("waiter %d: %v, want context.Canceled", o.id, o.err)
			}
			h.cancel[o.id]()
			delete(h.cancel, o.id)
			if granted && !o.write {
				h.toks[o.id] = o.tok
			}
			continue
		default:
		}
		break
	}
	if len(h.want) != 0 {
		t.Fatalf("model expected %v to have returned", h.want)
	}
	if !h.rwOnly {
		return
	}
	s := rwlock.Inspect(h.l.Under())
	var qr, qw int
	for _, w := range h.m.queue {
		if w.write {
			qw++
		} else {
			qr++
		}
	}
	want := rwlock.Snapshot{
		Writer:        h.m.writer >= 0,
		WriterWait:    qw > 0 && h.m.writer < 0 && len(h.m.readers) > 0 && h.m.queue[0].write,
		Queued:        len(h.m.queue) > 0,
		Readers:       len(h.m.readers),
		QueuedReaders: qr,
		QueuedWriters: qw,
	}
	if s != want {
		t.Fatalf("state %+v, model %+v (model %+v)", s, want, h.m)
	}
}

func (h *harness) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"Lock":  func(t *rapid.T) { h.spawn(true); h.settle(t) },
		"RLock": func(t *rapid.T) { h.spawn(false); h.settle(t) },
		"Cancel": func(t *rapid.T) {
			if len(h.m.queue) == 0 {
				t.Skip("nobody waits")
			}
			i := rapid.IntRange(0, len(h.m.queue)-1).Draw(t, "waiter")
			w := h.m.queue[i]
			h.m.queue = slices.Delete(h.m.queue, i, i+1)
			h.want[w.id] = false
			h.grant(h.m.admit())
			h.cancel[w.id]()
			h.settle(t)
		},
		"Unlock": func(t *rapid.T) {
			if h.m.writer < 0 {
				t.Skip("no writer")
			}
			h.m.writer = -1
			h.grant(h.m.admit())
			h.l.Unlock()
			h.settle(t)
		},
		"RUnlock": func(t *rapid.T) {
			if len(h.m.readers) == 0 {
				t.Skip("no reader")
			}
			i := rapid.IntRange(0, len(h.m.readers)-1).Draw(t, "reader")
			id := h.m.readers[i]
			h.m.readers = slices.Delete(h.m.readers, i, i+1)
			h.grant(h.m.admit())
			tok := h.toks[id]
			delete(h.toks, id)
			h.l.RU(tok)
			h.settle(t)
		},
		"Downgrade": func(t *rapid.T) {
			if h.m.writer < 0 {
				t.Skip("no writer")
			}
			id := h.m.writer
			h.m.writer = -1
			h.m.readers = append(h.m.readers, id)
			slices.Sort(h.m.readers)
			h.grant(h.m.admit())
			h.toks[id] = h.l.Down()
			h.settle(t)
		},
		"TryLock": func(t *rapid.T) {
			want := h.m.writer < 0 && len(h.m.readers) == 0 && len(h.m.queue) == 0
			if got := h.l.TryLock(); got != want {
				t.Fatalf("TryLock = %v, model says %v (%+v)", got, want, h.m)
			} else if got {
				h.m.writer = h.next
				h.next++
			}
			h.settle(t)
		},
		"TryRLock": func(t *rapid.T) {
			want := h.m.writer < 0 && len(h.m.queue) == 0
			tok, got := h.l.TryRL()
			if got != want {
				t.Fatalf("TryRLock = %v, model says %v (%+v)", got, want, h.m)
			} else if got {
				h.toks[h.next] = tok
				h.m.readers = append(h.m.readers, h.next)
				h.next++
			}
			h.settle(t)
		},
		"DoneContext": func(t *rapid.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := h.l.LockContext(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("LockContext with a done ctx: %v", err)
			}
			if _, err := h.l.RLCtx(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("RLockContext with a done ctx: %v", err)
			}
			h.settle(t)
		},
	}
}

// TestStateMachine runs random sequences of Lock, RLock, Cancel, Unlock,
// RUnlock, Downgrade, TryLock, TryRLock and done-context calls against the
// model, for both locks. Blocking calls run in goroutines of a synctest
// bubble; after each step the test waits until every goroutine is parked
// and checks exactly which calls returned and how, so the queue policy
// (FIFO, batch admission, a cancelled writer re-admitting readers, no
// barging by Try calls) is checked deterministically.
func TestStateMachine(t *testing.T) {
	forEach(t, func(t *testing.T, newLock func() rwl) {
		rapid.Check(t, func(rt *rapid.T) {
			var failure any
			synctest.Test(t, func(*testing.T) {
				l := newLock()
				_, rwOnly := l.(rwAdapter)
				h := newHarness(l, rwOnly)
				defer func() {
					failure = recover()
					if failure == nil {
						h.release()
						return
					}
					// The run failed: the model may disagree with the lock
					// about who holds it. Release what we can; the failure
					// is what gets reported.
					defer func() { _ = recover() }()
					h.release()
				}()
				rt.Repeat(h.actions())
			})
			if failure != nil {
				panic(failure) // rapid's own failure value: it shrinks from here
			}
		})
	})
}

// release ends the bubble's goroutines whatever state the run left (a
// failing run included): cancel every waiter, then release what the lock
// granted, read back from the outcomes.
func (h *harness) release() {
	for _, c := range h.cancel {
		c()
	}
	synctest.Wait()
	for {
		select {
		case o := <-h.results:
			if o.err == nil && !o.write {
				h.toks[o.id] = o.tok
			}
			continue
		default:
		}
		break
	}
	if rwlock.Inspect(h.l.Under()).Writer {
		h.l.Unlock()
	}
	for _, tok := range h.toks {
		h.l.RU(tok)
	}
	synctest.Wait()
	if !h.l.TryLock() {
		panic(fmt.Sprintf("lock not free after the run: %+v", rwlock.Inspect(h.l.Under())))
	}
	h.l.Unlock()
}
