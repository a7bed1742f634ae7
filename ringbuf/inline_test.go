package ringbuf_test

import (
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
	testutil.RequireInlined(t, "testdata/user")
}
