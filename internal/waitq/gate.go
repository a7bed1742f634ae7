package waitq

import (
	"sync"
	"sync/atomic"

	"github.com/lockstep-go/lockstep/internal/testhook"
)

// Gate is the broadcast counterpart of Queue, for primitives that release
// every waiter of a round at once: a barrier's generation, a phaser's
// phase. Where Queue gives each waiter its own channel and wakes them one
// at a time in order, a Gate parks all the waiters of a round on one
// channel, which the goroutine that ends the round closes. A waiter and a
// channel per party per round measured 2-4x slower for barrier rounds
// (barrier.BenchmarkRound, impl=waitq), and a round has no order to keep.
//
// It keeps the same cancellation contract as Queue:
//
//   - A waiter parks on the round's channel, selecting on it together
//     with ctx.Done() when its wait can be cancelled (a plain receive when
//     Done is nil): no helper goroutine, and testing/synctest sees the
//     wait as durably blocking.
//   - An end of the round that races with cancellation is never lost: a
//     waiter whose ctx ended looks at the round once more, and if the
//     round ended, the end wins and Park reports it.
//   - A waiter that gives up leaves nothing behind to undo: the channel
//     belongs to the round, not to the waiter. (What the primitive must
//     undo, such as an arrival, it undoes itself, as with Queue's abandon.)
//   - A waiter announces itself (in a counter) before it re-checks the
//     round under the primitive's lock, and the goroutine that ends the
//     round changes the primitive's state first and reads the counter
//     after: all the atomics being sequentially consistent, either the
//     waiter sees the end or the ender sees the waiter (rule 4 of the
//     package doc, without taking the lock when nobody waits).
//
// Rounds alternate between two channels by parity (as Java's Phaser has
// evenQ and oddQ), so that the waiters of the next round do not share a
// channel with the round that is ending. A waiter woken by the end of a
// round two before its own (it was that slow) only looks again.
//
// The primitive guards the channels with its own mutex (the "queue lock",
// as for Queue), passed to Park and held for Open.
type Gate struct {
	// sleepers counts the goroutines in Park; the ender reads it after its
	// state change, to take the lock only when somebody may be parked.
	sleepers atomic.Int32
	// ch[slot] is closed when the round of that parity ends; nil while
	// nobody waits for it. Guarded by the primitive's lock.
	ch [2]chan struct{}
}

// Park waits until ended reports true, and reports true; or until done is
// closed with ended still false, and reports false (a nil done is never
// closed). slot is the round's parity (its number & 1). ended reads the
// primitive's state; it is called under mu and without it, and must not
// block. mu is the primitive's lock, which must not be held by the caller.
func (g *Gate) Park(mu *sync.Mutex, slot int, done <-chan struct{}, ended func() bool) bool {
	for {
		g.sleepers.Add(1)
		testhook.Yield() // between announcing the sleeper and the re-check
		mu.Lock()
		if ended() {
			mu.Unlock()
			g.sleepers.Add(-1)
			return true
		}
		if g.ch[slot] == nil {
			g.ch[slot] = make(chan struct{})
		}
		ch := g.ch[slot]
		mu.Unlock()
		if done == nil {
			// The wait cannot be cancelled (context.Background's Done
			// is nil): a plain receive, which costs less than a select
			// with a case that can never fire. 8-party barrier rounds
			// at 2 CPUs took 25-27% less time, and 64-party Cyclic
			// rounds 32% (BENCHMARKS.md, the Genoa host's section).
			<-ch
		} else {
			select {
			case <-ch:
			case <-done:
				g.sleepers.Add(-1)
				return ended() // the end may have beaten the cancellation
			}
		}
		// The round this waiter parked for has ended, or (woken by the end
		// of a round two before its own) it looks again. The close that
		// woke it came after the state change, so a look without mu sees
		// the end; every waiter of a round wakes at once, and need not
		// queue on mu to look.
		g.sleepers.Add(-1)
		if ended() {
			return true
		}
	}
}

// Parked reports whether a goroutine may be parked, or about to park, in
// Park. The goroutine that ends a round calls it after the state change
// that ends the round, and if it reports true, calls Open under the lock.
func (g *Gate) Parked() bool { return g.sleepers.Load() != 0 }

// Open wakes every goroutine parked on slot's channel: it closes the
// channel, if one was made, and forgets it. Call it with the primitive's
// lock held, after the state change that ends the round.
func (g *Gate) Open(slot int) {
	if ch := g.ch[slot]; ch != nil {
		close(ch)
		g.ch[slot] = nil
	}
}
