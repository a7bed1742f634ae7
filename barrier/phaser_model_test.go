package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"

	"github.com/lockstep-go/lockstep/barrier"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"pgregory.net/rapid"
)

// phaserModel is the sequential model of a Phaser.
type phaserModel struct {
	phase, parties, unarrived int
	terminated                bool
	stopAt                    int      // OnAdvance terminates when the ending phase+1 reaches it
	hookCalls                 []string // expected OnAdvance calls
}

func (m *phaserModel) reported() int {
	if m.terminated {
		return m.phase + math.MinInt32
	}
	return m.phase
}

// phaserWaiter is a goroutine blocked in AwaitAdvance (arrives false) or
// ArriveAndAwaitAdvance (arrives true) for phase.
type phaserWaiter struct {
	id      int
	phase   int
	arrives bool
	cancel  context.CancelFunc
	result  chan phaserOutcome
}

type phaserOutcome struct {
	phase int
	err   error
}

type phaserSM struct {
	p         *barrier.Phaser
	m         phaserModel
	hookCalls []string // actual OnAdvance calls (written by whichever goroutine advances; read after synctest.Wait)
	waiting   []*phaserWaiter
	nextID    int
}

// advance applies the end of the current phase to the model and releases
// the model's waiters of that phase.
func (s *phaserSM) advance(t *rapid.T) {
	ending := s.m.phase
	s.m.hookCalls = append(s.m.hookCalls, fmt.Sprint(ending, s.m.parties))
	s.m.phase = (ending + 1) & (1<<30 - 1)
	s.m.unarrived = s.m.parties
	if s.m.parties == 0 || s.m.phase >= s.m.stopAt {
		s.m.terminated = true
	}
	s.releaseWaiters(t)
}

// releaseWaiters checks that every model waiter returned what the model
// says, after an advance or termination.
func (s *phaserSM) releaseWaiters(t *rapid.T) {
	for _, w := range s.waiting {
		o := s.receive(t, w)
		if s.m.terminated {
			if o.phase != s.m.reported() || !errors.Is(o.err, barrier.ErrTerminated) {
				t.Fatalf("waiter %d: %v; want %d, ErrTerminated", w.id, o, s.m.reported())
			}
		} else if o.phase != s.m.phase || o.err != nil {
			t.Fatalf("waiter %d: %v; want %d, nil", w.id, o, s.m.phase)
		}
	}
	s.waiting = nil
}

func (s *phaserSM) receive(t *rapid.T, w *phaserWaiter) phaserOutcome {
	t.Helper()
	select {
	case o := <-w.result:
		return o
	default:
		t.Fatalf("waiter %d (phase %d, arrives %v) has not returned", w.id, w.phase, w.arrives)
		return phaserOutcome{}
	}
}

// arrival applies one arrival (and a deregistration) to the model and
// reports the phase the real call should return, or panics expected.
func (s *phaserSM) arrival(t *rapid.T, deregister bool) (want int, wantPanic bool) {
	switch {
	case s.m.terminated:
		return s.m.reported(), false
	case s.m.unarrived == 0:
		return 0, true
	}
	want = s.m.phase
	s.m.unarrived--
	if deregister {
		s.m.parties--
	}
	if s.m.unarrived == 0 {
		s.advance(t)
	}
	return want, false
}

func (s *phaserSM) arriveOp(t *rapid.T, deregister bool) {
	var got int
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		if deregister {
			got = s.p.ArriveAndDeregister()
		} else {
			got = s.p.Arrive()
		}
		return false
	}()
	synctest.Wait() // released waiters run
	want, wantPanic := s.arrival(t, deregister)
	if panicked != wantPanic || !panicked && got != want {
		t.Fatalf("arrive(deregister=%v) = %d, panicked %v; model %d, panic %v", deregister, got, panicked, want, wantPanic)
	}
}

func (s *phaserSM) register(t *rapid.T) {
	if s.m.parties == barrier.MaxParties {
		t.Skip("full")
	}
	got := s.p.Register()
	want := s.m.reported()
	if !s.m.terminated {
		s.m.parties++
		s.m.unarrived++
	}
	if got != want {
		t.Fatalf("Register = %d, model %d", got, want)
	}
}

