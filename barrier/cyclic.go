package barrier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/panics"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// ErrBroken is the error a party of a broken generation gets: another party
// gave up (its ctx ended), the barrier action failed, or Reset was called
// while it waited. Every call after the break gets it at once, until Reset.
// The error returned is a *BrokenError, which says why; test for it with
// errors.Is(err, ErrBroken).
var ErrBroken = errors.New("barrier: broken")

// BrokenError is the error behind ErrBroken: errors.Is(err, ErrBroken)
// holds for it, and its Cause says why the generation broke.
//
// It deliberately does not unwrap to its Cause. The cause of a break is
// often another party's context error, and a party whose own context is
// fine must not see errors.Is(err, context.Canceled) hold and conclude that
// it was cancelled. Use errors.As to reach the cause:
//
//	var be *barrier.BrokenError
//	if errors.As(err, &be) && errors.Is(be.Cause, errBadInput) { ... }
type BrokenError struct {
	// Cause is why the generation broke: the context error of the party
	// that gave up, or the error the barrier action returned (a panic in
	// the action becomes an error carrying the panic value and the stack).
	// It is nil when Reset broke the generation.
	Cause error

	reason brokenReason
	party  int // arrival index of the party that gave up; -1 if it had not arrived
}

type brokenReason uint8

const (
	brokenByContext brokenReason = iota // a party's ctx ended (Cause is its ctx error)
	brokenByAction                      // the action returned an error or panicked
	brokenByGoexit                      // the action called runtime.Goexit
	brokenByReset                       // Reset while parties waited
)

// errGoexit is the Cause when the action called runtime.Goexit.
var errGoexit = errors.New("barrier action called runtime.Goexit")

// Error says why the generation broke, and which party gave up when one
// did: "barrier: broken: party 2 gave up waiting: context deadline
// exceeded".
func (e *BrokenError) Error() string {
	switch e.reason {
	case brokenByContext:
		if e.party < 0 {
			return fmt.Sprintf("barrier: broken: a party called Await with a done context: %v", e.Cause)
		}
		return fmt.Sprintf("barrier: broken: party %d gave up waiting: %v", e.party, e.Cause)
	case brokenByAction:
		return fmt.Sprintf("barrier: broken: the barrier action failed: %v", e.Cause)
	case brokenByGoexit:
		return "barrier: broken: the barrier action called runtime.Goexit"
	default:
		return "barrier: broken: Reset while parties waited"
	}
}

// Is reports whether target is ErrBroken.
func (e *BrokenError) Is(target error) bool { return target == ErrBroken }

// The barrier's state is one 64-bit word, changed only by compare-and-swap
// (or, where nothing else can change it, stored), as a Phaser's is:
//
//	bits  0-31  arrived: parties that have arrived in this generation
//	bits 32-33  status, below
//	bits 34-63  generation number (30 bits; wraps to 0 after maxGen)
//
// A generation is one round: the Await calls that one trip releases. An
// arrival is one CAS that adds 1 to arrived. The last arrival's CAS trips
// the generation: with no barrier action it starts the next generation in
// the same CAS (number + 1, nobody arrived), which releases every party of
// the old one; with an action it marks the generation tripping, and the
// word moves on when the action returns.
//
//	status     | meaning                                  | next
//	-----------+------------------------------------------+---------------------
//	genOpen    | parties are arriving (arrived < parties) | the next generation,
//	           |                                          | genTripping,
//	           |                                          | genBroken
//	genTripping| all arrived; the last one runs the       | the next generation,
//	           | action                                   | genBroken
//	genBroken  | released: the parties get ErrBroken, and | the next generation,
//	           | so does every call until Reset           | by Reset
//
// Only genOpen can be broken by a cancellation or by Reset: once the last
// party has arrived the generation is committed, and the trip beats any
// cancellation that raced with it (CyclicBarrier.java, dowait: an interrupt
// that comes after the trip "belongs to subsequent execution"). Only the
// action's outcome decides between the next generation and genBroken
// after that.
//
// A party learns how its generation ended from the word: still its
// generation and genBroken, it broke; a later generation, it tripped,
// unless it broke and a Reset moved on since. Breaks are rare, so that
// last case is answered by a record: each break publishes one (see
// brokenRecord), and a party that finds a later generation looks for its
// generation's record before it concludes that it tripped.
const (
	genOpen uint64 = iota
	genTripping
	genBroken
)

