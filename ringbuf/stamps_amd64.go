//go:build !race

package ringbuf

import "unsafe"

// publishStamps stores first, first+1, ... into the stamps of run, in
// order (MPMC's stamps go up by one from slot to slot). It is a batch's
// publication (TryPushN) or release (TryPopN): the slots' values are
// written before it, and each stamp store must be a release store, which
// on amd64 a plain MOV is (stores are not reordered with earlier stores or
// loads). NewMPMC uses it too, for speed alone: its first stamps follow
// no values, and nobody else has the ring yet. One call stores a run, and
// only its last store is an XCHG, a
// full fence before notify's load of the parked count (a batch that wraps
// around the array makes two calls, and two XCHGs). (A parker re-checks head
// and tail, which the batch's claim, a compare-and-swap, has already
// moved, so the fence is a margin rather than a requirement; a batch
// without it measured no faster, as the stores must drain before the next
// locked instruction anyway.) A sequentially consistent store per slot
// (an XCHG each) took about a quarter of a batch's time (48 of 192 ns for
// 16 items), and this routine made batches 9% faster. The race detector
// sees only sync/atomic, so a race build uses the portable loop
// (stamps_other.go).
func publishStamps[T any](run []slot[T], first uint64) {
	if len(run) == 0 {
		return
	}
	storeStamps(unsafe.Pointer(&run[0].stamp), unsafe.Sizeof(run[0]), uintptr(len(run)), first, 1, true)
}

// publishRun stores first, first+2, ... into run, in order (SPSC's
// stamps go up by two from slot to slot), as publishStamps does for MPMC,
// but the last store is a plain MOV too: SPSC's TryPushN follows it with
// a compare-and-swap of its own, and TryPopN, which releases its slots
// with it, with its first slot's stamp and a store of head. NewSPSC
// stores its first stamps with it too, for speed alone.
func publishRun[T any](run []slot[T], first uint64) {
	if len(run) == 0 {
		return
	}
	storeStamps(unsafe.Pointer(&run[0].stamp), unsafe.Sizeof(run[0]), uintptr(len(run)), first, 2, false)
}

//go:noescape
func storeStamps(p unsafe.Pointer, stride, n uintptr, first, step uint64, fence bool)
