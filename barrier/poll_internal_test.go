package barrier

import "testing"

// TestPollFor pins who busy-waits, who yields and who parks at once: a
// party whose wait would busy-wait with its awaited parties queued behind
// it on one processor, or yield where yields move parties between
// processors, measured 2-3x slower rounds (see pollFor).
func TestPollFor(t *testing.T) {
	for _, c := range []struct {
		parties, procs int
		want           poll
	}{
		{1, 1, pollBusy},
		{2, 2, pollBusy},
		{2, 8, pollBusy},
		{8, 8, pollBusy},
		{2, 1, pollYield},
		{64, 1, pollYield},
		{3, 2, pollPark},
		{8, 2, pollPark},
		{64, 16, pollPark},
	} {
		if got := pollFor(c.parties, c.procs); got != c.want {
			t.Errorf("pollFor(%d parties, %d procs) = %d, want %d", c.parties, c.procs, got, c.want)
		}
	}
}
