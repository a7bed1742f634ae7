package ringbuf_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/internal/backoff"
	"github.com/lockstep-go/lockstep/ringbuf"
)

// Run with
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2,4,8 -count 10 ./ringbuf/ | tee new.txt
//	benchstat -col /impl new.txt
//
// Every benchmark reports ns/item: nanoseconds per item moved through the
// queue (pushed once and popped once), the figure to compare. The baseline
// is a buffered channel of the same capacity, in the same run.

// queue is the shape the benchmarks drive; chanQueue adapts a channel.
type queue interface {
	TryPush(int) bool
	TryPop() (int, bool)
	Push(context.Context, int) error
	Pop(context.Context) (int, error)
}

type chanQueue chan int

func (c chanQueue) TryPush(v int) bool {
	select {
	case c <- v:
		return true
	default:
		return false
	}
}

func (c chanQueue) TryPop() (int, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return 0, false
	}
}

// Push and Pop are a plain send and receive, the fastest a channel offers
// (a select on ctx.Done() as well would cost more).
func (c chanQueue) Push(_ context.Context, v int) error { c <- v; return nil }
func (c chanQueue) Pop(context.Context) (int, error)    { return <-c, nil }

type impl struct {
	name string
	mk   func(capacity int) queue
}

var mpmcImpls = []impl{
	{"lockstep", func(n int) queue { return ringbuf.NewMPMC[int](n) }},
	{"chan", func(n int) queue { return make(chanQueue, n) }},
}

var spscImpls = []impl{
	{"lockstep", func(n int) queue { return ringbuf.NewSPSC[int](n) }},
	{"chan", func(n int) queue { return make(chanQueue, n) }},
}

func perItem(b *testing.B, items int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/item")
}

// uncontended: one goroutine pushes and pops, the queue never full or empty
// beyond one item. The floor of the fast path.
func benchUncontended(b *testing.B, impls []impl) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			q := im.mk(1024)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				q.TryPush(n)
				if _, ok := q.TryPop(); !ok {
					b.Fatal("empty")
				}
				n++
			}
			perItem(b, n)
		})
	}
}

// streams: p producers and p consumers move b.N items through a queue of
// capacity 1024 with the blocking calls (a channel's plain send and
// receive); p is half of GOMAXPROCS, at least 1.
func benchStreams(b *testing.B, impls []impl, pairs int) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			q := im.mk(1024)
			b.ReportAllocs()
			ctx := context.Background()
			var wg sync.WaitGroup
			for p := range pairs {
				share := shareOf(b.N, pairs, p)
				wg.Go(func() {
					for i := range share {
						if err := q.Push(ctx, i); err != nil {
							panic(err)
						}
					}
				})
				wg.Go(func() {
					for range share {
						if _, err := q.Pop(ctx); err != nil {
							panic(err)
						}
					}
				})
			}
			wg.Wait()
			perItem(b, b.N)
		})
	}
}

// tryStreams is streams with the non-blocking calls in a retry loop that
// backs off (spin, then yield) when the queue is full or empty.
func benchTryStreams(b *testing.B, impls []impl, pairs int) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			q := im.mk(1024)
			b.ReportAllocs()
			var wg sync.WaitGroup
			for p := range pairs {
				share := shareOf(b.N, pairs, p)
				wg.Go(func() {
					var bo backoff.Backoff
					for i := 0; i < share; {
						if q.TryPush(i) {
							i++
							bo.Reset()
						} else {
							bo.Snooze()
						}
					}
				})
				wg.Go(func() {
					var bo backoff.Backoff
					for i := 0; i < share; {
						if _, ok := q.TryPop(); ok {
							i++
							bo.Reset()
						} else {
							bo.Snooze()
						}
					}
				})
			}
			wg.Wait()
			perItem(b, b.N)
		})
	}
}

// pingPong: one goroutine pushes an item to ping and waits for it on pong;
// the other pops it from ping and pushes it to pong. Every item is a
// blocking handoff each way, with capacity 1.
func benchPingPong(b *testing.B, impls []impl) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			ping, pong := im.mk(1), im.mk(1)
			ctx := context.Background()
			b.ReportAllocs()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					v, err := ping.Pop(ctx)
					if err != nil {
						panic(err)
					}
					if v < 0 {
						return
					}
					if err := pong.Push(ctx, v); err != nil {
						panic(err)
					}
				}
			}()
			n := 0
			for b.Loop() {
				if err := ping.Push(ctx, n); err != nil {
					b.Fatal(err)
				}
				if _, err := pong.Pop(ctx); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.StopTimer()
			_ = ping.Push(ctx, -1)
			<-done
			perItem(b, n)
		})
	}
}

func pairs() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// shareOf is pair p's share of n items among pairs: n/pairs each, and the
// remainder to pair 0.
func shareOf(n, pairs, p int) int {
	if p == 0 {
		return n/pairs + n%pairs
	}
	return n / pairs
}