const (
	arrivedMask = 1<<32 - 1
	statusShift = 32
	statusMask  = 3 << statusShift
	genShift    = 34
	maxGen      = 1<<30 - 1

	// maxParties is the most parties a Cyclic can have: arrived must fit
	// its 32 bits.
	maxParties = arrivedMask
)

func arrivedOf(w uint64) int         { return int(w & arrivedMask) }
func statusOf(w uint64) uint64       { return w & statusMask >> statusShift }
func genOf(w uint64) uint64          { return w >> genShift }
func withStatus(w, st uint64) uint64 { return w&^statusMask | st<<statusShift }

// nextGen is the word of the generation after w's, with nobody arrived.
func nextGen(w uint64) uint64 { return (genOf(w) + 1) & maxGen << genShift }

// brokenRecord says that generation gen broke, and why. The goroutine that
// breaks a generation publishes one (under Cyclic.mu, right after the
// breaking CAS), so that the generation's parties can tell a break from a
// trip even after a Reset has moved the barrier on. (A failed action with a
// Reset pending publishes its record before the word moves on, never
// showing the break in the word.) A record is removed once every party
// that needs it has read it and the barrier has moved past its generation:
// by the last reader, or by the Reset that moves past it. Records must not
// outlive their readers: once the generation number wraps, a leftover
// record would turn a later trip of the same number into a break.
//
// A party that is descheduled for 2^30 generations (minutes of rounds with
// nothing else to do) could still mistake a later break's record for its
// own; no program runs a barrier that far while one of its parties sleeps.
type brokenRecord struct {
	gen uint64
	err *BrokenError

	// pending counts the parties of gen that have not yet read the record:
	// those that had arrived when it broke, but the one that broke it.
	pending atomic.Int64
}

// Cyclic is a cyclic barrier: a fixed number of parties wait for each other
// in Await, and when the last one arrives all are released together, after
// an optional barrier action that the last party runs. The barrier then
// resets itself for the next round (generation), which is why it is cyclic.
//
// Breakage is all-or-none, as in Java's CyclicBarrier: if one party gives
// up (its ctx ends), that party gets its ctx error and every other party of
// the generation gets ErrBroken, and so does every later Await until Reset.
// A barrier action that returns an error or panics breaks the barrier the
// same way: the last party gets the action's error and the others
// ErrBroken. Use a Cyclic only for rounds in which every party must take
// part; for parties that come and go, use a Phaser.
//
// A Cyclic must be made with New; the zero value is not usable. A Cyclic
// must not be copied after first use.
//
// In the terminology of the Go memory model, for each generation, every
// party's Await call synchronizes before the barrier action runs, and the
// action's return synchronizes before every Await of that generation
// returns; with no action, every Await call of a generation synchronizes
// before every Await of it returns. So what each party wrote before Await
// is visible to the action and to every party after Await. An Await that
// returns ErrBroken synchronizes after the event that broke the barrier.
type Cyclic struct {
	_ noCopy

	parties int          // immutable
	action  func() error // immutable; nil for none

	word atomic.Uint64 // see the layout above

	// gate parks the goroutines waiting for a generation to end (its
	// parties, and callers waiting for its action), all on one channel
	// per generation, by parity; the goroutine that ends a generation
	// opens it under mu, taking mu only when somebody is parked (see
	// waitq.Gate). The Phaser does the same.
	gate waitq.Gate

	// procs caches parallelism(), re-read every refreshProcs generations.
	procs atomic.Int32

	// broken holds the records of the breaks that parties have yet to
	// read, and that of the current generation if it is broken, newest
	// last; nil when there are none. The slice is replaced, never changed,
	// under mu.
	broken atomic.Pointer[[]*brokenRecord]

	mu           sync.Mutex // protects gate's channels and resetPending; taken to park, wake, break and Reset
	resetPending bool       // Reset was called while the action ran
}

