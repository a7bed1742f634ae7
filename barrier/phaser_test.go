package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/barrier"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
)

var bg = context.Background()

// assertState checks an unterminated phaser (TCK assertState).
func assertState(t *testing.T, p *barrier.Phaser, phase, parties, unarrived int) {
	t.Helper()
	if p.Phase() != phase || p.Registered() != parties || p.Unarrived() != unarrived ||
		p.Arrived() != parties-unarrived || p.IsTerminated() {
		t.Fatalf("phase %d, registered %d, unarrived %d, arrived %d, terminated %v; want %d, %d, %d, %d, false",
			p.Phase(), p.Registered(), p.Unarrived(), p.Arrived(), p.IsTerminated(),
			phase, parties, unarrived, parties-unarrived)
	}
}

// assertTerminated checks a terminated phaser (TCK assertTerminated): its
// phase is the final phase + math.MinInt32, and every arrival or
// registration returns that and changes nothing.
func assertTerminated(t *testing.T, p *barrier.Phaser, finalPhase, parties int) {
	t.Helper()
	want := finalPhase + math.MinInt32
	if !p.IsTerminated() || p.Phase() != want || p.Registered() != parties {
		t.Fatalf("terminated %v, phase %d, registered %d; want true, %d, %d", p.IsTerminated(), p.Phase(), p.Registered(), want, parties)
	}
	if got := p.Register(); got != want {
		t.Fatalf("Register on terminated = %d, want %d", got, want)
	}
	if got := p.Arrive(); got != want {
		t.Fatalf("Arrive on terminated = %d, want %d", got, want)
	}
	if got := p.ArriveAndDeregister(); got != want {
		t.Fatalf("ArriveAndDeregister on terminated = %d, want %d", got, want)
	}
	if got, err := p.AwaitAdvance(bg, finalPhase); got != want || !errors.Is(err, barrier.ErrTerminated) {
		t.Fatalf("AwaitAdvance on terminated = %d, %v; want %d, ErrTerminated", got, err, want)
	}
	if got, err := p.ArriveAndAwaitAdvance(bg); got != want || !errors.Is(err, barrier.ErrTerminated) {
		t.Fatalf("ArriveAndAwaitAdvance on terminated = %d, %v; want %d, ErrTerminated", got, err, want)
	}
	if p.Registered() != parties {
		t.Fatalf("calls on a terminated phaser changed Registered to %d", p.Registered())
	}
}

func TestPhaserZeroValue(t *testing.T) {
	var p barrier.Phaser
	assertState(t, &p, 0, 0, 0)
	if got := p.Register(); got != 0 {
		t.Fatalf("Register = %d", got)
	}
	assertState(t, &p, 0, 1, 1)
	if got := p.Arrive(); got != 0 {
		t.Fatalf("Arrive = %d", got)
	}
	assertState(t, &p, 1, 1, 1)
	p.ArriveAndDeregister()
	assertTerminated(t, &p, 2, 0)
}

func TestNewPhaserPanicsOutOfRange(t *testing.T) {
	barrier.NewPhaser(barrier.MaxParties, nil)
	for _, n := range []int{-1, barrier.MaxParties + 1} {
		mustPanic(t, "out of range", func() { barrier.NewPhaser(n, nil) })
	}
}

// TCK testRegister1..4.
func TestRegister(t *testing.T) {
	p := barrier.NewPhaser(0, nil)
	if p.Register() != 0 || p.Arrive() != 0 || p.Register() != 1 {
		t.Fatal("Register/Arrive returned the wrong phase")
	}
	assertState(t, p, 1, 2, 2)

	p = barrier.NewPhaser(1, nil)
	if p.Arrive() != 0 || p.Register() != 1 || p.Arrive() != 1 {
		t.Fatal("Register/Arrive returned the wrong phase")
	}
	assertState(t, p, 1, 2, 1)
}

// TCK testRegister2: MaxParties is the limit.
func TestRegisterTooMany(t *testing.T) {
	p := barrier.NewPhaser(barrier.MaxParties-10, nil)
	for i := range 10 {
		assertState(t, p, 0, barrier.MaxParties-10+i, barrier.MaxParties-10+i)
		p.Register()
	}
	mustPanic(t, "MaxParties", func() { p.Register() })
	assertState(t, p, 0, barrier.MaxParties, barrier.MaxParties)
}

