package diag

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/lockdep"
)

// Enabled reports whether the program was built with -tags lockstep_debug,
// that is, whether lock-order checking, unlock and long-wait reports are
// compiled in. Statistics ([Watch]) work in every build.
const Enabled = lockdep.Enabled

// Kind says what a [Report] is about.
type Kind uint8

const (
	// Inversion: two locks were taken in both orders (or, for longer
	// cycles, the orders seen so far form a cycle), so goroutines that take
	// them at the same time can deadlock. Reported when the second order is
	// first attempted, before the acquisition that completes it can block,
	// whether or not a deadlock happens in this run.
	Inversion Kind = Kind(lockdep.Inversion)
	// Recursion: a goroutine started a blocking acquisition of a lock it
	// already holds. For a write hold, or a write lock under a read hold,
	// that is a certain self-deadlock. For a read lock taken again for
	// reading, it deadlocks as soon as a writer queues between the two: a
	// waiting writer stops new readers in every lockstep read-write lock.
	// Not reported for a semaphore or a lock marked [Unowned]: another
	// goroutine may release the earlier hold (a permit handed to a worker).
	Recursion Kind = Kind(lockdep.Recursion)
	// UnlockNotHeld: a goroutine unlocked a lock that another goroutine
	// holds. Go allows it for every lockstep lock, as sync.Mutex does, but
	// it is usually a bug; mark locks handed between goroutines on purpose
	// with [Unowned]. Semaphores are never reported.
	UnlockNotHeld Kind = Kind(lockdep.UnlockNotHeld)
	// LongWait: a goroutine has waited for a lock longer than
	// [Config.LongWait]. The report names the holders, with the stack where
	// each acquired the lock and the stack where each is now, and lists the
	// waiters.
	LongWait Kind = Kind(lockdep.LongWait)
)

// String names the kind as reports print it: "lock order inversion",
// "recursive locking", "unlock of a lock held by another goroutine" or
// "long wait".
func (k Kind) String() string { return lockdep.Kind(k).String() }

// Stack is one goroutine's stack in a Report.
type Stack struct {
	// Title says what the goroutine did there, for example
	// `goroutine 7 locked "accounts" here:`.
	Title string
	// Goroutine is the goroutine's id, as in panics and tracebacks.
	Goroutine int64
	// Text lists the frames as a traceback does (function, then file:line
	// indented), from the caller of the lock's method; frames inside
	// lockstep's lock packages are left out.
	Text string
}

// A Report is one finding of a debug build. *Report implements error, and
// is the value a [Config.Panic] panic carries.
type Report struct {
	Kind Kind
	// Message explains the finding in one paragraph.
	Message string
	// Locks names the lock classes involved. For an inversion, the cycle:
	// the lock held, the lock being taken, then the rest of the cycle.
	Locks []string
	// Stacks are the acquisition stacks that make up the finding; for an
	// inversion, two per edge of the cycle ("A locked here", "then B locked
	// here, while holding A").
	Stacks []Stack
}

// String formats the report with its stacks, as it is written to standard
// error.
func (r *Report) String() string {
	lr := lockdep.Report{Kind: lockdep.Kind(r.Kind), Message: r.Message, Locks: r.Locks}
	for _, s := range r.Stacks {
		lr.Stacks = append(lr.Stacks, lockdep.Stack(s))
	}
	return lr.String() // one format, whether or not a handler is set
}

// Error returns r.String(), so that a panic with a Report prints it whole.
func (r *Report) Error() string { return r.String() }

// Config says where reports go and when a wait is too long. It only matters
// in a debug build ([Enabled]).
type Config struct {
	// Report receives every report. Nil writes the report's String to
	// standard error.
	//
	// Report is called in the goroutine that caused the finding, before
	// the offending operation takes effect: before an acquisition that
	// closes a cycle can block, before an unlock by a goroutine that does
	// not hold the lock. Long-wait reports come from a timer's goroutine.
	// Report must not block for long and must not lock lockstep locks that
	// the reporting goroutine might hold.
	Report func(*Report)
	// Panic makes every report except LongWait panic with the *Report,
	// after Report was called, in the goroutine that caused it. The
	// offending lock operation has not happened then, so a test can recover
	// and go on. (A long wait is reported from a timer's goroutine, where a
	// panic would end the program.)
	Panic bool
	// LongWait is how long a goroutine may wait for a lock before a
	// LongWait report. 0 means the default, DefaultLongWait; a negative
	// value turns long-wait reports off. Each wait is reported once.
	LongWait time.Duration
}

// DefaultLongWait is the long-wait threshold of the zero Config: as
// sasha-s/go-deadlock's default, long enough that a lock held across slow
// I/O is not reported, short enough to name the culprits of a hung test.
const DefaultLongWait = 30 * time.Second

var (
	cfgMu sync.Mutex
	cfg   Config
)

