package ringbuf_test

import (
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// TestHotPathsInlineInUserPackages: a program that uses the queues with an
// item type of its own, and does not import sync/atomic, gets every atomic
// operation of the queues inlined (see testutil.MissedInlines and
// atomics.go). Without atomics.go the hot paths made 2-4 calls per item
// (Load, Store, CompareAndSwap, Or on atomic.Uint64 and Int32).
func TestHotPathsInlineInUserPackages(t *testing.T) {
	if calls := testutil.MissedInlines(t, "testdata/user"); len(calls) > 0 {
		t.Fatalf("%d calls that should have been inlined, in a user package:\n%s", len(calls), strings.Join(calls, "\n"))
	}
}