// TCK testPhaseIncrement1.
func TestPhaseIncrement(t *testing.T) {
	for size := 1; size < 9; size++ {
		p := barrier.NewPhaser(size, nil)
		for index := 0; index <= 1<<size; index++ {
			phase := p.Arrive()
			if index%size == 0 && phase != index/size || index%size != 0 && index-phase*size <= 0 {
				t.Fatalf("size %d, arrival %d: phase %d", size, index, phase)
			}
		}
	}
}

// TCK testArriveAndDeregister: parties come and go; the last one leaving
// terminates the phaser at the next phase.
func TestArriveAndDeregister(t *testing.T) {
	p := barrier.NewPhaser(1, nil)
	for range 10 {
		assertState(t, p, 0, 1, 1)
		if p.Register() != 0 {
			t.Fatal("Register")
		}
		assertState(t, p, 0, 2, 2)
		if p.ArriveAndDeregister() != 0 {
			t.Fatal("ArriveAndDeregister")
		}
		assertState(t, p, 0, 1, 1)
	}
	if p.ArriveAndDeregister() != 0 {
		t.Fatal("ArriveAndDeregister")
	}
	assertTerminated(t, p, 1, 0)

	// testArriveAndDeregister2: deregistering the last unarrived party
	// advances the phase.
	p = barrier.NewPhaser(1, nil)
	p.Register()
	p.Arrive()
	assertState(t, p, 0, 2, 1)
	if p.ArriveAndDeregister() != 0 {
		t.Fatal("ArriveAndDeregister")
	}
	assertState(t, p, 1, 1, 1)
}

// TCK testArrive2: concurrent deregistrations.
func TestConcurrentDeregister(t *testing.T) {
	p := barrier.NewPhaser(0, nil)
	p.Register()
	const n = 10
	for range n {
		p.Register()
	}
	testutil.Run(t, n, func(int) {
		if got := p.ArriveAndDeregister(); got != 0 {
			t.Errorf("ArriveAndDeregister = %d", got)
		}
	})
	assertState(t, p, 0, 1, 1)
	if p.Arrive() != 0 {
		t.Fatal("Arrive")
	}
	assertState(t, p, 1, 1, 1)
}

// TCK testArrive3 and testAwaitAdvance2: a terminated phaser returns
// negative phases; a negative phase argument returns at once.
func TestForceTerminationIdle(t *testing.T) {
	p := barrier.NewPhaser(1, nil)
	p.ForceTermination()
	p.ForceTermination() // idempotent
	assertTerminated(t, p, 0, 1)

	q := barrier.NewPhaser(0, nil)
	if got, err := q.AwaitAdvance(bg, -42); got != -42 || !errors.Is(err, barrier.ErrTerminated) {
		t.Fatalf("AwaitAdvance(-42) = %d, %v; want -42, ErrTerminated", got, err)
	}
	assertState(t, q, 0, 0, 0)
}

// TCK testArriveAndDeregister1 and testArriveAndAwaitAdvance1: arriving
// with no unarrived party is misuse.
func TestArriveWithoutPartiesPanics(t *testing.T) {
	p := barrier.NewPhaser(0, nil)
	mustPanic(t, "Arrive with no registered party", func() { p.Arrive() })
	mustPanic(t, "ArriveAndDeregister with no registered party", func() { p.ArriveAndDeregister() })
	mustPanic(t, "Arrive with no registered party", func() { _, _ = p.ArriveAndAwaitAdvance(bg) })
	assertState(t, p, 0, 0, 0)
}

// TCK testArriveAndDeregister6.
func TestArriveAndAwaitThenDeregister(t *testing.T) {
	p := barrier.NewPhaser(2, nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		if got := p.Arrive(); got != 0 {
			t.Errorf("Arrive = %d", got)
		}
	})
	if got, err := p.ArriveAndAwaitAdvance(bg); got != 1 || err != nil {
		t.Fatalf("ArriveAndAwaitAdvance = %d, %v; want 1, nil", got, err)
	}
	wg.Wait()
	assertState(t, p, 1, 2, 2)
	p.ArriveAndDeregister()
	assertState(t, p, 1, 1, 1)
	p.ArriveAndDeregister()
	assertTerminated(t, p, 2, 0)
}

