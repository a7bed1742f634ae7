package future_test

import (
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// TestHotPathsInlineInUserPackages: a program that uses futures of a type of
// its own, and imports neither sync/atomic nor lockstep's internal packages,
// gets the package's atomic operations and small helpers inlined (see
// testutil.MissedInlines and inline.go).
func TestHotPathsInlineInUserPackages(t *testing.T) {
	if calls := testutil.MissedInlines(t, "testdata/user"); len(calls) > 0 {
		t.Fatalf("%d calls that should have been inlined, in a user package:\n%s", len(calls), strings.Join(calls, "\n"))
	}
}
