//go:build lockstep_debug

package diag_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/diag"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/mutex"
	"github.com/lockstep-go/lockstep/rwlock"
	"github.com/lockstep-go/lockstep/semaphore"
	"github.com/lockstep-go/lockstep/spin"
)

// reports collects the reports of one test. It forgets the lock order
// learned by earlier tests and restores the configuration afterwards.
type reports struct {
	mu  sync.Mutex
	all []*diag.Report
	ch  chan *diag.Report
}

func collect(t *testing.T, c diag.Config) *reports {
	t.Helper()
	diag.Reset()
	r := &reports{ch: make(chan *diag.Report, 100)}
	c.Report = func(rep *diag.Report) {
		r.mu.Lock()
		r.all = append(r.all, rep)
		r.mu.Unlock()
		select {
		case r.ch <- rep:
		default:
		}
	}
	prev := diag.Configure(c)
	t.Cleanup(func() { diag.Configure(prev) })
	return r
}

func (r *reports) get() []*diag.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*diag.Report(nil), r.all...)
}

// none fails the test if anything was reported.
func (r *reports) none(t *testing.T) {
	t.Helper()
	for _, rep := range r.get() {
		t.Errorf("unexpected report:\n%s", rep)
	}
}

// one returns the only report, failing the test unless there is exactly
// one, of kind k.
func (r *reports) one(t *testing.T, k diag.Kind) *diag.Report {
	t.Helper()
	all := r.get()
	if len(all) != 1 {
		for _, rep := range all {
			t.Logf("report:\n%s", rep)
		}
		t.Fatalf("%d reports, want exactly one %v", len(all), k)
	}
	if all[0].Kind != k {
		t.Fatalf("report of kind %v, want %v:\n%s", all[0].Kind, k, all[0])
	}
	return all[0]
}

