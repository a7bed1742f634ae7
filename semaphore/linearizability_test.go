package semaphore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/semaphore"
)

// The linearizability check. A blocking Acquire is not one atomic step, so
// it is recorded as two operations (as dual data structures split a request
// from its follow-up; Scherer and Scott, "Nonblocking concurrent data
// structures with condition synchronization", DISC 2004):
//
//   - join: the waiter enters the FIFO (and is granted at once if it is at
//     the front and fits). Its interval runs from the call to the moment
//     the waiter was queued, time-stamped under the semaphore's mutex by
//     the enqueue hook, or to the return for an Acquire that never queued.
//   - take or fail: the call returns nil (the grant is taken) or an error
//     (the waiter leaves the queue, or gives back a grant that raced with
//     its cancellation). Its interval is the whole call.
//
// The model grants eagerly: a Release, or a waiter leaving the front, hands
// permits to the waiters at the front that fit, at once. So the checker
// rejects a TryAcquire or fast-path Acquire that barges past a queued
// waiter, a grant that reaches the wrong waiter, a lost permit, and an
// Available or TryAcquire that sees a state that never existed.

type linKind uint8

const (
	linTry     linKind = iota // TryAcquire(n) -> bool
	linRelease                // Release(n)
	linJoin                   // Acquire(n) enters the queue
	linTake                   // Acquire returned nil
	linFail                   // Acquire returned an error
	linAvail                  // Available() -> int64
)

type linInput struct {
	kind linKind
	id   int // the Acquire, for join, take and fail
	n    int64
}

type linEntry struct {
	id int
	n  int64
}

type linState struct {
	avail   int64
	queue   []linEntry // joined, not yet granted, in FIFO order
	granted []linEntry // granted, not yet returned
}

func (s linState) settle() linState {
	for len(s.queue) > 0 && s.queue[0].n <= s.avail {
		s.avail -= s.queue[0].n
		s.granted = append(slices.Clip(s.granted), s.queue[0])
		s.queue = s.queue[1:]
	}
	return s
}

func remove(es []linEntry, id int) ([]linEntry, linEntry, bool) {
	for i, e := range es {
		if e.id == id {
			return slices.Concat(es[:i], es[i+1:]), e, true
		}
	}
	return es, linEntry{}, false
}

func semaphoreModel(capacity int64) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return linState{avail: capacity} },
		Step: func(state, input, output any) (bool, any) {
			s := state.(linState)
			in := input.(linInput)
			switch in.kind {
			case linTry:
				can := len(s.queue) == 0 && s.avail >= in.n
				if output.(bool) != can {
					return false, s
				}
				if can {
					s.avail -= in.n
				}
				return true, s
			case linRelease:
				s.avail += in.n
				return true, s.settle()
			case linJoin:
				s.queue = append(slices.Clip(s.queue), linEntry{in.id, in.n})
				return true, s.settle()
			case linTake:
				g, _, ok := remove(s.granted, in.id)
				s.granted = g
				return ok, s
			case linFail:
				if q, _, ok := remove(s.queue, in.id); ok {
					s.queue = q
					return true, s.settle()
				}
				if g, e, ok := remove(s.granted, in.id); ok {
					s.granted = g
					s.avail += e.n // the grant is given back and passed on
					return true, s.settle()
				}
				return false, s
			case linAvail:
				return output.(int64) == s.avail, s
			}
			panic("unknown operation")
		},
		Equal: func(a, b any) bool {
			x, y := a.(linState), b.(linState)
			return x.avail == y.avail && slices.Equal(x.queue, y.queue) && slices.Equal(x.granted, y.granted)
		},
		DescribeOperation: func(input, output any) string {
			in := input.(linInput)
			switch in.kind {
			case linTry:
				return fmt.Sprintf("TryAcquire(%d) -> %v", in.n, output)
			case linRelease:
				return fmt.Sprintf("Release(%d)", in.n)
			case linJoin:
				return fmt.Sprintf("#%d join(%d)", in.id, in.n)
			case linTake:
				return fmt.Sprintf("#%d Acquire -> nil", in.id)
			case linFail:
				return fmt.Sprintf("#%d Acquire -> error", in.id)
			case linAvail:
				return fmt.Sprintf("Available() -> %v", output)
			}
			return "?"
		},
	}
}

type idKey struct{}

// history records operations with a logical clock: one atomic counter, so
// timestamps respect real-time order.
type history struct {
	clock  atomic.Int64
	mu     sync.Mutex
	ops    []porcupine.Operation
	joined map[int]int64 // Acquire id -> time it was queued
}

func (h *history) now() int64 { return h.clock.Add(1) }

func (h *history) add(client int, in linInput, out any, call, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	h.mu.Unlock()
}

func (h *history) queued(ctx context.Context) {
	t := h.now()
	h.mu.Lock()
	h.joined[ctx.Value(idKey{}).(int)] = t
	h.mu.Unlock()
}

// linStuck bounds a round, which normally takes milliseconds. A round
// still running after it has a waiter that nobody will wake (a lost
// wakeup); cancelling every waiter then ends the round with a history that
// shows the fault, instead of a hang.
const linStuck = 10 * time.Second

type linResult struct {
	h              *history
	stuck          bool
	avail, waiters int64
}

