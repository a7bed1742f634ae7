package rwlock

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/internal/lockdep"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// ReadMostly is a reader/writer lock whose read path scales with cores, for
// data that is read far more often than it is written: configuration,
// routing tables, caches that are filled rarely. The zero value is an
// unlocked lock.
//
// A ReadMostly must not be copied after first use.
//
// It is BRAVO (Dice and Kogan, "BRAVO: Biased Locking for Reader-Writer
// Locks", USENIX ATC 2019, arXiv:1810.01553) over an [RWMutex]. While the
// lock is reader-biased, a reader announces itself by incrementing one of
// many reader counters, each on its own cache line, chosen by a hash of the
// calling goroutine's stack; readers on different cores then write
// different cache lines and do not slow each other down, where every reader
// of a sync.RWMutex writes the same word. A writer takes the underlying
// RWMutex, revokes the bias, and waits for the counters to drain; after a
// revocation the bias stays off for nine times as long as the revocation
// took (BRAVO's inhibit period, N = 9), during which readers use the
// underlying RWMutex, so that frequent writers do not pay for a revocation
// each. A reader soon after the inhibit period turns the bias back on (one
// in eight of the readers that find it off reads the clock).
//
// RLock returns an [RToken] that the matching RUnlock takes: it records
// which counter the reader incremented (or that it took the underlying read
// lock). The token is a small value; a read lock may be released by another
// goroutine that is handed the token.
//
// Cost: a biased RLock is two loads of a line that only writers write and
// one atomic add on a line of its own; RUnlock is one atomic add and one
// load. A write is an RWMutex write plus, when the bias was on, a scan of
// all counters (4 x GOMAXPROCS of them, rounded up to a power of two, at
// most 1024; each is a cache line) and a wait for the readers inside.
// Memory: 344 bytes per lock (an RWMutex is 40), plus 128 bytes per
// counter, allocated by the first read.
//
// When not to use it: when writes are more than a few percent of the
// operations, every write revokes the bias and the lock costs more than a
// plain [RWMutex]; when a program has many such locks (each carries its
// counter table); when readers hold the lock for long (the writer waits for
// them either way, but scanning does not pay off).
//
// Fairness and cancellation are the underlying RWMutex's. A writer that
// has to queue for the underlying lock turns the bias off as it queues, and
// a writer that has the underlying lock revokes the bias before it waits
// for the counters, so a waiting writer closes the lock to new readers
// either way (except for the moment a lone writer woken to re-contend
// takes to run, as on an RWMutex) and continuous readers cannot starve
// it; a writer that gives
// up puts the bias back (unless another writer waits) and admits the
// readers queued behind it. LockContext and RLockContext follow the
// cancellation contract. As with RWMutex, a goroutine that holds a read
// lock must not call RLock again.
//
// Collisions: two goroutines whose stacks hash to the same counter share
// its cache line, which costs what sharing a sync.RWMutex costs, for that
// pair only. With four counters per processor, a given pair of concurrent
// readers collides with probability 1/(4 x GOMAXPROCS).
//
// TryLock and TryRLock never wait; when they race with each other, both may
// fail (a reader's counter increment makes the writer's scan fail while the
// writer's revocation sends the reader to the underlying lock).
//
// The memory-model guarantee is RWMutex's: the n'th Unlock synchronizes
// before the m'th Lock returns for n < m; for any RLock there is an n such
// that the n'th Unlock synchronizes before that RLock returns and the
// matching RUnlock synchronizes before the n+1'th Lock returns. Failed Try
// calls and context errors establish nothing.
type ReadMostly struct {
	_ noCopy
	_ cacheline.Pad // keep bias off the line of whatever precedes the lock

	// bias is read by every reader and written only when writers revoke
	// the bias or a reader restores it: its line must stay shared. Values:
	//
	//	the table   biased: readers use its counters
	//	&revoked    not biased; a writer queued on rw turned the bias off and
	//	            readers counted before may still be inside: the writer
	//	            that next gets rw must wait for the counters to drain
	//	nil         not biased, counters drained (or never used)
	//
	// A writer that gets rw swaps in nil and drains unless it swapped out
	// nil. So no writer is ever inside while bias is non-nil. Readers
	// restore the bias (from nil or &revoked) only while they hold rw's
	// read lock and no writer is queued, after the inhibit period: the
	// counters of readers still inside are drained by the next writer,
	// which swaps the table out.
	bias atomic.Pointer[slotTable]
	_    [cacheline.Size - 8]byte

	rw RWMutex // the underlying lock: writers always, readers while unbiased

	table   atomic.Pointer[slotTable] // allocated by the first reader, then fixed
	inhibit int64                     // nanotime until which the bias stays off, 0: none; guarded by rw

	drainMu sync.Mutex  // guards drainQ
	drainQ  waitq.Queue // the revoking writer, parked until counters drain
}