// inGoroutine runs fn in a new goroutine and waits for it to return, so
// that each lock order is taken by a different goroutine at a different
// time: the orders never overlap, and nothing can deadlock.
func inGoroutine(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func lockAB(a, b tryLocker) {
	a.Lock()
	b.Lock()
	b.Unlock()
	a.Unlock()
}

// The classic inversion: one goroutine locks A then B, finishes, and
// later another locks B then A. Nothing deadlocks in this run; the second
// order is reported, with both acquisition stacks of each order.
func TestInversionTwoLocks(t *testing.T) {
	for _, k := range lockKinds {
		t.Run(k.name, func(t *testing.T) {
			r := collect(t, diag.Config{})
			a, _ := k.new(t, "a")
			b, _ := k.new(t, "b")
			inGoroutine(func() { lockAB(a, b) })
			r.none(t)
			inGoroutine(func() { lockAB(b, a) })
			rep := r.one(t, diag.Inversion)
			if len(rep.Locks) != 2 || len(rep.Stacks) != 4 {
				t.Fatalf("report names %d locks and %d stacks, want 2 and 4:\n%s", len(rep.Locks), len(rep.Stacks), rep)
			}
			// "B then A here" (the new order, two stacks) and "A then B
			// there" (the recorded edge, two stacks), all at lockAB.
			for i, s := range rep.Stacks {
				if !strings.Contains(s.Text, "diag_test.lockAB") || s.Goroutine == 0 {
					t.Fatalf("stack %d does not show the acquisition in lockAB:\n%s", i, rep)
				}
			}
			if rep.Stacks[0].Goroutine == rep.Stacks[2].Goroutine {
				t.Fatalf("both orders attributed to goroutine %d:\n%s", rep.Stacks[0].Goroutine, rep)
			}
			if !strings.Contains(rep.Locks[0], k.name) || !strings.Contains(rep.Message, "deadlock") {
				t.Fatalf("report does not name the lock type or the hazard:\n%s", rep)
			}
			// Reported once: the same inversion again is not repeated.
			inGoroutine(func() { lockAB(b, a) })
			r.one(t, diag.Inversion)
		})
	}
}

// SetName makes the report readable and puts instances into one class: an
// inversion between the classes is found whichever instances took part.
func TestInversionNamedClasses(t *testing.T) {
	r := collect(t, diag.Config{})
	var a1, a2, b1, b2 spin.Lock
	diag.SetName(&a1, "accounts")
	diag.SetName(&a2, "accounts")
	diag.SetName(&b1, "ledger")
	diag.SetName(&b2, "ledger")
	inGoroutine(func() { lockAB(&a1, &b1) })
	inGoroutine(func() { lockAB(&b2, &a2) }) // other instances, same classes
	rep := r.one(t, diag.Inversion)
	if got := strings.Join(rep.Locks, ","); got != "ledger,accounts" {
		t.Fatalf("Locks = %q, want ledger,accounts:\n%s", got, rep)
	}
	if !strings.Contains(rep.Stacks[0].Title, `locked "ledger" here`) ||
		!strings.Contains(rep.Stacks[1].Title, `holding "ledger"`) || !strings.Contains(rep.Stacks[1].Title, `locks "accounts" here`) {
		t.Fatalf("stack titles do not tell the story:\n%s", rep)
	}
}

// A -> B, B -> C, C -> A, each in its own goroutine at its own time.
func TestInversionThreeLocks(t *testing.T) {
	r := collect(t, diag.Config{})
	var a, b, c spin.Lock
	diag.SetName(&a, "A")
	diag.SetName(&b, "B")
	diag.SetName(&c, "C")
	inGoroutine(func() { lockAB(&a, &b) })
	inGoroutine(func() { lockAB(&b, &c) })
	r.none(t)
	inGoroutine(func() { lockAB(&c, &a) })
	rep := r.one(t, diag.Inversion)
	if got := strings.Join(rep.Locks, ","); got != "C,A,B" {
		t.Fatalf("Locks = %q, want the cycle C,A,B:\n%s", got, rep)
	}
	if len(rep.Stacks) != 6 {
		t.Fatalf("%d stacks, want 6 (two per edge of the cycle):\n%s", len(rep.Stacks), rep)
	}
}

// With Panic the report panics before the acquisition that completes the
// cycle: the lock is not taken, and the test can go on.
func TestInversionPanicsBeforeAcquiring(t *testing.T) {
	r := collect(t, diag.Config{Panic: true})
	var a, b spin.Lock
	inGoroutine(func() { lockAB(&a, &b) })
	var recovered any
	inGoroutine(func() {
		b.Lock()
		defer b.Unlock()
		defer func() { recovered = recover() }()
		a.Lock() // panics
		t.Error("Lock returned after an inversion with Panic set")
	})
	rep, ok := recovered.(*diag.Report)
	if !ok || rep.Kind != diag.Inversion {
		t.Fatalf("recovered %v, want a *diag.Report of an inversion", recovered)
	}
	r.one(t, diag.Inversion)
	if !a.TryLock() {
		t.Fatal("the lock whose acquisition panicked is held")
	}
	a.Unlock()
	if !b.TryLock() {
		t.Fatal("b still held")
	}
	b.Unlock()
}

// No false positive: many goroutines take random subsets of many locks,
// always in index order (including the lock(min), lock(max) pattern that
// classes by first-acquisition site would mistake for a cycle), and release
// them in random order.
func TestNoFalsePositiveConsistentOrder(t *testing.T) {
	r := collect(t, diag.Config{})
	var locks [12]spin.Lock
	testutil.Run(t, 8, func(id int) {
		rng := rand.New(rand.NewPCG(uint64(id), 1))
		for range testutil.Scale(400) {
			var take []int
			for i := range locks {
				if rng.IntN(3) == 0 {
					take = append(take, i)
				}
			}
			if len(take) == 2 { // the min/max shape, from two sites
				first, second := &locks[take[0]], &locks[take[1]]
				first.Lock()
				second.Lock()
			} else {
				for _, i := range take {
					locks[i].Lock()
				}
			}
			rng.Shuffle(len(take), func(i, j int) { take[i], take[j] = take[j], take[i] })
			for _, i := range take {
				locks[i].Unlock()
			}
		}
	})
	r.none(t)
}

// No false positive for locks released in another order than they were
// taken, including hand-over-hand (A, B, unlock A, C, unlock B, ...).
func TestNoFalsePositiveReleaseOrder(t *testing.T) {
	r := collect(t, diag.Config{})
	var chain [6]spin.Lock
	testutil.Run(t, 4, func(int) {
		for range testutil.Scale(200) {
			chain[0].Lock()
			for i := 1; i < len(chain); i++ {
				chain[i].Lock()
				chain[i-1].Unlock()
			}
			chain[len(chain)-1].Unlock()

			chain[0].Lock()
			chain[1].Lock()
			chain[0].Unlock() // first taken, first released
			chain[2].Lock()   // 1 -> 2: same order as the chain
			chain[2].Unlock()
			chain[1].Unlock()
		}
	})
	r.none(t)
}

// A successful TryLock adds no edge into the lock it took (it never
// waited), but edges out of it, to locks taken while it is held, count.
func TestTryLock(t *testing.T) {
	r := collect(t, diag.Config{})
	var a, b, c spin.Lock
	inGoroutine(func() {
		a.Lock()
		if !b.TryLock() { // no edge a -> b
			t.Error("TryLock of a free lock failed")
		}
		c.Lock() // edges a -> c and b -> c
		c.Unlock()
		b.Unlock()
		a.Unlock()
	})
	inGoroutine(func() { lockAB(&b, &a) }) // b -> a: no cycle without a -> b
	r.none(t)
	inGoroutine(func() { lockAB(&c, &b) }) // c -> b closes b -> c
	rep := r.one(t, diag.Inversion)
	if len(rep.Locks) != 2 {
		t.Fatalf("want the two-lock cycle b, c:\n%s", rep)
	}
}

// A blocking Lock of a lock the goroutine holds is a certain deadlock:
// reported (and, with Panic, raised) before it blocks.
func TestRecursion(t *testing.T) {
	r := collect(t, diag.Config{Panic: true})
	var l spin.Lock
	var recovered any
	inGoroutine(func() {
		l.Lock()
		defer l.Unlock()
		defer func() { recovered = recover() }()
		l.Lock()
	})
	if rep, ok := recovered.(*diag.Report); !ok || rep.Kind != diag.Recursion {
		t.Fatalf("recovered %v, want a recursion report", recovered)
	}
	rep := r.one(t, diag.Recursion)
	if len(rep.Stacks) != 2 || !strings.Contains(rep.Message, "waits for itself") {
		t.Fatalf("want both acquisitions and the reason:\n%s", rep)
	}
}

// Unlocking a lock that another goroutine holds is reported, with both
// stacks; the hold moves, so the checker stays consistent. Unowned locks
// are handed over silently.
func TestUnlockNotHeld(t *testing.T) {
	r := collect(t, diag.Config{})
	var l spin.Lock
	diag.SetName(&l, "handed")
	locked := make(chan int64)
	go func() {
		l.Lock()
		locked <- 0
	}()
	<-locked
	l.Unlock() // this goroutine never locked it
	rep := r.one(t, diag.UnlockNotHeld)
	if len(rep.Stacks) != 2 || rep.Stacks[0].Goroutine == rep.Stacks[1].Goroutine ||
		!strings.Contains(rep.Stacks[1].Text, "TestUnlockNotHeld.func") {
		t.Fatalf("want the unlocking and the locking goroutine's stacks:\n%s", rep)
	}
	// The hold moved: locking it again here is no recursion, and nothing
	// else is reported.
	l.Lock()
	l.Unlock()
	r.one(t, diag.UnlockNotHeld)

	var u spin.Lock
	diag.Unowned(&u)
	go func() {
		u.Lock()
		locked <- 0
	}()
	<-locked
	u.Unlock()
	r.one(t, diag.UnlockNotHeld) // still only the first
}

// A waiter blocked past the threshold is reported with the holder's
// acquisition stack, the holder's current stack and the waiters.
func TestLongWaitNamesHolder(t *testing.T) {
	for _, k := range lockKinds {
		t.Run(k.name, func(t *testing.T) {
			r := collect(t, diag.Config{LongWait: 20 * time.Millisecond})
			l, _ := k.new(t, "slow")
			holding := make(chan struct{})
			release := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { holdAndPark(l, holding, release) })
			<-holding
			wg.Go(func() {
				l.Lock()
				l.Unlock()
			})
			var rep *diag.Report
			select {
			case rep = <-r.ch:
			case <-time.After(testutil.Liveness):
				t.Fatal("no long-wait report")
			}
			close(release)
			testutil.WaitLive(t, &wg)
			if rep.Kind != diag.LongWait {
				t.Fatalf("got %v, want a long wait:\n%s", rep.Kind, rep)
			}
			holder := rep.Stacks[0]
			if !strings.Contains(holder.Title, "holder") || !strings.Contains(holder.Text, "diag_test.holdAndPark") {
				t.Fatalf("first stack is not the holder's acquisition in holdAndPark:\n%s", rep)
			}
			if !strings.Contains(rep.Message, fmt.Sprintf("held by goroutine %d", holder.Goroutine)) {
				t.Fatalf("message does not name holder goroutine %d:\n%s", holder.Goroutine, rep)
			}
			if now := rep.Stacks[1]; !strings.Contains(now.Title, "is now at") || !strings.Contains(now.Text, "holdAndPark") {
				t.Fatalf("second stack is not where the holder is now:\n%s", rep)
			}
			if w := rep.Stacks[len(rep.Stacks)-1]; !strings.Contains(w.Title, "waiter") || !strings.Contains(w.Text, "TestLongWaitNamesHolder") {
				t.Fatalf("last stack is not the waiter's:\n%s", rep)
			}
		})
	}
}