// TCK testAwaitAdvance1 and testAwaitAdvance5: AwaitAdvance of a phase
// that is over returns the current phase at once.
func TestAwaitAdvancePastPhase(t *testing.T) {
	p := barrier.NewPhaser(1, nil)
	if got, err := p.AwaitAdvance(bg, p.Arrive()); got != 1 || err != nil {
		t.Fatalf("AwaitAdvance = %d, %v", got, err)
	}
	p.Arrive()
	p.Arrive()
	if got, err := p.AwaitAdvance(bg, 0); got != 3 || err != nil {
		t.Fatalf("AwaitAdvance(0) at phase 3 = %d, %v; want 3, nil", got, err)
	}
}

// TCK testAwaitAdvance4: parties alternate ArriveAndAwaitAdvance with
// Arrive + AwaitAdvance; every phase completes with every party counted.
func TestAwaitAdvanceRounds(t *testing.T) {
	const n = 4
	p := barrier.NewPhaser(n, nil)
	var count atomic.Int32
	testutil.Run(t, n, func(int) {
		for k := range 3 {
			if got, err := p.ArriveAndAwaitAdvance(bg); got != 2*k+1 || err != nil {
				t.Errorf("ArriveAndAwaitAdvance = %d, %v; want %d", got, err, 2*k+1)
				return
			}
			count.Add(1)
			if got := p.Arrive(); got != 2*k+1 {
				t.Errorf("Arrive = %d, want %d", got, 2*k+1)
			}
			if got, err := p.AwaitAdvance(bg, 2*k+1); got != 2*k+2 || err != nil {
				t.Errorf("AwaitAdvance = %d, %v; want %d", got, err, 2*k+2)
			}
			if got := count.Load(); got != int32(n*(k+1)) {
				t.Errorf("count = %d after phase %d, want %d", got, 2*k+1, n*(k+1))
			}
		}
	})
}

// TCK testAwaitAdvance6: ForceTermination releases waiters with
// ErrTerminated; registered parties stay registered.
func TestForceTerminationReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := barrier.NewPhaser(3, nil)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if got := p.Arrive(); got != 0 {
					t.Errorf("Arrive = %d", got)
				}
				got, err := p.AwaitAdvance(bg, 0)
				if got != math.MinInt32 || !errors.Is(err, barrier.ErrTerminated) {
					t.Errorf("AwaitAdvance = %d, %v; want MinInt32, ErrTerminated", got, err)
				}
			})
		}
		var aw sync.WaitGroup
		aw.Go(func() {
			p.Register()
			if got, err := p.ArriveAndAwaitAdvance(bg); got != math.MinInt32 || !errors.Is(err, barrier.ErrTerminated) {
				t.Errorf("ArriveAndAwaitAdvance = %d, %v; want MinInt32, ErrTerminated", got, err)
			}
		})
		synctest.Wait()
		p.ForceTermination()
		wg.Wait()
		aw.Wait()
		if p.Registered() != 4 || p.Phase() != math.MinInt32 {
			t.Fatalf("registered %d, phase %d", p.Registered(), p.Phase())
		}
	})
}

// TCK testArriveAndAwaitAdvance3: parties register, wait; the last arrival
// releases them all.
func TestArriveAndAwaitAdvanceMany(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := barrier.NewPhaser(1, nil)
		const n = 3
		var wg sync.WaitGroup
		for range n {
			if p.Register() != 0 {
				t.Fatal("Register")
			}
			wg.Go(func() {
				if got, err := p.ArriveAndAwaitAdvance(bg); got != 1 || err != nil {
					t.Errorf("ArriveAndAwaitAdvance = %d, %v", got, err)
				}
			})
		}
		synctest.Wait()
		assertState(t, p, 0, n+1, 1)
		if got, err := p.ArriveAndAwaitAdvance(bg); got != 1 || err != nil {
			t.Fatalf("last ArriveAndAwaitAdvance = %d, %v", got, err)
		}
		wg.Wait()
		assertState(t, p, 1, n+1, n+1)
	})
}

