package relstore_test

import (
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }
