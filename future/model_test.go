package future_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/lockstep-go/lockstep/future"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"pgregory.net/rapid"
)

var modelErrs = []error{errA, errB, errC, context.Canceled}

// TestSingleAssignmentStateMachine drives one future through random
// sequences of completions, reads and continuations and compares each step
// with a sequential model: pending until the first completion, then fixed.
func TestSingleAssignmentStateMachine(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := future.NewPromise[int]()
		f := p.Future()
		var model struct {
			done bool
			o    outcome
		}
		type listener struct {
			runs atomic.Int32
			saw  outcome
		}
		var listeners []*listener
		doneCh := f.Done()

		completion := func(name string, o outcome, do func() bool) {
			won := do()
			if won == model.done {
				rt.Fatalf("%s returned %v with the future complete: %v", name, won, model.done)
			}
			if won {
				model.done, model.o = true, o
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"Resolve": func(rt *rapid.T) {
				v := rapid.IntRange(0, 9).Draw(rt, "v")
				completion("Resolve", outcome{v, nil}, func() bool { return p.Resolve(v) })
			},
			"Reject": func(rt *rapid.T) {
				err := rapid.SampledFrom(modelErrs[:3]).Draw(rt, "err")
				completion("Reject", outcome{0, err}, func() bool { return p.Reject(err) })
			},
			"Complete": func(rt *rapid.T) {
				v := rapid.IntRange(0, 9).Draw(rt, "v")
				err := rapid.SampledFrom(append([]error{nil}, modelErrs[:3]...)).Draw(rt, "err")
				completion("Complete", outcome{v, err}, func() bool { return p.Complete(v, err) })
			},
			"Cancel": func(rt *rapid.T) {
				completion("Cancel", outcome{0, context.Canceled}, f.Cancel)
			},
			"TryGet": func(rt *rapid.T) {
				v, err, ok := f.TryGet()
				if ok != model.done || (ok && (outcome{v, err}) != model.o) {
					rt.Fatalf("TryGet = %v, %v, %v; model %+v", v, err, ok, model)
				}
			},
			"Get": func(rt *rapid.T) {
				if !model.done {
					rt.Skip("Get would block")
				}
				if v, err := f.Get(bg); (outcome{v, err}) != model.o {
					rt.Fatalf("Get = %v, %v; model %v", v, err, model.o)
				}
			},
			"GetDoneContext": func(rt *rapid.T) {
				ctx, cancel := context.WithCancel(bg)
				cancel()
				if v, err := f.Get(ctx); v != 0 || !errors.Is(err, context.Canceled) {
					rt.Fatalf("Get(done ctx) = %v", err)
				}
			},
			"Attach": func(rt *rapid.T) {
				l := new(listener)
				listeners = append(listeners, l)
				future.Handle(f, func(v int, err error) (int, error) {
					l.runs.Add(1)
					l.saw = outcome{v, err}
					return 0, nil
				})
			},
			"": func(rt *rapid.T) {
				if isClosed(doneCh) != model.done || isClosed(f.Done()) != model.done {
					rt.Fatalf("Done closed = %v, model done = %v", isClosed(doneCh), model.done)
				}
				for i, l := range listeners {
					want := int32(0)
					if model.done {
						want = 1
					}
					if n := l.runs.Load(); n != want {
						rt.Fatalf("listener %d ran %d times, want %d", i, n, want)
					}
					if model.done && l.saw != model.o {
						rt.Fatalf("listener %d saw %v, model %v", i, l.saw, model.o)
					}
				}
			},
		})
	})
}

// Linearizability of one future under concurrent completions and reads,
// checked with porcupine against the sequential model. testhook.Yield in
// the windows of settle (result decided, not yet visible) and push (stack
// read, CAS pending) makes the bad interleavings common: with the loser's
// wait in Future.complete removed (a Resolve that returns false while the
// winner is between its two stores, followed by a TryGet that still sees
// the future pending), this test fails in most runs.
func TestLinearizable(t *testing.T) {
	testhook.Enable(t)
	type input struct {
		op  string // resolve, reject, cancel, tryget, get
		v   int
		err int // index into modelErrs
	}
	type output struct {
		ok  bool // completion won, or TryGet found it complete
		v   int
		err int // -1: nil
	}
	type state struct {
		done bool
		v    int
		err  int
	}
	errIndex := func(err error) int {
		for i, e := range modelErrs {
			if e == err {
				return i
			}
		}
		if err == nil {
			return -1
		}
		return -2
	}
	model := porcupine.Model{
		Init: func() any { return state{err: -1} },
		Step: func(st, in, out any) (bool, any) {
			s, i, o := st.(state), in.(input), out.(output)
			switch i.op {
			case "resolve", "reject", "cancel":
				if s.done {
					return !o.ok, s
				}
				if !o.ok {
					return false, s
				}
				ns := state{done: true, v: i.v, err: i.err}
				return true, ns
			case "tryget":
				if !o.ok {
					return !s.done, s
				}
				return s.done && o.v == s.v && o.err == s.err, s
			case "get":
				return s.done && o.v == s.v && o.err == s.err, s
			}
			panic("unknown op " + i.op)
		},
		DescribeOperation: func(in, out any) string { return fmt.Sprintf("%+v -> %+v", in, out) },
	}

	rounds := testutil.Scale(3000)
	const clients, opsPerClient = 4, 4
	for round := range rounds {
		p := future.NewPromise[int]()
		f := p.Future()
		var clock atomic.Int64
		history := make([][]porcupine.Operation, clients)
		testutil.Run(t, clients, func(id int) {
			r := rand.New(rand.NewPCG(uint64(round), uint64(id)))
			for k := range opsPerClient {
				var in input
				switch n := r.IntN(10); {
				case id == 0 && k == opsPerClient-1:
					in = input{op: "resolve", v: 1 + r.IntN(9), err: -1} // someone completes: Gets return
				case n < 2:
					in = input{op: "resolve", v: 1 + r.IntN(9), err: -1}
				case n < 3:
					in = input{op: "reject", err: r.IntN(3)}
				case n < 4:
					in = input{op: "cancel", err: 3}
				case n < 8 || id == 0: // client 0 must reach its last op: no Get
					in = input{op: "tryget"}
				default:
					in = input{op: "get"}
				}
				call := clock.Add(1)
				var out output
				switch in.op {
				case "resolve":
					out.ok = p.Resolve(in.v)
				case "reject":
					out.ok = p.Reject(modelErrs[in.err])
				case "cancel":
					out.ok = f.Cancel()
				case "tryget":
					v, err, ok := f.TryGet()
					out = output{ok: ok, v: v, err: errIndex(err)}
				case "get":
					v, err := f.Get(bg)
					out = output{ok: true, v: v, err: errIndex(err)}
				}
				ret := clock.Add(1)
				history[id] = append(history[id], porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
			}
		})
		var all []porcupine.Operation
		for _, h := range history {
			all = append(all, h...)
		}
		if !porcupine.CheckOperations(model, all) {
			for _, op := range all {
				t.Logf("client %d [%d,%d] %+v -> %+v", op.ClientId, op.Call, op.Return, op.Input, op.Output)
			}
			t.Fatalf("round %d: history is not linearizable", round)
		}
	}
}
