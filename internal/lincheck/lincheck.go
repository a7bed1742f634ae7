// Package lincheck records concurrent histories and checks them for
// linearizability with porcupine (github.com/anishathalye/porcupine), the
// checker of Horn and Kroening's "Faster linearizability checking via
// P-compositionality" (FORTE 2015). It holds the sequential models that
// several lockstep packages share, starting with a lock's.
//
// It is imported only from _test.go files.
package lincheck

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// History records operations from many goroutines. Call and return times
// come from one atomic counter, a logical clock that respects real-time
// order: if one operation returned before another was called, its return
// stamp is smaller than the other's call stamp.
type History struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// Do runs op as client's operation with the given input, and records it
// with the output op returns.
func (h *History) Do(client int, input any, op func() any) any {
	call := h.clock.Add(1)
	out := op()
	ret := h.clock.Add(1)
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: input, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
	return out
}

// Len returns the number of recorded operations.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Check fails t unless the history is linearizable under model. On failure
// it writes porcupine's visualisation to a temporary HTML file and names it.
func (h *History) Check(t testing.TB, model porcupine.Model) {
	t.Helper()
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	res, info := porcupine.CheckOperationsVerbose(model, ops, time.Minute)
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Fatalf("linearizability check of %d operations timed out; shrink the history", len(ops))
	default:
		path := filepath.Join(os.TempDir(), "lockstep-"+filepath.Base(t.Name())+".html")
		if f, err := os.Create(path); err == nil {
			_ = porcupine.Visualize(model, info, f)
			_ = f.Close()
		}
		t.Fatalf("history of %d operations is not linearizable (visualisation: %s)", len(ops), path)
	}
}

// Lock operations, the inputs of LockModel.
const (
	TryLock = "TryLock" // output: bool, whether it took the lock
	Lock    = "Lock"    // output: ignored; the lock is taken
	Unlock  = "Unlock"  // output: ignored; the lock is released
)

// LockModel is the sequential specification of a mutual-exclusion lock:
// TryLock succeeds exactly when the lock is free, Lock takes a free lock,
// Unlock frees a held one. The state is whether the lock is held.
var LockModel = porcupine.Model{
	Init: func() any { return false },
	Step: func(state, input, output any) (bool, any) {
		held := state.(bool)
		switch input {
		case TryLock:
			if output.(bool) {
				return !held, true
			}
			return held, held
		case Lock:
			return !held, true
		case Unlock:
			return held, false
		}
		return false, state
	},
	DescribeOperation: func(input, output any) string {
		if input == TryLock {
			if output.(bool) {
				return "TryLock -> true"
			}
			return "TryLock -> false"
		}
		return input.(string)
	},
}
