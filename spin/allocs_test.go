//go:build !lockstep_debug

// The debug build records a stack per acquisition for the lock-order
// checker (package diag), so these hold for the normal build only.

package spin_test

import (
	"testing"

	"github.com/lockstep-go/lockstep/spin"
)

// Uncontended Lock, TryLock and Unlock allocate nothing.
func TestUncontendedPathsDoNotAllocate(t *testing.T) {
	var l spin.Lock
	var tl spin.TicketLock
	for _, lk := range []interface {
		Lock()
		Unlock()
		TryLock() bool
	}{&l, &tl} {
		if n := testing.AllocsPerRun(100, func() { lk.Lock(); lk.Unlock(); lk.TryLock(); lk.Unlock() }); n != 0 {
			t.Errorf("%T: %v allocs, want 0", lk, n)
		}
	}
}
