package spin

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

// TicketLock state word, one uint64 so that TryLock can check "nobody holds
// or waits" and take a ticket in a single CAS:
//
//	bits 63..32  next    the next ticket to hand out
//	bits 31..0   serving the ticket that holds (or may take) the lock
//
// The lock is free when next == serving. Lock adds 1 to next (taking the
// old value as its ticket) and waits until serving equals it; Unlock adds 1
// to serving. Both halves wrap modulo 2^32, so up to 2^32-1 goroutines may
// wait at once; ticket distances are computed in uint32 arithmetic.
const (
	ticketShift = 32
	ticketOne   = 1 << ticketShift // adds 1 to next
	servingMask = 1<<ticketShift - 1
)

func unpackTicket(s uint64) (next, serving uint32) {
	return uint32(s >> ticketShift), uint32(s & servingMask)
}

// TicketLock is a FIFO spin lock: goroutines acquire it in the order in which
// they called Lock (Lamport's bakery, as a ticket lock: Mellor-Crummey and
// Scott, "Algorithms for Scalable Synchronization on Shared-Memory
// Multiprocessors", ACM TOCS 9(1), 1991, section 2.2).
//
// Waiters back off by their distance from the head of the line, a two-step
// form of the paper's proportional backoff: the next-in-line spins,
// everyone further back yields the processor between looks, so the
// goroutine whose turn it is gets to run even when goroutines outnumber
// cores.
//
// The zero value for a TicketLock is an unlocked lock. A TicketLock must not
// be copied after first use.
//
// In the terminology of the Go memory model, the n'th call to Unlock
// "synchronizes before" the m'th call to Lock returns, for any n < m. A
// successful TryLock is equivalent to a call to Lock; a failed TryLock
// establishes no "synchronizes before" relation.
type TicketLock struct {
	_     noCopy
	state atomic.Uint64
}

// Lock takes a ticket and waits until it is served.
func (l *TicketLock) Lock() {
	if lockdep.Active() {
		l.lockTracked() // package diag tracks locks: see lockdep.go
		return
	}
	// Our ticket is next-1; it is our turn when serving equals it. (When
	// serving is 2^32-1 the 64-bit comparison misses the wrapped match and
	// wait, which compares modulo 2^32, returns at once.)
	if s := l.state.Add(ticketOne); s>>ticketShift != s&servingMask+1 {
		l.wait(s)
	}
}

// wait spins until serving reaches our ticket, the value next had before
// our Add (s is the state that Add returned). It is outlined to keep Lock
// small; Lock does not inline even so (its lock-order hook and the wrapped
// comparison cost 154 against the inliner's 80), only Unlock does.
func (l *TicketLock) wait(s uint64) {
	ticket := uint32(s>>ticketShift) - 1
	var b backoff.Backoff
	for {
		testhook.Yield()
		_, serving := unpackTicket(l.state.Load())
		ahead := ticket - serving // waiters (and the holder) in front of us
		switch {
		case ahead == 0:
			return
		case ahead > 1:
			// Not next in line: the holder and at least one more waiter
			// go first. Let them run; spinning here only steals their
			// cores when goroutines outnumber them.
			runtime.Gosched()
		case b.Completed():
			runtime.Gosched()
		default:
			b.Snooze()
		}
	}
}

// TryLock takes the lock if nobody holds it or waits for it, and reports
// whether it did. It never takes a ticket it would have to wait on, so it
// never jumps the queue.
func (l *TicketLock) TryLock() bool {
	s := l.state.Load()
	if uint32(s>>ticketShift) != uint32(s) { // someone holds it or waits
		return false
	}
	testhook.Yield() // racy window between the look and the CAS
	if l.state.CompareAndSwap(s, s+ticketOne) {
		lockdep.TryAcquired(unsafe.Pointer(l), &ticketLockType, lockdep.Write)
		return true
	}
	return false
}

// Unlock serves the next ticket. It panics if l is not locked. Any
// goroutine may unlock a locked TicketLock.
func (l *TicketLock) Unlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(l), &ticketLockType, lockdep.Write)
	}
	// Only the holder changes serving, so this load of it is exact; next
	// may move concurrently, which the Add below tolerates.
	next, serving := unpackTicket(l.state.Load())
	if next == serving {
		panic("spin: unlock of unlocked TicketLock")
	}
	if serving == servingMask {
		// serving wraps to 0: adding 1 would carry into next, so add
		// 1 - 2^32 instead (the carry and the -2^32 cancel out).
		l.state.Add(^uint64(ticketOne - 2)) // two's complement of 2^32-1
		return
	}
	l.state.Add(1)
}
