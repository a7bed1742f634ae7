package spin_test

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/internal/lincheck"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/spin"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

type tryLocker interface {
	Lock()
	Unlock()
	TryLock() bool
}

var impls = []struct {
	name string
	new  func() tryLocker
}{
	{"Lock", func() tryLocker { return new(spin.Lock) }},
	{"TicketLock", func() tryLocker { return new(spin.TicketLock) }},
}

// At least 1e6 critical sections per lock type at full size, at
// GOMAXPROCS 1 and 2 with four times more goroutines than processors, so
// that holders are preempted and waiters must yield for the lock to move.
// (GOMAXPROCS above the number of cores oversubscribes the operating system
// instead, where a FIFO spin lock collapses by design: see the package doc.)
func TestHammer(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			testutil.Procs(t, []int{1, 2}, func(t *testing.T) {
				testutil.HammerMutex(t, impl.new(), 8, testutil.Scale(1_000_000/2/8+1))
			})
		})
	}
}

// The ticket counters wrap modulo 2^32; a hammer started just below the
// wrap crosses it many times over.
func TestTicketWraparound(t *testing.T) {
	var l spin.TicketLock
	const start = math.MaxUint32 - 100
	spin.SetTicketState(&l, start, start)
	testutil.HammerMutex(t, &l, 4, testutil.Scale(10000))
	next, serving := spin.TicketState(&l)
	if next != serving {
		t.Fatalf("after the hammer next = %d, serving = %d; want equal (free)", next, serving)
	}
	if want := uint32(start + uint64(4*testutil.Scale(10000))); next != want {
		t.Fatalf("next = %d, want %d after wrapping", next, want)
	}
}

func TestTryLockMatrix(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			l := impl.new()
			if !l.TryLock() {
				t.Fatal("TryLock of a free lock failed")
			}
			if l.TryLock() {
				t.Fatal("TryLock of a held lock succeeded")
			}
			l.Unlock()
			l.Lock()
			if l.TryLock() {
				t.Fatal("TryLock succeeded while Lock holds it")
			}
			l.Unlock()
			if !l.TryLock() {
				t.Fatal("TryLock failed after Unlock")
			}
			l.Unlock()
		})
	}
}

// TryLock on a TicketLock must not jump a queued waiter: while a goroutine
// holds a ticket it waits on, TryLock fails even in the instant the lock
// is handed over.
func TestTicketTryLockDoesNotJumpQueue(t *testing.T) {
	var l spin.TicketLock
	l.Lock()
	got := make(chan struct{})
	release := make(chan struct{})
	go func() {
		l.Lock()
		close(got)
		<-release
		l.Unlock()
	}()
	for {
		if next, _ := spin.TicketState(&l); next == 2 {
			break // the waiter holds ticket 1
		}
		runtime.Gosched()
	}
	if l.TryLock() {
		t.Fatal("TryLock succeeded with a holder and a queued waiter")
	}
	l.Unlock()
	<-got
	if l.TryLock() {
		t.Fatal("TryLock succeeded while the waiter holds the lock")
	}
	close(release)
	l.Lock() // the waiter unlocks eventually
	l.Unlock()
}

// Waiters get a TicketLock in the order they took tickets.
func TestTicketFIFO(t *testing.T) {
	const n = 16
	var l spin.TicketLock
	l.Lock()
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			l.Lock()
			order = append(order, i) // guarded by l
			l.Unlock()
		})
		// Start the next goroutine only once this one holds its ticket.
		for {
			if next, _ := spin.TicketState(&l); next == uint32(i+2) {
				break
			}
			runtime.Gosched()
		}
	}
	l.Unlock()
	testutil.WaitLive(t, &wg)
	for i, v := range order {
		if v != i {
			t.Fatalf("acquisition order %v, want 0..%d in order", order, n-1)
		}
	}
}

func TestUnlockOfUnlockedPanics(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			l := impl.new()
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("Unlock of an unlocked lock did not panic")
				}
				if s := fmt.Sprint(r); s != "spin: unlock of unlocked "+impl.name {
					t.Fatalf("panic %q, want the spin: prefix and the type", s)
				}
			}()
			l.Unlock()
		})
	}
}

// A single goroutine's operations against a boolean model.
func TestStateMachine(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				l := impl.new()
				held := false
				t.Repeat(map[string]func(*rapid.T){
					"TryLock": func(t *rapid.T) {
						if got := l.TryLock(); got == held {
							t.Fatalf("TryLock = %v with held = %v", got, held)
						}
						held = true
					},
					"Lock": func(t *rapid.T) {
						if held {
							t.Skip("would block forever")
						}
						l.Lock()
						held = true
					},
					"Unlock": func(t *rapid.T) {
						panicked := func() (p bool) {
							defer func() { p = recover() != nil }()
							l.Unlock()
							return false
						}()
						if panicked == held {
							t.Fatalf("Unlock panicked = %v with held = %v", panicked, held)
						}
						held = false
					},
				})
			})
		})
	}
}

// Concurrent TryLock/Lock/Unlock histories are linearizable against the
// lock model. testhook widens the windows between a look at the state
// and the CAS that acts on it.
func TestLinearizable(t *testing.T) {
	testhook.Enable(t)
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			for round := range testutil.Scale(50) {
				l := impl.new()
				var h lincheck.History
				testutil.Run(t, 4, func(id int) {
					for i := range 12 {
						if (i+id+round)%3 == 0 {
							h.Do(id, lincheck.Lock, func() any { l.Lock(); return nil })
						} else if !h.Do(id, lincheck.TryLock, func() any { return l.TryLock() }).(bool) {
							continue
						}
						runtime.Gosched()
						h.Do(id, lincheck.Unlock, func() any { l.Unlock(); return nil })
					}
				})
				h.Check(t, lincheck.LockModel)
			}
		})
	}
}