// RToken is what a read lock of a [ReadMostly] hands from RLock to RUnlock.
// Its zero value is a read lock on the underlying RWMutex.
type RToken struct {
	s *slot // nil: the reader holds the underlying RWMutex's read lock
}

// slot is one reader counter, alone on its cache line(s).
type slot struct {
	n atomic.Int64
	_ [cacheline.Size - 8]byte
}

// slotTable is the reader counters and their mask. It is padded to a full
// unit so that its read-only header shares no line with written data.
type slotTable struct {
	slots []slot
	mask  uint64 // len(slots) - 1; len(slots) is a power of two
	_     [cacheline.Size - 32]byte
}

// revoked is the bias of a lock whose writer is queued: see ReadMostly.bias.
var revoked slotTable

// inhibitFactor is BRAVO's N: after a revocation that took d, the bias
// stays off for N x d. The paper uses 9 (Section 3: it bounds the share of
// time writers spend revoking to about 1/(N+1)).
const inhibitFactor = 9

// clockSample: one in clockSample readers that find the bias off reads the
// clock to see whether the inhibit period is over (restoreBias).
const clockSample = 8

// maxSlotsLog bounds the counter table: 2^10 x 128 bytes = 128 KiB.
const maxSlotsLog = 10

func newSlotTable() *slotTable {
	n := min(1<<maxSlotsLog, 1<<bits.Len(uint(4*runtime.GOMAXPROCS(0)-1)))
	return &slotTable{slots: make([]slot, n), mask: uint64(n - 1)}
}

// pick returns the counter for the calling goroutine. The hint is the
// address of a variable on the goroutine's stack: goroutines have disjoint
// stacks, so concurrent readers land on different counters, and a
// goroutine keeps its counter from call to call (Go offers no per-P or
// per-goroutine id without linkname). The address is divided by 2 KiB, the
// smallest goroutine stack, and spread by Fibonacci hashing (Knuth, TAOCP
// vol. 3, 6.4). The hint only affects speed: any counter is correct,
// because the token records the one used.
//
// Rejected: a per-P hint from a sync.Pool of tokens (xsync's RBMutex does
// this). Get and Put made the read path about four times slower than the
// stack hash in this package's benchmarks (Go 1.26, amd64), more than the
// collisions it avoids cost.
func (t *slotTable) pick() *slot {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker))) >> 11
	// The top maxSlotsLog bits of the product are the well-mixed ones; a
	// constant shift and a mask keep this off the reader's critical path.
	return &t.slots[(h*0x9E3779B97F4A7C15)>>(64-maxSlotsLog)&t.mask]
}

// RLock locks m for reading and returns the token to pass to RUnlock. It
// waits while a writer holds the lock or is waiting for it.
func (m *ReadMostly) RLock() RToken {
	if lockdep.Active() {
		return m.rlockTracked() // package diag: see lockdep.go
	}
	// BRAVO's reader fast path, written out here to save the call into
	// rlockBiased (see there for the argument). RLock itself does not
	// inline (cost 286 against the inliner's 80): rewritten with one
	// outlined call and bare sync/atomic functions it still cost 135, and
	// measured no faster (2026-12-07, BENCHMARKS.md).
	if t := m.bias.Load(); t != nil && t != &revoked {
		s := t.pick()
		s.n.Add(1)
		testhook.Yield()
		if m.bias.Load() == t {
			return RToken{s}
		}
		m.backOut(s)
	}
	return m.rlockSlow()
}

func (m *ReadMostly) rlockSlow() RToken {
	m.rw.rlockNoHook(unsafe.Pointer(m))
	m.restoreBias()
	return RToken{}
}