func (s *phaserSM) startWaiter(t *rapid.T, arrives bool) {
	if arrives && !s.m.terminated && s.m.unarrived == 0 {
		t.Skip("ArriveAndAwaitAdvance would panic in a goroutine")
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &phaserWaiter{id: s.nextID, arrives: arrives, cancel: cancel, result: make(chan phaserOutcome, 1)}
	s.nextID++
	arg := s.m.phase
	if !arrives {
		arg = rapid.SampledFrom([]int{s.m.phase, s.m.phase, s.m.phase - 1, s.m.phase + 1, -7}).Draw(t, "phase")
	}
	go func() {
		var o phaserOutcome
		if arrives {
			o.phase, o.err = s.p.ArriveAndAwaitAdvance(ctx)
		} else {
			o.phase, o.err = s.p.AwaitAdvance(ctx, arg)
		}
		w.result <- o
	}()
	synctest.Wait()

	// What the model expects.
	switch {
	case !arrives && arg < 0:
		if o := s.receive(t, w); o.phase != arg || !errors.Is(o.err, barrier.ErrTerminated) {
			t.Fatalf("AwaitAdvance(%d) = %v; want %d, ErrTerminated", arg, o, arg)
		}
	case s.m.terminated:
		o := s.receive(t, w)
		if o.phase != s.m.reported() || !errors.Is(o.err, barrier.ErrTerminated) {
			t.Fatalf("on a terminated phaser: %v; want %d, ErrTerminated", o, s.m.reported())
		}
	case !arrives && arg != s.m.phase:
		if o := s.receive(t, w); o.phase != s.m.phase || o.err != nil {
			t.Fatalf("AwaitAdvance(%d) at phase %d = %v", arg, s.m.phase, o)
		}
	case !arrives:
		w.phase = arg
		s.waiting = append(s.waiting, w)
	default:
		w.phase = s.m.phase
		s.waiting = append(s.waiting, w)
		if s.m.unarrived--; s.m.unarrived == 0 {
			s.advance(t) // it was the last: it returns at once, with the others
		}
	}
}

func (s *phaserSM) cancelWaiter(t *rapid.T) {
	if len(s.waiting) == 0 {
		t.Skip("nobody waiting")
	}
	k := rapid.IntRange(0, len(s.waiting)-1).Draw(t, "waiter")
	w := s.waiting[k]
	w.cancel()
	synctest.Wait()
	s.waiting = append(s.waiting[:k], s.waiting[k+1:]...)
	o := s.receive(t, w)
	if !errors.Is(o.err, context.Canceled) || o.phase != w.phase {
		t.Fatalf("cancelled waiter %d: %v; want %d, Canceled", w.id, o, w.phase)
	}
	if w.arrives {
		s.m.unarrived++ // its arrival is withdrawn
	}
}

func (s *phaserSM) forceTermination(t *rapid.T) {
	s.p.ForceTermination()
	synctest.Wait()
	s.m.terminated = true
	s.releaseWaiters(t)
}

func (s *phaserSM) check(t *rapid.T) {
	if got := s.p.Phase(); got != s.m.reported() {
		t.Fatalf("Phase = %d, model %d", got, s.m.reported())
	}
	if s.p.Registered() != s.m.parties || s.p.Unarrived() != s.m.unarrived || s.p.Arrived() != s.m.parties-s.m.unarrived {
		t.Fatalf("registered %d, unarrived %d, arrived %d; model %d, %d", s.p.Registered(), s.p.Unarrived(), s.p.Arrived(), s.m.parties, s.m.unarrived)
	}
	if s.p.IsTerminated() != s.m.terminated {
		t.Fatalf("IsTerminated = %v, model %v", s.p.IsTerminated(), s.m.terminated)
	}
	if fmt.Sprint(s.hookCalls) != fmt.Sprint(s.m.hookCalls) {
		t.Fatalf("OnAdvance calls %v, model %v", s.hookCalls, s.m.hookCalls)
	}
	for _, w := range s.waiting {
		select {
		case o := <-w.result:
			t.Fatalf("waiter %d returned %v; the model says it waits", w.id, o)
		default:
		}
	}
}

// TestPhaserModel checks Phaser against the sequential model: random
// registrations, arrivals, deregistrations, waiters (parties and
// observers, some for a past or future phase), cancellations of waiters,
// forced termination, and an OnAdvance that terminates at a drawn phase.
func TestPhaserModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rapid.Check(testutil.InBubble{TB: t}, func(rt *rapid.T) {
			s := &phaserSM{}
			s.m.parties = rapid.IntRange(0, 4).Draw(rt, "parties")
			s.m.unarrived = s.m.parties
			s.m.stopAt = rapid.IntRange(1, 12).Draw(rt, "stopAt")
			s.p = barrier.NewPhaser(s.m.parties, func(phase, registered int) bool {
				s.hookCalls = append(s.hookCalls, fmt.Sprint(phase, registered))
				return registered == 0 || phase+1 >= s.m.stopAt
			})
			defer func() {
				s.p.ForceTermination()
				for _, w := range s.waiting {
					w.cancel()
				}
				synctest.Wait()
			}()
			rt.Repeat(map[string]func(*rapid.T){
				"register":            s.register,
				"arrive":              func(t *rapid.T) { s.arriveOp(t, false) },
				"arriveAndDeregister": func(t *rapid.T) { s.arriveOp(t, true) },
				"awaitAdvance":        func(t *rapid.T) { s.startWaiter(t, false) },
				"arriveAndAwait":      func(t *rapid.T) { s.startWaiter(t, true) },
				"cancel":              s.cancelWaiter,
				"forceTermination": func(t *rapid.T) {
					if rapid.IntRange(0, 3).Draw(t, "rarely") == 0 {
						s.forceTermination(t)
					}
				},
				"": s.check,
			})
		})
	})
}
