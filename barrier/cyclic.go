package barrier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/panics"
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

// Generation states. A generation is one round of the barrier: the Await
// calls that one trip releases. Every move happens under Cyclic.mu; the
// state is also an atomic word so that a party that has arrived can poll it
// without the lock while it spins.
//
//	state      | meaning                                  | next
//	-----------+------------------------------------------+---------------------
//	genOpen    | parties are arriving (arrived < parties) | genTripping,
//	           |                                          | genTripped, genBroken
//	genTripping| all arrived; the last one runs the       | genTripped, genBroken
//	           | action without the lock                  |
//	genTripped | released: every party gets (index, nil)  | (final)
//	genBroken  | released: the parties get ErrBroken      | (final)
//
// Only genOpen can be broken by a cancellation or by Reset: once the last
// party has arrived the generation is committed, and the trip beats any
// cancellation that raced with it (CyclicBarrier.java, dowait: an interrupt
// that comes after the trip "belongs to subsequent execution"). Only the
// action's outcome decides between genTripped and genBroken after that.
const (
	genOpen uint32 = iota
	genTripping
	genTripped
	genBroken
)

// generation is one round. A party holds a pointer to the generation it
// arrived in, so a new round never disturbs a party of the old one that has
// not looked yet (the shape of CyclicBarrier.java's Generation object).
type generation struct {
	state atomic.Uint32 // genOpen...genBroken; written under Cyclic.mu

	// done is closed when the generation ends (tripped or broken). It is
	// made under Cyclic.mu by the first party that parks, so a round whose
	// parties all found it ended while spinning allocates no channel.
	done chan struct{}
	err  error // why it broke (a *BrokenError); written before state becomes genBroken

	// leaving counts the parties of a tripped generation that have yet
	// to return; the last one hands the generation back to the barrier
	// for reuse (see Cyclic.spare). Set by the trip, before it ends g.
	leaving atomic.Int64
}

// closedChan stands in for done when a generation ended before anyone
// parked on it.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// doneChan returns the channel that is closed when g ends. Call it under
// Cyclic.mu.
func (g *generation) doneChan() chan struct{} {
	if g.done == nil {
		g.done = make(chan struct{})
	}
	return g.done
}

// end moves g to its final state and wakes every party parked on it. Call
// it under Cyclic.mu. The atomic store publishes err (and, for a trip, the
// action's effects) to the parties that poll state without the lock.
func (g *generation) end(state uint32, err error) {
	g.err = err
	g.state.Store(state)
	if g.done != nil {
		close(g.done)
	} else {
		g.done = closedChan
	}
}

// result is what a party other than the one that gave up returns once g has
// ended. It must be the party's last look at g: the last party to leave a
// tripped generation hands it back for reuse.
func (b *Cyclic) result(g *generation, index int) (int, error) {
	if g.state.Load() != genTripped {
		return -1, g.err // a broken generation is never reused
	}
	if g.leaving.Add(-1) == 0 {
		b.mu.Lock()
		g.state.Store(genOpen)
		g.done, g.err = nil, nil
		b.spare = g
		b.mu.Unlock()
	}
	return index, nil
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

	mu           sync.Mutex  // protects the fields below, and every generation's state moves
	gen          *generation // the current generation
	arrived      int         // parties that have arrived in gen (0 once it broke)
	resetPending bool        // Reset was called while gen was tripping
	spare        *generation // a tripped generation all of whose parties have left, for the next
	procs        int         // parallelism(), refreshed every refreshProcs generations
	trips        uint        // generations tripped, to time the refresh
}