// AwaitAdvance whose ctx ends leaves the phaser unchanged (TCK
// testAwaitAdvanceInterruptibly_Interruptible), and a done ctx fails even
// when the phase is already over.
func TestAwaitAdvanceCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := barrier.NewPhaser(1, nil)
		ctx, cancel := context.WithCancelCause(bg)
		errWhy := errors.New("why")
		done := make(chan error, 1)
		go func() {
			got, err := p.AwaitAdvance(ctx, 0)
			if got != 0 {
				t.Errorf("cancelled AwaitAdvance returned phase %d, want its argument 0", got)
			}
			done <- err
		}()
		synctest.Wait()
		assertState(t, p, 0, 1, 1)
		cancel(errWhy)
		if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, errWhy) {
			t.Fatalf("AwaitAdvance = %v; want Canceled with its cause", err)
		}
		assertState(t, p, 0, 1, 1)
		p.Arrive()
		if _, err := p.AwaitAdvance(ctx, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("AwaitAdvance with a done ctx = %v, want Canceled", err)
		}
		assertState(t, p, 1, 1, 1)
	})
}

// ArriveAndAwaitAdvance whose ctx ends withdraws its arrival: the phaser
// is as if it had never been called, and the party can arrive again.
func TestArriveAndAwaitAdvanceCancelWithdraws(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := barrier.NewPhaser(2, nil)
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			got, err := p.ArriveAndAwaitAdvance(ctx)
			if got != 0 {
				t.Errorf("cancelled ArriveAndAwaitAdvance returned phase %d, want 0", got)
			}
			done <- err
		}()
		synctest.Wait()
		assertState(t, p, 0, 2, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("ArriveAndAwaitAdvance = %v, want Canceled", err)
		}
		assertState(t, p, 0, 2, 2)

		// With a done ctx it does not arrive at all.
		if got, err := p.ArriveAndAwaitAdvance(ctx); got != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("ArriveAndAwaitAdvance with done ctx = %d, %v", got, err)
		}
		assertState(t, p, 0, 2, 2)

		p.Arrive()
		if got, err := p.ArriveAndAwaitAdvance(bg); got != 1 || err != nil {
			t.Fatalf("ArriveAndAwaitAdvance = %d, %v", got, err)
		}
		assertState(t, p, 1, 2, 2)
	})
}

// Cancellation racing the advance: either the waiter succeeds and the phase
// advanced, or it gets its ctx error and its arrival was withdrawn, so the
// phase has not advanced and exactly one party is unarrived. Never a lost
// or double-counted arrival.
func TestAdvanceVersusCancelRace(t *testing.T) {
	testhook.Enable(t) // widen the window between the cancelled wait and the withdrawal
	iters := testutil.Scale(5000)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		p := barrier.NewPhaser(2, nil)
		won, withdrawn := 0, 0
		for it := range iters {
			phase := p.Phase()
			ctx, cancel := context.WithCancel(bg)
			r := rand.New(rand.NewPCG(uint64(it), 3))
			delays := [3]int{r.IntN(4), r.IntN(8), r.IntN(8)}
			var got int
			var err error
			testutil.Run(t, 3, func(id int) {
				for range delays[id] {
					runtime.Gosched()
				}
				switch id {
				case 0:
					got, err = p.ArriveAndAwaitAdvance(ctx)
				case 1:
					p.Arrive()
				case 2:
					cancel()
				}
			})
			switch {
			case err == nil:
				if got != phase+1 || p.Phase() != phase+1 || p.Unarrived() != 2 {
					t.Fatalf("iter %d: succeeded with %d; phase %d, unarrived %d", it, got, p.Phase(), p.Unarrived())
				}
				won++
			case errors.Is(err, context.Canceled):
				if got != phase || p.Phase() != phase || p.Unarrived() != 1 {
					t.Fatalf("iter %d: withdrew with %d; phase %d, unarrived %d; want %d, 1", it, got, p.Phase(), p.Unarrived(), phase)
				}
				withdrawn++
				p.Arrive() // the withdrawn party arrives after all
			default:
				t.Fatalf("iter %d: %v", it, err)
			}
			assertState(t, p, phase+1, 2, 2)
		}
		t.Logf("%d advances won, %d arrivals withdrawn", won, withdrawn)
	})
}

// OnAdvance runs once per phase with the phase and the parties registered
// for the next; returning true terminates the phaser.
func TestOnAdvance(t *testing.T) {
	type call struct{ phase, registered int }
	var calls []call
	p := barrier.NewPhaser(2, func(phase, registered int) bool {
		calls = append(calls, call{phase, registered})
		return phase == 2
	})
	p.Arrive()
	p.Arrive() // phase 0 -> 1
	p.Register()
	p.Arrive()
	p.Arrive()
	p.ArriveAndDeregister() // phase 1 -> 2, 2 parties left
	p.Arrive()
	p.ArriveAndDeregister() // phase 2 -> terminated at 3
	want := []call{{0, 2}, {1, 2}, {2, 1}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("OnAdvance calls %v, want %v", calls, want)
	}
	assertTerminated(t, p, 3, 1)

	// An OnAdvance that returns false keeps a phaser with no parties alive.
	q := barrier.NewPhaser(1, func(int, int) bool { return false })
	q.ArriveAndDeregister()
	assertState(t, q, 1, 0, 0)
	q.Register()
	q.Arrive()
	assertState(t, q, 2, 1, 1)
}

