package future_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/future"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
)

// outcome is a future's result as the stress tests compare it.
type outcome struct {
	v   int
	err error
}

func (o outcome) String() string { return fmt.Sprintf("(%d, %v)", o.v, o.err) }

// TestFutureBash is guava's AbstractFutureTest.testFutureBash in spirit:
// in every round many goroutines race to complete one future (Resolve,
// Reject, Complete, Cancel), to attach continuations, and to read it (Get,
// Done, TryGet, Get with a ctx that ends). Exactly one completion wins;
// every continuation runs exactly once; every reader and continuation sees
// the winner's result.
func TestFutureBash(t *testing.T) {
	testhook.Enable(t)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		rounds := testutil.Scale(1500)
		for r := range rounds {
			bashRound(t, r)
		}
	})
}

func bashRound(t *testing.T, round int) {
	const (
		completers = 6
		listeners  = 6
		getters    = 6
	)
	errs := [completers]error{}
	for i := range errs {
		errs[i] = fmt.Errorf("completer %d", i)
	}
	// What completer i would complete the future with.
	intended := func(i int) outcome {
		switch i % 4 {
		case 0:
			return outcome{100 + i, nil}
		case 1:
			return outcome{0, errs[i]}
		case 2:
			return outcome{100 + i, errs[i]}
		default:
			return outcome{0, context.Canceled}
		}
	}
	p := future.NewPromise[int]()
	f := p.Future()

	var wins atomic.Int32
	var winner atomic.Int32
	var listened [listeners]atomic.Int32
	var heard [listeners]outcome
	var read [getters]outcome
	var readOK [getters]bool

	testutil.Run(t, completers+listeners+getters, func(id int) {
		switch {
		case id < completers:
			if id%2 == 0 {
				runtime.Gosched()
			}
			var won bool
			switch id % 4 {
			case 0:
				won = p.Resolve(100 + id)
			case 1:
				won = p.Reject(errs[id])
			case 2:
				won = p.Complete(100+id, errs[id])
			default:
				won = f.Cancel()
			}
			if won {
				wins.Add(1)
				winner.Store(int32(id))
			}
		case id < completers+listeners:
			l := id - completers
			if l%2 == 1 {
				runtime.Gosched()
			}
			future.Handle(f, func(v int, err error) (struct{}, error) {
				listened[l].Add(1)
				heard[l] = outcome{v, err}
				return struct{}{}, nil
			})
		default:
			g := id - completers - listeners
			switch g % 3 {
			case 0:
				v, err := f.Get(bg)
				read[g], readOK[g] = outcome{v, err}, true
			case 1:
				<-f.Done()
				v, err, ok := f.TryGet()
				read[g], readOK[g] = outcome{v, err}, ok
			default:
				ctx, cancel := context.WithCancel(bg)
				go cancel()
				v, err := f.Get(ctx)
				cancel()
				if errors.Is(err, context.Canceled) && err != context.Canceled {
					t.Errorf("Get: ctx error %v is not ctx.Err()", err)
				}
				if ctx.Err() != nil && err == ctx.Err() {
					// The wait was abandoned: read the result afterwards.
					<-f.Done()
					v, err, _ = f.TryGet()
				}
				read[g], readOK[g] = outcome{v, err}, true
			}
		}
	})

	if n := wins.Load(); n != 1 {
		t.Fatalf("round %d: %d completions reported true", round, n)
	}
	want := intended(int(winner.Load()))
	got, ok := outcomeOf(f)
	if !ok || got != want {
		t.Fatalf("round %d: future holds %v (complete: %v), winner %d intended %v", round, got, ok, winner.Load(), want)
	}
	for l := range listeners {
		if n := listened[l].Load(); n != 1 {
			t.Fatalf("round %d: listener %d ran %d times", round, l, n)
		}
		if heard[l] != want {
			t.Fatalf("round %d: listener %d saw %v, want %v", round, l, heard[l], want)
		}
	}
	for g := range getters {
		if !readOK[g] || read[g] != want {
			t.Fatalf("round %d: getter %d read %v (ok %v), want %v", round, g, read[g], readOK[g], want)
		}
	}
}

