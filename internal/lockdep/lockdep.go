// Package lockdep is the instrumentation behind package diag: the hooks that
// lockstep's locks call at their acquire, wait and release points, the
// lock-order checker those hooks feed when the program is built with
// -tags lockstep_debug, and the per-lock contention counters that
// diag.Watch switches on at run time.
//
// # How a lock calls the hooks
//
// A lock keeps its uncontended fast path and lets the hooks piggyback on
// it. A lock whose free state word is 0 expects FastFree in its fast-path
// compare-and-swap:
//
//	func (l *Lock) Lock() {
//		if l.state.CompareAndSwap(lockdep.FastFree(), locked) {
//			return // fast path: nothing watched, no debug build
//		}
//		l.lockTracked() // the hooks, then the lock's own slow path
//	}
//
// FastFree is the constant all-ones in a debug build (every acquisition
// goes through the hooks) and otherwise one atomic load of a global word
// that is 0 until some lock is watched, so an ordinary build pays one load
// folded into the CAS and the fast path still inlines. Other fast paths
// test Active, which is the same switch as a bool. The tracked path
// brackets the acquisition:
//
//	t := lockdep.Acquire(unsafe.Pointer(l), &typ, lockdep.Write) // order check (debug)
//	if <fast attempt succeeds> { t.Acquired(); return }          // uncontended
//	t.Wait()                                                     // contended: starts the clocks
//	<slow path>
//	t.Acquired() // or t.Canceled() when ctx ended first
//
// TryAcquired records a successful try. Release comes first in every
// unlock (before the lock is actually released, so that the next holder's
// Acquired cannot be overtaken) and Downgrade marks a write lock that
// became a read lock; both matter only to the debug build and are written
//
//	if lockdep.Enabled {
//		lockdep.Release(unsafe.Pointer(l), &typ, lockdep.Write)
//	}
//
// so that the constant condition removes them, arguments included, before
// the inliner counts their cost. Handoff marks a direct handoff to a
// waiter.
//
// Without the lockstep_debug tag the lock-order half is empty functions
// (dep_off.go). Package diag documents the behaviour users see.
package lockdep

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// Type describes one kind of lock to the hooks. Each lock package declares
// one per lock type, as a package-level variable whose address it passes.
type Type struct {
	// Name is the type as users write it: "spin.Lock", "mutex.Mutex".
	Name string
	// Unowned marks lock types that any goroutine may release by design
	// (a semaphore used as a lock): releasing one that another goroutine
	// acquired is not reported.
	Unowned bool
}

// Mode is how an acquisition holds the lock.
type Mode uint8

const (
	// Write is an exclusive hold: Lock, a write lock, a semaphore of one.
	Write Mode = iota
	// Read is a shared hold: RLock.
	Read
	// Counted is an acquisition that statistics count but that is no lock
	// hold for the checker: a semaphore's permits, other than the one
	// permit of a semaphore of capacity one.
	Counted
)

func (m Mode) String() string {
	switch m {
	case Read:
		return "read"
	case Counted:
		return "counted"
	}
	return "write"
}

// Active reports whether a lock must take its tracked path: always in a
// debug build, and otherwise while at least one lock is watched.
func Active() bool { return Enabled || atomic.LoadUint32(&watchingWord) != 0 }

// FastFree returns the value a lock's fast path must find in its state word
// to take the lock with one CompareAndSwap: the lock's free state, 0, while
// Active is false, and otherwise all ones, which no lock's state word ever
// holds in practice (a spin.Lock's word is 0 or 1; a mutex.Mutex's would
// need 2^29 parked waiters, an rwlock.RWMutex's 2^61 readers), so that the
// CAS fails and the lock takes its tracked path. It folds the Active check
// into the CAS the fast path does anyway: no extra branch, and a cost small
// enough that the fast path still inlines.
//
//	if l.state.CompareAndSwap(lockdep.FastFree(), locked) {
//		return
//	}
//	l.lockTracked()
//
// FastFree64 and FastFreeInt32 are the same value for other word types.
func FastFree() uint32 {
	if Enabled {
		return ^uint32(0)
	}
	return atomic.LoadUint32(&fastFreeWord)
}

// FastFree64 is FastFree for a uint64 state word.
func FastFree64() uint64 {
	if Enabled {
		return ^uint64(0)
	}
	return atomic.LoadUint64(&FastFreeWord64)
}

// FastFreeInt32 is FastFree for an int32 state word.
func FastFreeInt32() int32 {
	if Enabled {
		return -1
	}
	return atomic.LoadInt32(&fastFreeWordInt32)
}

// Token carries one acquisition from Acquire to Acquired or Canceled. It
// lives on the acquiring goroutine's stack.
type Token struct {
	c      *Counters // the lock's counters, nil when it is not watched
	start  int64     // when the wait began (now()), if waited
	waited bool      // Wait was called: the acquisition is contended
	dep    depToken  // the debug build's record; empty otherwise
}

