package testutil

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// MissedInlines builds the main package in dir (relative to the calling
// test's package directory, e.g. "testdata/user") as an ordinary program for
// each of InlineArchs (cross-compiled: the result does not depend on the
// machine), without the race detector, disassembles it and returns every
// call, in a function of this module, to a small function that should have
// been inlined: a method of a sync/atomic type (an atomic operation called
// instead of inlined), testhook.Yield, or the inlinable methods of
// backoff.Backoff.
//
// It exists because of how the compiler instantiates generic code. A
// generic function is compiled in each package that instantiates it, and
// that package can inline only the functions whose bodies are in the export
// data it reads: those of the packages it imports, and the bodies those
// packages re-export because they inlined them in their own code
// (cmd/compile/internal/noder/linker.go, exportBody). A user package that
// does not import sync/atomic therefore compiles Load, Store and
// CompareAndSwap on atomic.Uint64 inside a lockstep generic type as calls
// (about 2 ns each, and they stop the surrounding code from being
// optimised), unless the lockstep package inlines them in non-generic code
// of its own; likewise lockstep's internal helpers. The program in dir
// should use the package's generic types with a type of its own and must
// not import sync/atomic or lockstep's internal packages.
func MissedInlines(t testing.TB, dir string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build %s: %v", dir, err)
	}
	var calls []string
	for _, arch := range InlineArchs {
		bin := filepath.Join(t.TempDir(), "user-"+arch)
		build := exec.Command(gobin, "build", "-o", bin, "./"+filepath.ToSlash(dir))
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("GOARCH=%s go build ./%s: %v\n%s", arch, dir, err, out)
		}
		out, err := exec.Command(gobin, "tool", "objdump", bin).Output()
		if err != nil {
			t.Fatalf("go tool objdump (%s): %v", arch, err)
		}
		fn := ""
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "TEXT "); ok {
				fn, _, _ = strings.Cut(name, "(SB)")
				continue
			}
			// (A function's own body refers to itself in its stack-growth
			// epilogue; that is not a call.)
			if strings.Contains(fn, "github.com/lockstep-go/lockstep/") && shouldInline.MatchString(line) && !strings.Contains(line, fn+"(SB)") {
				calls = append(calls, arch+": "+fn+": "+strings.Join(strings.Fields(line), " "))
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return calls
}

// InlineArchs are the architectures whose inlining the tests check, whatever
// the machine they run on: the 64-bit ones where sync/atomic's operations
// are compiler intrinsics and lockstep's fast paths are sized to inline. On
// 32-bit platforms 64-bit atomics are function calls, and the fast paths
// that use them cannot inline at all.
var InlineArchs = []string{"amd64", "arm64"}

// shouldInline matches a reference to a function that is always small
// enough to inline: a sync/atomic method, testhook.Yield, and Backoff's
// Spin, Completed and Reset (Snooze is not inlinable; calls to it are
// expected).
var shouldInline = regexp.MustCompile(`sync/atomic\.\(\*|lockstep/internal/testhook\.Yield\(SB\)|lockstep/internal/backoff\.\(\*Backoff\)\.(Spin|Completed|Reset)\(SB\)`)

// RequireInlined fails t if MissedInlines(t, dir) finds any call.
func RequireInlined(t testing.TB, dir string) {
	t.Helper()
	if calls := MissedInlines(t, dir); len(calls) > 0 {
		t.Fatalf("%d calls that should have been inlined, in a user package:\n%s", len(calls), strings.Join(calls, "\n"))
	}
}
