// Package cacheline holds the one padding constant that every lockstep type
// uses to keep independently written hot fields off each other's cache line.
package cacheline

// Size is the padding unit, in bytes.
//
// It is 128, not the 64-byte line most x86-64 and arm64 cores report:
//   - Intel's spatial prefetcher (since Sandy Bridge) pulls cache lines in
//     aligned pairs, so two hot words 64 bytes apart still contend; Intel's
//     optimisation manual recommends 128-byte separation.
//   - Apple's M-series and some other arm64 cores have 128-byte lines.
//
// crossbeam-utils' CachePadded makes the same choice for x86-64, aarch64 and
// powerpc64 (crossbeam-rs/crossbeam, crossbeam-utils/src/cache_padded.rs),
// and xsync measured about 30% from 128 over 64 on NUMA machines
// (puzpuzpuz/xsync, util.go). The cost is memory: only a few words per
// primitive, never per item.
//
// Go cannot size padding from a type parameter (the array length must be a
// constant), so pad around fixed-size fields such as indexes and counters.
const Size = 128

// Pad is a full padding unit. Place one between fields written by different
// goroutines:
//
//	type queue struct {
//		head atomic.Uint64
//		_    cacheline.Pad
//		tail atomic.Uint64
//		_    cacheline.Pad
//	}
type Pad [Size]byte
