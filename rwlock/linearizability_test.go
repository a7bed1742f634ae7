package rwlock_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/rwlock"
)

type lockOp uint8

const (
	opTryLock lockOp = iota
	opTryRLock
	opUnlock
	opRUnlock
)

func (o lockOp) String() string {
	return [...]string{"TryLock", "TryRLock", "Unlock", "RUnlock"}[o]
}

// lockState is the sequential specification's state: a reader/writer lock
// is held by one writer or by some number of readers.
type lockState struct {
	writer  bool
	readers int
}

// lockModel is the sequential specification of TryLock, TryRLock, Unlock
// and RUnlock. With strict set, a failed Try call is legal only when the
// lock is held in a conflicting mode at its linearization point; without
// it, a Try call may fail at any time (ReadMostly's TryLock and TryRLock may
// both fail when they race each other), and only successes are checked.
func lockModel(strict bool) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return lockState{} },
		Step: func(state, input, output any) (bool, any) {
			s := state.(lockState)
			ok := output.(bool)
			switch input.(lockOp) {
			case opTryLock:
				if !ok {
					return !strict || s.writer || s.readers > 0, s
				}
				if s.writer || s.readers > 0 {
					return false, s
				}
				s.writer = true
			case opTryRLock:
				if !ok {
					return !strict || s.writer, s
				}
				if s.writer {
					return false, s
				}
				s.readers++
			case opUnlock:
				if !s.writer {
					return false, s
				}
				s.writer = false
			case opRUnlock:
				if s.readers == 0 {
					return false, s
				}
				s.readers--
			}
			return true, s
		},
		DescribeOperation: func(input, output any) string {
			return fmt.Sprintf("%v -> %v", input, output)
		},
		DescribeState: func(state any) string { return fmt.Sprintf("%+v", state) },
	}
}

// TestLinearizable records concurrent histories of TryLock, TryRLock,
// Unlock and RUnlock and checks each against the sequential specification
// with porcupine. testhook.Yield in the racy windows (between a load and
// its CAS, between a reader's counter increment and its second look at the
// bias, between a writer's revocation and its scan) makes the bad
// interleavings common. Seeded bugs that this test caught (then removed):
// RWMutex.TryRLock as a load-check followed by a separate add, and
// ReadMostly's reader fast path without the second look at the bias.
func TestLinearizable(t *testing.T) {
	testhook.Enable(t)
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			strict := im.name == "RWMutex"
			model := lockModel(strict)
			histories := testutil.Scale(300)
			for h := range histories {
				l := im.new()
				if h%2 == 1 {
					l.RU(l.RL()) // ReadMostly: start half the runs biased
				}
				ops := recordHistory(t, l, 4, 30)
				res := porcupine.CheckOperationsTimeout(model, ops, 10*time.Second)
				if res == porcupine.Illegal {
					for _, op := range ops {
						t.Logf("client %d [%d,%d] %v -> %v", op.ClientId, op.Call, op.Return, op.Input, op.Output)
					}
					t.Fatalf("history %d is not linearizable (%d operations, listed above)", h, len(ops))
				}
				if res != porcupine.Ok {
					t.Fatalf("history %d: porcupine gave %v", h, res)
				}
				mustBeFree(t, l)
			}
		})
	}
}

// recordHistory runs clients goroutines, each doing iters Try calls (and
// the matching release after each success) on l, and returns the history.
// Timestamps come from one atomic clock read before the call and after the
// return, so an operation that returned before another was called has the
// smaller interval.
func recordHistory(t *testing.T, l rwl, clients, iters int) []porcupine.Operation {
	var clock atomic.Int64
	perClient := make([][]porcupine.Operation, clients)
	record := func(id int, op lockOp, fn func() bool) bool {
		call := clock.Add(1)
		ok := fn()
		ret := clock.Add(1)
		perClient[id] = append(perClient[id], porcupine.Operation{
			ClientId: id, Input: op, Call: call, Output: ok, Return: ret,
		})
		return ok
	}
	testutil.Run(t, clients, func(id int) {
		for i := range iters {
			if (i+id)%3 == 0 {
				if record(id, opTryLock, l.TryLock) {
					runtime.Gosched()
					record(id, opUnlock, func() bool { l.Unlock(); return true })
				}
				continue
			}
			var tok rwlock.RToken
			if record(id, opTryRLock, func() (ok bool) { tok, ok = l.TryRL(); return ok }) {
				runtime.Gosched()
				record(id, opRUnlock, func() bool { l.RU(tok); return true })
			}
		}
	})
	var ops []porcupine.Operation
	for _, c := range perClient {
		ops = append(ops, c...)
	}
	return ops
}
