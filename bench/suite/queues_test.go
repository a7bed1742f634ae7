package suite

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/ringbuf"
	"github.com/puzpuzpuz/xsync/v4"
)

// queue is the queue family's interface: blocking in spirit. Channels block
// natively and lockstep's queues through their blocking layer (Push and Pop
// park); for non-blocking queues the adapter retries, yielding the
// processor, which is how their users wait. The ".Try" lockstep variants go
// through that same retry adapter, to compare the queues alone.
type queue interface {
	Push(v int)
	Pop() int
}

type chanQueue chan int

func (c chanQueue) Push(v int) { c <- v }
func (c chanQueue) Pop() int   { return <-c }

// tryQueue adapts a TryEnqueue/TryDequeue queue.
type tryQueue[Q interface {
	TryEnqueue(int) bool
	TryDequeue() (int, bool)
}] struct{ q Q }

func (t tryQueue[Q]) Push(v int) {
	for !t.q.TryEnqueue(v) {
		runtime.Gosched()
	}
}

func (t tryQueue[Q]) Pop() int {
	for {
		if v, ok := t.q.TryDequeue(); ok {
			return v
		}
		runtime.Gosched()
	}
}

// blockingQueue adapts lockstep's ring buffers through their blocking
// layer (Push and Pop park when the queue is full or empty).
type blockingQueue interface {
	Push(ctx context.Context, v int) error
	Pop(ctx context.Context) (int, error)
}

type lockstepQueue struct{ q blockingQueue }

func (l lockstepQueue) Push(v int) {
	if err := l.q.Push(context.Background(), v); err != nil {
		panic(err)
	}
}

func (l lockstepQueue) Pop() int {
	v, err := l.q.Pop(context.Background())
	if err != nil {
		panic(err)
	}
	return v
}

// tryRing adapts lockstep's ring buffers exactly as tryQueue adapts
// xsync's (the same retry loop, yielding between attempts), so that the
// ".Try" variants differ from xsync's queues in the queue alone.
type tryRing[Q interface {
	TryPush(int) bool
	TryPop() (int, bool)
}] struct{ q Q }

func (t tryRing[Q]) Push(v int) {
	for !t.q.TryPush(v) {
		runtime.Gosched()
	}
}

func (t tryRing[Q]) Pop() int {
	for {
		if v, ok := t.q.TryPop(); ok {
			return v
		}
		runtime.Gosched()
	}
}

const queueCap = 1024

var spscImpls = []impl[queue]{
	{"chan", func() queue { return make(chanQueue, queueCap) }},
	{"xsync.SPSCQueue", func() queue { return tryQueue[*xsync.SPSCQueue[int]]{xsync.NewSPSCQueue[int](queueCap)} }},
	{"lockstep.ringbuf.SPSC", func() queue { return lockstepQueue{ringbuf.NewSPSC[int](queueCap)} }},
	{"lockstep.ringbuf.SPSC.Try", func() queue { return tryRing[*ringbuf.SPSC[int]]{ringbuf.NewSPSC[int](queueCap)} }},
}

var mpmcImpls = []impl[queue]{
	{"chan", func() queue { return make(chanQueue, queueCap) }},
	{"xsync.MPMCQueue", func() queue { return tryQueue[*xsync.MPMCQueue[int]]{xsync.NewMPMCQueue[int](queueCap)} }},
	{"lockstep.ringbuf.MPMC", func() queue { return lockstepQueue{ringbuf.NewMPMC[int](queueCap)} }},
	{"lockstep.ringbuf.MPMC.Try", func() queue { return tryRing[*ringbuf.MPMC[int]]{ringbuf.NewMPMC[int](queueCap)} }},
}

// BenchmarkQueues: time per item moved. uncontended is one goroutine
// pushing and popping in turn (the cost of the two operations); spsc is one
// producer and one consumer; mpmc/pairs=P is P producers and P consumers.
func BenchmarkQueues(b *testing.B) {
	run(b, kv("workload", "uncontended"), mpmcImpls, func(b *testing.B, q queue) {
		for b.Loop() {
			q.Push(1)
			q.Pop()
		}
	})
	run(b, kv("workload", "spsc"), spscImpls, func(b *testing.B, q queue) {
		moveItems(b, q, 1)
	})
	// batch: one goroutine pushes 16 items and pops them again; time per
	// item. Peers without batch calls move the items one by one.
	run(b, kv("workload", "batch16"), mpmcImpls[:2], func(b *testing.B, q queue) {
		for b.Loop() {
			for i := range 16 {
				q.Push(i)
			}
			for range 16 {
				q.Pop()
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(16*b.N), "ns/item")
	})
	b.Run(kv("workload", "batch16")+"impl=lockstep.ringbuf.MPMC.TryPushN", func(b *testing.B) {
		b.ReportAllocs()
		q := ringbuf.NewMPMC[int](queueCap)
		in, out := make([]int, 16), make([]int, 16)
		for b.Loop() {
			if q.TryPushN(in) != 16 || q.TryPopN(out) != 16 {
				b.Fatal("batch of 16 did not move whole")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(16*b.N), "ns/item")
	})
	for _, pairs := range []int{1, 4} {
		run(b, kv("workload", "mpmc")+kv("pairs", pairs), mpmcImpls, func(b *testing.B, q queue) {
			moveItems(b, q, pairs)
		})
	}
}

// moveItems moves b.N items through q with pairs producers and pairs
// consumers, and checks that the consumers' sum is right.
func moveItems(b *testing.B, q queue, pairs int) {
	n := b.N
	var wg sync.WaitGroup
	sums := make([]int, pairs)
	for p := range pairs {
		share := n / pairs
		if p == 0 {
			share += n % pairs
		}
		wg.Go(func() {
			for i := range share {
				q.Push(i + 1)
			}
		})
		wg.Go(func() {
			s := 0
			for range share {
				s += q.Pop()
			}
			sums[p] = s
		})
	}
	wg.Wait()
	total, want := 0, 0
	for p := range pairs {
		total += sums[p]
		share := n / pairs
		if p == 0 {
			share += n % pairs
		}
		want += share * (share + 1) / 2
	}
	if total != want {
		b.Fatalf("consumers summed %d, want %d: items lost or duplicated", total, want)
	}
}
