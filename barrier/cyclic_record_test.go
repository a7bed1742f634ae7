package barrier

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// roundsOf runs n full rounds of b, whose parties are all free, on as many
// goroutines as b has parties.
func roundsOf(t *testing.T, b *Cyclic, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range b.Parties() {
		wg.Go(func() {
			for range n {
				if _, err := b.Await(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// arrive makes one arrival in the current generation the way Await's CAS
// does, without waiting, and returns the generation and arrival index.
func arrive(t *testing.T, b *Cyclic) (gen uint64, index int) {
	t.Helper()
	w := b.word.Load()
	if statusOf(w) != genOpen || arrivedOf(w)+1 >= b.parties {
		t.Fatalf("arrive: word %#x cannot take a non-last arrival", w)
	}
	if !b.word.CompareAndSwap(w, w+1) {
		t.Fatal("arrive: the word changed")
	}
	return genOf(w), arrivedOf(w)
}

// A party that looks at its generation's outcome only after the generation
// broke, a Reset moved on and later generations tripped still learns that
// its generation broke (from the break's record), and a party of a
// generation that tripped learns that it tripped even though a later one
// broke. The records are dropped once read and no longer current.
func TestLateLookAfterReset(t *testing.T) {
	b := New(3, nil)

	// A arrives in generation 0, which then breaks (a caller whose ctx was
	// done) and is Reset; three rounds trip after it.
	gen0, idx0 := arrive(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Await(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await with a done ctx = %v", err)
	}
	b.Reset()
	roundsOf(t, b, 3)

	// B and C arrive in the current generation, the last arrival trips it.
	gen1, idx1 := arrive(t, b)
	_, _ = arrive(t, b)
	if _, err := b.Await(context.Background()); err != nil {
		t.Fatalf("last arrival: %v", err)
	}
	// Then a later generation breaks, with a party in it, and is Reset.
	gen2, idx2 := arrive(t, b)
	b.Reset()

	w := b.word.Load()
	if _, err := b.result(gen0, idx0, w); !errors.Is(err, ErrBroken) {
		t.Fatalf("late look at the broken generation: %v, want ErrBroken", err)
	}
	if i, err := b.result(gen1, idx1, w); err != nil || i != idx1 {
		t.Fatalf("late look at a tripped generation: (%d, %v), want (%d, nil)", i, err, idx1)
	}
	var be *BrokenError
	if _, err := b.result(gen2, idx2, w); !errors.As(err, &be) || be.reason != brokenByReset {
		t.Fatalf("late look at the Reset generation: %v, want a Reset break", err)
	}

	// Everyone has read their record and the barrier moved on: the next
	// break keeps only its own.
	gen3, _ := arrive(t, b)
	b.mu.Lock()
	b.breakLocked(gen3, &BrokenError{reason: brokenByReset, party: -1})
	b.mu.Unlock()
	if rs := b.broken.Load(); rs == nil || len(*rs) != 1 || (*rs)[0].gen != gen3 {
		t.Fatalf("records after all were read: %v, want only generation %d's", rs, gen3)
	}
	b.Reset()
	roundsOf(t, b, 1)
}

// A record is dropped by its last reader, even after the Reset that moved
// past its generation: a record left behind would, once the 30-bit
// generation number wraps, turn a normal trip of the same number into a
// break for the parties that are not last (found in review: 2^30 real
// rounds took 87 s on the CI machine).
func TestRecordDroppedByLastReader(t *testing.T) {
	b := New(2, nil)
	gen, idx := arrive(t, b)
	b.Reset() // breaks gen with one party in it, then moves on
	if _, err := b.result(gen, idx, b.word.Load()); !errors.Is(err, ErrBroken) {
		t.Fatalf("the party of the Reset generation: %v, want ErrBroken", err)
	}
	if rs := b.broken.Load(); rs != nil {
		t.Fatalf("%d record(s) kept after their last reader", len(*rs))
	}
	// Skip to the wrap of the generation number and trip through it.
	b.word.Store(uint64(maxGen) << genShift)
	roundsOf(t, b, 3)
}

// A Reset made while the action runs takes effect when the action returns,
// and mends a generation the action broke: no caller after Reset has
// returned sees the barrier broken, in Broken or in Await (found in review:
// the word showed the break between the action's return and the Reset's
// effect).
func TestResetDuringFailingActionNeverShowsBroken(t *testing.T) {
	errAction := errors.New("action failed")
	for range 300 {
		started, release := make(chan struct{}), make(chan struct{})
		var calls int
		b := New(2, func() error {
			if calls++; calls == 1 {
				close(started)
				<-release
				return errAction
			}
			return nil
		})
		errs := make(chan error, 2)
		for range 2 {
			go func() { _, err := b.Await(context.Background()); errs <- err }()
		}
		<-started
		b.Reset()

		// Look for the break from two goroutines while the action returns:
		// Broken, and an Await that arrives in the mended barrier.
		stop := make(chan struct{})
		var sawBroken bool
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if b.Broken() {
					sawBroken = true
					return
				}
			}
		})
		late := make(chan error, 1)
		go func() { _, err := b.Await(context.Background()); late <- err }()
		close(release)
		var gotAction, gotBroken int
		for range 2 {
			switch err := <-errs; {
			case errors.Is(err, errAction):
				gotAction++
			case errors.Is(err, ErrBroken):
				gotBroken++
			default:
				t.Fatalf("a party of the failed generation: %v", err)
			}
		}
		if gotAction != 1 || gotBroken != 1 {
			t.Fatalf("parties got the action's error %d times and ErrBroken %d times, want 1 and 1", gotAction, gotBroken)
		}
		// The late caller is the first party of the mended barrier: a
		// second arrival trips it.
		if _, err := b.Await(context.Background()); err != nil {
			t.Fatalf("Await after the Reset: %v", err)
		}
		if err := <-late; err != nil {
			t.Fatalf("an Await made after Reset returned: %v, want nil", err)
		}
		close(stop)
		wg.Wait()
		if sawBroken {
			t.Fatal("Broken() reported true after Reset returned")
		}
	}
}

// One party, and an action that fails while a Reset is pending: the record
// of the break was published for no reader (the party that ran the action
// gets the action's error) and the word moved on, so nothing ever pruned
// it. Once the generation number wrapped round to it and broke again, later
// callers got the old record's cause. (Found by an adversarial review,
// 2026-12-06.)
func TestOnePartyResetDuringFailingActionLeavesNoRecord(t *testing.T) {
	errX, errY := errors.New("X"), errors.New("Y")
	call := 0
	var b *Cyclic
	b = New(1, func() error {
		call++
		switch call {
		case 1:
			b.Reset() // takes effect when the action returns
			return errX
		case 3:
			return errY
		}
		return nil
	})
	if _, err := b.Await(context.Background()); !errors.Is(err, errX) {
		t.Fatalf("first Await = %v, want the action's error", err)
	}
	if rs := b.broken.Load(); rs != nil {
		t.Fatalf("%d record(s) kept with nobody to read them", len(*rs))
	}
	b.word.Store(uint64(maxGen) << genShift)                 // the last generation number
	if _, err := b.Await(context.Background()); err != nil { // trips, wrapping to 0
		t.Fatal(err)
	}
	if _, err := b.Await(context.Background()); !errors.Is(err, errY) { // 0 breaks with Y
		t.Fatalf("third Await = %v, want Y", err)
	}
	_, err := b.Await(context.Background())
	var be *BrokenError
	if !errors.As(err, &be) || be.Cause != errY {
		t.Fatalf("Await on the barrier broken by Y = %v, want a BrokenError caused by Y", err)
	}
}
