package diag_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

// The hooks must leave the locks' fast paths as the compiler had them: the
// uncontended Lock and Unlock still inline into their callers (without the
// debug tag), and Unlock's hook compiles to nothing. This builds the lock
// packages with -gcflags=-m and reads the compiler's inlining decisions, as
// the Go repository's test/inline_sync.go does for sync.Mutex, for each of
// testutil.InlineArchs whatever the machine (on 32-bit platforms 64-bit
// atomics are calls and these fast paths cannot inline).
func TestFastPathsInline(t *testing.T) {
	want := map[string][]string{
		"../mutex":  {"(*Mutex).Lock", "(*Mutex).Unlock", "(*Fair).Lock", "(*Fair).TryLock", "(*Fair).Unlock"},
		"../spin":   {"(*Lock).Lock", "(*Lock).Unlock", "(*TicketLock).Unlock"},
		"../rwlock": {"(*RWMutex).Lock", "(*RWMutex).TryLock", "(*RWMutex).Unlock", "(*RWMutex).RLock", "(*RWMutex).RUnlock", "(*RWMutex).Downgrade", "(*ReadMostly).Unlock", "(*ReadMostly).Downgrade"},
		// No hooks, but the same promise (latch/doc.go): it stopped
		// inlining unnoticed once before.
		"../latch": {"(*Latch).CountDown"},
	}
	for _, arch := range testutil.InlineArchs {
		for dir, fns := range want {
			cmd := exec.Command("go", "build", "-gcflags=-m", dir)
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("GOARCH=%s go build %s: %v\n%s", arch, dir, err, out)
			}
			lines := strings.Split(string(out), "\n")
			for _, fn := range fns {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, ": can inline "+fn) }) {
					t.Errorf("%s, %s: %s no longer inlines", arch, dir, fn)
				}
			}
		}
	}
}