func holdAndPark(l tryLocker, holding chan<- struct{}, release <-chan struct{}) {
	l.Lock()
	close(holding)
	<-release
	l.Unlock()
}

// Reports go to standard error by default; Enabled is true in this build.
func TestEnabled(t *testing.T) {
	if !diag.Enabled {
		t.Fatal("Enabled is false in a lockstep_debug build")
	}
}

// No false positive for a read lock held by many goroutines at once: each
// goroutine's holds are its own, so the second reader is not a recursion,
// and the same nesting in every goroutine is one consistent order.
func TestNoFalsePositiveSharedReads(t *testing.T) {
	for _, k := range rwKinds {
		t.Run(k.name, func(t *testing.T) {
			r := collect(t, diag.Config{})
			a, _ := k.new(t, "a")
			b, _ := k.new(t, "b")
			const n = 6
			var all sync.WaitGroup
			all.Add(n)
			testutil.Run(t, n, func(int) {
				runlock := a.rlock()
				all.Done()
				all.Wait() // every goroutine holds a for reading now
				b.Lock()
				b.Unlock()
				runlockB := b.rlock()
				runlock() // released in another order than taken
				runlockB()
			})
			r.none(t)
		})
	}
}

// A goroutine that read-locks a lock it holds for reading is reported (a
// queued writer would deadlock it), and with Panic the second RLock is
// undone: the lock is exactly as before it.
func TestReadRecursion(t *testing.T) {
	for _, k := range rwKinds {
		t.Run(k.name, func(t *testing.T) {
			r := collect(t, diag.Config{Panic: true})
			l, _ := k.new(t, "l")
			var recovered any
			inGoroutine(func() {
				runlock := l.rlock()
				defer runlock()
				defer func() { recovered = recover() }()
				l.rlock()
			})
			rep, ok := recovered.(*diag.Report)
			if !ok || rep.Kind != diag.Recursion || !strings.Contains(rep.Message, "writer") {
				t.Fatalf("recovered %v, want a recursion report about a queued writer", recovered)
			}
			r.one(t, diag.Recursion)
			if !l.TryLock() {
				t.Fatal("lock not free after the panicking RLock and the RUnlock")
			}
			l.Unlock()
		})
	}
}