// Implementation notes, and designs rejected:
//
//   - One mutex guards arrivals, breaks and Reset; the generation's state is
//     also an atomic word so that arrived parties poll it without the lock.
//     A lock-free arrival counter (a CAS per Await) measured no better
//     within this machine's noise and makes break-versus-arrival and
//     Reset-versus-trip races much harder to get right.
//   - All the parties of a generation park on one channel that the trip
//     closes, made only when the first party actually parks. Parking each
//     party on its own waiter of internal/waitq (the queue every other
//     blocking call of the module uses) costs a waiter and a channel per
//     party per round and wakes them one by one: 2-4x slower
//     (BenchmarkRound, impl=waitq). The cancellation contract is kept the
//     same way waitq keeps it: the state moves under the lock, and a party
//     whose ctx ends re-takes the lock and lets a trip that came first win.
//   - A tripped generation is reused: the last of its parties to return
//     hands it back (result), and the next trip takes it instead of
//     allocating one. A party holds its generation until it returns, so
//     counting the parties that have yet to return (leaving) is enough;
//     a broken generation stays current until Reset and is never reused.
//     The allocation was 15% of a 2-party round's CPU profile; without it
//     a round takes 15-19% less (BenchmarkRound, parties=2, -cpu 1,2).
//   - The action runs without the lock (CyclicBarrier.java holds its lock
//     through the action): a long action would otherwise hold a sync.Mutex
//     that new callers block on regardless of their ctx, and Waiting, Broken
//     or Reset called from the action would deadlock.

// New returns a barrier for parties parties (at least 1). The barrier
// action, if not nil, is run by the last party to arrive in each
// generation, before any party of the generation is released. An action
// that returns an error or panics breaks the barrier.
//
// The action runs without the barrier's lock held, so it may call Waiting,
// Parties and Broken; a Reset it calls takes effect when it returns. It must
// not call Await on the same barrier: that call waits for the next
// generation, which cannot start until the action returns.
func New(parties int, action func() error) *Cyclic {
	if parties < 1 {
		panic("barrier: New with parties < 1")
	}
	return &Cyclic{parties: parties, action: action, gen: new(generation), procs: parallelism()}
}

// Parties returns the number of parties needed to trip the barrier.
func (b *Cyclic) Parties() int { return b.parties }

// Waiting returns the number of parties that have arrived in the current
// generation and are waiting for the rest. While the last party runs the
// barrier action it is Parties(); in a broken barrier it is 0.
func (b *Cyclic) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.arrived
}

// Broken reports whether the barrier is broken: a party gave up, or the
// barrier action failed, since the last Reset.
func (b *Cyclic) Broken() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen.state.Load() == genBroken
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
	b.mu.Lock()
	g := b.gen
	for g.state.Load() == genTripping {
		// The last party of the previous round is running the action;
		// this call belongs to the next round, which starts when the
		// action returns.
		if ctx.Err() != nil {
			b.mu.Unlock()
			return -1, waitq.Err(ctx)
		}
		ch := g.doneChan()
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return -1, waitq.Err(ctx)
		}
		b.mu.Lock()
		g = b.gen
	}
	if ctx.Err() != nil {
		// Rule 2 of the cancellation contract: a done ctx fails the call.
		// The party cannot take part in this generation, so it breaks it,
		// as an interrupted await does in CyclicBarrier.java.
		err := waitq.Err(ctx)
		if g.state.Load() == genOpen {
			b.breakLocked(g, &BrokenError{Cause: err, reason: brokenByContext, party: -1})
		}
		b.mu.Unlock()
		return -1, err
	}
	if g.state.Load() == genBroken {
		b.mu.Unlock()
		return -1, g.err
	}
	index := b.arrived
	b.arrived++
	if b.arrived == b.parties {
		return b.trip(g, index)
	}
	// Busy-wait only if every party can be running at once: with more
	// parties than processors, the ones still to come may be queued on
	// this very processor, behind the busy-waiting party.
	relax := b.parties <= b.procs
	b.mu.Unlock()
	return b.wait(ctx, g, index, relax)
}

// wait blocks a party that arrived in g, not the last, until g ends or ctx
// ends: it spins briefly (see spinUntil), then parks.
func (b *Cyclic) wait(ctx context.Context, g *generation, index int, relax bool) (int, error) {
	if spinUntil(relax, func() bool { return g.state.Load() >= genTripped }) {
		return b.result(g, index)
	}
	// Park. Fetching the channel under the lock and re-checking the state
	// there is what makes a trip between the last poll and the park
	// impossible to miss: the trip also happens under the lock.
	b.mu.Lock()
	if g.state.Load() >= genTripped {
		b.mu.Unlock()
		return b.result(g, index)
	}
	ch := g.doneChan()
	b.mu.Unlock()
	return b.park(ctx, g, ch, index)
}

