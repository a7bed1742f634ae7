package barrier

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
)

// randomCtx returns a ctx for one call: live, already done, cancelled by
// another goroutine after a few yields, or with a very short timeout.
func randomCtx(rng *rand.Rand) (context.Context, context.CancelFunc) {
	switch rng.IntN(6) {
	case 0:
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	case 1, 2:
		ctx, cancel := context.WithCancel(context.Background())
		delay := rng.IntN(16)
		go func() {
			for range delay {
				runtime.Gosched()
			}
			cancel()
		}()
		return ctx, cancel
	case 3:
		return context.WithTimeout(context.Background(), time.Duration(rng.IntN(20))*time.Microsecond)
	default:
		return context.WithCancel(context.Background())
	}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Phaser parties run rounds with cancellable ArriveAndAwaitAdvance (which
// withdraws on cancellation) and with Arrive + cancellable AwaitAdvance,
// register children and leave early, while an observer waits on every
// phase with cancellable AwaitAdvance. A party that has not arrived pins
// the phase, so each party knows the exact phase after each call:
//   - a success means the phase advanced exactly once (no more: this party
//     is unarrived in the next), and OnAdvance's plain write is visible;
//   - a ctx error from ArriveAndAwaitAdvance means the arrival was
//     withdrawn: the phase has not moved (a success reported as
//     cancellation would show the next phase here; a lost withdrawal hangs
//     the others and the watchdog fires);
//   - the last party to leave terminates the phaser.
//
// It runs with and without OnAdvance, from phase 0 and across the
// wrap-around at 2^30-1.
func TestPhaserCancelPinsPhase(t *testing.T) {
	testhook.Enable(t)
	for _, hook := range []bool{false, true} {
		for _, start := range []int{0, maxPhase - 40} {
			t.Run(fmt.Sprintf("hook=%v/start=%d", hook, start), func(t *testing.T) {
				testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
					phaserCancelStress(t, hook, start)
				})
			})
		}
	}
}

