package barrier

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// ErrTerminated is returned by a Phaser's waiting methods when the phaser
// is terminated: its last party deregistered, its OnAdvance function asked
// for termination, or ForceTermination was called.
var ErrTerminated = errors.New("barrier: phaser terminated")

// MaxParties is the most parties a Phaser can have registered at once.
const MaxParties = 1<<16 - 1

// The phaser's whole state is one 64-bit word, changed only by
// compare-and-swap, as in java.util.concurrent.Phaser (whose layout this
// follows, with an explicit advancing bit where Java uses an EMPTY
// encoding, so that the zero word is a usable phaser with no parties).
//
//	bit  63     terminated: no more phases; every method returns at once
//	bits 33-62  phase (30 bits; after maxPhase it wraps to 0)
//	bit  32     advancing: every registered party has arrived and the
//	            OnAdvance function is running; Register and Arrive wait
//	            until it returns, then act on the next phase
//	bits 16-31  parties registered
//	bits  0-15  parties registered but not yet arrived in this phase
//
// Invariants: unarrived <= parties; unarrived == 0 only when parties == 0
// or the phaser is advancing (the arrival that takes unarrived to zero
// advances the phase, in the same CAS when there is no OnAdvance function).
const (
	unarrivedMask = 1<<16 - 1
	partiesShift  = 16
	advancingBit  = uint64(1) << 32
	phaseShift    = 33
	maxPhase      = 1<<30 - 1
	terminatedBit = uint64(1) << 63

	oneArrival    = uint64(1)                      // an arrival: unarrived - 1
	oneParty      = uint64(1) << partiesShift      // parties + 1
	oneDeregister = oneArrival | oneParty          // arrive and leave
	oneRegister   = oneArrival | oneParty          // join, unarrived in this phase
	phaseMask     = uint64(maxPhase) << phaseShift // the phase field
)

func unarrivedOf(s uint64) int     { return int(s & unarrivedMask) }
func partiesOf(s uint64) int       { return int(s>>partiesShift) & unarrivedMask }
func phaseOf(s uint64) int         { return int(s>>phaseShift) & maxPhase }
func isTerminated(s uint64) bool   { return s&terminatedBit != 0 }
func isAdvancing(s uint64) bool    { return s&advancingBit != 0 }
func nextPhase(phase int) int      { return (phase + 1) & maxPhase }
func phaseBits(phase int) uint64   { return uint64(phase) << phaseShift }
func countBits(parties int) uint64 { return uint64(parties)<<partiesShift | uint64(parties) }

// reportedPhase is the phase number the API reports for state s: the phase,
// or, once terminated, the final phase plus math.MinInt32, a negative number
// from which the final phase can still be recovered (as in Java).
func reportedPhase(s uint64) int {
	if isTerminated(s) {
		return phaseOf(s) + math.MinInt32
	}
	return phaseOf(s)
}

// Phaser is a reusable barrier whose set of parties may change while it
// runs, after java.util.concurrent.Phaser: parties Register and
// ArriveAndDeregister at any time, and each phase advances when every party
// registered in it has arrived. Arrival and waiting are separate: Arrive
// does not wait, AwaitAdvance waits without arriving (so goroutines that
// are not parties can wait for a phase too), and ArriveAndAwaitAdvance does
// both, like a Cyclic's Await.
//
// Phases are numbered from 0; the number wraps to 0 after 2^30-1. When the
// last party deregisters, the phaser terminates (unless an OnAdvance
// function decides otherwise): every waiter returns ErrTerminated, and the
// methods that return a phase return a negative number. ForceTermination
// terminates it at once.
//
// Unlike a Cyclic, a Phaser never breaks: a party whose ctx ends while it
// waits just stops waiting (see ArriveAndAwaitAdvance), and the others go
// on. It has no per-phase action; an OnAdvance function passed to
// NewPhaser runs at each advance and can terminate the phaser. Java's
// tiering of phasers beyond 65535 parties is not offered; MaxParties is the
// limit.
//
// The zero value is a phaser with no registered parties at phase 0, whose
// only advance policy is to terminate when the last party deregisters. A
// Phaser must not be copied after first use.
//
// In the terminology of the Go memory model, every arrival in a phase (by
// Arrive, ArriveAndDeregister or ArriveAndAwaitAdvance) synchronizes before
// the OnAdvance call of that phase, which synchronizes before every wait for
// that phase's advance returns and before every call that observes the new
// phase. Calls that fail with a ctx error establish nothing.
type Phaser struct {
	_ noCopy

	state     atomic.Uint64                    // see the layout above
	onAdvance func(phase, registered int) bool // immutable; nil: terminate when registered == 0

	// gate parks the goroutines waiting for a phase to end, all on one
	// channel per phase, by parity (as Java's evenQ and oddQ); an advance
	// opens it under mu, taking mu only when somebody is parked (see
	// waitq.Gate).
	gate waitq.Gate

	// procs caches parallelism() (0: not read yet); reset every
	// refreshProcs phases. A waiter busy-waits only if every goroutine
	// involved can be running at once: all the parties, plus the caller
	// when it is not a party (AwaitAdvance).
	procs atomic.Int32

	mu sync.Mutex // protects gate's channels
}

