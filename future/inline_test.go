package future_test

import (
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// TestHotPathsInlineInUserPackages: a program that uses futures of a type of
// its own, and does not import sync/atomic, gets every atomic operation of
// the package inlined (see testutil.MissedInlines and atomics.go).
func TestHotPathsInlineInUserPackages(t *testing.T) {
	if calls := testutil.MissedInlines(t, "testdata/user"); len(calls) > 0 {
		t.Fatalf("%d calls that should have been inlined, in a user package:\n%s", len(calls), strings.Join(calls, "\n"))
	}
}