func phaserCancelStress(t *testing.T, hook bool, start int) {
	const initial = 4
	rounds := testutil.Scale(600)
	published := -1 // plain: written by OnAdvance
	var onAdvance func(phase, registered int) bool
	var advances atomic.Int64
	if hook {
		onAdvance = func(phase, registered int) bool {
			if phase%3 == 0 {
				runtime.Gosched()
			}
			published = phase
			advances.Add(1)
			return registered == 0
		}
	}
	p := NewPhaser(initial, onAdvance)
	if start != 0 {
		SetPhase(p, start)
	}
	var bad atomic.Int64
	fail := func(format string, args ...any) {
		bad.Add(1)
		t.Errorf(format, args...)
	}
	var withdrawn, won, spawned atomic.Int64
	var wg sync.WaitGroup
	var worker func(id, ph int)
	worker = func(id, ph int) {
		rng := rand.New(rand.NewPCG(uint64(id), uint64(start)))
		leaveAt := rounds
		if id >= 100 || rng.IntN(3) == 0 {
			leaveAt = rng.IntN(rounds)
		}
		for k := 0; k < leaveAt && bad.Load() == 0; k++ {
			if got := p.Phase(); got != ph {
				fail("worker %d round %d: phase %d, want %d (an unarrived party pins the phase)", id, k, got, ph)
				return
			}
			if rng.IntN(40) == 0 && spawned.Add(1) <= 16 {
				if got := p.Register(); got != ph {
					fail("Register = %d, want %d", got, ph)
					return
				}
				child := 100 + int(spawned.Load())
				wg.Go(func() { worker(child, ph) })
			}
			next := nextPhase(ph)
			ctx, cancel := randomCtx(rng)
			if rng.IntN(3) != 0 {
				for {
					got, err := p.ArriveAndAwaitAdvance(ctx)
					if err == nil {
						if got != next {
							fail("worker %d: ArriveAndAwaitAdvance from %d = %d", id, ph, got)
						}
						if now := p.Phase(); now != next {
							fail("worker %d: ArriveAndAwaitAdvance from %d succeeded, phase now %d", id, ph, now)
						}
						if hook && published != ph {
							fail("worker %d: advance from %d, OnAdvance published %d", id, ph, published)
						}
						won.Add(1)
						break
					}
					if !isCtxErr(err) || !errors.Is(err, ctx.Err()) {
						fail("worker %d: ArriveAndAwaitAdvance: %v (ctx %v)", id, err, ctx.Err())
						cancel()
						return
					}
					if now := p.Phase(); got != ph || now != ph {
						fail("worker %d: withdrawn from %d, returned %d, phase now %d", id, ph, got, now)
						cancel()
						return
					}
					withdrawn.Add(1)
					cancel()
					ctx, cancel = randomCtx(rng)
				}
			} else {
				if got := p.Arrive(); got != ph {
					fail("worker %d: Arrive = %d, want %d", id, got, ph)
					cancel()
					return
				}
				got, err := p.AwaitAdvance(ctx, ph)
				if err != nil {
					if !isCtxErr(err) || got != ph {
						fail("worker %d: AwaitAdvance(%d) = %d, %v", id, ph, got, err)
						cancel()
						return
					}
					got, err = p.AwaitAdvance(context.Background(), ph)
				}
				if err != nil || got != next {
					fail("worker %d: AwaitAdvance(%d) = %d, %v; want %d", id, ph, got, err, next)
					cancel()
					return
				}
				if hook && published != ph {
					fail("worker %d: advance from %d, OnAdvance published %d", id, ph, published)
				}
			}
			cancel()
			ph = next
		}
		if got := p.ArriveAndDeregister(); got != ph {
			fail("worker %d: ArriveAndDeregister = %d, want %d", id, got, ph)
		}
	}
	for id := range initial {
		wg.Go(func() { worker(id, start) })
	}
	// An observer, not a party: cancellable waits on every phase.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(77, uint64(start)))
		for {
			s := p.state.Load()
			if isTerminated(s) {
				return
			}
			ph := phaseOf(s)
			ctx, cancel := randomCtx(rng)
			got, err := p.AwaitAdvance(ctx, ph)
			cancel()
			switch {
			case errors.Is(err, ErrTerminated):
				if got >= 0 {
					fail("observer: ErrTerminated with phase %d", got)
				}
				return
			case err == nil:
				if got == ph {
					fail("observer: AwaitAdvance(%d) succeeded with the same phase", ph)
				}
			case isCtxErr(err):
				if got != ph {
					fail("observer: cancelled AwaitAdvance(%d) = %d", ph, got)
				}
			default:
				fail("observer: %v", err)
			}
		}
	})
	testutil.WaitWithin(t, &wg, 15*time.Second, "phaser stress stuck: lost wakeup or lost arrival", func() string {
		s := p.state.Load()
		return fmt.Sprintf("phase %d, parties %d, unarrived %d, advancing %v, terminated %v, parked %v",
			phaseOf(s), partiesOf(s), unarrivedOf(s), isAdvancing(s), isTerminated(s), p.gate.Parked())
	})
	if !p.IsTerminated() || p.Registered() != 0 {
		t.Fatalf("after every party left: terminated %v, registered %d", p.IsTerminated(), p.Registered())
	}
	if p.gate.Parked() {
		t.Fatalf("parked %v after every call returned", p.gate.Parked())
	}
	t.Logf("%d advances won, %d arrivals withdrawn, %d spawned, %d OnAdvance calls", won.Load(), withdrawn.Load(), spawned.Load(), advances.Load())
}

// Cyclic with one goroutine per party: every trip includes every goroutine
// exactly once, so all-or-none means that at the end every goroutine has
// the same number of successes (a success reported as a cancellation, or a
// cancelled party reporting success in a generation that broke, makes
// them differ). With an action, the action numbers the trips and every
// success must read a trip number that exactly Parties() goroutines read.
// Random cancellations (done at entry, during the wait, timeouts), a
// failing action now and then, and Resets from another goroutine; from
// generation 0 and across the generation wrap-around.
func TestCyclicEqualSuccesses(t *testing.T) {
	testhook.Enable(t)
	for _, action := range []bool{false, true} {
		for _, startGen := range []uint64{0, maxGen - 30} {
			for _, resets := range []bool{false, true} {
				t.Run(fmt.Sprintf("action=%v/start=%d/resets=%v", action, startGen, resets), func(t *testing.T) {
					testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
						cyclicSuccessStress(t, action, startGen, resets)
					})
				})
			}
		}
	}
}

