package future_test

import (
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// TestAtomicsInlineInUserPackages: a program that uses futures of a type of
// its own, and does not import sync/atomic, gets every atomic operation of
// the package inlined (see testutil.AtomicCalls and atomics.go).
func TestAtomicsInlineInUserPackages(t *testing.T) {
	if calls := testutil.AtomicCalls(t, "testdata/user"); len(calls) > 0 {
		t.Fatalf("%d atomic operations compiled as calls in a user package:\n%s", len(calls), strings.Join(calls, "\n"))
	}
}
