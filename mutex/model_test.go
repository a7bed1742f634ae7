package mutex_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/mutex"
	"pgregory.net/rapid"
)

// The sequential behaviour of each lock against a boolean model: any
// sequence of TryLock, Lock (when it cannot block), LockContext with a live
// or a done ctx, and Unlock (which must panic when the model is unlocked)
// gives the model's answers, and the state word always matches the model.
func TestStateMachine(t *testing.T) {
	for _, lt := range lockTypes {
		t.Run(lt.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				l := lt.new()
				locked := false
				done, cancel := context.WithCancel(context.Background())
				cancel()
				t.Repeat(map[string]func(*rapid.T){
					"TryLock": func(t *rapid.T) {
						if got := l.TryLock(); got != !locked {
							t.Fatalf("TryLock = %v with the model locked=%v", got, locked)
						}
						locked = true
					},
					"Lock": func(t *rapid.T) {
						if locked {
							t.Skip("would block")
						}
						l.Lock()
						locked = true
					},
					"LockContext(live)": func(t *rapid.T) {
						if locked {
							t.Skip("would block")
						}
						if err := l.LockContext(context.Background()); err != nil {
							t.Fatalf("LockContext(live ctx) on a free lock: %v", err)
						}
						locked = true
					},
					"LockContext(done)": func(t *rapid.T) {
						if err := l.LockContext(done); err == nil {
							t.Fatal("LockContext(done ctx) succeeded")
						}
					},
					"Unlock": func(t *rapid.T) {
						panicked := didPanic(l.Unlock)
						if panicked != !locked {
							t.Fatalf("Unlock panicked=%v with the model locked=%v", panicked, locked)
						}
						locked = false
					},
					"": func(t *rapid.T) {
						if s := l.Snapshot(); s != (mutex.State{Locked: locked}) {
							t.Fatalf("state %+v, model locked=%v", s, locked)
						}
					},
				})
			})
		})
	}
}

func didPanic(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

// Linearizability of concurrent TryLock/Lock/Unlock histories (porcupine),
// with testhook.Yield widening the racy windows between each load and its
// CAS. A lock whose TryLock can succeed while another goroutine holds it,
// or whose Unlock misbehaves, produces a history no sequential lock allows.

type lockOp struct {
	op string // "TryLock", "Lock", "Unlock"
}

// lockModel is a single boolean lock. Unlock's output says whether it
// returned normally (true) or panicked (false); TryLock's whether it locked.
var lockModel = porcupine.Model{
	Init: func() any { return false },
	Step: func(state, input, output any) (bool, any) {
		locked := state.(bool)
		ok := output.(bool)
		switch input.(lockOp).op {
		case "TryLock":
			if ok {
				return !locked, true
			}
			return locked, locked // fails only while held
		case "Lock":
			if !ok {
				return true, locked // timed out: changed nothing
			}
			return !locked, true
		case "Unlock":
			return ok == locked, false
		}
		panic("unknown op")
	},
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%s -> %v", input.(lockOp).op, output)
	},
}

// tryLocker is the lock shape the history recorder drives.
type tryLocker interface {
	LockContext(context.Context) error
	Unlock()
	TryLock() bool
}

// recordHistory runs goroutines that TryLock (now and then LockContext)
// and, when they hold the lock, Unlock, and returns the history and the
// number of LockContext calls that timed out. Blocking locks time out after
// a generous bound, so that a broken lock (as the seeded bug below) yields a
// history to check instead of a hang; a correct lock never times out.
func recordHistory(l tryLocker, goroutines, ops int) (_ []porcupine.Operation, timeouts int64) {
	var stuck atomic.Int64
	var clock atomic.Int64
	hist := make([][]porcupine.Operation, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range ops {
				op := lockOp{"TryLock"}
				if i%7 == 3 {
					op.op = "Lock"
				}
				call := clock.Add(1)
				ok := true
				if op.op == "TryLock" {
					ok = l.TryLock()
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					ok = l.LockContext(ctx) == nil
					cancel()
					if !ok {
						stuck.Add(1)
					}
				}
				hist[g] = append(hist[g], porcupine.Operation{ClientId: g, Input: op, Call: call, Output: ok, Return: clock.Add(1)})
				if !ok {
					runtime.Gosched()
					continue
				}
				testhook.Yield()
				call = clock.Add(1)
				ok = !didPanic(l.Unlock)
				hist[g] = append(hist[g], porcupine.Operation{ClientId: g, Input: lockOp{"Unlock"}, Call: call, Output: ok, Return: clock.Add(1)})
			}
		})
	}
	wg.Wait()
	var all []porcupine.Operation
	for _, h := range hist {
		all = append(all, h...)
	}
	return all, stuck.Load()
}

func TestLinearizable(t *testing.T) {
	testhook.Enable(t)
	for _, lt := range []struct {
		name string
		new  func() tryLocker
	}{
		{"Mutex", func() tryLocker { return new(mutex.Mutex) }},
		{"Fair", func() tryLocker { return new(mutex.Fair) }},
	} {
		t.Run(lt.name, func(t *testing.T) {
			testutil.Procs(t, []int{2, 4}, func(t *testing.T) {
				for range testutil.Scale(30) {
					hist, timeouts := recordHistory(lt.new(), 4, 100)
					if !porcupine.CheckOperations(lockModel, hist) {
						t.Fatal("history is not linearizable")
					}
					if timeouts != 0 {
						t.Fatalf("%d LockContext calls timed out: a waiter was stranded", timeouts)
					}
				}
			})
		})
	}
}

// racyLock is a lock with the classic atomicity bug (TryLock checks, then
// stores, in two steps), with the racy window widened as testhook.Yield
// widens the library's (it yields itself, so that the proof holds in
// builds where the hooks are compiled out). It proves that the
// linearizability check above can fail: it catches the bug in nearly every
// history.
type racyLock struct{ state atomic.Int32 }

func (l *racyLock) TryLock() bool {
	if l.state.Load() != 0 {
		return false
	}
	if rand.N(2) == 0 {
		runtime.Gosched()
	}
	l.state.Store(1) // BUG: not a CAS
	return true
}

func (l *racyLock) LockContext(ctx context.Context) error {
	for !l.TryLock() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		runtime.Gosched()
	}
	return nil
}

func (l *racyLock) Unlock() {
	if l.state.Swap(0) == 0 {
		panic("racyLock: unlock of unlocked")
	}
}

func TestLinearizableCatchesSeededBug(t *testing.T) {
	testhook.Enable(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const histories = 20
	caught := 0
	for range histories {
		if hist, _ := recordHistory(new(racyLock), 4, 100); !porcupine.CheckOperations(lockModel, hist) {
			caught++
		}
	}
	t.Logf("seeded atomicity bug caught in %d of %d histories", caught, histories)
	if caught == 0 {
		t.Fatal("the linearizability check never caught the seeded bug")
	}
}
