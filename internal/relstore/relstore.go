// Package relstore provides release stores: stores that are ordered after
// every load and store before them in the same goroutine, and nothing more.
//
// sync/atomic's stores are sequentially consistent, which on amd64 makes
// each one an XCHG: a locked instruction that also waits for the store
// buffer to drain (about 6 ns on the AMD EPYC Turin virtual machine where
// this package was measured, against 1.5 ns for a call and a plain MOV).
// Many lock-free algorithms need that full fence only at one point, where a
// store must be visible before a later load (Dekker's pattern, a
// work-stealing owner reserving its slot), and a release store everywhere
// else: publishing an item, releasing a slot or a lock. On amd64 every
// plain store is a release store (its total store order never moves a
// store ahead of earlier loads and stores), so these functions are a plain
// MOV in a few lines of assembly; the call cannot be inlined, and the
// compiler moves no memory access across it.
//
// Elsewhere, and in race builds (the race detector sees only sync/atomic,
// so a store it cannot see would be reported as a race, or hide one), they
// are sync/atomic's sequentially consistent stores, which are release
// stores and more: the functions are at least release stores everywhere.
//
// What a release store does not give: a later load in the same goroutine
// may be performed before the store is visible to other goroutines. A
// caller that stores and then loads another word to decide whether to wake
// somebody needs a sequentially consistent operation between the two; see
// each caller's comment for where its fence comes from.
//
// Only for words without pointers: a pointer stored by assembly would skip
// the garbage collector's write barrier.
package relstore