// NewPhaser returns a phaser with parties parties registered (0 to
// MaxParties) at phase 0.
//
// onAdvance, if not nil, is called at each advance, by the party whose
// arrival completed the phase, with the phase that is ending and the number
// of parties registered for the next one; the phaser terminates if it
// returns true. Java's default (used when onAdvance is nil) is to terminate
// when registered is 0. An onAdvance that runs a fixed number of phases:
//
//	func(phase, registered int) bool { return phase+1 >= n || registered == 0 }
//
// While onAdvance runs, the phase has not yet advanced: Register and Arrive
// calls wait for it to return. It may read the phaser (Phase, Registered,
// and so on) but must not call Register, Arrive, ArriveAndDeregister or a
// waiting method, which would wait for onAdvance itself. If onAdvance
// panics, the phaser is terminated (so no waiter is left waiting) and the
// panic continues in the party that was advancing it.
func NewPhaser(parties int, onAdvance func(phase, registered int) bool) *Phaser {
	if parties < 0 || parties > MaxParties {
		panic("barrier: NewPhaser with parties out of range [0, MaxParties]")
	}
	p := &Phaser{onAdvance: onAdvance}
	p.state.Store(countBits(parties))
	return p
}

// Phase returns the current phase number; negative once the phaser is
// terminated (the final phase plus math.MinInt32).
func (p *Phaser) Phase() int { return reportedPhase(p.state.Load()) }

// Registered returns the number of registered parties.
func (p *Phaser) Registered() int { return partiesOf(p.state.Load()) }

// Unarrived returns the number of registered parties that have not yet
// arrived in the current phase.
func (p *Phaser) Unarrived() int { return unarrivedOf(p.state.Load()) }

// Arrived returns the number of registered parties that have arrived in the
// current phase.
func (p *Phaser) Arrived() int {
	s := p.state.Load()
	return partiesOf(s) - unarrivedOf(s)
}

// IsTerminated reports whether the phaser is terminated.
func (p *Phaser) IsTerminated() bool { return isTerminated(p.state.Load()) }

// Register adds a party, unarrived in the current phase, and returns the
// phase it joined. If the phaser is terminated it does nothing and returns
// a negative number. If an OnAdvance function is running, Register waits
// for it and joins the next phase. Registering more than MaxParties panics.
func (p *Phaser) Register() int {
	for {
		s := p.state.Load()
		switch {
		case isTerminated(s):
			return reportedPhase(s)
		case isAdvancing(s):
			p.awaitPhase(nil, phaseOf(s), pollBusy)
			continue
		case partiesOf(s) == MaxParties:
			panic("barrier: Register of more than MaxParties parties")
		}
		if p.state.CompareAndSwap(s, s+oneRegister) {
			return phaseOf(s)
		}
	}
}

// Arrive records the arrival of a party in the current phase without
// waiting for the others, and returns the phase it arrived in. If it is the
// last party to arrive, the phase advances (and OnAdvance runs) before
// Arrive returns. If the phaser is terminated it does nothing and returns a
// negative number. If an OnAdvance function is running (every registered
// party has arrived), Arrive waits for it to return and arrives in the next
// phase. Arrive with no registered party is a bug and panics.
func (p *Phaser) Arrive() int {
	phase, _, _, _ := p.arrive(nil, oneArrival)
	return phase
}

// ArriveAndDeregister records the arrival of a party and removes it, and
// returns the phase it arrived in. If no party is left, the phase advances
// and the phaser terminates (unless an OnAdvance function says otherwise).
// Otherwise as Arrive.
func (p *Phaser) ArriveAndDeregister() int {
	phase, _, _, _ := p.arrive(nil, oneDeregister)
	return phase
}