// cyclicOutcomes tallies what Await returned in a Cyclic stress run and
// checks each result against the contract.
type cyclicOutcomes struct {
	t         *testing.T
	parties   int
	errAction error // what the run's failing action returns

	broken, ctxErrs, actionErrs atomic.Int64
	bad                         atomic.Int64 // failures so far
}

func (o *cyclicOutcomes) failf(format string, args ...any) {
	o.bad.Add(1)
	o.t.Errorf(format, args...)
}

// check checks one Await's result, made by who with ctx, and reports
// whether the call succeeded: a success has an index in [0, parties); a
// failure has index -1 and is ErrBroken (never wrapping a ctx error), the
// action's error, or an error of ctx once ctx has ended.
func (o *cyclicOutcomes) check(who string, ctx context.Context, idx int, err error) bool {
	if err == nil {
		if idx < 0 || idx >= o.parties {
			o.failf("%s: index %d", who, idx)
		}
		return true
	}
	switch {
	case errors.Is(err, ErrBroken):
		if isCtxErr(err) {
			o.failf("%s: ErrBroken unwraps to a ctx error: %v", who, err)
		}
		o.broken.Add(1)
	case errors.Is(err, o.errAction):
		o.actionErrs.Add(1)
	case isCtxErr(err):
		if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
			o.failf("%s: ctx error %v, ctx %v", who, err, ctx.Err())
		}
		o.ctxErrs.Add(1)
	default:
		o.failf("%s: Await: %v", who, err)
	}
	if idx != -1 {
		o.failf("%s: error %v with index %d", who, err, idx)
	}
	return false
}

// finish counts a stress goroutine out; the last of n sets stop, which ends
// the goroutine that keeps resetting the barrier.
func finish(done *atomic.Int32, n int, stop *atomic.Bool) {
	if int(done.Add(1)) == n {
		stop.Store(true)
	}
}

// waitCyclicStress waits for a Cyclic stress run's goroutines, within a
// liveness bound.
func waitCyclicStress(t *testing.T, wg *sync.WaitGroup, b *Cyclic) {
	t.Helper()
	testutil.WaitWithin(t, wg, 15*time.Second, "cyclic stress stuck", func() string {
		w := b.word.Load()
		return fmt.Sprintf("gen %d, arrived %d, status %d, parked %v", genOf(w), arrivedOf(w), statusOf(w), b.gate.Parked())
	})
}

// checkCyclicQuiescent checks b once every call has returned: nobody is
// counted as parked, and the only break record left, if any, is the
// current broken generation's, with nobody still to read it.
func checkCyclicQuiescent(t *testing.T, b *Cyclic) {
	t.Helper()
	if b.gate.Parked() {
		t.Errorf("parked after every call returned")
	}
	if rs := b.broken.Load(); rs != nil {
		w := b.word.Load()
		for _, r := range *rs {
			if r.pending.Load() != 0 || r.gen != genOf(w) || statusOf(w) != genBroken {
				t.Errorf("leftover record for gen %d (pending %d); word gen %d status %d", r.gen, r.pending.Load(), genOf(w), statusOf(w))
			}
		}
	}
}

