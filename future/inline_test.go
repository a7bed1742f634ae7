package future_test

import (
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// TestHotPathsInlineInUserPackages: a program that uses futures of a type of
// its own, and imports neither sync/atomic nor lockstep's internal packages,
// gets the package's atomic operations and small helpers inlined (see
// testutil.MissedInlines and inline.go).
func TestHotPathsInlineInUserPackages(t *testing.T) {
	testutil.RequireInlined(t, "testdata/user")
}
