package latch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/latch"
)

// countdown is one round of "n parties signal, one goroutine waits", on a
// lockstep Latch or a sync.WaitGroup, so the same workloads drive both.
type countdown interface {
	reset(n int) // before the round
	signal()     // one party is done
	wait()       // until all n have signalled
}

type latchRound struct{ l *latch.Latch }

func (r *latchRound) reset(n int) { r.l = latch.New(n) }
func (r *latchRound) signal()     { r.l.CountDown() }
func (r *latchRound) wait() {
	if err := r.l.Wait(context.Background()); err != nil {
		panic(err)
	}
}

type wgRound struct{ wg sync.WaitGroup }

func (r *wgRound) reset(n int) { r.wg.Add(n) }
func (r *wgRound) signal()     { r.wg.Done() }
func (r *wgRound) wait()       { r.wg.Wait() }

// wgNewRound makes a fresh WaitGroup every round, as a fan-out whose
// goroutines capture a local WaitGroup does (it escapes to the heap): the
// same one allocation per round that a Latch, being single-use, costs.
type wgNewRound struct{ wg *sync.WaitGroup }

func (r *wgNewRound) reset(n int) { r.wg = new(sync.WaitGroup); r.wg.Add(n) }
func (r *wgNewRound) signal()     { r.wg.Done() }
func (r *wgNewRound) wait()       { r.wg.Wait() }

// impls: lockstep against a reused WaitGroup (the strictest baseline: no
// allocation per round) and against one allocated per round.
var impls = []struct {
	name string
	new  func() countdown
}{
	{"lockstep", func() countdown { return &latchRound{} }},
	{"waitgroup", func() countdown { return &wgRound{} }},
	{"waitgroup-new", func() countdown { return &wgNewRound{} }},
}

// BenchmarkSpawn: each round starts n goroutines that each signal once, and
// waits for them: the typical fan-out. Goroutine start-up is the same in
// both and dominates; the difference is the synchronization.
func BenchmarkSpawn(b *testing.B) {
	for _, n := range []int{2, 8, 64} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("n=%d/impl=%s", n, impl.name), func(b *testing.B) {
				c := impl.new()
				b.ReportAllocs()
				for b.Loop() {
					c.reset(n)
					for range n {
						go c.signal()
					}
					c.wait()
				}
			})
		}
	}
}

// BenchmarkWorkers: n long-lived goroutines; each round hands every worker
// the round through its own channel, and the workers signal. The channel
// handoff is the same in both; no goroutine is started per round.
func BenchmarkWorkers(b *testing.B) {
	for _, n := range []int{2, 8, 64} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("n=%d/impl=%s", n, impl.name), func(b *testing.B) {
				c := impl.new()
				work := make([]chan struct{}, n)
				var wg sync.WaitGroup
				for i := range work {
					work[i] = make(chan struct{}, 1)
					wg.Go(func() {
						for range work[i] {
							c.signal()
						}
					})
				}
				b.ReportAllocs()
				for b.Loop() {
					c.reset(n)
					for _, w := range work {
						w <- struct{}{}
					}
					c.wait()
				}
				for _, w := range work {
					close(w)
				}
				wg.Wait()
			})
		}
	}
}

// BenchmarkSequential: one goroutine counts down n times and then waits:
// the cost of the operations themselves, with no goroutine switches.
func BenchmarkSequential(b *testing.B) {
	for _, n := range []int{2, 8, 64} {
		for _, impl := range impls {
			b.Run(fmt.Sprintf("n=%d/impl=%s", n, impl.name), func(b *testing.B) {
				c := impl.new()
				b.ReportAllocs()
				for b.Loop() {
					c.reset(n)
					for range n {
						c.signal()
					}
					c.wait()
				}
			})
		}
	}
}