// Implementation notes, and designs rejected:
//
//   - Arriving is one CAS on one word, and the last arrival's CAS is also
//     the trip when there is no action: a round costs each party a CAS and
//     a poll of the same cache line, as a Phaser round does. Until
//     2026-12-06 one mutex guarded every arrival, and each round had a
//     generation object (reused from round to round); a 2-party round took
//     2-3x a Phaser's at 2 CPUs. Per-generation objects arrived at by CAS
//     (no mutex) measured no better: the objects, the pointer to the
//     current one and their reuse were three more cache lines a round.
//   - Breaks, Reset and the end of an action take mu; they move the word by
//     CAS too (an arrival may race them), or by a store where no arrival
//     can (a word that is tripping or broken changes only under mu).
//   - All the parties of a generation park on one channel that the end of
//     the generation closes, made only when the first party actually
//     parks: internal/waitq's Gate, the broadcast counterpart of the FIFO
//     queue every other blocking call of the module uses, and the same
//     cancellation contract. Parking each party on its own waiter of that
//     queue costs a waiter and a channel per party per round and wakes
//     them one by one: 2-4x slower (BenchmarkRound, impl=waitq). A party
//     whose ctx ends takes the lock and breaks the generation by CAS,
//     which fails if the trip came first.
//   - The action runs without the lock (CyclicBarrier.java holds its lock
//     through the action): a long action would otherwise hold a sync.Mutex
//     that new callers block on regardless of their ctx, and Waiting, Broken
//     or Reset called from the action would deadlock.

// New returns a barrier for parties parties (at least 1, at most 2^32-1).
// The barrier action, if not nil, is run by the last party to arrive in
// each generation, before any party of the generation is released. An
// action that returns an error or panics breaks the barrier.
//
// The action runs without the barrier's lock held, so it may call Waiting,
// Parties and Broken; a Reset it calls takes effect when it returns. It must
// not call Await on the same barrier: that call waits for the next
// generation, which cannot start until the action returns.
func New(parties int, action func() error) *Cyclic {
	if parties < 1 {
		panic("barrier: New with parties < 1")
	}
	if uint64(parties) > maxParties {
		panic("barrier: New with parties > 2^32-1")
	}
	b := &Cyclic{parties: parties, action: action}
	b.procs.Store(int32(parallelism()))
	return b
}

// Parties returns the number of parties needed to trip the barrier.
func (b *Cyclic) Parties() int { return b.parties }

// Waiting returns the number of parties that have arrived in the current
// generation and are waiting for the rest. While the last party runs the
// barrier action it is Parties(); in a broken barrier it is 0.
func (b *Cyclic) Waiting() int {
	w := b.word.Load()
	if statusOf(w) == genBroken {
		return 0
	}
	return arrivedOf(w)
}

// Broken reports whether the barrier is broken: a party gave up, or the
// barrier action failed, since the last Reset.
func (b *Cyclic) Broken() bool {
	return statusOf(b.word.Load()) == genBroken
}

