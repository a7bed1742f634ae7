package backoff_test

import (
	"fmt"
	"testing"

	"github.com/lockstep-go/lockstep/internal/backoff"
)

func TestScheduleCompletes(t *testing.T) {
	var b backoff.Backoff
	steps := 0
	for !b.Completed() {
		b.Snooze()
		steps++
		if steps > 100 {
			t.Fatal("Snooze never completes")
		}
	}
	if steps != backoff.YieldLimit+1 {
		t.Fatalf("completed after %d snoozes, want %d", steps, backoff.YieldLimit+1)
	}
	b.Reset()
	if b.Completed() {
		t.Fatal("Completed after Reset")
	}
	// Spin never completes the schedule on its own: it is for CAS retries.
	for i := 0; i < 100; i++ {
		b.Spin()
	}
	if b.Completed() {
		t.Fatal("Spin advanced past the spin limit")
	}
}

func BenchmarkRelax(b *testing.B) {
	for _, n := range []uint32{1, 8, 64} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				backoff.Relax(n)
			}
		})
	}
}

// Pause is assembly on amd64 and arm64: it must return for every count,
// zero included (a loop that decrements before it tests would run 2^32
// times, over a minute, and the test would time out).
func TestPauseReturns(t *testing.T) {
	for _, n := range []uint32{0, 1, 2, 30, 1000} {
		backoff.Pause(n)
	}
}
