package ringbuf

import "testing"

// The constructors stamp their slots a chunk at a time (initChunk): a ring
// longer than two chunks, filled and emptied twice, uses every slot's
// first stamp and its second lap's, across the chunk boundaries. A wrong
// first stamp in any chunk makes a push find its slot taken, or a pop
// find an item that is not there.
func TestInitStampsAcrossChunks(t *testing.T) {
	c := 2*initChunk + 3
	type ring interface {
		TryPush(int) bool
		TryPop() (int, bool)
	}
	for name, q := range map[string]ring{"MPMC": NewMPMC[int](c), "SPSC": NewSPSC[int](c)} {
		next, want := 0, 0
		for lap := range 2 {
			for range c {
				if !q.TryPush(next) {
					t.Fatalf("%s lap %d: TryPush of item %d failed with %d of %d slots taken", name, lap, next, next-want, c)
				}
				next++
			}
			if q.TryPush(-1) {
				t.Fatalf("%s lap %d: TryPush succeeded on a full ring of %d", name, lap, c)
			}
			for range c {
				v, ok := q.TryPop()
				if !ok || v != want {
					t.Fatalf("%s lap %d: TryPop = %d, %v; want %d, true", name, lap, v, ok, want)
				}
				want++
			}
		}
	}
}
