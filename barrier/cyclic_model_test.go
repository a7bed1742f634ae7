package barrier_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/lockstep-go/lockstep/barrier"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"pgregory.net/rapid"
)

// cyclicModel is the sequential model of a Cyclic: who waits in the
// current generation, in arrival order, and whether it is broken.
type cyclicModel struct {
	parties int
	waiting []int // party ids in arrival order
	broken  bool
}

// Expected outcomes of a party.
type want struct {
	index int
	kind  wantKind
	cause wantKind // for wantBroken: what broke it
}

type wantKind uint8

const (
	wantOK      wantKind = iota
	wantCtx              // the party's own ctx error
	wantBroken           // ErrBroken
	wantAction           // the action's error itself
	causeReset           // BrokenError.Cause nil
	causeCtx             // BrokenError.Cause is context.Canceled
	causeAction          // BrokenError.Cause is the action's error
)

// cyclicSM drives a real Cyclic and the model side by side. Each party runs
// in its own goroutine inside a synctest bubble; after every step
// synctest.Wait lets every goroutine run until it is parked or done, so the
// real barrier has settled and can be compared with the model.
type cyclicSM struct {
	b          *barrier.Cyclic
	m          cyclicModel
	failAction atomic.Bool
	errAction  error

	cancels map[int]context.CancelFunc
	results map[int]chan outcome // party id -> its outcome, once it returns
	pending map[int]bool         // parties the model says are still waiting
	nextID  int
}

func (s *cyclicSM) start(t *rapid.T, ctx context.Context) int {
	id := s.nextID
	s.nextID++
	ch := make(chan outcome, 1)
	s.results[id] = ch
	go func() {
		i, err := s.b.Await(ctx)
		ch <- outcome{i, err}
	}()
	return id
}

// expect checks that party id returned as the model says.
func (s *cyclicSM) expect(t *rapid.T, id int, w want) {
	t.Helper()
	var o outcome
	select {
	case o = <-s.results[id]:
	default:
		t.Fatalf("party %d has not returned; model says %+v", id, w)
	}
	delete(s.pending, id)
	switch w.kind {
	case wantOK:
		if o.err != nil || o.index != w.index {
			t.Fatalf("party %d: %v; want index %d, nil", id, o, w.index)
		}
	case wantCtx:
		if !errors.Is(o.err, context.Canceled) || errors.Is(o.err, barrier.ErrBroken) {
			t.Fatalf("party %d: %v; want its ctx error", id, o)
		}
	case wantAction:
		if o.err != s.errAction {
			t.Fatalf("party %d: %v; want the action's error", id, o)
		}
	case wantBroken:
		var be *barrier.BrokenError
		if !errors.Is(o.err, barrier.ErrBroken) || !errors.As(o.err, &be) {
			t.Fatalf("party %d: %v; want ErrBroken", id, o)
		}
		switch w.cause {
		case causeReset:
			if be.Cause != nil {
				t.Fatalf("party %d: cause %v, want nil (Reset)", id, be.Cause)
			}
		case causeCtx:
			if !errors.Is(be.Cause, context.Canceled) {
				t.Fatalf("party %d: cause %v, want a ctx error", id, be.Cause)
			}
		case causeAction:
			if be.Cause != s.errAction {
				t.Fatalf("party %d: cause %v, want the action's error", id, be.Cause)
			}
		}
	}
	if o.err != nil && o.index != -1 {
		t.Fatalf("party %d: index %d with error %v, want -1", id, o.index, o.err)
	}
}

// releaseAll ends the model's waiting generation with w for everyone.
func (s *cyclicSM) releaseAll(t *rapid.T, kind, cause wantKind) {
	for _, id := range s.m.waiting {
		s.expect(t, id, want{kind: kind, cause: cause})
	}
	s.m.waiting = nil
}

func (s *cyclicSM) arrive(t *rapid.T) {
	ctx, cancel := context.WithCancel(context.Background())
	id := s.start(t, ctx)
	s.cancels[id] = cancel
	s.pending[id] = true
	synctest.Wait()
	if s.m.broken {
		s.expect(t, id, want{kind: wantBroken})
		return
	}
	s.m.waiting = append(s.m.waiting, id)
	if len(s.m.waiting) < s.m.parties {
		return
	}
	// The trip.
	if s.failAction.Load() {
		last := s.m.waiting[len(s.m.waiting)-1]
		s.m.waiting = s.m.waiting[:len(s.m.waiting)-1]
		s.expect(t, last, want{kind: wantAction})
		s.releaseAll(t, wantBroken, causeAction)
		s.m.broken = true
		return
	}
	for i, id := range s.m.waiting {
		s.expect(t, id, want{index: i, kind: wantOK})
	}
	s.m.waiting = nil
}

func (s *cyclicSM) arriveDone(t *rapid.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := s.start(t, ctx)
	synctest.Wait()
	s.expect(t, id, want{kind: wantCtx})
	s.releaseAll(t, wantBroken, causeCtx)
	s.m.broken = true
}

func (s *cyclicSM) cancel(t *rapid.T) {
	if len(s.m.waiting) == 0 {
		t.Skip("nobody waiting")
	}
	k := rapid.IntRange(0, len(s.m.waiting)-1).Draw(t, "victim")
	victim := s.m.waiting[k]
	s.cancels[victim]()
	synctest.Wait()
	s.m.waiting = append(s.m.waiting[:k], s.m.waiting[k+1:]...)
	s.expect(t, victim, want{kind: wantCtx})
	s.releaseAll(t, wantBroken, causeCtx)
	s.m.broken = true
}

func (s *cyclicSM) reset(t *rapid.T) {
	s.b.Reset()
	synctest.Wait()
	s.releaseAll(t, wantBroken, causeReset)
	s.m.broken = false
}

func (s *cyclicSM) check(t *rapid.T) {
	if got, want := s.b.Waiting(), len(s.m.waiting); got != want {
		t.Fatalf("Waiting = %d, model %d", got, want)
	}
	if got := s.b.Broken(); got != s.m.broken {
		t.Fatalf("Broken = %v, model %v", got, s.m.broken)
	}
	for id := range s.pending {
		select {
		case o := <-s.results[id]:
			t.Fatalf("party %d returned %v; the model says it is still waiting", id, o)
		default:
		}
	}
}

// TestCyclicModel checks Cyclic against the sequential model with random
// sequences of arrivals, arrivals with a done ctx, cancellations of waiting
// parties, Resets and failing actions.
func TestCyclicModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rapid.Check(testutil.InBubble{TB: t}, func(rt *rapid.T) {
			s := &cyclicSM{
				m:         cyclicModel{parties: rapid.IntRange(1, 4).Draw(rt, "parties")},
				errAction: errors.New("action failed"),
				cancels:   map[int]context.CancelFunc{},
				results:   map[int]chan outcome{},
				pending:   map[int]bool{},
			}
			s.b = barrier.New(s.m.parties, func() error {
				if s.failAction.Load() {
					return s.errAction
				}
				return nil
			})
			defer func() {
				// Release every goroutine, even when the check failed.
				s.b.Reset()
				for _, c := range s.cancels {
					c()
				}
				synctest.Wait()
			}()
			rt.Repeat(map[string]func(*rapid.T){
				"arrive":     s.arrive,
				"arriveDone": s.arriveDone,
				"cancel":     s.cancel,
				"reset":      s.reset,
				"failAction": func(t *rapid.T) { s.failAction.Store(rapid.Bool().Draw(t, "fail")) },
				"":           s.check,
			})
		})
	})
}