// linRound runs goroutines x ops random operations on a fresh semaphore and
// returns the history and the final state.
func linRound(t *testing.T, seed uint64, capacity int64, goroutines, ops int) linResult {
	h := &history{joined: make(map[int]int64)}
	round, cancelRound := context.WithCancel(context.Background())
	defer cancelRound()
	var stuck atomic.Bool
	watchdog := time.AfterFunc(linStuck, func() { stuck.Store(true); cancelRound() })
	defer watchdog.Stop()
	semaphore.SetEnqueueHook(t, h.queued)
	s := semaphore.New(capacity)
	var nextID atomic.Int64
	// slot holds the cancel func of a waiter; any goroutine may fire it.
	var slot atomic.Pointer[context.CancelFunc]
	fire := func() {
		if f := slot.Swap(nil); f != nil {
			(*f)()
		}
	}
	testutil.Run(t, goroutines, func(client int) {
		r := rand.New(rand.NewPCG(seed, uint64(client)))
		var held int64
		release := func() {
			if held == 0 {
				return
			}
			call := h.now()
			s.Release(held)
			h.add(client, linInput{kind: linRelease, n: held}, nil, call, h.now())
			held = 0
		}
		for range ops {
			if r.IntN(4) == 0 {
				fire()
			}
			switch r.IntN(6) {
			case 0, 1:
				n := 1 + r.Int64N(capacity)
				call := h.now()
				ok := s.TryAcquire(n)
				h.add(client, linInput{kind: linTry, n: n}, ok, call, h.now())
				if ok {
					held += n
				}
			case 2:
				release()
			case 3, 4:
				// Release first, so that every waiter can eventually be
				// served and the round cannot deadlock.
				release()
				n := 1 + r.Int64N(capacity)
				id := int(nextID.Add(1))
				ctx := context.WithValue(round, idKey{}, id)
				cancel := context.CancelFunc(func() {})
				if r.IntN(2) == 0 {
					ctx, cancel = context.WithCancel(ctx)
					slot.Store(&cancel)
				}
				call := h.now()
				err := s.Acquire(ctx, n)
				ret := h.now()
				cancel()
				h.mu.Lock()
				joined, ok := h.joined[id]
				h.mu.Unlock()
				if !ok {
					joined = ret
				}
				h.add(client, linInput{kind: linJoin, id: id, n: n}, nil, call, joined)
				if err != nil {
					h.add(client, linInput{kind: linFail, id: id, n: n}, nil, call, ret)
				} else {
					h.add(client, linInput{kind: linTake, id: id, n: n}, nil, call, ret)
					held += n
				}
			case 5:
				call := h.now()
				v := s.Available()
				h.add(client, linInput{kind: linAvail}, v, call, h.now())
			}
		}
		release()
		fire()
	})
	watchdog.Stop()
	return linResult{h: h, stuck: stuck.Load(), avail: s.Available(), waiters: int64(s.Waiters())}
}

// TestLinearizable checks histories of TryAcquire, Release, Acquire (with
// cancellations) and Available against the FIFO model, with testhook.Yield
// widening the racy windows of the lock-free fast paths.
//
// Seeded bugs it caught while it was written (each then removed), each
// within the first twenty rounds:
//   - TryAcquire's fast path ignoring waitersFlag (barging past a queued
//     waiter): not linearizable.
//   - settle waking the granted waiters before publishing the state (a
//     woken waiter returns while TryAcquire still sees the old word): not
//     linearizable.
//   - the Acquire slow path reading the permits before freezing the word (a
//     fast Release in between is overwritten): not linearizable, and a
//     permit lost.
//   - Release's fast path ignoring waitersFlag (permits added without
//     waking the queued waiter): not linearizable (and the round stuck
//     until linStuck).
func TestLinearizable(t *testing.T) {
	testhook.Enable(t)
	const capacity = 3
	rounds := testutil.Scale(2000)
	for round := range rounds {
		r := linRound(t, uint64(round), capacity, 4, 12)
		model := semaphoreModel(capacity)
		res, info := porcupine.CheckOperationsVerbose(model, r.h.ops, 20*time.Second)
		switch res {
		case porcupine.Ok:
		case porcupine.Unknown:
			t.Logf("round %d: checker timed out; history of %d operations not judged", round, len(r.h.ops))
		default:
			t.Fatalf("round %d: history is not linearizable:\n%s", round, describe(model, r.h.ops, info))
		}
		if r.stuck {
			t.Fatalf("round %d: still running after %v: a waiter was never woken", round, linStuck)
		}
		if r.avail != capacity || r.waiters != 0 {
			t.Fatalf("round %d: afterwards Available() = %d, Waiters() = %d; want %d, 0", round, r.avail, r.waiters, capacity)
		}
	}
}

// describe prints the history in call order and the longest linearizable
// prefix the checker found.
func describe(model porcupine.Model, ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var b strings.Builder
	sorted := slices.Clone(ops)
	slices.SortFunc(sorted, func(x, y porcupine.Operation) int { return int(x.Call - y.Call) })
	for _, op := range sorted {
		fmt.Fprintf(&b, "  [%4d,%4d] client %d: %s\n", op.Call, op.Return, op.ClientId, model.DescribeOperation(op.Input, op.Output))
	}
	partial := info.PartialLinearizationsOperations()
	if len(partial) > 0 && len(partial[0]) > 0 {
		longest := partial[0][0]
		for _, p := range partial[0] {
			if len(p) > len(longest) {
				longest = p
			}
		}
		b.WriteString("longest linearizable prefix:\n")
		for _, op := range longest {
			fmt.Fprintf(&b, "  %s\n", model.DescribeOperation(op.Input, op.Output))
		}
	}
	return b.String()
}