func cyclicSuccessStress(t *testing.T, withAction bool, startGen uint64, resets bool) {
	const parties = 4
	target := testutil.Scale(1500)
	var trip atomic.Int64
	var fail atomic.Bool
	errAction := errors.New("action failed")
	published := int64(-1) // plain: written by the action
	var action func() error
	if withAction {
		action = func() error {
			n := trip.Add(1)
			if fail.Load() {
				published = -1
				return errAction
			}
			published = n
			return nil
		}
	}
	b := New(parties, action)
	b.word.Store(startGen << genShift)
	var succ [parties]int
	var mu sync.Mutex
	perTrip := map[int64]int{}
	o := cyclicOutcomes{t: t, parties: parties, errAction: errAction}
	var done atomic.Int32
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, startGen))
		for !stop.Load() {
			// Once a party has finished, Reset releases whoever still
			// waits for it (their ctx was made before it finished).
			if (resets && rng.IntN(24) == 0) || done.Load() > 0 {
				b.Reset()
			}
			fail.Store(rng.IntN(10) == 0)
			runtime.Gosched()
		}
	})
	for id := range parties {
		wg.Go(func() {
			defer finish(&done, parties, &stop)
			rng := rand.New(rand.NewPCG(uint64(id), startGen+7))
			for tries := 0; succ[id] < target && tries < 20*target; tries++ {
				var ctx context.Context
				var cancel context.CancelFunc
				if rng.IntN(10) == 0 {
					ctx, cancel = randomCtx(rng)
				} else {
					ctx, cancel = context.WithCancel(context.Background())
				}
				if done.Load() > 0 {
					cancel() // someone finished: nobody may wait for it
				}
				idx, err := b.Await(ctx)
				if o.check(fmt.Sprintf("party %d", id), ctx, idx, err) {
					succ[id]++
					if withAction {
						n := published
						if n < 0 {
							o.failf("party %d: success after a failed action", id)
						}
						mu.Lock()
						perTrip[n]++
						mu.Unlock()
					}
				}
				cancel()
				// A broken barrier stays broken until Reset; without the
				// Reset goroutine, mend it ourselves now and then.
				if b.Broken() && rng.IntN(2) == 0 {
					b.Reset()
				}
				if o.bad.Load() > 10 {
					return
				}
			}
		})
	}
	waitCyclicStress(t, &wg, b)
	if succ[0] != target {
		t.Errorf("only %d successes of %d", succ[0], target)
	}
	for id := 1; id < parties; id++ {
		if succ[id] != succ[0] {
			t.Fatalf("success counts %v differ: a trip reported success to some parties and failure to others", succ)
		}
	}
	for n, k := range perTrip {
		if k != parties {
			t.Errorf("trip %d: %d successes, want %d", n, k, parties)
		}
	}
	checkCyclicQuiescent(t, b)
	t.Logf("%d successes each, %d broken, %d ctx errors, %d action errors; ended at gen %d",
		succ[0], o.broken.Load(), o.ctxErrs.Load(), o.actionErrs.Load(), genOf(b.word.Load()))
}

// More goroutines than parties, so that generations are made of any
// parties and callers arrive while the action runs (Await's tripping
// path, with its own cancellation), with random cancellations, failing
// actions and Resets. The totals must add up: every action that returned
// nil released exactly Parties() successes, every failed action exactly
// one action error, and nothing else succeeded.
func TestCyclicMoreGoroutinesTotals(t *testing.T) {
	testhook.Enable(t)
	for _, startGen := range []uint64{0, maxGen - 30} {
		t.Run(fmt.Sprintf("start=%d", startGen), func(t *testing.T) {
			testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
				cyclicTotals(t, startGen)
			})
		})
	}
}

func cyclicTotals(t *testing.T, startGen uint64) {
	const parties, goroutines = 3, 5
	attempts := testutil.Scale(1500)
	var okTrips, failedTrips atomic.Int64
	var fail atomic.Bool
	errAction := errors.New("action failed")
	b := New(parties, func() error {
		if fail.Load() {
			failedTrips.Add(1)
			return errAction
		}
		if okTrips.Load()%7 == 0 {
			runtime.Gosched() // a slow action: callers meet the tripping word
		}
		okTrips.Add(1)
		return nil
	})
	b.word.Store(startGen << genShift)
	var succ atomic.Int64
	o := cyclicOutcomes{t: t, parties: parties, errAction: errAction}
	var done atomic.Int32
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(5, startGen))
		for !stop.Load() {
			if rng.IntN(32) == 0 || done.Load() > 0 {
				b.Reset()
			}
			fail.Store(rng.IntN(12) == 0)
			runtime.Gosched()
		}
	})
	for id := range goroutines {
		wg.Go(func() {
			defer finish(&done, goroutines, &stop)
			rng := rand.New(rand.NewPCG(uint64(id), startGen+9))
			for range attempts {
				var ctx context.Context
				var cancel context.CancelFunc
				if rng.IntN(8) == 0 {
					ctx, cancel = randomCtx(rng)
				} else {
					ctx, cancel = context.WithCancel(context.Background())
				}
				if done.Load() > 0 && rng.IntN(2) == 0 {
					cancel()
				}
				if idx, err := b.Await(ctx); o.check("a caller", ctx, idx, err) {
					succ.Add(1)
				}
				cancel()
				if b.Broken() && rng.IntN(3) == 0 {
					b.Reset()
				}
				if o.bad.Load() > 10 {
					return
				}
			}
		})
	}
	waitCyclicStress(t, &wg, b)
	if got, want := succ.Load(), parties*okTrips.Load(); got != want {
		t.Errorf("%d successes for %d tripped generations: want %d", got, okTrips.Load(), want)
	}
	if got, want := o.actionErrs.Load(), failedTrips.Load(); got != want {
		t.Errorf("%d action errors returned for %d failed actions", got, want)
	}
	checkCyclicQuiescent(t, b)
	t.Logf("%d trips, %d failed actions, %d successes, %d broken, %d ctx errors; ended at gen %d",
		okTrips.Load(), failedTrips.Load(), succ.Load(), o.broken.Load(), o.ctxErrs.Load(), genOf(b.word.Load()))
}