// arrive records one arrival (and a deregistration when adjust says so) and
// reports the arrival phase, whether this call advanced it, and how many
// parties are registered in it (0 when it advanced, or when the phaser was
// terminated). A negative phase means the phaser was terminated before the
// arrival.
//
// A call with a ctx (ArriveAndAwaitAdvance; nil for Arrive) that has to
// wait for OnAdvance before it can arrive waits with it: if ctx ends first,
// arrive returns the current phase and the ctx error, having arrived
// nowhere. (It used to wait for OnAdvance whatever its ctx did, and then
// arrive, so a call whose ctx had ended could still complete a phase.)
func (p *Phaser) arrive(ctx context.Context, adjust uint64) (phase int, advanced bool, parties int, err error) {
	for {
		s := p.state.Load()
		if isTerminated(s) {
			return reportedPhase(s), false, 0, nil
		}
		if isAdvancing(s) {
			// Every party registered in this phase has arrived: this is
			// an arrival for the next phase, which starts when OnAdvance
			// returns. (Java throws IllegalStateException here, a race
			// that a correct program using Arrive could lose.)
			if _, err := p.awaitPhase(ctx, phaseOf(s), pollBusy); err != nil {
				return p.Phase(), false, 0, err
			}
			if ctx != nil && ctx.Err() != nil {
				// OnAdvance returned, but ctx ended first.
				return p.Phase(), false, 0, waitq.Err(ctx)
			}
			continue
		}
		unarrived := unarrivedOf(s)
		if unarrived == 0 {
			if adjust == oneDeregister {
				panic("barrier: ArriveAndDeregister with no registered party")
			}
			panic("barrier: Arrive with no registered party")
		}
		phase = phaseOf(s)
		testhook.Yield() // between the load and the CAS
		if unarrived > 1 {
			if p.state.CompareAndSwap(s, s-adjust) {
				return phase, false, partiesOf(s), nil
			}
			continue
		}
		// The last arrival of the phase: advance.
		next := partiesOf(s - adjust) // parties registered for the next phase
		if p.onAdvance != nil {
			// Announce the advance, run OnAdvance without holding anything,
			// then publish the next phase (Phaser.java, doArrive).
			if !p.state.CompareAndSwap(s, s&(phaseMask|terminatedBit)|advancingBit|uint64(next)<<partiesShift) {
				continue
			}
			p.advanceWithHook(phase, next)
			return phase, true, 0, nil
		}
		n := phaseBits(nextPhase(phase)) | countBits(next)
		if next == 0 {
			n |= terminatedBit // default policy: terminate when the last party leaves
		}
		if p.state.CompareAndSwap(s, n) {
			p.release(phase, isTerminated(n))
			return phase, true, 0, nil
		}
	}
}

// advanceWithHook runs OnAdvance for the ending phase, whose state word the
// caller has marked advancing, and publishes the next phase.
func (p *Phaser) advanceWithHook(phase, registered int) {
	finished := false
	defer func() {
		if !finished {
			// OnAdvance panicked (or called runtime.Goexit): terminate, so
			// that no party waits for a phase that will never come, and
			// let the panic go on.
			p.publishAdvance(phase, registered, true)
		}
	}()
	terminate := p.onAdvance(phase, registered)
	finished = true
	p.publishAdvance(phase, registered, terminate)
}

// publishAdvance ends an advance begun by setting the advancing bit. Only
// ForceTermination can change the word meanwhile (everyone else waits for
// the advance); if it did, the phaser stays terminated at the old phase.
func (p *Phaser) publishAdvance(phase, registered int, terminate bool) {
	s := p.state.Load()
	n := phaseBits(nextPhase(phase)) | countBits(registered)
	if terminate {
		n |= terminatedBit
	}
	testhook.Yield() // loaded; a ForceTermination may set its bit now
	if !isTerminated(s) && p.state.CompareAndSwap(s, n) {
		p.release(phase, terminate)
		return
	}
	if !isTerminated(p.state.Load()) {
		panic("barrier: inconsistent phaser state")
	}
}

// parallelism returns the cached parallelism().
func (p *Phaser) parallelism() int {
	if n := p.procs.Load(); n != 0 {
		return int(n)
	}
	n := parallelism()
	p.procs.Store(int32(n))
	return n
}

// release wakes the goroutines parked for the end of phase (all of them,
// when the phaser terminated).
func (p *Phaser) release(phase int, terminated bool) {
	if phase%refreshProcs == 0 {
		p.procs.Store(0) // re-read parallelism() now and then
	}
	testhook.Yield() // between the advancing CAS and the look at the gate
	if !p.gate.Parked() {
		return
	}
	p.mu.Lock()
	p.gate.Open(phase & 1)
	if terminated {
		p.gate.Open(1 - phase&1) // the waiters for the next phase too
	}
	p.mu.Unlock()
}

// AwaitAdvance waits for the phaser to advance from phase and returns the
// phase it is in then. If the current phase is not phase, it returns the
// current phase at once; the caller need not be a party, and the wait
// arrives nowhere.
//
// It returns ErrTerminated (and a negative phase) when the phaser is or
// becomes terminated, or when phase is negative (as returned by a
// terminated phaser). If ctx ends first it returns phase and the ctx error,
// and the phaser is unchanged; a ctx that is already done fails the call
// even when the phase has already advanced.
func (p *Phaser) AwaitAdvance(ctx context.Context, phase int) (int, error) {
	if ctx.Err() != nil {
		return phase, waitq.Err(ctx)
	}
	if phase < 0 {
		return phase, ErrTerminated
	}
	s := p.state.Load()
	if phaseOf(s) == phase && !isTerminated(s) {
		var err error
		// The caller is not a party here: it needs a processor of its own
		// besides the parties' to busy-wait without delaying them.
		if s, err = p.awaitPhase(ctx, phase, pollFor(partiesOf(s)+1, p.parallelism())); err != nil {
			return phase, err
		}
	}
	if isTerminated(s) {
		return reportedPhase(s), ErrTerminated
	}
	return phaseOf(s), nil
}