// Await arrives at the barrier and waits until all Parties() parties have
// arrived, then returns this party's arrival index: 0 for the first party
// of the generation to arrive, Parties()-1 for the last, which ran the
// barrier action before anyone was released. (Java's CyclicBarrier counts
// the other way, from getParties()-1 down to 0; either way every index of
// [0, Parties()) is returned exactly once per generation.) On error the
// index is -1.
//
// Await fails in these ways:
//   - ctx ends before the generation trips: Await returns the ctx error
//     (errors.Is(err, ctx.Err()) holds) and breaks the generation: every
//     other party of it returns ErrBroken. A ctx that is already done when
//     Await is called fails it the same way, even if this party would have
//     been the last. A trip that raced with the cancellation wins: Await
//     then succeeds.
//   - the barrier is broken, or breaks while this party waits: Await
//     returns a *BrokenError (errors.Is(err, ErrBroken)) saying why.
//   - this party is the last and the barrier action fails: Await returns
//     the action's error, or a panic in the action as an error carrying
//     the panic value and the stack; the other parties get ErrBroken.
//
// Unlike most blocking calls of this module, a failed Await does change
// the barrier: it breaks it. That is the all-or-none model; the
// alternative, a party that silently withdraws, leaves the others waiting
// for someone who is not coming.
//
// A call made while the last party of the previous generation runs the
// barrier action waits for the action to finish and then arrives in the
// next generation. If its ctx ends during that wait it returns the ctx
// error without breaking anything: it has not arrived anywhere.
//
// A party that is not the last polls briefly before it parks: it yields
// the processor a few times (so that the parties still to come can run and
// arrive), and first busy-waits for a few hundred nanoseconds if there are
// no more parties than processors, so that every party can be running at
// once. Parties that arrive close
// together get a short round trip; a party that waits longer parks and
// burns no CPU. The bounds come from internal/backoff.
func (b *Cyclic) Await(ctx context.Context) (int, error) {
	if b.parties == 0 {
		panic("barrier: Await on a Cyclic not made by New")
	}
	var bo backoff.Backoff
	for {
		if ctx.Err() != nil {
			// Rule 2 of the cancellation contract: a done ctx fails the
			// call. The party cannot take part in this generation, so it
			// breaks it, as an interrupted await does in
			// CyclicBarrier.java.
			err := waitq.Err(ctx)
			b.mu.Lock()
			b.breakCurrentLocked(&BrokenError{Cause: err, reason: brokenByContext, party: -1})
			b.mu.Unlock()
			return -1, err
		}
		w := b.word.Load()
		switch statusOf(w) {
		case genOpen:
			index := arrivedOf(w)
			last := index+1 == b.parties
			next := w + 1
			if last {
				if b.action == nil {
					next = nextGen(w)
				} else {
					next = withStatus(next, genTripping)
				}
			}
			testhook.Yield() // between the load and the arriving CAS
			if !b.word.CompareAndSwap(w, next) {
				bo.Spin() // another arrival, a break or a Reset came first
				continue
			}
			gen := genOf(w)
			switch {
			case !last:
				// Busy-wait only if every party can be running at once:
				// with more parties than processors, the ones still to
				// come may be queued on this very processor, behind the
				// busy-waiting party (see pollFor).
				return b.wait(ctx, gen, index, pollFor(b.parties, int(b.procs.Load())))
			case b.action == nil:
				b.release(gen) // the CAS tripped it
				return index, nil
			default:
				return b.trip(gen, index)
			}
		case genTripping:
			// The last party of the previous round is running the action;
			// this call belongs to the next round, which starts when the
			// action returns. If ctx ends first, the call fails without
			// breaking anything: it has not arrived anywhere.
			if _, err := b.awaitEnd(ctx, genOf(w), pollYield); err != nil {
				return -1, err
			}
			if ctx.Err() != nil {
				// ctx ended while the action ran, and the end of the
				// action was seen first: still a wait that ctx ended,
				// before this call arrived anywhere.
				return -1, waitq.Err(ctx)
			}
		default: // genBroken
			if r := b.record(genOf(w)); r != nil {
				return -1, r.err
			}
			// A Reset moved on and dropped the record since the load
			// (it keeps a broken generation's record while it is
			// current): look again.
		}
	}
}

// ended reports whether generation gen has ended in state w: it tripped
// (the word has moved on) or broke.
func ended(w, gen uint64) bool { return genOf(w) != gen || statusOf(w) == genBroken }

