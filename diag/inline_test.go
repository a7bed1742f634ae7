package diag_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The hooks must leave the locks' fast paths as the compiler had them: the
// uncontended Lock and Unlock still inline into their callers (without the
// debug tag), and Unlock's hook compiles to nothing. This builds the lock
// packages with -gcflags=-m and reads the compiler's inlining decisions, as
// the Go repository's test/inline_sync.go does for sync.Mutex.
func TestFastPathsInline(t *testing.T) {
	want := map[string][]string{
		"../mutex":  {"(*Mutex).Lock", "(*Mutex).Unlock", "(*Fair).Lock", "(*Fair).TryLock", "(*Fair).Unlock"},
		"../spin":   {"(*Lock).Lock", "(*Lock).Unlock", "(*TicketLock).Unlock"},
		"../rwlock": {"(*RWMutex).Lock", "(*RWMutex).TryLock", "(*RWMutex).Unlock", "(*RWMutex).RUnlock", "(*RWMutex).Downgrade", "(*ReadMostly).Unlock", "(*ReadMostly).Downgrade"},
	}
	for dir, fns := range want {
		out, err := exec.Command("go", "build", "-gcflags=-m", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", dir, err, out)
		}
		lines := strings.Split(string(out), "\n")
		for _, fn := range fns {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, ": can inline "+fn) }) {
				t.Errorf("%s: %s no longer inlines", dir, fn)
			}
		}
	}
}
