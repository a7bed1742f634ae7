package relstore_test

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/internal/relstore"
	"github.com/lockstep-go/lockstep/internal/testutil"
)

// TestStores: each function stores exactly its value, whole, and touches
// nothing next to it.
func TestStores(t *testing.T) {
	var s struct {
		before uint64
		u64    atomic.Uint64
		u32    atomic.Uint32
		after  uint32
	}
	s.before, s.after = 0x5555555555555555, 0x55555555
	for _, v := range []uint64{0, 1, 0xdeadbeefcafef00d, math.MaxUint64, 1 << 63} {
		relstore.Uint64(&s.u64, v)
		relstore.Uint32(&s.u32, uint32(v>>7))
		if got := s.u64.Load(); got != v {
			t.Errorf("Uint64(%#x) stored %#x", v, got)
		}
		if got := s.u32.Load(); got != uint32(v>>7) {
			t.Errorf("Uint32(%#x) stored %#x", uint32(v>>7), got)
		}
		if s.before != 0x5555555555555555 || s.after != 0x55555555 {
			t.Fatalf("a store touched its neighbours: %#x %#x", s.before, s.after)
		}
	}
}

// TestMessagePassing: a release store of a flag after plain writes of the
// data publishes them to a goroutine that loads the flag (the guarantee
// every caller relies on). A reordering would show as a stale read, and
// under -race (where the store is sync/atomic's) as a race report.
func TestMessagePassing(t *testing.T) {
	for range testutil.Scale(20000) {
		var data [4]uint64
		var flag atomic.Uint64
		var wg sync.WaitGroup
		wg.Go(func() {
			for flag.Load() == 0 {
				runtime.Gosched() // live at GOMAXPROCS=1 too
			}
			for i, d := range data {
				if d != uint64(i+1) {
					t.Errorf("data[%d] = %d after the flag: the store was not a release", i, d)
				}
			}
		})
		for i := range data {
			data[i] = uint64(i + 1)
		}
		relstore.Uint64(&flag, 1)
		wg.Wait()
	}
}
