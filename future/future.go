package future

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// Completion states. A future is claimed exactly once, through one
// CompareAndSwap of state, and only the goroutine whose CompareAndSwap won
// writes val and err. It is done, and its result readable, once its
// callback stack is closed: the winner's Swap of head to the closed
// sentinel publishes val and err, detaches the callbacks, and makes the
// future complete for every reader, in one atomic operation.
//
//	state   | head          | meaning
//	--------+---------------+------------------------------------------------
//	pending | open          | no result yet; the zero value
//	claimed | open          | a completer won; it is writing val and err
//	claimed | closed        | done: val and err are published and immutable
//
// (pending with a closed stack never occurs.) A separate claim is what lets
// the result be written with plain stores after the winner is decided,
// without boxing it behind an atomic pointer (one allocation per future
// saved). A completer that loses while the winner is still writing waits
// for the close before it reports false, so that no one can learn the
// future is complete before its result is readable (see Future.complete).
const (
	statePending uint32 = iota // nobody has completed the future
	stateClaimed               // a completion won; see head for whether it is done
)

// Future is the result of a computation that may not have finished yet: a
// value of type T or an error, assigned once.
//
// A Future comes from a [Promise], from [Go], [GoContext], [Submit] or
// [SubmitContext], or from a combinator ([Then], [All], ...). The zero value
// is a pending future that only [Future.Cancel] can complete; it is of little
// use, and a Future must not be copied after first use.
//
// The first of its completions (a Promise's Resolve or Reject, the return
// of the function behind it, [Future.Cancel]) wins; the others report false
// and change nothing.
//
// Memory model: the completion that wins synchronizes before every
// [Future.Get] or [Future.TryGet] that returns the result, before every
// receive from [Future.Done] that observes the close, and before every
// continuation attached to the future runs. A TryGet that reports false and
// a Get that returns a ctx error establish nothing.
type Future[T any] struct {
	_ noCopy

	// head is first: every read path loads it. It is the top of a Treiber
	// stack of continuations (R. K. Treiber, "Systems Programming: Coping
	// with Parallelism", IBM RJ 5118, 1986), the structure
	// java.util.concurrent.CompletableFuture keeps in its "stack" field
	// (openjdk/jdk, src/java.base/share/classes/java/util/concurrent/
	// CompletableFuture.java). The winning completer swaps in the closed
	// sentinel after it writes the result and runs what it took off; a
	// push that meets the sentinel runs its node itself. Either way each
	// node runs exactly once. Nodes are only pushed, never popped one by
	// one (the Swap takes them all), so the stack has no ABA problem.
	head atomic.Pointer[node]

	// state is the claim: pending until a completion wins.
	state atomic.Uint32

	// done holds the channel Done returns, created by the first Done call
	// on a pending future and closed by a node on the stack.
	done atomic.Pointer[doneNode]

	val T     // written once by the winner, before head is closed
	err error // likewise
}

// noCopy makes go vet's copylocks check report copies of the types that
// hold it. Lock and Unlock are no-ops; noCopy must not be embedded.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// callback is a continuation on a callback stack.
type callback interface {
	// run is called exactly once, after the future the node was pushed on
	// is done, with the result readable. When run completes another future
	// it does not run that future's callbacks itself: it returns them,
	// detached, to the loop in runAll. That keeps a chain of 1e5 stages
	// completed at once iterative instead of 1e5 frames deep
	// (CompletableFuture.postComplete does the same: tryFire(NESTED) hands
	// the dependent back instead of recursing).
	run() *node
}

// node is one entry of a callback stack. Stages embed their node, so
// attaching a continuation allocates nothing beyond the stage itself.
type node struct {
	next *node
	cb   callback
}

// closed is the sentinel at the top of the stack of a done future.
var closed = &node{}

// push adds n to f's callback stack. It reports false when the stack is
// closed (f is done); the caller then owns n, with n.next nil, and must
// run it. (A push whose CompareAndSwap lost to the completer's Swap had set
// n.next to the top of the stack the completer took: left there, it kept
// that node's stage reachable from n's stage.)
func (f *Future[T]) push(n *node) bool {
	var bo backoff.Backoff
	for {
		h := f.head.Load()
		if h == closed {
			n.next = nil
			return false
		}
		n.next = h
		testhook.Yield() // window: a completion may close the stack here
		// The CompareAndSwap publishes n (and the stage behind it) to the
		// completer, whose Swap reads the head.
		if f.head.CompareAndSwap(h, n) {
			return true
		}
		bo.Spin()
	}
}

// attach pushes n, or runs it now if f is already done.
func (f *Future[T]) attach(n *node) {
	if !f.push(n) {
		runAll(n)
	}
}