// RLockContext locks m for reading like RLock, or returns an error when ctx
// ends first; errors.Is(err, ctx.Err()) holds. A ctx that is already done
// fails the call even when the lock could be taken. On error the lock is as
// if the call had never been made.
func (m *ReadMostly) RLockContext(ctx context.Context) (RToken, error) {
	if ctx.Err() != nil {
		return RToken{}, waitq.Err(ctx)
	}
	if lockdep.Active() {
		return m.rlockContextTracked(ctx) // package diag: see lockdep.go
	}
	if t := m.bias.Load(); t != nil && t != &revoked {
		if s, ok := m.rlockBiased(t); ok {
			return RToken{s}, nil
		}
	}
	if err := m.rw.rlockContextNoHook(ctx, unsafe.Pointer(m)); err != nil {
		return RToken{}, err
	}
	m.restoreBias()
	return RToken{}, nil
}

// TryRLock tries to lock m for reading without waiting. It reports whether
// it succeeded and, if so, returns the token to pass to RUnlock.
func (m *ReadMostly) TryRLock() (RToken, bool) {
	if t := m.bias.Load(); t != nil && t != &revoked {
		if s, ok := m.rlockBiased(t); ok {
			m.tried(lockdep.Read)
			return RToken{s}, true
		}
	}
	if !m.rw.tryRLock() {
		return RToken{}, false
	}
	m.restoreBias()
	m.tried(lockdep.Read)
	return RToken{}, true
}

// rlockBiased is BRAVO's reader fast path: announce the reader on its
// counter, then check that the bias is still on. A writer revokes by
// swapping bias and then reading every counter; all operations here are
// sequentially consistent, so either our second load of bias sees the
// revocation (and we back out), or the writer's scan sees our increment
// (and waits for our RUnlock). The table is allocated once, so a bias
// equal to t is a bias that is on.
func (m *ReadMostly) rlockBiased(t *slotTable) (*slot, bool) {
	s := t.pick()
	testhook.Yield() // a writer may revoke after our first look at the bias
	s.n.Add(1)
	testhook.Yield() // the window a writer's revocation must not miss
	if m.bias.Load() == t {
		return s, true
	}
	m.backOut(s)
	return nil, false
}

// backOut undoes a reader's increment after the bias turned off under it.
// The writer that turned it off may be waiting for this very counter.
func (m *ReadMostly) backOut(s *slot) {
	if s.n.Add(-1) == 0 {
		m.drained()
	}
}

// restoreBias turns the bias back on once the inhibit period is over,
// unless a writer is queued. The caller holds the underlying read lock, so
// no writer holds it and inhibit is stable.
//
// It restores from &revoked too: a writer that queued and gave up while
// another writer held or waited for the lock leaves it there (see
// writerLeft), and restoring only from nil left the bias off until the
// next write succeeded, however long after (found by an adversarial
// review, 2026-12-06).
//
// A writer may queue between our look at the queue bits and our CAS; it
// stores &revoked after queueing. Usually either our CAS fails or its store
// undoes our CAS, and the bias ends off. But if the bias was &revoked
// already, its store leaves the same value and our CAS can still land
// after it: the bias is then on while the writer is queued, and readers
// may pass it until it gets rw, when it swaps the table out and drains
// them. Safe, and a short loss of the writer's preference in a race
// window.
func (m *ReadMostly) restoreBias() {
	b := m.bias.Load()
	if b != nil && b != &revoked {
		return // on
	}
	if m.rw.state.Load()&(stateQueued|stateWriterWait) != 0 {
		return // a writer waits: let it have its turn first
	}
	if m.inhibit != 0 {
		// Every reader that finds the bias off comes here, and reading
		// the clock costs as much as the rest of the read (reading it took
		// 11% of the CPU of the bench suite's 99%-read workload on a
		// virtual machine): one reader in clockSample looks at it. The
		// bias then comes back a few reads after the inhibit period
		// instead of at the first.
		if rand.Uint32()%clockSample != 0 || nanotime() < m.inhibit {
			return
		}
	}
	t := m.table.Load()
	if t == nil {
		t = newSlotTable()
		if !m.table.CompareAndSwap(nil, t) {
			t = m.table.Load()
		}
	}
	m.bias.CompareAndSwap(b, t) // other readers may race to do the same
}

