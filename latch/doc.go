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
// New allocates the latch (32 bytes) and nothing else. CountDown is one
// atomic add (a load only, once the latch is open). Wait on an open latch is
// a load. A Wait whose ctx can never be done (context.Background) parks on
// the runtime semaphore behind an internal sync.WaitGroup, as cheaply as
// WaitGroup.Wait; a Wait with a cancellable ctx, and Done, use a channel
// that the first of them allocates, and such a Wait parks in a select on it
// and ctx.Done(), so testing/synctest sees it as durably blocked. The last
// CountDown releases the WaitGroup and closes the channel, if one was made.
package latch