// isDone reports whether f is complete. When it returns true, f's val and
// err are readable.
func (f *Future[T]) isDone() bool { return f.head.Load() == closed }

// settle tries to complete f with (v, err). If it wins, it publishes the
// result and returns true and f's callbacks, detached and not yet run; the
// caller must pass them to runAll (or return them from callback.run). If
// another completion won, settle returns false at once.
func (f *Future[T]) settle(v T, err error) (bool, *node) {
	if !f.state.CompareAndSwap(statePending, stateClaimed) {
		return false, nil
	}
	f.val, f.err = v, err
	testhook.Yield() // window: the result is decided but not yet visible
	// The Swap publishes val and err (every reader loads head first and
	// reads them only after it finds the sentinel) and takes the
	// callbacks pushed so far; later pushes find the sentinel.
	return true, f.head.Swap(closed)
}

// complete is settle for the public completions (Resolve, Reject, Cancel,
// the end of a Go function): it runs the callbacks, and a loser waits until
// the winner's result is visible before it reports false. Without that
// wait a Resolve could return false, and a TryGet that starts after it
// still report the future pending: not linearizable (the porcupine test
// with testhook catches it).
func (f *Future[T]) complete(v T, err error) bool {
	won, list := f.settle(v, err)
	if !won {
		f.waitCompleting()
		return false
	}
	testhook.Yield() // window: complete, callbacks not yet run
	if list != nil {
		runAll(list)
	}
	return true
}

// waitCompleting returns once f, which another completion has claimed, is
// done. The winner is between its claim and its Swap, a few stores, so
// this spins briefly, and then yields until the winner has run them (it
// may have been preempted there).
//
// It does not park on the Done channel, which a node on the callback stack
// closes once the winner has taken the stack: the loser needs only the
// winner's Swap, and the winner is runnable (nothing between its claim
// and its Swap blocks), so yielding lets it finish, even at GOMAXPROCS=1.
func (f *Future[T]) waitCompleting() {
	var bo backoff.Backoff
	for !f.isDone() {
		if bo.Completed() {
			runtime.Gosched()
			continue
		}
		bo.Snooze()
	}
}

// runAll runs a detached callback stack, and the stacks its callbacks hand
// back, in one loop. Nodes run in the order they were attached (the stack
// is LIFO, so each batch is reversed onto the front of the work list), and
// depth first: the callbacks of a future completed by a callback run before
// the next sibling. The exceptions are the nodes that only wake goroutines
// waiting for the future (the Done channel's, and those of Gets parked
// with a ctx that cannot end): they run as soon as their stack is taken,
// before the continuations in it, so that a waiter is not held up by a
// continuation attached before it began to wait (one that waited for the
// waiter deadlocked with it).
func runAll(list *node) {
	// Fast path: a single callback, the common case (one continuation, or
	// the combinator node of a future in All). If it calls runtime.Goexit
	// nothing else is pending here, so it needs no deferred call.
	for list != nil && list.next == nil {
		list = list.cb.run()
	}
	if list != nil {
		runLoop(list)
	}
}

func runLoop(list *node) {
	var work *node
	push := func(l *node) {
		for l != nil {
			next := l.next
			if wakesWaiter(l.cb) {
				l.next = nil
				l.cb.run() // closes a channel or wakes a WaitGroup: nothing to hand back
			} else {
				l.next = work
				work = l
			}
			l = next
		}
	}
	push(list)
	// If a callback's function calls runtime.Goexit, the goroutine unwinds
	// from the middle of this loop; the deferred call runs the callbacks
	// that are left, so each still runs exactly once.
	defer func() {
		if work != nil {
			rest := work
			work = nil
			runRest(rest)
		}
	}()
	for work != nil {
		cur := work
		work = cur.next
		cur.next = nil
		push(cur.cb.run())
	}
}

// wakesWaiter reports whether cb only wakes goroutines waiting for its
// future, runs no user code and completes nothing.
func wakesWaiter(cb callback) bool {
	switch cb.(type) {
	case *doneNode, *parkNode:
		return true
	}
	return false
}

// runRest runs a work list that is already in order.
func runRest(work *node) {
	var list *node
	for work != nil { // reverse back into stack order for runAll
		next := work.next
		work.next = list
		list = work
		work = next
	}
	runAll(list)
}