// ForceTermination at a random moment while parties run cancellable
// rounds (some while OnAdvance runs, some registering), and observers wait:
// every call returns (nobody is left parked on either parity channel), a
// call that reports ErrTerminated returns a negative phase, and a success
// moves the party exactly one phase on.
func TestPhaserForceTerminationRace(t *testing.T) {
	testhook.Enable(t)
	for _, hook := range []bool{false, true} {
		t.Run(fmt.Sprintf("hook=%v", hook), func(t *testing.T) {
			testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
				iters := testutil.Scale(150)
				for it := range iters {
					phaserForceTermination(t, hook, it)
					if t.Failed() {
						return
					}
				}
			})
		})
	}
}

func phaserForceTermination(t *testing.T, hook bool, it int) {
	const parties = 3
	var onAdvance func(phase, registered int) bool
	if hook {
		onAdvance = func(phase, registered int) bool {
			if phase%2 == 0 {
				runtime.Gosched()
			}
			return false
		}
	}
	p := NewPhaser(parties, onAdvance)
	rng := rand.New(rand.NewPCG(uint64(it), 31))
	killAfter := rng.IntN(200)
	var wg sync.WaitGroup
	var worker func(id, ph int)
	worker = func(id, ph int) {
		r := rand.New(rand.NewPCG(uint64(id), uint64(it)))
		for {
			if r.IntN(50) == 0 && id < 10 {
				if got := p.Register(); got >= 0 {
					child := id + 10
					wg.Go(func() { worker(child, got) })
				}
			}
			ctx, cancel := randomCtx(r)
			var got int
			var err error
			if r.IntN(2) == 0 {
				got, err = p.ArriveAndAwaitAdvance(ctx)
			} else {
				a := p.Arrive()
				if a < 0 {
					got, err = a, ErrTerminated
				} else {
					got, err = p.AwaitAdvance(ctx, a)
					for isCtxErr(err) {
						got, err = p.AwaitAdvance(context.Background(), a)
					}
				}
			}
			cancel()
			switch {
			case errors.Is(err, ErrTerminated):
				if got >= 0 || !p.IsTerminated() {
					t.Errorf("ErrTerminated with phase %d, terminated %v", got, p.IsTerminated())
				}
				return
			case err == nil:
				if got != ph+1 {
					t.Errorf("worker %d: phase %d after %d (an unarrived party pins the phase)", id, got, ph)
				}
				ph = got
			case isCtxErr(err):
			default:
				t.Errorf("worker %d: %v", id, err)
				return
			}
		}
	}
	for id := range parties {
		wg.Go(func() { worker(id, 0) })
	}
	wg.Go(func() { // observer
		for {
			s := p.state.Load()
			got, err := p.AwaitAdvance(context.Background(), phaseOf(s))
			if errors.Is(err, ErrTerminated) {
				if got >= 0 {
					t.Errorf("observer: ErrTerminated with %d", got)
				}
				return
			}
		}
	})
	wg.Go(func() {
		for range killAfter {
			runtime.Gosched()
		}
		p.ForceTermination()
	})
	testutil.WaitWithin(t, &wg, 10*time.Second, "a call still blocked after ForceTermination", func() string {
		s := p.state.Load()
		return fmt.Sprintf("iter %d: phase %d, parties %d, unarrived %d, advancing %v, terminated %v, parked %v",
			it, phaseOf(s), partiesOf(s), unarrivedOf(s), isAdvancing(s), isTerminated(s), p.gate.Parked())
	})
	if p.gate.Parked() {
		t.Errorf("iter %d: parked after every call returned", it)
	}
}
