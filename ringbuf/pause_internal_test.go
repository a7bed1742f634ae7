package ringbuf

import (
	"testing"

	"github.com/lockstep-go/lockstep/internal/backoff"
)

// A wait yields backoff.ParkYields times before it says park, unless it
// was marked a stream, and then it says park at once; first is true once.
func TestPauseYieldsThenParks(t *testing.T) {
	var p pause
	if !p.first() || p.first() {
		t.Fatal("first: want true once, then false")
	}
	yields := 0
	for p.wait() {
		yields++
		if yields > backoff.ParkYields {
			t.Fatalf("wait yielded more than %d times", backoff.ParkYields)
		}
	}
	if yields != backoff.ParkYields {
		t.Fatalf("wait yielded %d times before parking, want %d", yields, backoff.ParkYields)
	}

	var s pause
	s.streaming()
	if s.wait() {
		t.Fatal("a stream's wait yielded; want park at once")
	}
}

// movedPast tells a stream (more than one position since the last wait)
// from a ping-pong (one), across the end of a lap, where positions jump.
func TestMovedPast(t *testing.T) {
	q := NewMPMC[int](3)
	positions := []uint64{0} // the first eight positions, two laps and more
	for len(positions) < 8 {
		positions = append(positions, q.next(positions[len(positions)-1]))
	}
	for i, from := range positions {
		for j := i; j < len(positions); j++ {
			want := j > i+1
			if got := q.movedPast(from, positions[j]); got != want {
				t.Errorf("movedPast(%#x, %#x) = %v, want %v", from, positions[j], got, want)
			}
		}
	}
}
