// Package latch provides [Latch], a single-use countdown latch whose opening
// can be waited for with a context or selected on as a channel.
//
// A latch answers "has this happened N times yet?": N workers each report
// ready, N shards each finish loading, N replies arrive. Waiters call Wait
// (with a ctx, so a wait can time out) or select on Done together with
// other channels; once the count reaches zero the latch stays open and every
// later Wait returns at once.
//
// # Compared with sync.WaitGroup and Java's CountDownLatch
//
//   - Wait takes a context; WaitGroup.Wait cannot be abandoned.
//   - Done returns a channel for select; WaitGroup has none, and the usual
//     workaround (a goroutine that calls Wait and closes a channel) leaks
//     that goroutine if the group never finishes.
//   - The count is fixed at New, so there is no Add-after-Wait race to get
//     wrong, and a CountDown at zero is a no-op (as in Java) instead of
//     WaitGroup's "negative WaitGroup counter" panic.
//   - It is single-use; WaitGroup can be reused once Wait has returned.
//
// # When not to use it
//
// To wait for goroutines you start yourself, sync.WaitGroup.Go or
// errgroup.Group (which also collects the first error) reads better. To
// wait for one event with a value, use a future or a channel. For a
// rendezvous that repeats (every party waits for every other, round after
// round) use the barrier package.
//
// # Memory model
//
// Every CountDown that lowers the count synchronizes before any Wait that
// returns nil, any receive from Done that completes because the latch
// opened, and any TryWait that returns true. So what a goroutine wrote
// before its CountDown is visible to every goroutine that has seen the latch
// open.
//
// # Cost
//
// New allocates the latch (24 bytes) and nothing else. CountDown is one
// atomic add, inlined (at zero, an add and its undo); the last one also
// does a swap and a compare-and-swap to release whoever is parked. Wait on
// an open latch is two loads (the count, then the Done channel's word; the
// first such Wait on a latch that nobody waited on installs a shared
// closed channel there with one compare-and-swap). A Wait that finds the
// latch closed first yields
// the processor a few times, looking again after each, so that the
// goroutines still to count down can run and finish if they are runnable
// but not running (on this processor, or with more goroutines than
// processors); only then does it park. The first Wait that parks with a
// ctx that can never be done (context.Background) makes a sync.WaitGroup,
// and such Waits park on its runtime semaphore, as cheaply as
// WaitGroup.Wait. Done, and a Wait that parks with a cancellable ctx, use a
// channel that the first of them makes; such a Wait parks in a select on it
// and ctx.Done(), so testing/synctest sees it as durably blocked (as it
// does WaitGroup.Wait).
//
// Against a reused sync.WaitGroup, in the same runs at 1 and 2 CPUs, a
// round of "N goroutines count down, one waits" costs about 10% less for
// N = 2 (the yields spare the waiter a park and a wake; 20-35% more
// without them), and the same for N = 8 and 64; counting down 64 times in
// one goroutine is faster than 64 WaitGroup.Done calls.
package latch
