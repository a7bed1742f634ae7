package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/barrier"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
)

// outcome is what one Await returned.
type outcome struct {
	index int
	err   error
}

// awaitAsync starts a party and returns the channel its outcome arrives on.
func awaitAsync(b *barrier.Cyclic, ctx context.Context) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		i, err := b.Await(ctx)
		ch <- outcome{i, err}
	}()
	return ch
}

// brokenCause returns the BrokenError behind err, failing the test if err is
// not ErrBroken.
func brokenCause(t *testing.T, err error) *barrier.BrokenError {
	t.Helper()
	if !errors.Is(err, barrier.ErrBroken) {
		t.Fatalf("err = %v, want ErrBroken", err)
	}
	var be *barrier.BrokenError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want a *BrokenError", err, err)
	}
	return be
}

func TestNewPanicsOnBadParties(t *testing.T) {
	for _, n := range []int{0, -1} {
		mustPanic(t, "parties < 1", func() { barrier.New(n, nil) })
	}
}

func TestZeroCyclicPanics(t *testing.T) {
	var b barrier.Cyclic
	mustPanic(t, "not made by New", func() { _, _ = b.Await(context.Background()) })
}

func TestPartiesAndWaiting(t *testing.T) {
	b := barrier.New(2, nil)
	if b.Parties() != 2 || b.Waiting() != 0 || b.Broken() {
		t.Fatalf("Parties, Waiting, Broken = %d, %d, %v; want 2, 0, false", b.Parties(), b.Waiting(), b.Broken())
	}
}

// TCK testSingleParty and testBarrierAction: a 1-party barrier trips on
// every Await and runs the action each time.
func TestSingleParty(t *testing.T) {
	runs := 0
	b := barrier.New(1, func() error { runs++; return nil })
	for range 3 {
		i, err := b.Await(context.Background())
		if i != 0 || err != nil {
			t.Fatalf("Await = %d, %v; want 0, nil", i, err)
		}
		if b.Waiting() != 0 {
			t.Fatalf("Waiting = %d after a trip", b.Waiting())
		}
	}
	if runs != 3 {
		t.Fatalf("action ran %d times, want 3", runs)
	}
}

// TCK testTwoParties: two goroutines meet four times; indices are 0 and 1.
func TestTwoParties(t *testing.T) {
	b := barrier.New(2, nil)
	got := make([][2]int, 4)
	testutil.Run(t, 2, func(id int) {
		for round := range 4 {
			i, err := b.Await(context.Background())
			if err != nil {
				t.Errorf("party %d round %d: %v", id, round, err)
				return
			}
			got[round][id] = i
		}
	})
	for round, g := range got {
		if g[0]+g[1] != 1 || g[0]*g[1] != 0 {
			t.Errorf("round %d: indices %v, want {0, 1} in some order", round, g)
		}
	}
}

// TCK testAwait1_Interrupted_BrokenBarrier: a party whose ctx is cancelled
// gets its ctx error; the other waiting party gets ErrBroken, whose cause is
// that ctx error; the barrier stays broken.
func TestCancelBreaksTheGeneration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := barrier.New(3, nil)
		first := awaitAsync(b, context.Background())
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		second := awaitAsync(b, ctx)
		synctest.Wait()
		if b.Waiting() != 2 {
			t.Fatalf("Waiting = %d, want 2", b.Waiting())
		}
		cancel()
		o2 := <-second
		if !errors.Is(o2.err, context.Canceled) || errors.Is(o2.err, barrier.ErrBroken) || o2.index != -1 {
			t.Fatalf("cancelled party: %d, %v; want -1, context.Canceled (not ErrBroken)", o2.index, o2.err)
		}
		o1 := <-first
		be := brokenCause(t, o1.err)
		if !errors.Is(be.Cause, context.Canceled) || o1.index != -1 {
			t.Fatalf("other party: %d, cause %v; want -1, cause context.Canceled", o1.index, be.Cause)
		}
		if errors.Is(o1.err, context.Canceled) {
			t.Fatalf("ErrBroken %v unwraps to context.Canceled: a party that was not cancelled would think it was", o1.err)
		}
		if !strings.Contains(o1.err.Error(), "party 1 gave up") {
			t.Fatalf("message %q does not name the party that gave up", o1.err)
		}
		if !b.Broken() || b.Waiting() != 0 {
			t.Fatalf("Broken, Waiting = %v, %d; want true, 0", b.Broken(), b.Waiting())
		}
		// Later calls fail at once with the same error, until Reset.
		if _, err := b.Await(context.Background()); err != o1.err {
			t.Fatalf("Await on a broken barrier: %v, want %v", err, o1.err)
		}
	})
}