// While OnAdvance runs, Register and Arrive wait and then act on the next
// phase; waiters are released only after it returns.
func TestOnAdvanceBlocksRegisterAndArrive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inHook := make(chan struct{})
		release := make(chan struct{})
		var hookDone atomic.Bool
		p := barrier.NewPhaser(2, func(phase, _ int) bool {
			if phase == 0 {
				close(inHook)
				<-release
				hookDone.Store(true)
			}
			return false
		})
		waiter := make(chan int, 1)
		go func() {
			got, err := p.ArriveAndAwaitAdvance(bg)
			if err != nil || !hookDone.Load() {
				t.Errorf("waiter released with %v before OnAdvance returned (%v)", err, hookDone.Load())
			}
			waiter <- got
		}()
		synctest.Wait()
		go p.Arrive() // the last arrival: runs the hook
		<-inHook
		if p.Unarrived() != 0 || p.Phase() != 0 {
			t.Fatalf("during OnAdvance: phase %d, unarrived %d; want 0, 0", p.Phase(), p.Unarrived())
		}
		reg := make(chan int, 1)
		go func() { reg <- p.Register() }()
		arr := make(chan int, 1)
		go func() { arr <- p.Arrive() }() // the waiter's arrival in phase 1, early
		synctest.Wait()
		select {
		case <-reg:
			t.Fatal("Register returned while OnAdvance ran")
		case <-arr:
			t.Fatal("Arrive returned while OnAdvance ran")
		case <-waiter:
			t.Fatal("waiter returned while OnAdvance ran")
		default:
		}
		close(release)
		if got := <-waiter; got != 1 {
			t.Fatalf("waiter got %d, want 1", got)
		}
		if got := <-reg; got != 1 {
			t.Fatalf("Register during OnAdvance = %d, want 1", got)
		}
		if got := <-arr; got != 1 {
			t.Fatalf("Arrive during OnAdvance = %d, want 1", got)
		}
		assertState(t, p, 1, 3, 2)
	})
}

// A panic in OnAdvance terminates the phaser, so nobody waits forever, and
// goes on in the party that advanced.
func TestOnAdvancePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := barrier.NewPhaser(2, func(int, int) bool { panic("hook") })
		errc := make(chan error, 1)
		go func() {
			_, err := p.ArriveAndAwaitAdvance(bg)
			errc <- err
		}()
		synctest.Wait()
		func() {
			defer func() {
				if v := recover(); v != "hook" {
					t.Errorf("recovered %v, want the hook's panic", v)
				}
			}()
			p.Arrive()
			t.Error("Arrive returned normally")
		}()
		if err := <-errc; !errors.Is(err, barrier.ErrTerminated) {
			t.Fatalf("waiter: %v, want ErrTerminated", err)
		}
		assertTerminated(t, p, 1, 2)
	})
}

// ForceTermination while OnAdvance runs: the phase does not advance; the
// phaser stays terminated at the old phase.
func TestForceTerminationDuringOnAdvance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inHook, release := make(chan struct{}), make(chan struct{})
		p := barrier.NewPhaser(1, func(int, int) bool { close(inHook); <-release; return false })
		arrived := make(chan int, 1)
		go func() { arrived <- p.Arrive() }()
		<-inHook
		p.ForceTermination()
		close(release)
		if got := <-arrived; got != 0 {
			t.Fatalf("Arrive = %d", got)
		}
		if p.Phase() != math.MinInt32 {
			t.Fatalf("phase %d, want terminated at 0", p.Phase())
		}
	})
}

// A goroutine that is not a party can wait for a phase.
func TestAwaitAdvanceByObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := barrier.NewPhaser(2, nil)
		got := make(chan int, 3)
		for range 3 {
			go func() {
				n, err := p.AwaitAdvance(bg, 0)
				if err != nil {
					t.Error(err)
				}
				got <- n
			}()
		}
		synctest.Wait()
		p.Arrive()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("observer released after one of two arrivals")
		}
		p.Arrive()
		for range 3 {
			if n := <-got; n != 1 {
				t.Fatalf("observer got %d, want 1", n)
			}
		}
	})
}