// ArriveAndAwaitAdvance arrives, as Arrive, and waits for the others to
// arrive, and returns the phase the party is now in (the arrival phase plus
// one), like a Cyclic's Await. If it terminated the phaser, or the phaser
// is or becomes terminated, it returns a negative phase and ErrTerminated.
//
// If ctx ends before the phase advances, the arrival is withdrawn: the call
// returns the current phase and the ctx error, the party is again unarrived
// in this phase (it may arrive again, or deregister), and the phaser is as
// if the call had never been made. (Java's arriveAndAwaitAdvance cannot be
// interrupted at all.) If the phase advanced before the cancellation took
// effect, the advance wins and the call succeeds. A ctx that is already done
// fails the call before it arrives, and so does one that ends while the
// call waits for the previous phase's OnAdvance to return before it can
// arrive. With no registered party it panics, as Arrive does, whatever
// ctx is: that is a bug, not a run-time condition.
func (p *Phaser) ArriveAndAwaitAdvance(ctx context.Context) (int, error) {
	if s := p.state.Load(); unarrivedOf(s) == 0 && !isAdvancing(s) && !isTerminated(s) {
		// No party registered (the invariant: unarrived is 0 only then,
		// or while advancing). arrive panics the same way; check here
		// first so that a done ctx does not hide the misuse.
		panic("barrier: Arrive with no registered party")
	}
	if ctx.Err() != nil {
		return p.Phase(), waitq.Err(ctx)
	}
	phase, advanced, parties, err := p.arrive(ctx, oneArrival)
	if err != nil {
		return phase, err
	}
	if phase < 0 {
		return phase, ErrTerminated
	}
	var s uint64
	if advanced {
		s = p.state.Load()
	} else {
		var err error
		// Busy-wait only if every party can be running at once (see
		// Cyclic.Await).
		s, err = p.awaitPhase(ctx, phase, pollFor(parties, p.parallelism()))
		if err != nil {
			if s, err = p.withdraw(phase, err); err != nil {
				return phase, err
			}
		}
	}
	if isTerminated(s) {
		return reportedPhase(s), ErrTerminated
	}
	return nextPhase(phase), nil
}

// withdraw takes back an arrival in phase after the wait for its advance
// was cancelled with err. If the phase has advanced (or is advancing, or
// the phaser terminated) meanwhile, the advance wins: it returns the state
// after it and a nil error.
func (p *Phaser) withdraw(phase int, err error) (uint64, error) {
	for {
		testhook.Yield() // the advance may land between the cancelled wait and here
		s := p.state.Load()
		switch {
		case isTerminated(s) || phaseOf(s) != phase:
			return s, nil
		case isAdvancing(s):
			s, _ = p.awaitPhase(nil, phase, pollBusy)
			return s, nil
		}
		// Still this phase, and this party's arrival is counted in it, so
		// unarrived < parties and the increment cannot overflow.
		if p.state.CompareAndSwap(s, s+oneArrival) {
			return s + oneArrival, err
		}
	}
}

// awaitPhase waits until the phaser leaves phase (advances or terminates)
// and returns its state then, or returns the ctx error if ctx ends first.
// A nil ctx waits without a deadline. It polls the state briefly before it
// parks, as how says (see spinUntil and pollFor).
func (p *Phaser) awaitPhase(ctx context.Context, phase int, how poll) (uint64, error) {
	var s uint64
	ended := func() bool {
		s = p.state.Load()
		return phaseOf(s) != phase || isTerminated(s)
	}
	if spinUntil(how, ended) {
		return s, nil
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	if p.gate.Park(&p.mu, phase&1, done, ended) {
		return s, nil
	}
	return s, waitq.Err(ctx)
}

// ForceTermination terminates the phaser: waiters return ErrTerminated,
// and the methods that return a phase return a negative number from then
// on. Registered parties stay registered. It does nothing if the phaser is
// already terminated. If an OnAdvance function is running, the phase does
// not advance.
func (p *Phaser) ForceTermination() {
	for {
		s := p.state.Load()
		if isTerminated(s) {
			return
		}
		if p.state.CompareAndSwap(s, s|terminatedBit) {
			break
		}
	}
	p.mu.Lock()
	p.gate.Open(0)
	p.gate.Open(1)
	p.mu.Unlock()
}