// TCK testAwait3/4/5 with fake time: a timed-out party gets
// DeadlineExceeded after exactly its timeout; the other gets ErrBroken.
func TestTimeoutBreaksTheGeneration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := barrier.New(3, nil)
		other := awaitAsync(b, context.Background())
		synctest.Wait()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := b.Await(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("timed Await: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Fatalf("timed Await returned after %v, want 50ms", d)
		}
		if be := brokenCause(t, (<-other).err); !errors.Is(be.Cause, context.DeadlineExceeded) {
			t.Fatalf("cause %v, want DeadlineExceeded", be.Cause)
		}
	})
}

func TestTimeoutAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := barrier.New(2, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if _, err := b.Await(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("Await = %v after %v; want DeadlineExceeded after 1s", err, time.Since(start))
		}
		if !b.Broken() {
			t.Fatal("a timed-out Await did not break the barrier")
		}
	})
}

// The ctx error carries context.Cause.
func TestCancelCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errShutdown := errors.New("shutting down")
		b := barrier.New(2, nil)
		ctx, cancel := context.WithCancelCause(context.Background())
		o := awaitAsync(b, ctx)
		synctest.Wait()
		cancel(errShutdown)
		got := <-o
		if !errors.Is(got.err, context.Canceled) || !errors.Is(got.err, errShutdown) {
			t.Fatalf("Await = %v; want context.Canceled and the cause", got.err)
		}
		_, err := b.Await(context.Background())
		if be := brokenCause(t, err); !errors.Is(be.Cause, errShutdown) {
			t.Fatalf("BrokenError cause %v does not carry the ctx cause", be.Cause)
		}
	})
}

// A ctx that is already done fails Await, even for the party that would
// trip the barrier, and breaks the generation (Java: an interrupted thread
// that calls await breaks the barrier).
func TestDoneContextFailsAndBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		done, cancel := context.WithCancel(context.Background())
		cancel()

		one := barrier.New(1, func() error { t.Error("action ran for a done ctx"); return nil })
		if i, err := one.Await(done); !errors.Is(err, context.Canceled) || i != -1 {
			t.Fatalf("1-party Await with done ctx = %d, %v; want -1, Canceled", i, err)
		}
		if !one.Broken() {
			t.Fatal("not broken")
		}

		b := barrier.New(2, nil)
		waiter := awaitAsync(b, context.Background())
		synctest.Wait()
		if _, err := b.Await(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Await with done ctx = %v, want Canceled", err)
		}
		be := brokenCause(t, (<-waiter).err)
		if !strings.Contains(be.Error(), "done context") {
			t.Fatalf("message %q does not say a done context broke it", be)
		}
		// On a broken barrier, a done ctx still reports the ctx error.
		if _, err := b.Await(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Await with done ctx on a broken barrier = %v, want Canceled", err)
		}
	})
}