func BenchmarkMPMC(b *testing.B) {
	b.Run("mode=uncontended", func(b *testing.B) { benchUncontended(b, mpmcImpls) })
	b.Run("mode=streams", func(b *testing.B) { benchStreams(b, mpmcImpls, pairs()) })
	b.Run("mode=trystreams", func(b *testing.B) { benchTryStreams(b, mpmcImpls, pairs()) })
	b.Run("mode=pingpong", func(b *testing.B) { benchPingPong(b, mpmcImpls) })
}

func BenchmarkSPSC(b *testing.B) {
	b.Run("mode=uncontended", func(b *testing.B) { benchUncontended(b, spscImpls) })
	b.Run("mode=streams", func(b *testing.B) { benchStreams(b, spscImpls, 1) })
	b.Run("mode=trystreams", func(b *testing.B) { benchTryStreams(b, spscImpls, 1) })
	b.Run("mode=pingpong", func(b *testing.B) { benchPingPong(b, spscImpls) })
}

// batcher is the batch shape; the baseline is the same queue's single
// operations, 16 at a time.
type batcher interface {
	TryPush(int) bool
	TryPop() (int, bool)
	TryPushN([]int) int
	TryPopN([]int) int
}

func benchBatch(b *testing.B, q batcher) {
	const size = 16
	b.Run("op=single", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for i := range size {
				q.TryPush(i)
			}
			for range size {
				if _, ok := q.TryPop(); !ok {
					b.Fatal("empty")
				}
			}
			n += size
		}
		perItem(b, n)
	})
	b.Run("op=batch", func(b *testing.B) {
		b.ReportAllocs()
		var buf [size]int
		n := 0
		for b.Loop() {
			if q.TryPushN(buf[:]) != size || q.TryPopN(buf[:]) != size {
				b.Fatal("short batch")
			}
			n += size
		}
		perItem(b, n)
	})
}

// benchBatchStreams is benchTryStreams with batches: each producer pushes
// its share 16 at a time with TryPushN, and each consumer pops with TryPopN,
// backing off when the queue is full or empty. There is no channel
// baseline (a channel has no batches); compare with the same queue's
// trystreams, and across versions.
func benchBatchStreams(b *testing.B, mk func() batcher, pairs int) {
	q := mk()
	b.ReportAllocs()
	var wg sync.WaitGroup
	for p := range pairs {
		share := shareOf(b.N, pairs, p)
		wg.Go(func() { moveBatches(q, share, true) })
		wg.Go(func() { moveBatches(q, share, false) })
	}
	wg.Wait()
	perItem(b, b.N)
}

// moveBatches pushes (or pops) share items through q, 16 at a time,
// backing off while the queue is full (or empty). A consumer never takes
// more than its share: the other consumers' items must be left for them.
func moveBatches(q batcher, share int, push bool) {
	const size = 16
	var bo backoff.Backoff
	var buf [size]int
	for i := 0; i < share; {
		var k int
		if push {
			k = q.TryPushN(buf[:min(size, share-i)])
		} else {
			k = q.TryPopN(buf[:min(size, share-i)])
		}
		if k > 0 {
			i += k
			bo.Reset()
		} else {
			bo.Snooze()
		}
	}
}

// BenchmarkBatch compares TryPushN/TryPopN of 16 items with 16 single
// TryPush/TryPop, on one goroutine (op=single and op=batch), and measures
// batches of 16 between producer and consumer goroutines (op=streams;
// GOMAXPROCS/2 pairs for MPMC, one for SPSC).
func BenchmarkBatch(b *testing.B) {
	b.Run("type=MPMC/size=16", func(b *testing.B) {
		benchBatch(b, ringbuf.NewMPMC[int](1024))
		b.Run("op=streams", func(b *testing.B) {
			benchBatchStreams(b, func() batcher { return ringbuf.NewMPMC[int](1024) }, pairs())
		})
	})
	b.Run("type=SPSC/size=16", func(b *testing.B) {
		benchBatch(b, ringbuf.NewSPSC[int](1024))
		b.Run("op=streams", func(b *testing.B) {
			benchBatchStreams(b, func() batcher { return ringbuf.NewSPSC[int](1024) }, 1)
		})
	})
}

// BenchmarkNew measures construction: the slots' allocation and their
// first stamps, which NewMPMC and NewSPSC store with plain stores where
// the batches' assembly has them (one locked exchange per slot before:
// 6.5x as long for 65,536 slots on the Turin host).
func BenchmarkNew(b *testing.B) {
	b.Run("type=MPMC/cap=65536", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ringbuf.NewMPMC[int](1 << 16)
		}
	})
	b.Run("type=SPSC/cap=65536", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = ringbuf.NewSPSC[int](1 << 16)
		}
	})
}