func outcomeOf(f *future.Future[int]) (outcome, bool) {
	v, err, ok := f.TryGet()
	return outcome{v, err}, ok
}

// Combinators whose inputs complete concurrently, in random order and from
// different goroutines, still follow their rules: All fails iff an input
// failed (with one of those errors) and otherwise lists every value in
// order; Any succeeds iff an input succeeded; AllSettled reports each
// input; Race reports one of the inputs' outcomes.
func TestCombinatorsUnderRaces(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(2000)
	const n = 8
	errs := make([]error, n)
	for i := range errs {
		errs[i] = fmt.Errorf("input %d", i)
	}
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 7))
		fail := make([]bool, n)
		failed, succeeded := 0, 0
		for i := range fail {
			fail[i] = r.IntN(4) == 0
			if fail[i] {
				failed++
			} else {
				succeeded++
			}
		}
		ps := make([]*future.Promise[int], n)
		fs := make([]*future.Future[int], n)
		for i := range ps {
			ps[i] = future.NewPromise[int]()
			fs[i] = ps[i].Future()
		}
		// Half the combinators are attached while the inputs complete.
		all := future.All(fs[:n/2]...)
		testutil.Run(t, n+1, func(id int) {
			if id == n {
				all = future.All(fs...)
				return
			}
			if fail[id] {
				ps[id].Reject(errs[id])
			} else {
				ps[id].Resolve(id)
			}
		})
		anyF, settled, race := future.Any(fs...), future.AllSettled(fs...), future.Race(fs...)

		vs, err := mustGet(t, all)
		if failed == 0 {
			if err != nil || len(vs) != n {
				t.Fatalf("round %d: All = %v, %v with no failures", round, vs, err)
			}
			for i, v := range vs {
				if v != i {
					t.Fatalf("round %d: All[%d] = %d", round, i, v)
				}
			}
		} else if idx := indexOf(errs, err); idx < 0 || !fail[idx] {
			t.Fatalf("round %d: All = %v, %v; want one of the failures", round, vs, err)
		}

		v, err := mustGet(t, anyF)
		if succeeded > 0 {
			if err != nil || v < 0 || v >= n || fail[v] {
				t.Fatalf("round %d: Any = %v, %v; want a success", round, v, err)
			}
		} else {
			for i := range errs {
				if !errors.Is(err, errs[i]) {
					t.Fatalf("round %d: Any of failures = %v, misses %v", round, err, errs[i])
				}
			}
		}

		rs, _ := mustGet(t, settled)
		for i, res := range rs {
			if fail[i] != (res.Err != nil) || (fail[i] && res.Err != errs[i]) || (!fail[i] && res.Value != i) {
				t.Fatalf("round %d: AllSettled[%d] = %+v", round, i, res)
			}
		}

		v, err = mustGet(t, race)
		if err != nil {
			if idx := indexOf(errs, err); idx < 0 || !fail[idx] {
				t.Fatalf("round %d: Race = %v", round, err)
			}
		} else if v < 0 || v >= n || fail[v] {
			t.Fatalf("round %d: Race = %v", round, v)
		}
	}
}

func indexOf(errs []error, err error) int {
	for i, e := range errs {
		if e == err {
			return i
		}
	}
	return -1
}

// Continuations attached from many goroutines while the head completes
// each run exactly once, and a chain built concurrently completes.
func TestAttachRacingCompletion(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(2000)
	const attachers = 8
	for round := range rounds {
		p := future.NewPromise[int]()
		var runs [attachers * 4]atomic.Int32
		testutil.Run(t, attachers+1, func(id int) {
			if id == attachers {
				p.Resolve(round)
				return
			}
			for k := range 4 {
				i := id*4 + k
				future.Then(p.Future(), func(v int) (int, error) {
					if v != round {
						t.Errorf("continuation saw %d, want %d", v, round)
					}
					runs[i].Add(1)
					return v, nil
				})
			}
		})
		for i := range runs {
			if c := runs[i].Load(); c != 1 {
				t.Fatalf("round %d: continuation %d ran %d times", round, i, c)
			}
		}
	}
}