// TCK testReset_BrokenBarrier: Reset releases the waiting parties with
// ErrBroken (cause nil, message saying Reset) and mends the barrier.
func TestResetReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := barrier.New(3, nil)
		a, c := awaitAsync(b, context.Background()), awaitAsync(b, context.Background())
		synctest.Wait()
		if b.Waiting() != 2 {
			t.Fatalf("Waiting = %d, want 2", b.Waiting())
		}
		b.Reset()
		for _, ch := range []<-chan outcome{a, c} {
			be := brokenCause(t, (<-ch).err)
			if be.Cause != nil || !strings.Contains(be.Error(), "Reset") {
				t.Fatalf("BrokenError %v, cause %v; want a Reset message and nil cause", be, be.Cause)
			}
		}
		if b.Broken() || b.Waiting() != 0 {
			t.Fatalf("after Reset: Broken, Waiting = %v, %d; want false, 0", b.Broken(), b.Waiting())
		}
		tripAll(t, b)
	})
}

// tripAll runs one full generation on b and checks it succeeds.
func tripAll(t *testing.T, b *barrier.Cyclic) {
	t.Helper()
	var idx []int
	var mu sync.Mutex
	testutil.Run(t, b.Parties(), func(int) {
		i, err := b.Await(context.Background())
		if err != nil {
			t.Errorf("Await: %v", err)
		}
		mu.Lock()
		idx = append(idx, i)
		mu.Unlock()
	})
	slices.Sort(idx)
	for i, v := range idx {
		if v != i {
			t.Fatalf("indices %v, want a permutation of [0, %d)", idx, b.Parties())
		}
	}
}

// TCK testReset_NoBrokenBarrier and testResetWithoutBreakage.
func TestResetWithoutBreakage(t *testing.T) {
	b := barrier.New(3, nil)
	b.Reset()
	for i := range 3 {
		tripAll(t, b)
		if b.Broken() || b.Waiting() != 0 {
			t.Fatalf("round %d: Broken, Waiting = %v, %d", i, b.Broken(), b.Waiting())
		}
		if i == 1 {
			b.Reset()
		}
	}
}

// TCK testResetAfterInterrupt and testResetAfterTimeout: a broken barrier
// is mended by Reset, twice over.
func TestResetAfterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := barrier.New(3, nil)
		for range 2 {
			other := awaitAsync(b, context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if _, err := b.Await(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Await = %v", err)
			}
			cancel()
			brokenCause(t, (<-other).err)
			if !b.Broken() || b.Waiting() != 0 {
				t.Fatalf("Broken, Waiting = %v, %d; want true, 0", b.Broken(), b.Waiting())
			}
			b.Reset()
			if b.Broken() || b.Waiting() != 0 {
				t.Fatalf("after Reset: Broken, Waiting = %v, %d; want false, 0", b.Broken(), b.Waiting())
			}
		}
	})
}

// TCK testResetAfterCommandException: an action error breaks the barrier;
// the last party gets the action's error itself, the others ErrBroken with
// the action's error as the cause. Reset mends it.
func TestActionErrorBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errAction := errors.New("action failed")
		b := barrier.New(3, func() error { return errAction })
		for range 2 {
			a, c := awaitAsync(b, context.Background()), awaitAsync(b, context.Background())
			synctest.Wait()
			if i, err := b.Await(context.Background()); err != errAction || i != -1 {
				t.Fatalf("last party: %d, %v; want -1 and the action's error", i, err)
			}
			for _, ch := range []<-chan outcome{a, c} {
				be := brokenCause(t, (<-ch).err)
				if be.Cause != errAction || !strings.Contains(be.Error(), "action failed") {
					t.Fatalf("cause %v, message %q", be.Cause, be)
				}
			}
			if !b.Broken() || b.Waiting() != 0 {
				t.Fatalf("Broken, Waiting = %v, %d; want true, 0", b.Broken(), b.Waiting())
			}
			b.Reset()
			if b.Broken() {
				t.Fatal("Reset did not mend")
			}
		}
	})
}

// A panicking action becomes an error carrying the value and the stack.
func TestActionPanicBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := barrier.New(2, func() error { panic("boom") })
		other := awaitAsync(b, context.Background())
		synctest.Wait()
		_, err := b.Await(context.Background())
		if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "goroutine") {
			t.Fatalf("last party: %v; want the panic value and a stack", err)
		}
		if be := brokenCause(t, (<-other).err); be.Cause != err {
			t.Fatalf("cause %v, want the panic error", be.Cause)
		}
		// A panic with an error value unwraps to it.
		errVal := errors.New("typed")
		b2 := barrier.New(1, func() error { panic(errVal) })
		if _, err := b2.Await(context.Background()); !errors.Is(err, errVal) {
			t.Fatalf("panic(err) surfaced as %v, which does not unwrap to err", err)
		}
	})
}