// Hammer: workers run rounds with ArriveAndAwaitAdvance or Arrive +
// AwaitAdvance, spawn new workers (Register while running) and leave
// (ArriveAndDeregister). OnAdvance checks that every party of the phase
// arrived exactly once (arrivals == registered + deregistered) and writes a
// plain value that every waiter reads after the advance (under -race a
// missing synchronizes-before edge is reported). The last one to leave
// terminates the phaser.
func TestPhaserHammer(t *testing.T) {
	testhook.Enable(t)
	testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
		const ring = 4
		var arrivals, deregs [ring]atomic.Int64
		var bad atomic.Int64
		var phases atomic.Int64
		published := -1 // plain: written by OnAdvance
		p := barrier.NewPhaser(4, func(phase, registered int) bool {
			a, d := arrivals[phase%ring].Swap(0), deregs[phase%ring].Swap(0)
			if a != int64(registered)+d {
				bad.Add(1)
			}
			published = phase
			phases.Add(1)
			return registered == 0
		})
		rounds := testutil.Scale(1000)
		var spawned atomic.Int32
		var wg sync.WaitGroup
		var worker func(id, phase int)
		worker = func(id, phase int) {
			r := rand.New(rand.NewPCG(uint64(id), 11))
			for k := range rounds {
				if got := p.Phase(); got != phase {
					t.Errorf("worker %d: phase %d, want %d (an unarrived party pins the phase)", id, got, phase)
					return
				}
				if k == rounds/3 {
					if n := spawned.Add(1); n <= 8 {
						child := int(n) + 100
						if got := p.Register(); got != phase {
							t.Errorf("Register = %d, want %d", got, phase)
						}
						wg.Go(func() { worker(child, phase) })
					}
				}
				arrivals[phase%ring].Add(1)
				var next int
				var err error
				if r.IntN(2) == 0 {
					next, err = p.ArriveAndAwaitAdvance(bg)
				} else {
					if got := p.Arrive(); got != phase {
						t.Errorf("Arrive = %d, want %d", got, phase)
					}
					next, err = p.AwaitAdvance(bg, phase)
				}
				if err != nil || next != phase+1 || published != phase {
					bad.Add(1)
					t.Errorf("worker %d: advance from %d gave %d, %v; published %d", id, phase, next, err, published)
					return
				}
				phase = next
			}
			deregs[phase%ring].Add(1)
			arrivals[phase%ring].Add(1)
			p.ArriveAndDeregister()
		}
		for id := range 4 {
			wg.Go(func() { worker(id, 0) })
		}
		testutil.WaitLive(t, &wg)
		if bad.Load() != 0 {
			t.Fatalf("%d phases with a wrong arrival count or visibility", bad.Load())
		}
		if !p.IsTerminated() || p.Registered() != 0 {
			t.Fatalf("after every worker left: terminated %v, registered %d", p.IsTerminated(), p.Registered())
		}
		if spawned.Load() < 8 {
			t.Fatalf("only %d workers spawned", spawned.Load())
		}
		t.Logf("%d phases", phases.Load())
	})
}

// Deadlines on fake time: a waiter times out after exactly its timeout,
// and the phaser is unchanged (the arrival of a timed-out
// ArriveAndAwaitAdvance is withdrawn).
func TestPhaserDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := barrier.NewPhaser(2, nil)
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		start := time.Now()
		got, err := p.ArriveAndAwaitAdvance(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || got != 0 || time.Since(start) != time.Second {
			t.Fatalf("ArriveAndAwaitAdvance = %d, %v after %v; want 0, DeadlineExceeded after 1s", got, err, time.Since(start))
		}
		assertState(t, p, 0, 2, 2)

		ctx2, cancel2 := context.WithTimeout(bg, 2*time.Second)
		defer cancel2()
		start = time.Now()
		if got, err := p.AwaitAdvance(ctx2, 0); !errors.Is(err, context.DeadlineExceeded) || got != 0 || time.Since(start) != 2*time.Second {
			t.Fatalf("AwaitAdvance = %d, %v after %v", got, err, time.Since(start))
		}
		assertState(t, p, 0, 2, 2)
	})
}