// Lock under one's own read lock waits forever: reported before it blocks.
func TestWriteUnderRead(t *testing.T) {
	r := collect(t, diag.Config{Panic: true})
	var rw rwlock.RWMutex
	var recovered any
	inGoroutine(func() {
		rw.RLock()
		defer rw.RUnlock()
		defer func() { recovered = recover() }()
		rw.Lock()
	})
	if rep, ok := recovered.(*diag.Report); !ok || rep.Kind != diag.Recursion || !strings.Contains(rep.Message, "write-locks") {
		t.Fatalf("recovered %v, want a recursion report of a write lock under a read lock", recovered)
	}
	r.one(t, diag.Recursion)
}

// Read locks make order edges: two goroutines that take two read locks in
// opposite orders deadlock once a writer queues on each.
func TestReadReadInversion(t *testing.T) {
	for _, k := range rwKinds {
		t.Run(k.name, func(t *testing.T) {
			r := collect(t, diag.Config{})
			a, _ := k.new(t, "a")
			b, _ := k.new(t, "b")
			order := func(x, y rwLocker) {
				ux := x.rlock()
				uy := y.rlock()
				uy()
				ux()
			}
			inGoroutine(func() { order(a, b) })
			r.none(t)
			inGoroutine(func() { order(b, a) })
			r.one(t, diag.Inversion)
		})
	}
}