// RUnlock undoes the RLock that returned tok. It panics if the read lock tok
// stands for is not held.
func (m *ReadMostly) RUnlock(tok RToken) {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(m), &readMostlyType, lockdep.Read)
	}
	if tok.s == nil {
		m.runlockUnderlying()
		return
	}
	// A counter that drains while the bias is off (nil or &revoked) may be
	// what a revoking writer waits for: its swap of nil into bias precedes
	// its scan, so either its scan sees our decrement or we see the bias
	// off here and wake it. (A writer that queues while another drains
	// stores &revoked over the drainer's nil, hence both values.)
	if n := tok.s.n.Add(-1); n <= 0 {
		if b := m.bias.Load(); n < 0 || b == nil || b == &revoked {
			m.runlockSlow(tok.s, n)
		}
	}
}

func (m *ReadMostly) runlockUnderlying() {
	if s := m.rw.state.Add(minusReader); s&(stateWriterWait|countNegative) != 0 {
		m.rw.runlockSlow(s, "ReadMostly")
	}
}

func (m *ReadMostly) runlockSlow(s *slot, n int64) {
	if n < 0 {
		// Until the counter is restored, a revoking writer reads it as a
		// reader inside and may park in drain: restoring it makes us
		// that reader's leaving, so wake the writer as it would. (As in
		// RWMutex.runlockSlow; found by an adversarial review.)
		testhook.Yield()
		if s.n.Add(1) == 0 {
			m.drained()
		}
		panic("rwlock: RUnlock of unlocked ReadMostly")
	}
	m.drained()
}

// drained wakes the writer parked in drain, if any.
func (m *ReadMostly) drained() {
	m.drainMu.Lock()
	if w := m.drainQ.Front(); w != nil {
		m.drainQ.Wake(w)
	}
	m.drainMu.Unlock()
}

// Lock locks m for writing. It waits until no reader or writer holds the
// lock; while it waits, new readers wait too.
func (m *ReadMostly) Lock() {
	if lockdep.Active() {
		_ = m.lockContextTracked(context.Background()) // package diag: see lockdep.go
		return
	}
	if !m.rw.state.CompareAndSwap(0, stateWriter) {
		_ = m.rw.lockSlow(context.Background(), m)
	}
	_ = m.revoke(context.Background())
}

// LockContext locks m for writing like Lock, or returns an error when ctx
// ends first; errors.Is(err, ctx.Err()) holds. A ctx that is already done
// fails the call even when the lock is free. On error the lock is as if the
// call had never been made.
func (m *ReadMostly) LockContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return waitq.Err(ctx)
	}
	if lockdep.Active() {
		return m.lockContextTracked(ctx) // package diag: see lockdep.go
	}
	if !m.rw.state.CompareAndSwap(0, stateWriter) {
		if err := m.rw.lockSlow(ctx, m); err != nil {
			return err
		}
	}
	if err := m.revoke(ctx); err != nil {
		m.Unlock()
		return err
	}
	return nil
}

// TryLock tries to lock m for writing without waiting and reports whether
// it succeeded.
func (m *ReadMostly) TryLock() bool {
	if !m.rw.state.CompareAndSwap(0, stateWriter) {
		return false
	}
	old := m.bias.Swap(nil)
	if old == nil {
		m.tried(lockdep.Write)
		return true
	}
	testhook.Yield()
	if t := m.table.Load(); t != nil {
		for i := range t.slots {
			if t.slots[i].n.Load() != 0 {
				// A reader is inside (or backing out): give up and put the
				// bias back, unless a writer queued meanwhile and turned it
				// off for its turn. Readers that saw our revocation went to
				// the underlying lock, which we still hold.
				m.bias.CompareAndSwap(nil, old)
				m.unlockNoHook()
				return false
			}
		}
	}
	// A scan that found nobody took next to nothing: no inhibit period (the
	// zero time also spares later readers a clock read).
	m.inhibit = 0
	m.tried(lockdep.Write)
	return true
}

// writerQueued runs under the underlying queue lock when a writer queues:
// it turns the bias off so that new readers queue behind the writer, as
// they do on an RWMutex. Readers already counted are drained by whichever
// writer next gets the lock (&revoked tells it to).
func (m *ReadMostly) writerQueued() {
	m.bias.Store(&revoked)
}

