package testutil_test

import (
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// noLock provides no exclusion at all.
type noLock struct{}

func (noLock) Lock()    {}
func (noLock) Unlock()  {}
func (noLock) RLock()   {}
func (noLock) RUnlock() {}

// rwFromMutex treats reads as writes: correct, if slow.
type rwFromMutex struct{ sync.Mutex }

func (l *rwFromMutex) RLock()   { l.Lock() }
func (l *rwFromMutex) RUnlock() { l.Unlock() }

func TestHammerMutexPassesOnRealLock(t *testing.T) {
	var mu sync.Mutex
	testutil.HammerMutex(t, &mu, 4, testutil.Scale(10000))
}

func TestHammerRWPassesOnRealLock(t *testing.T) {
	testutil.HammerRW(t, &sync.RWMutex{}, 4, testutil.Scale(10000), 10)
	testutil.HammerRW(t, &rwFromMutex{}, 4, testutil.Scale(10000), 3)
}

// The hammers must be able to fail. A lock without exclusion is run in a
// child process (the sync package's TESTMISUSE pattern): without -race the
// hammer's own checks fail it; under -race the detector reports the
// unsynchronised counter first. Either way the child must fail, and say why.
func TestHammersCatchNoLock(t *testing.T) {
	for _, kind := range []string{"mutex", "rw"} {
		t.Run(kind, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokenHammer$", "-test.count=1")
			// At least two processors, whatever the parent runs with (an
			// overlap needs two goroutines inside at once).
			cmd.Env = append(os.Environ(), "LOCKSTEP_BROKEN_HAMMER="+kind, "GOMAXPROCS=4")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("hammer passed a lock that provides no exclusion:\n%s", out)
			}
			if !regexp.MustCompile(`overlapped|broke reader/writer|were lost|DATA RACE`).Match(out) {
				t.Fatalf("child failed for another reason:\n%s", out)
			}
		})
	}
}

// TestHelperBrokenHammer is the child of TestHammersCatchNoLock. An
// overlap needs two goroutines inside at once, which a loaded machine (go
// test running other packages beside this one) may not give a single
// hammer: it can run the goroutines one after another. So the child
// hammers up to 50 times; the first failure ends it (about 1 in 20 single
// rw runs passed under load on 2026-12-06). Under -race once is enough:
// the detector reports the unsynchronised counter whatever the timing,
// and its report does not stop the test, so more runs would only cost
// time.
func TestHelperBrokenHammer(t *testing.T) {
	kind := os.Getenv("LOCKSTEP_BROKEN_HAMMER")
	runs := 50
	if raceEnabled {
		runs = 1
	}
	for range runs {
		switch kind {
		case "mutex":
			testutil.HammerMutex(t, noLock{}, 4, 200000)
		case "rw":
			testutil.HammerRW(t, noLock{}, 4, 200000, 2)
		}
	}
}

func TestGateReleasesAll(t *testing.T) {
	var started sync.WaitGroup
	g := testutil.NewGate()
	var wg sync.WaitGroup
	for range 8 {
		started.Add(1)
		wg.Go(func() { started.Done(); g.Wait() })
	}
	started.Wait()
	g.Open()
	testutil.WaitLive(t, &wg)
}