// An action that calls runtime.Goexit ends the last party's goroutine; the
// others must not be left waiting.
func TestActionGoexitBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := barrier.New(2, func() error { runtime.Goexit(); return nil })
		other := awaitAsync(b, context.Background())
		synctest.Wait()
		last := awaitAsync(b, context.Background())
		be := brokenCause(t, (<-other).err)
		if !strings.Contains(be.Error(), "Goexit") {
			t.Fatalf("message %q does not mention Goexit", be)
		}
		synctest.Wait()
		select {
		case o := <-last:
			t.Fatalf("the Goexit party returned %v", o)
		default:
		}
		if !b.Broken() {
			t.Fatal("not broken")
		}
	})
}

// A trip beats a cancellation that comes while the action runs: the
// cancelled party waits for the action and succeeds.
func TestTripBeatsCancelDuringAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var ran atomic.Bool
		b := barrier.New(2, func() error { <-release; ran.Store(true); return nil })
		ctx, cancel := context.WithCancel(context.Background())
		first := awaitAsync(b, ctx)
		synctest.Wait()
		last := awaitAsync(b, context.Background())
		synctest.Wait() // the action is running
		cancel()
		synctest.Wait()
		select {
		case o := <-first:
			t.Fatalf("cancelled party returned %v before the action finished", o)
		default:
		}
		if b.Broken() {
			t.Fatal("a cancellation after the trip broke the barrier")
		}
		close(release)
		if o := <-first; o.err != nil || o.index != 0 {
			t.Fatalf("cancelled party after the trip: %v; want 0, nil", o)
		}
		if !ran.Load() {
			t.Fatal("party returned before the action's effects")
		}
		if o := <-last; o.err != nil || o.index != 1 {
			t.Fatalf("last party: %v; want 1, nil", o)
		}
	})
}

// The action may inspect the barrier; while it runs, Waiting is Parties and
// Broken is false.
func TestActionSeesBarrier(t *testing.T) {
	var b *barrier.Cyclic
	var waiting int
	var broken bool
	b = barrier.New(1, func() error { waiting, broken = b.Waiting(), b.Broken(); return nil })
	if _, err := b.Await(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waiting != 1 || broken {
		t.Fatalf("in action: Waiting, Broken = %d, %v; want 1, false", waiting, broken)
	}
}

// A call made while the action runs joins the next generation; a
// cancellation of that wait breaks nothing.
func TestAwaitDuringAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		actions := 0
		b := barrier.New(2, func() error {
			actions++
			if actions == 1 {
				<-release
			}
			return nil
		})
		g1a := awaitAsync(b, context.Background())
		synctest.Wait()
		g1b := awaitAsync(b, context.Background())
		synctest.Wait() // action 1 is running

		ctx, cancel := context.WithCancel(context.Background())
		early := awaitAsync(b, ctx)
		g2a := awaitAsync(b, context.Background())
		synctest.Wait()
		cancel()
		if o := <-early; !errors.Is(o.err, context.Canceled) {
			t.Fatalf("cancelled early arrival: %v, want Canceled", o)
		}
		if b.Broken() {
			t.Fatal("a cancelled wait for the next generation broke the barrier")
		}
		close(release)
		for _, ch := range []<-chan outcome{g1a, g1b} {
			if o := <-ch; o.err != nil {
				t.Fatalf("generation 1: %v", o)
			}
		}
		synctest.Wait()
		if b.Waiting() != 1 {
			t.Fatalf("Waiting = %d, want 1 (the early arrival in generation 2)", b.Waiting())
		}
		g2b := awaitAsync(b, context.Background())
		o2a, o2b := <-g2a, <-g2b
		if o2a != (outcome{0, nil}) || o2b != (outcome{1, nil}) {
			t.Fatalf("generation 2: %v, %v; want {0 nil}, {1 nil}", o2a, o2b)
		}
		if actions != 2 {
			t.Fatalf("actions = %d, want 2", actions)
		}
	})
}