// Configure sets the configuration and returns the previous one, so that a
// test can write
//
//	defer diag.Configure(diag.Configure(diag.Config{Panic: true}))
//
// Without the debug tag it records c and has no other effect.
func Configure(c Config) (previous Config) {
	cfgMu.Lock()
	defer cfgMu.Unlock()
	previous, cfg = cfg, c
	switch {
	case c.LongWait == 0:
		lockdep.SetLongWait(DefaultLongWait)
	case c.LongWait < 0:
		lockdep.SetLongWait(0)
	default:
		lockdep.SetLongWait(c.LongWait)
	}
	if c.Report == nil && !c.Panic {
		lockdep.SetHandler(nil)
		return previous
	}
	lockdep.SetHandler(func(lr *lockdep.Report) {
		r := &Report{Kind: Kind(lr.Kind), Message: lr.Message, Locks: lr.Locks}
		for _, s := range lr.Stacks {
			r.Stacks = append(r.Stacks, Stack(s))
		}
		if c.Report != nil {
			c.Report(r)
		} else {
			os.Stderr.WriteString(r.String())
		}
		if c.Panic && r.Kind != LongWait {
			panic(r)
		}
	})
	return previous
}

// SetName puts lock in the lock class called name, for reports and for
// lock-order checking: all locks given one name form one class, and an
// inversion between two classes is found whichever instances were
// involved. Call it before the lock is first used; without it a lock's
// class is the place where it is first locked. lock must point to a
// lockstep lock. Without the debug tag SetName does nothing.
func SetName[L any](lock *L, name string) {
	lockdep.SetName(ptr(lock), name)
}

// Unowned marks lock as one that goroutines hand to each other on purpose
// (one locks, another unlocks): its unlocks by a goroutine that did not lock
// it are not reported, and the hold moves to nobody; locking it again while
// holding it is not reported as recursion, since another goroutine may be
// about to unlock it. Without the debug tag Unowned does nothing.
func Unowned[L any](lock *L) {
	lockdep.SetUnowned(ptr(lock))
}

// Reset forgets the lock order learned so far and which findings were
// already reported (each finding is reported once). Tests that provoke
// reports call it first, so that they can run more than once in a process
// (go test -count). Locks keep their classes and their holds.
func Reset() { lockdep.Reset() }

func ptr[L any](lock *L) unsafe.Pointer {
	if lock == nil {
		panic("diag: nil lock")
	}
	return unsafe.Pointer(lock)
}

// LockStats are the contention statistics of one watched lock.
type LockStats struct {
	// Name is the name given to Watch; Type the lock's type, as %T prints
	// it; Site the file:line of the Watch call; Since when it was called.
	Name, Type, Site string
	Since            time.Time
	// Acquisitions counts successful acquisitions of every kind (Lock,
	// RLock, TryLock, LockContext, Acquire...). Contended counts those that
	// could not take the lock at their first attempt and waited (spun or
	// parked).
	Acquisitions, Contended uint64
	// Handoffs counts releases that passed the lock directly to a waiter:
	// mutex.Fair always; mutex.Mutex in starvation mode and on a fair
	// unlock to a waiter that has waited about a millisecond; the readers
	// and writers an rwlock admits from its queue; a semaphore's waiters
	// granted permits.
	Handoffs uint64
	// Cancellations counts acquisitions that gave up because their context
	// ended.
	Cancellations uint64
	// TotalWait is the time contended and cancelled acquisitions spent
	// waiting; MaxWait the longest single wait.
	TotalWait, MaxWait time.Duration
}

// String formats s on one line.
func (s LockStats) String() string {
	return fmt.Sprintf("%s (%s, watched at %s): %d acquisitions, %d contended, total wait %v, max wait %v, %d handoffs, %d cancellations",
		s.Name, s.Type, s.Site, s.Acquisitions, s.Contended, s.TotalWait, s.MaxWait, s.Handoffs, s.Cancellations)
}

// Watch starts collecting statistics for lock under name (restarting them
// if lock is already watched). It works in every build, debug or not, and
// is meant to be left on in production for the locks one cares about.
//
// Watch keeps lock reachable until [Unwatch]. While at least one lock is
// watched, every lockstep lock leaves its inlined fast path for a short
// tracked path (a table lookup by address, a few nanoseconds), and each
// acquisition of a watched lock adds an atomic increment; waits add a clock
// read. lock must point to a lockstep lock (mutex, rwlock, spin, semaphore);
// anything else is accepted and never counts.
func Watch[L any](lock *L, name string) {
	site := "?"
	if _, file, line, ok := runtime.Caller(1); ok {
		site = fmt.Sprintf("%s:%d", file, line)
	}
	lockdep.Watch(ptr(lock), name, fmt.Sprintf("%T", lock), site)
}

// Unwatch stops collecting statistics for lock and reports whether it was
// watched.
func Unwatch[L any](lock *L) bool { return lockdep.Unwatch(ptr(lock)) }

// Stats returns the statistics of lock, and false if it is not watched.
// The counters are read one by one while they may change: a snapshot under
// load is approximate, but each counter only grows.
func Stats[L any](lock *L) (LockStats, bool) {
	s, ok := lockdep.Stats(ptr(lock))
	return LockStats(s), ok
}

// Top returns the statistics of the n most contended watched locks (of all
// of them, if n < 0), most contended first: by total wait, then by
// contended acquisitions.
func Top(n int) []LockStats {
	all := lockdep.Top(n)
	out := make([]LockStats, len(all))
	for i, s := range all {
		out[i] = LockStats(s)
	}
	return out
}