// Acquire is called before a blocking acquisition of the lock at p (Lock,
// RLock, LockContext, Acquire of a semaphore of one). In a debug build it
// checks the lock order and reports an inversion or a recursive acquisition
// before the caller can block on it; the report's handler may panic, in
// which case the lock is left untouched.
func Acquire(p unsafe.Pointer, t *Type, m Mode) Token {
	return Token{c: lookup(p), dep: depAcquire(p, t, m)}
}

// Wait is called when the acquisition must wait (its first attempt
// failed): it starts the wait clock of a watched lock and, in a debug build,
// the long-wait timer.
func (k *Token) Wait() {
	if k.c != nil {
		k.start, k.waited = now(), true
	}
	depWait(k.dep)
}

// Acquired is called once the lock is held.
func (k *Token) Acquired() {
	if k.c != nil {
		k.c.acquired(k.waited, k.start)
	}
	depAcquired(k.dep)
}

// Canceled is called when a context-aware acquisition gave up: the lock is
// not held, and the call is as if it had never been made.
func (k *Token) Canceled() {
	if k.c != nil {
		k.c.canceled(k.waited, k.start)
	}
	depCanceled(k.dep)
}

// Failed is called when a blocking acquisition failed for a reason other
// than its context (a semaphore's ErrTooLarge): no hold, no cancellation.
func (k *Token) Failed() {
	depCanceled(k.dep)
}

// TryAcquired is called after a successful TryLock, TryRLock or
// TryAcquire. A try never waits, so it adds no lock-order edge into the
// lock; the lock is held afterwards, so edges from it to later locks are
// recorded as for any held lock (lockdep's rule for trylocks).
func TryAcquired(p unsafe.Pointer, t *Type, m Mode) {
	if Active() {
		tryAcquired(p, t, m)
	}
}

func tryAcquired(p unsafe.Pointer, t *Type, m Mode) {
	if c := lookup(p); c != nil {
		c.acquired(false, 0)
	}
	depTryAcquired(p, t, m)
}

// Release is called at the start of every unlock, before the lock is
// released. Without the debug tag it is empty and compiles away.
func Release(p unsafe.Pointer, t *Type, m Mode) { depRelease(p, t, m) }

// ReleaseOwn ends the calling goroutine's hold of the lock at p in mode m,
// if it has one, and does nothing otherwise: unlike Release it never moves
// another goroutine's hold, even for an Unowned type. A semaphore whose
// capacity changed since a permit was taken as a lock uses it. Without the
// debug tag it compiles away.
func ReleaseOwn(p unsafe.Pointer, m Mode) { depReleaseOwn(p, m) }

// Downgrade is called when a write hold of the lock at p becomes a read hold
// without releasing it. Without the debug tag it compiles away.
func Downgrade(p unsafe.Pointer) { depDowngrade(p) }

// Handoff is called when an unlock passes the lock directly to a waiter
// (FIFO handoff), instead of releasing it for anyone to take.
func Handoff(p unsafe.Pointer) {
	if Active() {
		handoff(p)
	}
}

func handoff(p unsafe.Pointer) {
	if c := lookup(p); c != nil {
		c.handoffs.Add(1)
	}
}

// epoch anchors now. time.Since reads the monotonic clock; inside a
// testing/synctest bubble it reads the bubble's fake clock, against the real
// epoch, so values there are far negative, but their differences are right.
var epoch = time.Now()

// now returns nanoseconds since epoch, for measuring waits.
func now() int64 { return int64(time.Since(epoch)) }

// Kind is what a Report is about.
type Kind uint8

const (
	// Inversion: a new lock-order edge closed a cycle in the graph of lock
	// classes. Two goroutines that take those locks at the same time can
	// deadlock, whether or not they did in this run.
	Inversion Kind = iota + 1
	// Recursion: a goroutine started a blocking acquisition of a lock it
	// already holds (a certain self-deadlock for a write hold; for a read
	// lock held for reading, a deadlock as soon as a writer queues between
	// the two read locks). Never reported for an unowned lock (a
	// semaphore, SetUnowned), which another goroutine may be about to
	// release.
	Recursion
	// UnlockNotHeld: a goroutine released a lock that another goroutine
	// holds.
	UnlockNotHeld
	// LongWait: a goroutine has waited for a lock longer than the
	// configured threshold.
	LongWait
)

func (k Kind) String() string {
	switch k {
	case Inversion:
		return "lock order inversion"
	case Recursion:
		return "recursive locking"
	case UnlockNotHeld:
		return "unlock of a lock held by another goroutine"
	case LongWait:
		return "long wait"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Stack is one goroutine's stack in a Report, with what it was doing there.
type Stack struct {
	Title     string // what the goroutine did at this stack
	Goroutine int64  // the goroutine's id, as in panics and tracebacks
	Text      string // the frames, formatted as in a traceback
}

// Report is one finding of the debug build.
type Report struct {
	Kind    Kind
	Message string   // one paragraph, without the stacks
	Locks   []string // the lock classes involved, in the order of the finding
	Stacks  []Stack

	key string // the debug build's once-key of the finding, if any
}

// String formats r with its stacks, as written to standard error.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lockstep/diag: %s\n%s\n", r.Kind, r.Message)
	for _, s := range r.Stacks {
		fmt.Fprintf(&b, "\n%s\n%s", s.Title, s.Text)
	}
	return b.String()
}