// Reset while the action runs takes effect after it: the tripping
// generation ends as the action decides, and the barrier is then fresh even
// if the action failed.
func TestResetDuringAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errAction := errors.New("failed")
		release := make(chan struct{})
		b := barrier.New(2, func() error { <-release; return errAction })
		first := awaitAsync(b, context.Background())
		synctest.Wait()
		last := awaitAsync(b, context.Background())
		synctest.Wait()
		b.Reset()
		close(release)
		brokenCause(t, (<-first).err)
		if o := <-last; o.err != errAction {
			t.Fatalf("last party: %v, want the action's error", o)
		}
		if b.Broken() || b.Waiting() != 0 {
			t.Fatalf("after the pending Reset: Broken, Waiting = %v, %d; want false, 0", b.Broken(), b.Waiting())
		}
	})
}

// Reset called from the action itself must not deadlock.
func TestResetFromAction(t *testing.T) {
	var b *barrier.Cyclic
	b = barrier.New(1, func() error { b.Reset(); return nil })
	for range 2 {
		if _, err := b.Await(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TCK testMoreTasksThanParties: more goroutines than parties, each calling
// Await once, in a multiple of parties: every one succeeds and the action
// runs once per generation.
func TestMoreTasksThanParties(t *testing.T) {
	for parties := 1; parties <= 4; parties++ {
		for mult := 1; mult <= 4; mult++ {
			var trips atomic.Int32
			b := barrier.New(parties, func() error { trips.Add(1); return nil })
			var failed atomic.Int32
			testutil.Run(t, parties*mult, func(int) {
				if _, err := b.Await(context.Background()); err != nil {
					failed.Add(1)
				}
			})
			if failed.Load() != 0 || int(trips.Load()) != mult || b.Waiting() != 0 {
				t.Fatalf("parties %d x %d: %d failed, %d trips, %d waiting", parties, mult, failed.Load(), trips.Load(), b.Waiting())
			}
		}
	}
}

// Cancellation racing the trip: in every generation either every party
// succeeds (indices a permutation, action ran once) or exactly one party,
// the cancelled one, gets its ctx error and every other ErrBroken caused by
// it (action not run). Never a mix of success and failure.
func TestTripVersusCancelRace(t *testing.T) {
	const parties = 4
	iters := testutil.Scale(5000)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		var actions atomic.Int32
		b := barrier.New(parties, func() error { actions.Add(1); return nil })
		tripped, broken, whileWaiting := 0, 0, 0
		for it := range iters {
			before := actions.Load()
			outs := make([]outcome, parties)
			victim := it % parties
			ctx, cancel := context.WithCancel(context.Background())
			r := rand.New(rand.NewPCG(uint64(it), 7))
			delays := make([]int, parties+1) // yields before acting: spreads the interleavings
			for i := range delays {
				delays[i] = r.IntN(2 * (i + 1) * (1 + it%3))
			}
			testutil.Run(t, parties+1, func(id int) {
				for range delays[id] {
					runtime.Gosched()
				}
				if id == parties { // the canceller
					cancel()
					return
				}
				c := context.Background()
				if id == victim {
					c = ctx
				}
				i, err := b.Await(c)
				outs[id] = outcome{i, err}
			})
			ran := actions.Load() - before
			var ok, ctxErr, brk int
			for id, o := range outs {
				switch {
				case o.err == nil:
					ok++
				case id == victim && errors.Is(o.err, context.Canceled) && !errors.Is(o.err, barrier.ErrBroken):
					ctxErr++
				case errors.Is(o.err, barrier.ErrBroken):
					var be *barrier.BrokenError
					if !errors.As(o.err, &be) || !errors.Is(be.Cause, context.Canceled) {
						t.Fatalf("iter %d: broken with cause %v", it, be.Cause)
					}
					if strings.Contains(be.Error(), "gave up waiting") {
						whileWaiting++
					}
					brk++
				default:
					t.Fatalf("iter %d party %d: unexpected %v", it, id, o.err)
				}
			}
			switch {
			case ok == parties && ran == 1:
				idx := make([]int, parties)
				for i, o := range outs {
					idx[i] = o.index
				}
				slices.Sort(idx)
				for i := range idx {
					if idx[i] != i {
						t.Fatalf("iter %d: indices %v", it, idx)
					}
				}
				tripped++
			case ctxErr == 1 && brk == parties-1 && ran == 0:
				broken++
				if !b.Broken() {
					t.Fatalf("iter %d: generation broke but Broken() is false", it)
				}
				b.Reset()
			default:
				t.Fatalf("iter %d: %d ok, %d ctx errors, %d broken, action ran %d times: %v", it, ok, ctxErr, brk, ran, outs)
			}
			if b.Waiting() != 0 || b.Broken() {
				t.Fatalf("iter %d: left Waiting %d, Broken %v", it, b.Waiting(), b.Broken())
			}
		}
		t.Logf("%d generations tripped, %d broken (%d party-results broken by a cancelled waiter, the rest by a done ctx at entry)", tripped, broken, whileWaiting)
	})
}

// Hammer: N parties x many rounds. The action sees every party's write of
// the round (plain memory: -race checks the synchronizes-before edges),
// and publishes a value every party reads after Await; the indices of each
// round are a permutation of [0, N).
func TestCyclicHammer(t *testing.T) {
	for _, n := range []int{2, 5, 16} {
		t.Run(fmt.Sprintf("parties=%d", n), func(t *testing.T) {
			testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
				rounds := testutil.Scale(5000)
				wrote := make([]int, n) // plain: party id writes its round
				published := -1         // plain: written by the action
				round := 0              // plain: the action's round counter
				var bad atomic.Int64
				b := barrier.New(n, func() error {
					for id, r := range wrote {
						if r != round {
							bad.Add(1)
							return fmt.Errorf("party %d wrote round %d in round %d", id, r, round)
						}
					}
					published = round
					round++
					return nil
				})
				seen := make([]atomic.Uint64, rounds) // bit i: index i returned
				testutil.Run(t, n, func(id int) {
					for r := range rounds {
						wrote[id] = r
						i, err := b.Await(context.Background())
						if err != nil {
							t.Errorf("party %d round %d: %v", id, r, err)
							return
						}
						if published != r {
							bad.Add(1)
						}
						if old := seen[r].Or(1 << i); old&(1<<i) != 0 {
							t.Errorf("round %d: index %d returned twice", r, i)
							return
						}
					}
				})
				if bad.Load() != 0 {
					t.Fatalf("%d visibility violations", bad.Load())
				}
				for r := range rounds {
					if got := seen[r].Load(); got != 1<<n-1 {
						t.Fatalf("round %d: indices %b, want all of [0, %d)", r, got, n)
					}
				}
			})
		})
	}
}