// awaitEnd waits until generation gen has ended and returns the word then,
// or returns the ctx error if ctx ends first (a nil ctx never does). It
// polls the word as how says before it parks (see spinUntil).
func (b *Cyclic) awaitEnd(ctx context.Context, gen uint64, how poll) (uint64, error) {
	var w uint64
	over := func() bool { w = b.word.Load(); return ended(w, gen) }
	if spinUntil(how, over) {
		return w, nil
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	if b.gate.Park(&b.mu, int(gen&1), done, over) {
		return w, nil
	}
	return w, waitq.Err(ctx)
}

// wait blocks a party that arrived in generation gen, not the last, until
// gen ends or ctx ends.
func (b *Cyclic) wait(ctx context.Context, gen uint64, index int, how poll) (int, error) {
	w, err := b.awaitEnd(ctx, gen, how)
	if err != nil {
		testhook.Yield() // the trip may land between the cancelled wait and here
		b.mu.Lock()
		broke := b.breakLocked(gen, &BrokenError{Cause: err, reason: brokenByContext, party: index})
		b.mu.Unlock()
		if broke {
			// The ctx ended first: this party gives up and takes the
			// generation down with it.
			return -1, err
		}
		// Everyone arrived before the cancellation was seen: the trip
		// wins. If the action is still running, wait for it, whose
		// effects must be visible before this party returns.
		w, _ = b.awaitEnd(nil, gen, pollYield)
	}
	return b.result(gen, index, w)
}

// result is what a party that arrived in generation gen returns once the
// word w shows that gen has ended.
func (b *Cyclic) result(gen uint64, index int, w uint64) (int, error) {
	var r *brokenRecord
	if genOf(w) != gen {
		// Tripped, unless it broke and a Reset moved on since.
		if r = b.findRecord(gen); r == nil {
			return index, nil
		}
	} else {
		r = b.record(gen) // broken
	}
	if r.pending.Add(-1) == 0 {
		// The last reader drops the record (unless its generation is
		// still current and broken: then the next Reset does). A record
		// kept after its readers were done would, once the generation
		// number wraps, turn a later trip of the same number into a
		// break.
		b.mu.Lock()
		b.pruneLocked()
		b.mu.Unlock()
	}
	return -1, r.err
}

// record returns the record of generation gen, which the caller saw broken
// in the word. It is nil only if a Reset has moved on since and no party
// of gen still needed the record.
func (b *Cyclic) record(gen uint64) *brokenRecord {
	if r := b.findRecord(gen); r != nil {
		return r
	}
	// The breaker publishes the record right after its CAS, still holding
	// mu: once mu is free, it is there.
	b.mu.Lock()
	b.mu.Unlock() //nolint:staticcheck // an empty critical section: waiting for the breaker
	return b.findRecord(gen)
}

// findRecord returns the record of generation gen, or nil.
func (b *Cyclic) findRecord(gen uint64) *brokenRecord {
	if rs := b.broken.Load(); rs != nil {
		for _, r := range *rs {
			if r.gen == gen {
				return r
			}
		}
	}
	return nil
}

// release wakes the goroutines parked for the end of generation gen, for a
// party that ended it by CAS without holding mu.
func (b *Cyclic) release(gen uint64) {
	testhook.Yield() // between the ending CAS and the look at the gate
	if b.gate.Parked() {
		b.mu.Lock()
		b.closeLocked(gen)
		b.mu.Unlock()
	}
	if gen%refreshProcs == 0 {
		b.procs.Store(int32(parallelism()))
	}
}

// closeLocked closes the channel of generation gen's waiters, if any. Call
// it under b.mu, after gen has ended.
func (b *Cyclic) closeLocked(gen uint64) { b.gate.Open(int(gen & 1)) }

// trip is called by the last party to arrive in generation gen when there
// is an action; its CAS marked gen tripping.
func (b *Cyclic) trip(gen uint64, index int) (int, error) {
	// Run the action without the lock, so that it may call Waiting or
	// Broken, and so that a long action does not hold a sync.Mutex that
	// other calls would block on without regard to their ctx.
	err := b.runAction(gen)
	b.mu.Lock()
	b.finishLocked(gen, err)
	b.mu.Unlock()
	if err != nil {
		return -1, err
	}
	return index, nil
}

// runAction runs the barrier action and returns its error, or its panic as
// a *panics.Error. If the action calls runtime.Goexit, the goroutine
// unwinds through here; the deferred call then breaks the generation so
// that the other parties are not left waiting.
func (b *Cyclic) runAction(gen uint64) (err error) {
	returned := false
	defer func() {
		if !returned {
			b.mu.Lock()
			b.finishLocked(gen, errGoexit)
			b.mu.Unlock()
		}
	}()
	if p := panics.Try(func() { err = b.action() }); p != nil {
		err = p
	}
	returned = true
	return err
}

// finishLocked ends tripping generation gen with the action's outcome. Only
// the tripping party changes a tripping word, and it holds mu, so plain
// stores do.
func (b *Cyclic) finishLocked(gen uint64, err error) {
	w := b.word.Load()
	switch {
	case err == nil:
		b.word.Store(nextGen(w))
	case b.resetPending:
		// A Reset that came while the action ran takes effect now, as if
		// it had been called just after the trip: it mends the generation
		// the action broke. The word goes straight to the next generation,
		// so that no caller after the Reset sees the barrier broken; the
		// parties of this one learn of the break from the record, which
		// is published first. With one party there are none, and nothing
		// would ever read or prune the record: after the generation
		// number wrapped, the same number broken again handed out its old
		// cause.
		if b.parties > 1 {
			b.publishLocked(gen, b.actionError(err), b.parties-1)
		}
		b.word.Store(nextGen(w))
	default:
		b.word.Store(withStatus(w, genBroken))
		// The party that ran the action gets its error, not the record.
		b.publishLocked(gen, b.actionError(err), b.parties-1)
	}
	b.resetPending = false // a fresh generation has nothing to reset
	b.closeLocked(gen)
	if gen%refreshProcs == 0 {
		b.procs.Store(int32(parallelism()))
	}
}

// actionError is the cause of a break by the action's error err.
func (b *Cyclic) actionError(err error) *BrokenError {
	reason := brokenByAction
	if err == errGoexit {
		reason = brokenByGoexit
	}
	return &BrokenError{Cause: err, reason: reason, party: -1}
}

// breakLocked breaks generation gen with err if it is current and open,
// and reports whether it did; a generation that tripped (or broke) first is
// left as it is. Call it under b.mu. A broken generation stays current:
// later calls get its error until Reset.
func (b *Cyclic) breakLocked(gen uint64, err *BrokenError) bool {
	for {
		w := b.word.Load()
		if genOf(w) != gen || statusOf(w) != genOpen {
			return false
		}
		testhook.Yield() // between the load and the breaking CAS
		if b.word.CompareAndSwap(w, withStatus(w, genBroken)) {
			pending := arrivedOf(w)
			if err.party >= 0 {
				pending-- // the party that broke it returns its ctx error
			}
			b.publishLocked(gen, err, pending)
			b.closeLocked(gen)
			return true
		}
		// An arrival came first: look again.
	}
}

// breakCurrentLocked breaks the current generation if it is open, for a
// caller that has not arrived (its ctx was done at entry). Call it under
// b.mu.
func (b *Cyclic) breakCurrentLocked(err *BrokenError) {
	for {
		w := b.word.Load()
		if statusOf(w) != genOpen || b.breakLocked(genOf(w), err) {
			return // tripping (the trip wins), broken already, or broken now
		}
	}
}

// publishLocked publishes the record of the break of generation gen, which
// pending parties are still to read. Call it under b.mu, right after the
// word shows the break.
func (b *Cyclic) publishLocked(gen uint64, err *BrokenError, pending int) {
	r := &brokenRecord{gen: gen, err: err}
	r.pending.Store(int64(pending))
	rs := b.keptLocked()
	rs = append(rs, r)
	b.broken.Store(&rs)
}

// pruneLocked drops the records that nobody needs any more. Call it under
// b.mu.
func (b *Cyclic) pruneLocked() {
	rs := b.keptLocked()
	if len(rs) == 0 {
		b.broken.Store(nil)
		return
	}
	b.broken.Store(&rs)
}

// keptLocked returns a fresh slice of the records still needed: those with
// parties still to read them, and that of the current generation if it is
// broken (every call gets its error).
func (b *Cyclic) keptLocked() []*brokenRecord {
	old := b.broken.Load()
	if old == nil {
		return nil
	}
	w := b.word.Load()
	var kept []*brokenRecord
	for _, r := range *old {
		if r.pending.Load() > 0 || (r.gen == genOf(w) && statusOf(w) == genBroken) {
			kept = append(kept, r)
		}
	}
	return kept
}

// Reset returns the barrier to its initial state. Parties waiting in the
// current generation are released with ErrBroken (the cause says Reset), a
// broken barrier is mended, and the next Await starts a fresh generation.
//
// If the last party of the generation is running the barrier action, the
// generation has already tripped: Reset does not break it, and takes
// effect when the action returns (so a barrier broken by that action is
// mended).
//
// Resetting a barrier while its parties are still using it is rarely what
// a program wants: parties that were about to arrive join the fresh
// generation while others have been told the old one broke. It is simpler
// to make a new barrier.
//
// Reset on a Cyclic not made by New panics, as Await on one does.
func (b *Cyclic) Reset() {
	if b.parties == 0 {
		panic("barrier: Reset on a Cyclic not made by New")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		w := b.word.Load()
		switch statusOf(w) {
		case genTripping:
			// Committed: the trip wins; the Reset takes effect when the
			// action returns (finishLocked).
			b.resetPending = true
			return
		case genOpen:
			if arrivedOf(w) == 0 {
				return // nothing to reset
			}
			if !b.breakLocked(genOf(w), &BrokenError{reason: brokenByReset, party: -1}) {
				continue // an arrival moved the word first: look again
			}
			w = b.word.Load() // broken now; only mu holders change it
		}
		// Broken: start a fresh generation.
		b.word.Store(nextGen(w))
		b.pruneLocked()
		return
	}
}

// noCopy may be added to structs which must not be copied after first use;
// go vet's -copylocks checker reports copies. It must not be embedded, so
// that Lock and Unlock do not become methods of the outer type.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
