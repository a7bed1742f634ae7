//go:build lockstep_debug

package diag_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/diag"
	"github.com/lockstep-go/lockstep/mutex"
	"github.com/lockstep-go/lockstep/rwlock"
)

// With Config.Panic, an acquisition with two findings panics at the first;
// the second must be reported when the same code runs again. It was marked
// as reported before it was delivered, and so was never reported at all.
func TestPanicKeepsUndeliveredFindings(t *testing.T) {
	r := collect(t, diag.Config{Panic: true})
	var a, b, x mutex.Mutex
	inGoroutine(func() {
		x.Lock()
		a.Lock() // x -> a
		a.Unlock()
		b.Lock() // x -> b
		b.Unlock()
		x.Unlock()
	})
	abx := func() {
		a.Lock()
		defer a.Unlock()
		b.Lock()
		defer b.Unlock()
		defer func() { _ = recover() }()
		x.Lock() // a -> x and b -> x both close a cycle
		x.Unlock()
	}
	for range 3 {
		inGoroutine(abx)
	}
	all := r.get()
	if len(all) != 2 || all[0].Kind != diag.Inversion || all[1].Kind != diag.Inversion || all[0].Locks[0] == all[1].Locks[0] {
		for _, rep := range all {
			t.Logf("report:\n%s", rep)
		}
		t.Fatalf("%d reports, want the inversions a -> x and b -> x", len(all))
	}
}

// A long-wait report is built in a timer's goroutine, partly after it has
// released the checker's mutex: it read each holder's mode there, which a
// Downgrade by the holder changes (under the mutex), and the lock's class.
// A data race, that -race reports in most rounds; nothing without -race.
func TestLongWaitReportVersusDowngrade(t *testing.T) {
	r := collect(t, diag.Config{LongWait: time.Microsecond})
	for range 20 {
		var rw rwlock.RWMutex
		rw.Lock()
		base := runtime.NumGoroutine()
		done := make(chan struct{})
		go func() {
			defer close(done)
			rw.Lock()
			rw.Unlock()
		}()
		// Until the report's goroutine has started (the waiter and it are
		// running), or the report has even come already.
		reported := false
		for !reported && runtime.NumGoroutine() < base+2 {
			select {
			case <-r.ch:
				reported = true
			default:
				runtime.Gosched()
			}
		}
		rw.Downgrade() // the writer still waits: its wait is reported
		if !reported {
			select {
			case <-r.ch:
			case <-time.After(10 * time.Second):
				t.Fatal("no long-wait report in 10s")
			}
		}
		rw.RUnlock()
		<-done
	}
	for _, rep := range r.get() {
		if rep.Kind != diag.LongWait {
			t.Errorf("unexpected report:\n%s", rep)
		}
	}
	if n := len(r.get()); n != 20 {
		t.Errorf("%d long-wait reports, want one for each of 20 waits", n)
	}
}