// Downgrade keeps the hold, now for reading: RUnlock releases it, and
// nothing is reported.
func TestDowngrade(t *testing.T) {
	r := collect(t, diag.Config{})
	var rw rwlock.RWMutex
	var rm rwlock.ReadMostly
	inGoroutine(func() {
		rw.Lock()
		rw.Downgrade()
		rw.RUnlock()
		rm.Lock()
		tok := rm.Downgrade()
		rm.RUnlock(tok)
	})
	inGoroutine(func() {
		rw.Lock()
		rw.Unlock()
		rm.Lock()
		rm.Unlock()
	})
	r.none(t)
}

// A semaphore of capacity one held as a lock, resized to two and released:
// the release used to be judged by the capacity at the time of the release
// (two: not a lock), so the hold stayed recorded for ever, and later locks
// taken by the goroutine were reported as ordered after it, and its next
// Acquire as recursive locking. (Found by an adversarial review,
// 2026-12-06.)
func TestSemaphoreResizedWhileHeldReleasesHold(t *testing.T) {
	r, s, m := heldSemaphoreResized(t)
	ctx := context.Background()
	s.Release(1)
	s.Resize(1)
	m.Lock()
	m.Unlock()
	if err := s.Acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	m.Lock()
	m.Unlock()
	s.Release(1)
	r.none(t)
}

// After a Resize, a release of one permit by a goroutine that took it as
// a counted permit must not end another goroutine's hold of the semaphore
// taken as a lock (capacity one): the inversion s -> m, m -> s below must
// still be reported. (A regression of the fix above, found by a review of
// it.)
func TestSemaphoreCountedReleaseKeepsOthersHold(t *testing.T) {
	for _, otherReleases := range []bool{false, true} {
		t.Run(fmt.Sprintf("other-releases=%v", otherReleases), func(t *testing.T) {
			r, s, m := heldSemaphoreResized(t)
			ctx := context.Background()
			if otherReleases {
				inGoroutine(func() { // a counted permit, taken and given back
					if err := s.Acquire(ctx, 1); err != nil {
						t.Error(err)
					}
					s.Release(1)
				})
			}
			m.Lock() // s -> m: still inside s
			m.Unlock()
			s.Release(1)
			s.Resize(1)
			inGoroutine(func() { // m -> s: an inversion
				m.Lock()
				if err := s.Acquire(ctx, 1); err != nil {
					t.Error(err)
				}
				s.Release(1)
				m.Unlock()
			})
			r.one(t, diag.Inversion)
		})
	}
}

// heldSemaphoreResized starts collecting reports, and returns a semaphore
// of capacity one that the calling goroutine holds as a lock and that has
// since been resized to two, and a mutex to take inside it.
func heldSemaphoreResized(t *testing.T) (*reports, *semaphore.Weighted, *mutex.Mutex) {
	t.Helper()
	r := collect(t, diag.Config{})
	s := semaphore.New(1)
	if err := s.Acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.Resize(2)
	return r, s, new(mutex.Mutex)
}
