package diag_test

import (
	"context"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/diag"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/mutex"
	"github.com/lockstep-go/lockstep/rwlock"
	"github.com/lockstep-go/lockstep/semaphore"
	"github.com/lockstep-go/lockstep/spin"
)

// profiled reports whether some record of the named profile has a frame
// whose function name contains fn.
func profiled(t *testing.T, profile, fn string) bool {
	t.Helper()
	return len(records(t, profile, fn)) > 0
}

// chargedTo returns the records of the mutex profile under fn that charge
// a wait to something other than lockstep's own bookkeeping. A record's
// first frames are the sync.Mutex.Unlock (or runtime unlock) that released
// a waiter, then its caller; when that caller is in lockstep/internal (the
// sync.Mutex of a wait queue, or of the lockstep_debug checker's graph),
// the record is the short contention on that bookkeeping lock, which
// diag's doc says may show, not the wait for the lockstep lock itself.
func chargedTo(t *testing.T, fn string) []string {
	t.Helper()
	var out []string
	for _, r := range records(t, "mutex", fn) {
		for _, line := range strings.Split(r, "\n") {
			_, frame, ok := strings.Cut(line, "#\t")
			if !ok {
				continue
			}
			fields := strings.Fields(frame)
			if len(fields) < 2 {
				continue
			}
			name := fields[1]
			if strings.HasPrefix(name, "sync.") || strings.HasPrefix(name, "runtime.") {
				continue
			}
			if !strings.Contains(name, "lockstep/internal/") {
				out = append(out, r)
			}
			break
		}
	}
	return out
}

// records returns the records of the named profile (as WriteTo with debug
// 1 prints them) that have a frame whose function name contains fn.
func records(t *testing.T, profile, fn string) []string {
	t.Helper()
	p := pprof.Lookup(profile)
	if p == nil {
		t.Fatalf("no %s profile", profile)
	}
	var b strings.Builder
	if err := p.WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(r, fn) {
			out = append(out, r)
		}
	}
	return out
}

// withProfiles turns on block and mutex profiling for the test.
func withProfiles(t *testing.T) {
	runtime.SetBlockProfileRate(1)
	prev := runtime.SetMutexProfileFraction(1)
	t.Cleanup(func() {
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(prev)
	})
}

// A spin lock's waiter never parks: its wait shows in neither the block
// nor the mutex profile (only in the CPU profile).
func TestProfilesSpin(t *testing.T) {
	withProfiles(t)
	var l spin.Lock
	diag.Watch(&l, "profiled")
	defer diag.Unwatch(&l)
	for attempt := 1; ; attempt++ {
		l.Lock()
		started := make(chan struct{})
		done := make(chan struct{})
		go func() {
			close(started)
			waitOnSpinLock(&l)
			close(done)
		}()
		<-started
		for range 100 {
			runtime.Gosched()
		}
		l.Unlock()
		<-done
		if s, _ := diag.Stats(&l); s.Contended > 0 {
			break // the waiter did wait
		}
		if attempt == 1000 {
			t.Fatal("the waiter never found the lock held")
		}
	}
	if profiled(t, "block", "waitOnSpinLock") {
		t.Error("a spin lock's wait shows in the block profile")
	}
	if r := chargedTo(t, "waitOnSpinLock"); len(r) > 0 {
		t.Errorf("a spin lock's wait shows in the mutex profile:\n%s", strings.Join(r, "\n\n"))
	}
}

func waitOnSpinLock(l *spin.Lock) {
	l.Lock()
	l.Unlock()
}

// parked waits until a goroutine whose stack contains fn is parked:
// lockstep's waiters park on a channel in a select when their wait can be
// cancelled, and on a sync.Cond when it cannot (internal/waitq).
func parked(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(testutil.Liveness)
	buf := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if !strings.Contains(g, fn) {
				continue
			}
			for _, state := range []string{"[select", "[chan receive", "[sync.Cond.Wait", "[semacquire"} {
				if strings.Contains(header, state) {
					return
				}
			}
		}
		runtime.Gosched()
	}
	testutil.DumpGoroutines()
	t.Fatalf("no goroutine parked in %s", fn)
}

// A goroutine parked in a lockstep lock shows in the block profile, as a
// channel select (LockContext, Acquire with a ctx that can end) or a
// sync.Cond wait (Lock) under the lock's method, and not in the mutex
// profile, which only sees contention on sync.Mutex and sync.RWMutex.
func TestProfilesParkedLock(t *testing.T) {
	for _, k := range []struct {
		name string
		hold func() (wait, release func())
	}{
		{"mutex.Mutex", func() (func(), func()) {
			var m mutex.Mutex
			m.Lock()
			return func() { m.Lock(); m.Unlock() }, m.Unlock
		}},
		{"mutex.Mutex.LockContext", func() (func(), func()) {
			var m mutex.Mutex
			m.Lock()
			ctx, cancel := context.WithCancel(context.Background())
			return func() {
				defer cancel()
				if m.LockContext(ctx) == nil {
					m.Unlock()
				}
			}, m.Unlock
		}},
		{"mutex.Fair", func() (func(), func()) {
			var m mutex.Fair
			m.Lock()
			return func() { m.Lock(); m.Unlock() }, m.Unlock
		}},
		{"rwlock.RWMutex", func() (func(), func()) {
			var rw rwlock.RWMutex
			rw.RLock()
			return func() { rw.Lock(); rw.Unlock() }, rw.RUnlock
		}},
		{"semaphore.Weighted", func() (func(), func()) {
			s := semaphore.New(1)
			_ = s.Acquire(context.Background(), 1)
			ctx, cancel := context.WithCancel(context.Background())
			return func() {
				defer cancel()
				if s.Acquire(ctx, 1) == nil {
					s.Release(1)
				}
			}, func() { s.Release(1) }
		}},
	} {
		t.Run(k.name, func(t *testing.T) {
			withProfiles(t)
			wait, release := k.hold()
			done := make(chan struct{})
			go func() {
				waitInLock(wait)
				close(done)
			}()
			parked(t, "waitInLock")
			release()
			<-done
			if !profiled(t, "block", "diag_test.waitInLock") {
				t.Error("a goroutine parked in the lock is missing from the block profile")
			}
			if r := chargedTo(t, "diag_test.waitInLock"); len(r) > 0 {
				t.Errorf("a goroutine parked in the lock shows in the mutex profile:\n%s", strings.Join(r, "\n\n"))
			}
		})
	}
}

// waitInLock names the frame the profiles are searched for.
//
//go:noinline
func waitInLock(wait func()) { wait() }