// writerLeft runs under the underlying queue lock when a queued writer gave
// up. If no other writer holds or waits for the lock, the bias it turned
// off goes back on. A writer that takes the free lock by CAS meanwhile
// swaps the bias out before it enters, whatever it is, so the CAS from
// &revoked can never let readers in next to a writer. (If another writer
// holds or waits, the bias stays &revoked, and readers restore it once
// that one is gone: see restoreBias.)
func (m *ReadMostly) writerLeft() {
	if m.rw.writerWaiting() {
		return
	}
	// With no table yet, no reader was ever counted: off and drained (nil).
	m.bias.CompareAndSwap(&revoked, m.table.Load())
}

// revoke is BRAVO's revocation, run by every writer once it holds rw: turn
// the bias off so that new readers take the underlying lock (and wait), then
// wait for the readers already counted to leave. If the bias was already
// off and drained there is nothing to wait for. On a ctx error it puts the
// bias back, as if never called, or leaves it off if a writer is queued.
func (m *ReadMostly) revoke(ctx context.Context) error {
	old := m.bias.Swap(nil)
	if old == nil {
		return nil
	}
	t := m.table.Load()
	if t == nil {
		return nil
	}
	start := nanotime()
	testhook.Yield()
	for i := range t.slots {
		if err := m.drain(ctx, &t.slots[i]); err != nil {
			m.rw.mu.Lock()
			if m.rw.writerWaitingBehind() {
				m.bias.Store(&revoked)
			} else {
				m.bias.Store(t)
			}
			m.rw.mu.Unlock()
			return err
		}
	}
	// The inhibit period follows every revocation that had counters to
	// drain: from the table, or from &revoked, where this writer queued
	// and the table's readers may still have been inside. (Only the first
	// used to count, so under write contention, where writers queue, the
	// period never applied.)
	now := nanotime()
	m.inhibit = now + (now-start)*inhibitFactor
	return nil
}

// drain waits until s is zero: spinning briefly with backoff (a reader's
// critical section is usually short), then parking until a reader that
// takes a counter to zero wakes us (runlockSlow, rlockBiased).
func (m *ReadMostly) drain(ctx context.Context, s *slot) error {
	var bo backoff.Backoff
	for s.n.Load() != 0 {
		if !bo.Completed() {
			bo.Snooze()
			continue
		}
		m.drainMu.Lock()
		w := m.drainQ.Enqueue(0)
		// Registered; now re-check, so a decrement between our load and the
		// Enqueue is not missed (its drained call may have found no waiter).
		if s.n.Load() == 0 {
			m.drainQ.Cancel(w)
			m.drainMu.Unlock()
			w.Recycle()
			return nil
		}
		err := m.drainQ.Wait(ctx, &m.drainMu, w, nil)
		w.Recycle()
		if err != nil {
			return err
		}
		// Woken by some counter reaching zero; look at ours again.
	}
	return nil
}

// Unlock unlocks m for writing. It panics if m is not locked for writing.
// The bias stays off until a reader after the inhibit period restores it.
func (m *ReadMostly) Unlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(m), &readMostlyType, lockdep.Write)
	}
	if !m.rw.state.CompareAndSwap(stateWriter, 0) {
		m.rw.unlockSlow("ReadMostly")
	}
}

// RLocker returns a sync.Locker whose Lock and Unlock take and release a
// read lock of m. A sync.Locker has no token to carry, so these read locks
// always use the underlying RWMutex, never the counters: they are correct
// next to any other reader or writer, but do not scale like RLock.
func (m *ReadMostly) RLocker() sync.Locker { return (*rmLocker)(m) }

type rmLocker ReadMostly

func (r *rmLocker) Lock() {
	if lockdep.Active() {
		(*ReadMostly)(r).rlockerTracked() // package diag: see lockdep.go
		return
	}
	(*ReadMostly)(r).rw.rlockNoHook(unsafe.Pointer(r))
}

func (r *rmLocker) Unlock() {
	if lockdep.Enabled {
		lockdep.Release(unsafe.Pointer(r), &readMostlyType, lockdep.Read)
	}
	(*ReadMostly)(r).runlockUnderlying()
}

// Downgrade atomically turns m's write lock into a read lock and returns its
// token: no writer can take the lock in between. It panics if m is not
// locked for writing. The bias stays off until a later reader restores it.
func (m *ReadMostly) Downgrade() RToken {
	if lockdep.Enabled {
		lockdep.Downgrade(unsafe.Pointer(m))
	}
	if !m.rw.state.CompareAndSwap(stateWriter, readerUnit) {
		m.rw.downgradeSlow("ReadMostly")
	}
	return RToken{}
}