// Reset racing arrivals (TCK testReset_Leakage in spirit): parties retry a
// round that a Reset broke. All-or-none means every trip succeeds for all
// parties at once, so their success counts stay equal and they all finish
// together; a trip that succeeded for some parties and failed for others
// would leave one party short and hang (the watchdog reports it).
// It runs with a barrier action (a Reset during the action is deferred
// until it returns) and without one.
func TestResetRacingArrivals(t *testing.T) {
	t.Run("action", func(t *testing.T) { resetRacingArrivals(t, true) })
	t.Run("no-action", func(t *testing.T) { resetRacingArrivals(t, false) })
}

func resetRacingArrivals(t *testing.T, withAction bool) {
	const parties = 4
	rounds := testutil.Scale(2000)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		var trips atomic.Int64
		var action func() error
		if withAction {
			action = func() error { trips.Add(1); return nil }
		}
		b := barrier.New(parties, action)
		var done atomic.Int32
		var resets, broken atomic.Int64
		testutil.Run(t, parties+1, func(id int) {
			if id == parties {
				for done.Load() < parties {
					b.Reset()
					resets.Add(1)
					runtime.Gosched()
				}
				return
			}
			defer done.Add(1)
			for ok := 0; ok < rounds; {
				_, err := b.Await(context.Background())
				switch {
				case err == nil:
					ok++
				case errors.Is(err, barrier.ErrBroken):
					var be *barrier.BrokenError
					if errors.As(err, &be) && be.Cause != nil {
						t.Errorf("broken by %v, not by Reset", be.Cause)
						return
					}
					broken.Add(1)
				default:
					t.Errorf("Await: %v", err)
					return
				}
			}
		})
		if withAction && trips.Load() != int64(rounds) {
			t.Fatalf("%d trips for %d rounds", trips.Load(), rounds)
		}
		if b.Waiting() != 0 || b.Broken() {
			t.Fatalf("Waiting %d, Broken %v", b.Waiting(), b.Broken())
		}
		t.Logf("%d resets, %d party-results broken by them", resets.Load(), broken.Load())
	})
}

