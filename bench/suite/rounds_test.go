package suite

import (
	"context"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/barrier"
	"github.com/lockstep-go/lockstep/latch"
	"github.com/sourcegraph/conc"
)

// waiter is the latch family's interface: n goroutines each count down
// once; the benchmark goroutine waits for all of them.
type waiter interface {
	Start(n int)
	Done()
	Wait()
}

type waitGroup struct{ sync.WaitGroup }

func (w *waitGroup) Start(n int) { w.Add(n) }

// countdown adapts a latch, which takes its count at New.
type countdown struct{ l *latch.Latch }

func (c *countdown) Start(n int) { c.l = latch.New(n) }
func (c *countdown) Done()       { c.l.CountDown() }
func (c *countdown) Wait() {
	if err := c.l.Wait(context.Background()); err != nil {
		panic(err)
	}
}

var latchImpls = []impl[func() waiter]{
	{"sync.WaitGroup", func() func() waiter { return func() waiter { return new(waitGroup) } }},
	{"lockstep.latch.Latch", func() func() waiter { return func() waiter { return new(countdown) } }},
}

// BenchmarkLatch: one round is N goroutines started, each counting down
// once, and a wait for all of them. Goroutine start costs the same for every
// implementation; conc's WaitGroup starts its own goroutines (it wraps
// sync.WaitGroup and catches panics), so it is measured as a whole round.
func BenchmarkLatch(b *testing.B) {
	for _, n := range []int{2, 8, 64} {
		run(b, kv("n", n), latchImpls, func(b *testing.B, newW func() waiter) {
			for b.Loop() {
				w := newW()
				w.Start(n)
				for range n {
					go w.Done()
				}
				w.Wait()
			}
		})
		b.Run(kv("n", n)+"impl=conc.WaitGroup", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var wg conc.WaitGroup
				for range n {
					wg.Go(func() {})
				}
				wg.Wait()
			}
		})
	}
}

// roundBarrier is the barrier family's interface: Await returns when all
// parties of the round have arrived.
type roundBarrier interface{ Await() }

// chanBarrier is the usual Go barrier: a mutex-guarded count and a channel
// per generation, closed by the last arriver.
type chanBarrier struct {
	mu      sync.Mutex
	n, left int
	gen     chan struct{}
}

func newChanBarrier(n int) *chanBarrier {
	return &chanBarrier{n: n, left: n, gen: make(chan struct{})}
}

func (b *chanBarrier) Await() {
	b.mu.Lock()
	gen := b.gen
	b.left--
	if b.left == 0 {
		b.left = b.n
		b.gen = make(chan struct{})
		b.mu.Unlock()
		close(gen)
		return
	}
	b.mu.Unlock()
	<-gen
}

type cyclic struct{ *barrier.Cyclic }

func (c cyclic) Await() {
	if _, err := c.Cyclic.Await(context.Background()); err != nil {
		panic(err)
	}
}

type phaser struct{ *barrier.Phaser }

func (p phaser) Await() {
	if _, err := p.ArriveAndAwaitAdvance(context.Background()); err != nil {
		panic(err)
	}
}

func barrierImpls(n int) []impl[roundBarrier] {
	return []impl[roundBarrier]{
		{"mutex+chan", func() roundBarrier { return newChanBarrier(n) }},
		{"lockstep.barrier.Cyclic", func() roundBarrier { return cyclic{barrier.New(n, nil)} }},
		{"lockstep.barrier.Phaser", func() roundBarrier { return phaser{barrier.NewPhaser(n, nil)} }},
	}
}

// BenchmarkBarrier: N long-lived goroutines pass b.N rounds of one barrier;
// time per op is time per round.
func BenchmarkBarrier(b *testing.B) {
	for _, n := range []int{2, 8, 64} {
		run(b, kv("n", n), barrierImpls(n), func(b *testing.B, br roundBarrier) {
			rounds := b.N
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					for range rounds {
						br.Await()
					}
				})
			}
			wg.Wait()
		})
	}
}
