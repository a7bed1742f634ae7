package ringbuf_test

import (
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// TestHotPathsInlineInUserPackages: a program that uses the queues with an
// item type of its own, and imports neither sync/atomic nor lockstep's
// internal packages, gets the queues' atomic operations and small helpers
// inlined (see testutil.MissedInlines and inline.go). Without inline.go the
// hot paths made 2-4 calls per item (Load, Store, CompareAndSwap, Or on
// atomic.Uint64 and Int32).
func TestHotPathsInlineInUserPackages(t *testing.T) {
	if calls := testutil.MissedInlines(t, "testdata/user"); len(calls) > 0 {
		t.Fatalf("%d calls that should have been inlined, in a user package:\n%s", len(calls), strings.Join(calls, "\n"))
	}
}
