//go:build race || lockstep_testhook

package pool_test

import (
	"testing"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/pool"
)

// The deque tests must be able to fail: with the seeded bug (pop keeps the
// last task even when a thief won it) they must see a task taken twice.
// With the yield hook in the window the bug shows in a good fraction of
// rounds; without it, in well under 1%, so this proof is built only where
// the hooks are compiled in (under -race, as CI runs it, or with -tags
// lockstep_testhook).
func TestDequeTestsCatchSeededBug(t *testing.T) {
	testhook.Enable(t)
	pool.SetBrokenPop(true)
	defer pool.SetBrokenPop(false)
	testutil.Procs(t, []int{1, 2}, func(t *testing.T) {
		rounds := 2000
		bad := lastTask(t, rounds)
		t.Logf("seeded bug seen in %d of %d rounds", bad, rounds)
		if bad == 0 {
			t.Fatal("the last-task test did not catch the seeded bug")
		}
	})
}