// park blocks a party that arrived in g on ch, g's done channel, until g
// ends or ctx ends.
func (b *Cyclic) park(ctx context.Context, g *generation, ch chan struct{}, index int) (int, error) {
	select {
	case <-ch:
		return b.result(g, index)
	case <-ctx.Done():
	}

	b.mu.Lock()
	switch g.state.Load() {
	case genOpen:
		// The ctx ended first: this party gives up and takes the
		// generation down with it.
		err := waitq.Err(ctx)
		b.breakLocked(g, &BrokenError{Cause: err, reason: brokenByContext, party: index})
		b.mu.Unlock()
		return -1, err
	case genTripping:
		// Everyone arrived before the cancellation was seen: the trip
		// wins. Wait for the action, whose effects must be visible before
		// this party returns.
		b.mu.Unlock()
		<-ch
		return b.result(g, index)
	default:
		// Tripped or broken before the cancellation was seen.
		b.mu.Unlock()
		return b.result(g, index)
	}
}

// trip is called by the last party to arrive in g, with b.mu held; it
// returns with b.mu released.
func (b *Cyclic) trip(g *generation, index int) (int, error) {
	if b.action == nil {
		b.nextLocked(g)
		b.mu.Unlock()
		return index, nil
	}
	// Run the action without the lock, so that it may call Waiting or
	// Broken, and so that a long action does not hold a sync.Mutex that
	// other calls would block on without regard to their ctx.
	g.state.Store(genTripping)
	b.mu.Unlock()
	err := b.runAction(g)
	b.mu.Lock()
	b.finishLocked(g, err)
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
func (b *Cyclic) runAction(g *generation) (err error) {
	returned := false
	defer func() {
		if !returned {
			b.mu.Lock()
			b.finishLocked(g, errGoexit)
			b.mu.Unlock()
		}
	}()
	if p := panics.Try(func() { err = b.action() }); p != nil {
		err = p
	}
	returned = true
	return err
}

// finishLocked ends a tripping generation with the action's outcome.
func (b *Cyclic) finishLocked(g *generation, err error) {
	if err == nil {
		b.nextLocked(g)
	} else {
		reason := brokenByAction
		if err == errGoexit {
			reason = brokenByGoexit
		}
		b.breakLocked(g, &BrokenError{Cause: err, reason: reason, party: -1})
	}
	if b.resetPending {
		// A Reset that came while the action ran takes effect now, as if
		// it had been called just after the trip.
		b.resetPending = false
		if b.gen == g {
			b.gen = new(generation)
			b.arrived = 0
		}
	}
}

// nextLocked trips g and starts the next generation.
func (b *Cyclic) nextLocked(g *generation) {
	b.arrived = 0
	if b.trips++; b.trips%refreshProcs == 0 {
		b.procs = parallelism()
	}
	if b.parties == 1 && g.done == nil {
		// Nobody else holds g: a 1-party generation has no waiting
		// parties, and a call that waited for the action to finish would
		// have made g.done. Reuse it, so that the uncontended path
		// allocates nothing.
		g.state.Store(genOpen)
		return
	}
	next := b.spare
	if next == nil {
		next = new(generation)
	}
	b.spare = nil
	b.gen = next
	g.leaving.Store(int64(b.parties - 1))
	g.end(genTripped, nil)
}

// breakLocked breaks g, which stays the current generation: later calls
// get its error until Reset.
func (b *Cyclic) breakLocked(g *generation, err *BrokenError) {
	b.arrived = 0
	g.end(genBroken, err)
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
func (b *Cyclic) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.gen
	switch g.state.Load() {
	case genTripping:
		b.resetPending = true
	case genOpen:
		if b.arrived > 0 {
			b.breakLocked(g, &BrokenError{reason: brokenByReset, party: -1})
			b.gen = new(generation)
		}
	case genBroken:
		b.gen = new(generation)
		b.arrived = 0
	}
}

// noCopy may be added to structs which must not be copied after first use;
// go vet's -copylocks checker reports copies. It must not be embedded, so
// that Lock and Unlock do not become methods of the outer type.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