// Get waits until f is complete and returns its value and error, or returns
// early with ctx's error.
//
// A ctx that ends abandons only this wait: the computation behind f goes
// on, f stays as it was, and no goroutine is left behind. As with every
// blocking call in lockstep, a ctx that is already done fails Get even when
// f is complete (use [Future.TryGet] to read without waiting); the error
// then satisfies errors.Is(err, ctx.Err()), and errors.Is(err, cause) when
// ctx was cancelled with a cause. A completion that races with the end of
// ctx wins: if f is complete when Get notices ctx is done, Get returns the
// result. A Get that finds f pending yields a few times, then parks.
func (f *Future[T]) Get(ctx context.Context) (T, error) {
	if ctx.Err() != nil {
		var zero T
		return zero, waitq.Err(ctx)
	}
	if f.isDone() {
		return f.val, f.err
	}
	return f.getSlow(ctx)
}

func (f *Future[T]) getSlow(ctx context.Context) (T, error) {
	cancel := ctx.Done()
	// Yield a few times before parking: a completer that is runnable but
	// not running (on this P, or with more goroutines than processors)
	// then completes f without this goroutine parking and being woken.
	for range backoff.ParkYields {
		runtime.Gosched()
		// ctx first, then f: a completion that raced the end of ctx wins.
		ended := cancel != nil && ctx.Err() != nil
		if f.isDone() {
			return f.val, f.err
		}
		if ended {
			var zero T
			return zero, waitq.Err(ctx)
		}
	}
	if cancel == nil {
		// A ctx that can never end (context.Background): park on a
		// WaitGroup in a node of our own, one allocation, rather than make
		// the Done channel (a node and a channel) and select on it. A
		// channel that Done already made costs nothing more to wait on.
		if d := f.done.Load(); d != nil {
			<-d.ch
			return f.val, f.err
		}
		p := new(parkNode)
		p.link.cb = p
		p.wg.Add(1)
		f.attach(&p.link) // runs p at once if f completed meanwhile
		p.wg.Wait()       // p.run's Done synchronizes before Wait returns
		return f.val, f.err
	}
	select {
	case <-f.Done():
		return f.val, f.err
	case <-cancel:
		if f.isDone() {
			return f.val, f.err
		}
		var zero T
		return zero, waitq.Err(ctx)
	}
}

// TryGet returns f's value and error and true if f is complete, and the
// zero value, nil and false if it is not. It never blocks.
func (f *Future[T]) TryGet() (T, error, bool) {
	if f.isDone() {
		return f.val, f.err, true
	}
	var zero T
	return zero, nil, false
}

// Done returns a channel that is closed when f completes, for use in a
// select. Every call returns a channel that behaves the same way; the
// first call on a pending future allocates it.
//
// Under testing/synctest, create the future (and call Done first) inside
// the bubble that completes it: a channel made in a bubble must not be
// closed from outside it.
func (f *Future[T]) Done() <-chan struct{} {
	// Complete first: the channel a waiter made is closed by a callback,
	// which may still be pending when Get or TryGet already report f
	// complete; Done must not report it pending then.
	if f.isDone() {
		return closedChan
	}
	if d := f.done.Load(); d != nil {
		return d.ch
	}
	return f.doneSlow()
}

func (f *Future[T]) doneSlow() <-chan struct{} {
	d := &doneNode{ch: make(chan struct{})}
	d.link.cb = d
	if !f.done.CompareAndSwap(nil, d) {
		return f.done.Load().ch
	}
	// Only the goroutine that installed d attaches it, so the channel is
	// closed exactly once: by the completer, or right here if f completed
	// in the meantime.
	f.attach(&d.link)
	return d.ch
}

// closedChan is what Done returns for a future that completed before
// anyone asked for its channel.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// doneNode closes a future's Done channel when it runs.
type doneNode struct {
	link node
	ch   chan struct{}
}

func (d *doneNode) run() *node {
	close(d.ch)
	return nil
}

// parkNode wakes one goroutine parked in Get with a ctx that cannot end.
type parkNode struct {
	link node
	wg   sync.WaitGroup // count 1 until run
}

func (p *parkNode) run() *node {
	p.wg.Done()
	return nil
}

// Cancel completes f with the error context.Canceled, if f is not complete
// yet, and reports whether it did. Cancellation is a completion like any
// other: the first one wins. For a future from [GoContext] or
// [SubmitContext] it also cancels the context passed to the function, so
// that the producer can stop; other producers keep running, and their
// Resolve or Reject reports false.
//
// Cancel does not reach the futures f was derived from: cancelling the
// result of [Then] leaves its input alone (other continuations may need
// it), and only skips the continuation's function if it has not run yet.
//
// The function's context is cancelled by the time Cancel returns true. It
// is cancelled by a callback, though, after the future is complete: a Get
// on another goroutine that returns context.Canceled may return a moment
// before the function's context is done.
func (f *Future[T]) Cancel() bool {
	var zero T
	return f.complete(zero, context.Canceled)
}
