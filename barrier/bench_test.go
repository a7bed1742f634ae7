package barrier_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/barrier"
	"github.com/lockstep-go/lockstep/internal/waitq"
)

// roundBarrier is the shape every implementation in the benchmarks has.
type roundBarrier interface {
	Await(ctx context.Context) (int, error)
}

// mutexChanBarrier is the barrier Go programs write by hand: a mutex, a
// counter and a channel per generation that the last party closes. It is
// the baseline. (It has no breakage, no action and no Reset, so it is, if
// anything, flattered by the comparison.)
type mutexChanBarrier struct {
	mu      sync.Mutex
	parties int
	count   int
	ch      chan struct{}
}

func newMutexChan(parties int) *mutexChanBarrier {
	return &mutexChanBarrier{parties: parties, ch: make(chan struct{})}
}

func (b *mutexChanBarrier) Await(ctx context.Context) (int, error) {
	b.mu.Lock()
	i := b.count
	b.count++
	if b.count == b.parties {
		close(b.ch)
		b.ch = make(chan struct{})
		b.count = 0
		b.mu.Unlock()
		return i, nil
	}
	ch := b.ch
	b.mu.Unlock()
	select {
	case <-ch:
		return i, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// waitqBarrier parks every party on its own channel in the shared wait
// queue (internal/waitq), the alternative to one closed channel per
// generation that Cyclic uses. It is measured to justify that choice: it
// allocates a waiter and a channel per party per round, and wakes them one
// by one.
type waitqBarrier struct {
	mu      sync.Mutex
	parties int
	count   int
	q       waitq.Queue
}

func (b *waitqBarrier) Await(ctx context.Context) (int, error) {
	b.mu.Lock()
	i := b.count
	b.count++
	if b.count == b.parties {
		b.count = 0
		b.q.WakeAll()
		b.mu.Unlock()
		return i, nil
	}
	w := b.q.Enqueue(int64(i))
	if err := b.q.Wait(ctx, &b.mu, w, nil); err != nil {
		return -1, err
	}
	return i, nil
}

// phaserBarrier runs rounds on a Phaser.
type phaserBarrier struct{ p *barrier.Phaser }

func (b phaserBarrier) Await(ctx context.Context) (int, error) { return b.p.ArriveAndAwaitAdvance(ctx) }

var impls = []struct {
	name string
	new  func(parties int) roundBarrier
}{
	{"lockstep", func(n int) roundBarrier { return barrier.New(n, nil) }},
	{"mutexchan", func(n int) roundBarrier { return newMutexChan(n) }},
	{"waitq", func(n int) roundBarrier { return &waitqBarrier{parties: n} }},
	{"phaser", func(n int) roundBarrier { return phaserBarrier{barrier.NewPhaser(n, nil)} }},
}

// BenchmarkRound measures one full round of a barrier: parties goroutines
// (the benchmark's own plus parties-1 helpers) each call Await once. ns/op
// is the time per round, from the first arrival to the last release.
func BenchmarkRound(b *testing.B) {
	for _, parties := range []int{2, 8, 64} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("parties=%d/impl=%s", parties, impl.name), func(b *testing.B) {
				benchRounds(b, impl.new(parties), parties)
			})
		}
	}
}

func benchRounds(b *testing.B, bar roundBarrier, parties int) {
	ctx := context.Background()
	// The helpers cannot see b.Loop, so the benchmark tells them, through
	// the barrier itself, in which round to stop: it stores the round
	// number before it arrives in that round.
	var stop atomic.Int64
	stop.Store(math.MaxInt64)
	var wg sync.WaitGroup
	for range parties - 1 {
		wg.Go(func() {
			for round := int64(1); ; round++ {
				if _, err := bar.Await(ctx); err != nil {
					b.Error(err)
					return
				}
				if round >= stop.Load() {
					return
				}
			}
		})
	}
	rounds := int64(0)
	for b.Loop() {
		if _, err := bar.Await(ctx); err != nil {
			b.Fatal(err)
		}
		rounds++
	}
	stop.Store(rounds + 1)
	if _, err := bar.Await(ctx); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
}

// BenchmarkSingleParty is the uncontended path: a 1-party barrier trips on
// every Await. It must not allocate.
func BenchmarkSingleParty(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=lockstep", func(b *testing.B) {
		bar := barrier.New(1, nil)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = bar.Await(ctx)
		}
	})
	b.Run("impl=phaser", func(b *testing.B) {
		p := barrier.NewPhaser(1, nil)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = p.ArriveAndAwaitAdvance(ctx)
		}
	})
	b.Run("impl=mutexchan", func(b *testing.B) {
		bar := newMutexChan(1)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = bar.Await(ctx)
		}
	})
}

// BenchmarkPhaserArrive is Arrive with many parties, one goroutine per
// core: a single CAS on the state word, except for the last arrival of each
// phase.
func BenchmarkPhaserArrive(b *testing.B) {
	p := barrier.NewPhaser(barrier.MaxParties, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Arrive()
		}
	})
}

// BenchmarkSpin measures the busy-wait part of the spin-before-park policy
// on Cyclic and Phaser rounds: spin=yield never busy-waits (it only yields
// a few times before parking), spin=busy always busy-waits first,
// spin=adaptive (the default) busy-waits only when there are no more
// parties than processors.
func BenchmarkSpin(b *testing.B) {
	policies := []struct {
		name string
		n    int
	}{{"yield", 1}, {"adaptive", 0}, {"busy", 1 << 20}}
	for _, parties := range []int{2, 8} {
		for _, kind := range []string{"cyclic", "phaser"} {
			for _, pol := range policies {
				b.Run(fmt.Sprintf("parties=%d/type=%s/spin=%s", parties, kind, pol.name), func(b *testing.B) {
					restore := barrier.SetParallelism(pol.n)
					defer restore()
					var bar roundBarrier = barrier.New(parties, nil)
					if kind == "phaser" {
						bar = phaserBarrier{barrier.NewPhaser(parties, nil)}
					}
					benchRounds(b, bar, parties)
				})
			}
		}
	}
}