// Stress with the yield hooks on: N parties loop on Await with random
// cancellations, a failing action now and then, and a goroutine that calls
// Reset. The action numbers the trips; every successful Await reads the
// number of its trip. All-or-none: a trip number that anyone succeeded
// with was succeeded with by exactly N parties.
func TestCyclicAllOrNoneStress(t *testing.T) {
	testhook.Enable(t)
	const parties = 3
	rounds := testutil.Scale(3000)
	testutil.Procs(t, []int{1, 2}, func(t *testing.T) {
		var trip atomic.Int64
		var fail atomic.Bool
		errAction := errors.New("action failed")
		published := int64(-1)
		b := barrier.New(parties, func() error {
			n := trip.Add(1)
			if fail.Load() {
				published = -1
				return errAction
			}
			published = n
			return nil
		})
		var mu sync.Mutex
		succ := map[int64]int{}
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() {
			r := rand.New(rand.NewPCG(7, 7))
			for !stop.Load() {
				if r.IntN(16) == 0 {
					b.Reset()
				}
				fail.Store(r.IntN(8) == 0)
				runtime.Gosched()
			}
		})
		var done atomic.Int32
		testutil.Run(t, parties, func(id int) {
			r := rand.New(rand.NewPCG(uint64(id), 5))
			defer done.Add(1)
			for range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(10) == 0 {
					go cancel()
				}
				if done.Load() > 0 {
					cancel() // someone finished: make sure nobody waits for it
				}
				idx, err := b.Await(ctx)
				switch {
				case err == nil:
					p := published
					if idx < 0 || idx >= parties {
						t.Errorf("index %d", idx)
					}
					mu.Lock()
					succ[p]++
					mu.Unlock()
				case errors.Is(err, barrier.ErrBroken), errors.Is(err, context.Canceled), errors.Is(err, errAction):
					if errors.Is(err, barrier.ErrBroken) && errors.Is(err, context.Canceled) {
						t.Errorf("ErrBroken that unwraps to Canceled: %v", err)
					}
					if idx != -1 {
						t.Errorf("failure with index %d", idx)
					}
				default:
					t.Errorf("Await: %v", err)
				}
				cancel()
			}
		})
		stop.Store(true)
		wg.Wait()
		for p, n := range succ {
			if p < 0 || n != parties {
				t.Errorf("trip %d: %d successes, want %d", p, n, parties)
			}
		}
	})
}

// Reset on a Cyclic not made by New is misuse that can only be a bug (the
// type's doc: "the zero value is not usable"), as Await on one is: it
// panics with a barrier: message instead of silently doing nothing.
func TestResetOnZeroCyclicPanics(t *testing.T) {
	var b barrier.Cyclic
	mustPanic(t, "not made by New", func() { b.Reset() })
}
