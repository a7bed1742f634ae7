package barrier_test

import (
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// mustPanic calls fn and fails the test unless it panics with a message
// that starts with "barrier: " and contains want.
func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		v := recover()
		if v == nil {
			t.Fatalf("no panic; want one containing %q", want)
		}
		msg, ok := v.(string)
		if !ok || !strings.HasPrefix(msg, "barrier: ") || !strings.Contains(msg, want) {
			t.Fatalf("panic %v; want a \"barrier: \" message containing %q", v, want)
		}
	}()
	fn()
}