// Phase numbers wrap from 2^30-1 to 0.
func TestPhaseWraps(t *testing.T) {
	const maxPhase = 1<<30 - 1
	p := barrier.NewPhaser(1, nil)
	barrier.SetPhase(p, maxPhase)
	assertState(t, p, maxPhase, 1, 1)
	if got := p.Arrive(); got != maxPhase {
		t.Fatalf("Arrive = %d", got)
	}
	assertState(t, p, 0, 1, 1)
	if got, err := p.AwaitAdvance(bg, maxPhase); got != 0 || err != nil {
		t.Fatalf("AwaitAdvance(max) = %d, %v; want 0, nil", got, err)
	}
	barrier.SetPhase(p, maxPhase)
	if got, err := p.ArriveAndAwaitAdvance(bg); got != 0 || err != nil {
		t.Fatalf("ArriveAndAwaitAdvance at the last phase = %d, %v; want 0, nil", got, err)
	}
}

// An ArriveAndAwaitAdvance that comes while the previous phase's OnAdvance
// runs must wait for it before it can arrive, and it waits with its ctx: if
// the ctx ends first, the call fails at once, having arrived nowhere, and
// stays out of the next phase once OnAdvance returns. It used to wait for
// OnAdvance whatever its ctx did and then arrive, so a call whose ctx had
// ended could complete the phase and succeed. (Found by an adversarial
// review, 2026-12-06.)
func TestArriveAndAwaitAdvanceCtxWhileOnAdvanceRuns(t *testing.T) {
	for _, otherArrives := range []bool{false, true} {
		t.Run(fmt.Sprintf("other-arrives-early=%v", otherArrives), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				inHook, release := make(chan struct{}), make(chan struct{})
				var advanced1 atomic.Bool
				p := barrier.NewPhaser(2, func(phase, _ int) bool {
					switch phase {
					case 0:
						close(inHook)
						<-release
					case 1:
						advanced1.Store(true)
					}
					return false
				})
				p.Arrive()    // party A, phase 0
				go p.Arrive() // party B, phase 0: the last, runs OnAdvance(0)
				<-inHook
				ctx, cancel := context.WithCancel(context.Background())
				res := make(chan error, 1)
				go func() { _, err := p.ArriveAndAwaitAdvance(ctx); res <- err }() // A, for phase 1
				if otherArrives {
					go p.Arrive() // B, for phase 1, also early
				}
				synctest.Wait()
				cancel()
				synctest.Wait()
				select {
				case err := <-res:
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("ArriveAndAwaitAdvance = %v, want context.Canceled", err)
					}
				default:
					close(release)
					<-res
					t.Fatal("ArriveAndAwaitAdvance still blocked after its ctx ended, while OnAdvance ran")
				}
				close(release)
				synctest.Wait()
				wantUnarrived := 2
				if otherArrives {
					wantUnarrived = 1
				}
				if ph, u := p.Phase(), p.Unarrived(); ph != 1 || u != wantUnarrived || advanced1.Load() {
					t.Fatalf("after OnAdvance(0): phase %d, %d unarrived, phase 1 advanced %v; want phase 1, %d unarrived, not advanced",
						ph, u, advanced1.Load(), wantUnarrived)
				}
			})
		})
	}
}

// ArriveAndAwaitAdvance with no registered party panics whatever its ctx:
// the bug is the caller's, not a run-time condition, so a done ctx must
// not turn it into a ctx error (with a done ctx it returned
// context.Canceled; with a live one it panicked).
func TestArriveAndAwaitAdvanceWithoutPartiesPanicsWithDoneCtx(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for name, p := range map[string]*barrier.Phaser{
		"NewPhaser(0)": barrier.NewPhaser(0, nil),
		"zero value":   new(barrier.Phaser),
	} {
		t.Run(name, func(t *testing.T) {
			mustPanic(t, "Arrive with no registered party", func() { _, _ = p.ArriveAndAwaitAdvance(done) })
			mustPanic(t, "Arrive with no registered party", func() { _, _ = p.ArriveAndAwaitAdvance(context.Background()) })
			if p.Registered() != 0 || p.Unarrived() != 0 || p.Phase() != 0 {
				t.Fatalf("state changed: registered %d, unarrived %d, phase %d", p.Registered(), p.Unarrived(), p.Phase())
			}
		})
	}
}
