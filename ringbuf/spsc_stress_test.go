package ringbuf_test

// Stress tests of the stamp-per-slot SPSC, from an adversarial review of
// its first version (fdc2783). Each test names the property it checks.
// TestSPSCPopNFreesItsSlotsAtOnce is the defect the review found there:
// TryPopN released its slots by storing their stamps one at a time, front
// first, so the producer could see a batch pop half done (a TryPush found
// the queue full after another TryPush had found the batch gone). TryPopN
// then released its slots with one store of head; it now stores their
// stamps again, the front slot's last (see that test).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/ringbuf"
)

// spinUntil waits until cond holds. It spins, so that two goroutines
// on two Ps meet at full speed, and yields now and then, so that two
// goroutines that share a P still take turns.
func spinUntil(cond func() bool) {
	for i := 1; !cond(); i++ {
		if i%64 == 0 {
			runtime.Gosched()
		}
	}
}

// stressBudget is how long a time-bounded test runs when it finds nothing.
func stressBudget(full time.Duration) time.Duration {
	if testing.Short() {
		return full / 5
	}
	return full
}

// runOrUnstick starts n goroutines running fn and waits for them. If they
// have not all returned within limit (a liveness bound, far above what a
// correct queue needs), it calls unstick, which closes the queue and so
// wakes every parked goroutine, waits for them (at most limit again: if
// Close does not wake them either, they are left behind, and goleak
// reports them too), and reports false after failing the test: a lost
// wakeup fails in seconds, not at testutil's two-minute watchdog.
func runOrUnstick(t *testing.T, n int, limit time.Duration, unstick func(), fn func(id int)) bool {
	t.Helper()
	var wg sync.WaitGroup
	for id := range n {
		wg.Go(func() { fn(id) })
	}
	if testutil.Within(&wg, limit) {
		return true
	}
	unstick()
	if testutil.Within(&wg, limit) {
		t.Errorf("goroutines still running after %v (released by Close): a Push or Pop stayed parked (lost wakeup) or a loop never ended", limit)
	} else {
		testutil.DumpGoroutines()
		t.Errorf("goroutines still running after %v, and after Close: a Push or Pop stayed parked through Close (stacks above)", limit)
	}
	return false
}

// TryPopN is one operation: a TryPush that follows a successful TryPush must
// not find the queue full when the only pop since emptied the queue.
//
// Each round starts with the queue full (c items) and quiescent. The
// consumer makes one TryPopN(c), nothing else; the producer retries TryPush
// until one succeeds, which can only happen after that TryPopN took all c
// items, and then pushes c-1 more (one by one, or with TryPushN), none of
// which may find the queue full: the queue holds fewer than c items at
// every instant after the first success. Any failure is a history no
// sequential queue allows (porcupine rejects it too; TestCloseLinearizable
// hits it now and then).
//
// The defect this caught, in fdc2783: TryPopN released its slots with one
// stamp store each, in order from the front, so the producer saw the front
// slot free while the slots behind it still read full (TryPushN avoids the
// same trap by publishing its first slot last). TryPopN then released its
// slots with one store of head; it now stores their stamps again, the
// front slot's last, and TryPushN counts the stamps past what head shows
// (a TryPushN that trusted head alone took fewer items than there was room
// for, between the front slot's release and the store of head). The window
// is a few instructions (a test hook sits in it), so the test spins both
// sides and repeats rounds until a failure or the time budget; offset puts
// the front mid-array so that the batch wraps around.
func TestSPSCPopNFreesItsSlotsAtOnce(t *testing.T) {
	forOffsets(t, [][2]int{{2, 0}, {2, 1}, {4, 0}, {4, 2}, {16, 0}, {16, 9}}, 1500*time.Millisecond, popNVersusPushes)
}

// forOffsets runs fn as a subtest for each {capacity, offset} pair, on an
// SPSC of that capacity whose front was moved to index offset, giving each
// an equal share of the time budget.
func forOffsets(t *testing.T, configs [][2]int, budget time.Duration,
	fn func(t *testing.T, q *ringbuf.SPSC[int], c int, budget time.Duration)) {
	share := stressBudget(budget) / time.Duration(len(configs))
	for _, cf := range configs {
		c, offset := cf[0], cf[1]
		t.Run(fmt.Sprintf("cap=%d/offset=%d", c, offset), func(t *testing.T) {
			q := ringbuf.NewSPSC[int](c)
			for range offset {
				q.TryPush(-1)
				q.TryPop()
			}
			fn(t, q, c, share)
		})
	}
}

func popNVersusPushes(t *testing.T, q *ringbuf.SPSC[int], c int, budget time.Duration) {
	next := 0
	for range c {
		if !q.TryPush(next) {
			t.Fatal("TryPush failed while filling an empty queue")
		}
		next++
	}
	var round, done atomic.Int64 // round r starts, and its TryPopN returned
	var stop atomic.Bool
	var rounds, failures int
	testutil.Run(t, 2, func(id int) {
		if id == 1 { // the consumer
			dst := make([]int, c)
			want := 0
			for r := int64(1); ; r++ {
				spinUntil(func() bool { return stop.Load() || round.Load() >= r })
				if stop.Load() {
					return
				}
				n := q.TryPopN(dst)
				if n != c || !slices.Equal(dst, seqFrom(want, c)) {
					t.Errorf("round %d: TryPopN on a full queue of %d = %v", r, c, dst[:n])
					stop.Store(true)
					return
				}
				want += c
				done.Store(r)
			}
		}
		// The producer.
		defer stop.Store(true)
		vs := make([]int, c)
		deadline := time.Now().Add(budget)
		for r := int64(1); time.Now().Before(deadline); r++ {
			rounds++
			round.Store(r)
			spinUntil(func() bool { return stop.Load() || q.TryPush(next) })
			if stop.Load() {
				return
			}
			next++
			// The TryPopN has taken all c items: c-1 slots are free.
			for pushed := 1; pushed < c; {
				if r%2 == 0 {
					vs := vs[:c-pushed]
					for i := range vs {
						vs[i] = next + i
					}
					// All of them fit: TryPushN takes as many as
					// there is room for.
					n := q.TryPushN(vs)
					if n == len(vs) {
						pushed += n
						next += n
						continue
					}
					t.Errorf("round %d: TryPushN(%d items) = %d after the TryPopN that emptied the queue and %d pushes: %d slots were free",
						r, len(vs), n, pushed, c-pushed)
				} else {
					if q.TryPush(next) {
						pushed++
						next++
						continue
					}
					t.Errorf("round %d: TryPush = false (full) after the TryPopN that emptied the queue and %d pushes: %d slots were free",
						r, pushed, c-pushed)
				}
				failures++
				return
			}
			spinUntil(func() bool { return stop.Load() || done.Load() >= r })
		}
	})
	t.Logf("%d rounds, %d false full", rounds, failures)
}

// The mirror image, which the current code gets right: TryPushN is one
// operation for the consumer. Each round starts with the queue empty; the
// producer makes one TryPushN of c items (all of which fit), nothing else;
// the consumer retries TryPop until one succeeds, which shows the batch is
// in, and then pops the other c-1 items (one by one, or with TryPopN),
// none of which may find the queue empty. TryPushN publishes every slot
// but the first and then the first (the one the consumer looks at), so
// the batch appears whole; publishing the first slot before the others
// fails here at once.
func TestSPSCPushNPublishesItsSlotsAtOnce(t *testing.T) {
	forOffsets(t, [][2]int{{2, 0}, {2, 1}, {4, 2}, {16, 9}}, 600*time.Millisecond, pushNVersusPops)
}

func pushNVersusPops(t *testing.T, q *ringbuf.SPSC[int], c int, budget time.Duration) {
	var round, done atomic.Int64 // round r's TryPushN returned, and its items were popped
	var stop atomic.Bool
	var rounds, failures int
	testutil.Run(t, 2, func(id int) {
		if id == 0 { // the producer
			defer stop.Store(true)
			deadline := time.Now().Add(budget)
			for r := int64(1); time.Now().Before(deadline); r++ {
				rounds++
				if n := q.TryPushN(seqFrom(int(r-1)*c, c)); n != c {
					t.Errorf("round %d: TryPushN(%d items) on an empty queue of %d = %d", r, c, c, n)
					return
				}
				round.Store(r)
				spinUntil(func() bool { return stop.Load() || done.Load() >= r })
				if stop.Load() {
					return
				}
			}
			return
		}
		// The consumer.
		dst := make([]int, c)
		for r := int64(1); ; r++ {
			want := int(r-1) * c
			var v int
			spinUntil(func() bool {
				if stop.Load() {
					return true
				}
				var ok bool
				v, ok = q.TryPop()
				return ok
			})
			if stop.Load() {
				return
			}
			if v != want {
				t.Errorf("round %d: TryPop = %d, want %d", r, v, want)
				stop.Store(true)
				return
			}
			// The TryPushN has published all c items: c-1 are left.
			for popped := 1; popped < c; {
				if r%2 == 0 {
					n := q.TryPopN(dst[:c-popped])
					if n > 0 {
						if !slices.Equal(dst[:n], seqFrom(want+popped, n)) {
							t.Errorf("round %d: TryPopN = %v, want from %d", r, dst[:n], want+popped)
							stop.Store(true)
							return
						}
						popped += n
						continue
					}
					t.Errorf("round %d: TryPopN = 0 (empty) after the TryPushN of %d items and %d pops: %d items were there",
						r, c, popped, c-popped)
				} else {
					if v, ok := q.TryPop(); ok {
						if v != want+popped {
							t.Errorf("round %d: TryPop = %d, want %d", r, v, want+popped)
							stop.Store(true)
							return
						}
						popped++
						continue
					}
					t.Errorf("round %d: TryPop = false (empty) after the TryPushN of %d items and %d pops: %d items were there",
						r, c, popped, c-popped)
				}
				failures++
				stop.Store(true)
				return
			}
			done.Store(r)
		}
	})
	t.Logf("%d rounds, %d false empty", rounds, failures)
}

// seqFrom returns from, from+1, ..., from+n-1.
func seqFrom(from, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = from + i
	}
	return s
}

// Close is exact, with batches wrapping around the array's end and
// capacities 1 to 4: a push that reports success (TryPush true, TryPushN n,
// Push nil) is popped, exactly once and in order, before any Pop reports
// ErrClosed; a push that starts after Close returned fails; Pop reports
// ErrClosed only after Close was called, and from then on TryPop, TryPopN
// and Pop all fail. One producer (TryPush, TryPushN of 1 to cap+1 items,
// Push), one consumer (TryPop, TryPopN, Pop) and a closer race on a fresh
// queue each round; the test hooks yield between a push's closed check and
// its publishing compare-and-swap, and between a pop's empty look and its
// look at the closed flag.
func TestSPSCCloseIsExact(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(1500)
	for _, c := range []int{1, 2, 3, 4} {
		for round := range rounds {
			if !closeExactRound(t, c, uint64(round)) {
				return
			}
		}
	}
}

// closeExactRound runs one round and reports whether it passed.
func closeExactRound(t *testing.T, c int, seed uint64) bool {
	t.Helper()
	ctx := context.Background()
	q := ringbuf.NewSPSC[int](c)
	var closeCalled, closeReturned atomic.Bool
	var pushed, popped []int
	var errs []string
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	if !runOrUnstick(t, 3, 5*time.Second, q.Close, func(id int) {
		r := rand.New(rand.NewPCG(seed, uint64(id)))
		switch id {
		case 0: // the producer
			next := 0
			for {
				after := closeReturned.Load() // Close returned before this push began
				var ok []int
				switch r.IntN(4) {
				case 0:
					if q.TryPush(next) {
						ok = []int{next}
					}
					next++
				case 1:
					err := q.Push(ctx, next)
					if err == nil {
						ok = []int{next}
					} else if !errors.Is(err, ringbuf.ErrClosed) {
						fail("Push = %v", err)
					}
					next++
				default:
					vs := seqFrom(next, 1+r.IntN(c+1))
					ok = vs[:q.TryPushN(vs)]
					next += len(vs)
				}
				if len(ok) > 0 {
					if after {
						fail("a push that began after Close returned pushed %v", ok)
					}
					pushed = append(pushed, ok...)
					continue
				}
				if after {
					return // failed after Close: the producer is done
				}
				runtime.Gosched()
			}
		case 1: // the consumer
			dst := make([]int, c+1)
			for {
				switch r.IntN(4) {
				case 0:
					if v, ok := q.TryPop(); ok {
						popped = append(popped, v)
						continue
					}
				case 1:
					v, err := q.Pop(ctx)
					if err == nil {
						popped = append(popped, v)
						continue
					}
					if !errors.Is(err, ringbuf.ErrClosed) {
						fail("Pop = %v", err)
						return
					}
					if !closeCalled.Load() {
						fail("Pop = ErrClosed before Close was called")
					}
					// Closed and drained, for good.
					for range 3 {
						if v, ok := q.TryPop(); ok {
							fail("TryPop after ErrClosed = %d", v)
						}
						if n := q.TryPopN(dst); n != 0 {
							fail("TryPopN after ErrClosed = %v", dst[:n])
						}
						if _, err := q.Pop(ctx); !errors.Is(err, ringbuf.ErrClosed) {
							fail("Pop after ErrClosed = %v", err)
						}
					}
					return
				default:
					if n := q.TryPopN(dst[:1+r.IntN(c+1)]); n > 0 {
						popped = append(popped, dst[:n]...)
						continue
					}
				}
				runtime.Gosched()
			}
		default: // the closer
			for range r.IntN(8 * c) {
				runtime.Gosched()
			}
			closeCalled.Store(true)
			q.Close()
			closeReturned.Store(true)
		}
	}) {
		return false
	}
	if !slices.Equal(pushed, popped) {
		errs = append(errs, fmt.Sprintf("pushed (successfully) %v\npopped before ErrClosed %v", pushed, popped))
	}
	if n := q.Len(); n != 0 {
		errs = append(errs, fmt.Sprintf("Len = %d after ErrClosed", n))
	}
	if q.TryPush(-1) || q.TryPushN([]int{-1}) != 0 {
		errs = append(errs, "a push after Close succeeded")
	}
	if len(errs) > 0 {
		t.Errorf("cap %d, seed %d:\n%s", c, seed, strings.Join(errs, "\n"))
		return false
	}
	return true
}

// Close wakes a Push or Pop that is on its way to park: the consumer Pops
// an empty queue (or the producer Pushes to a full one) while the closer
// calls Close at a random moment, often just as the waiter registers. The
// waiter's re-check under the wait-queue lock must see the closed flag,
// since Close's wake-up may already have run; the call must return
// ErrClosed. A waiter that parks for good fails the test after a few
// seconds.
func TestSPSCCloseWakesParkingCalls(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(4000)
	ctx := context.Background()
	for _, push := range []bool{false, true} {
		for round := range rounds {
			q := ringbuf.NewSPSC[int](1)
			if push {
				q.TryPush(0) // full
			}
			r := rand.New(rand.NewPCG(uint64(round), 0))
			yields := r.IntN(12)
			var err error
			if !runOrUnstick(t, 2, 5*time.Second, q.Close, func(id int) {
				if id == 1 {
					for range yields {
						runtime.Gosched()
					}
					q.Close()
					return
				}
				if push {
					err = q.Push(ctx, 1)
				} else {
					_, err = q.Pop(ctx)
				}
			}) {
				t.Logf("push %v, round %d", push, round)
				return
			}
			if !errors.Is(err, ringbuf.ErrClosed) {
				t.Fatalf("push %v, round %d: blocking call = %v, want ErrClosed", push, round, err)
			}
		}
	}
}

// heapItem is a heap object big enough not to share a tiny-allocator
// block, so a weak pointer to it tracks one object.
type heapItem struct {
	id  int
	sum int    // set by the producer before the push
	buf [8]int // filled by the producer, read (and overwritten) by the consumer
}

// newHeapItem allocates an item and a weak pointer to it.
//
//go:noinline
func newHeapItem(id int) (*heapItem, weak.Pointer[heapItem]) {
	p := &heapItem{id: id}
	return p, weak.Make(p)
}

// The queue keeps no reference to an item it no longer holds: an item that
// was popped (TryPop, TryPopN across the array's end, Pop) or whose push
// failed, including a push (TryPush or TryPushN, wrapping or not) whose
// publishing compare-and-swap lost to the consumer's closed mark, can be
// freed while the queue itself is alive. Each round races a producer, a
// consumer and a Close on a fresh queue and drains it; at the end every
// item must be gone after a GC although every queue is still reachable.
func TestSPSCNothingRetainedAfterCloseAndDrain(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(600)
	ctx := context.Background()
	var queues []*ringbuf.SPSC[*heapItem]
	var weaks []weak.Pointer[heapItem]
	var mu sync.Mutex
	for round := range rounds {
		c := 1 + round%3
		q := ringbuf.NewSPSC[*heapItem](c)
		queues = append(queues, q)
		var closed, stop atomic.Bool
		unstick := func() { stop.Store(true); q.Close() }
		if !runOrUnstick(t, 3, 5*time.Second, unstick, func(id int) {
			r := rand.New(rand.NewPCG(uint64(round), uint64(id)))
			switch id {
			case 0: // the producer: pushes until one fails after Close
				var mine []weak.Pointer[heapItem]
				defer func() {
					mu.Lock()
					weaks = append(weaks, mine...)
					mu.Unlock()
				}()
				for n := 0; !stop.Load(); {
					after := closed.Load()
					vs := make([]*heapItem, 1+r.IntN(c+1))
					for i := range vs {
						var w weak.Pointer[heapItem]
						vs[i], w = newHeapItem(n)
						mine = append(mine, w)
						n++
					}
					var k int
					if len(vs) == 1 && r.IntN(2) == 0 {
						if q.TryPush(vs[0]) {
							k = 1
						}
					} else {
						k = q.TryPushN(vs)
					}
					clear(vs)
					if k == 0 && after {
						return
					}
					if k == 0 {
						runtime.Gosched()
					}
				}
			case 1: // the consumer: pops until ErrClosed
				dst := make([]*heapItem, c+1)
				for !stop.Load() {
					switch r.IntN(3) {
					case 0:
						if _, ok := q.TryPop(); ok {
							continue
						}
					case 1:
						if n := q.TryPopN(dst[:1+r.IntN(c+1)]); n > 0 {
							clear(dst)
							continue
						}
					default:
						if _, err := q.Pop(ctx); err != nil {
							return
						}
						continue
					}
					runtime.Gosched()
				}
			default:
				for range r.IntN(6 * c) {
					runtime.Gosched()
				}
				q.Close()
				closed.Store(true)
			}
		}) {
			return
		}
	}
	for range 3 {
		runtime.GC()
	}
	alive := 0
	for _, w := range weaks {
		if w.Value() != nil {
			alive++
		}
	}
	runtime.KeepAlive(queues)
	if alive > 0 {
		t.Fatalf("%d of %d items still reachable after every queue was closed and drained (a slot kept a popped or never-published item)", alive, len(weaks))
	}
}

// The push that stores an item synchronizes before the pop that returns it,
// for every pairing of TryPush, TryPushN (wrapping) and Push with TryPop,
// TryPopN (wrapping) and Pop: the producer fills an object with plain
// writes and pushes a pointer to it; the consumer reads the object with
// plain reads and then overwrites it. Without the edge the race detector
// reports the accesses (and a consumer may read a stale or nil value, which
// the checks report without -race). Slot reuse is covered too: the
// consumer's read of a slot must happen before the producer's write of the
// next lap's item into it.
func TestSPSCPushHappensBeforePop(t *testing.T) {
	ctx := context.Background()
	per := testutil.Scale(20_000)
	for _, c := range []int{1, 2, 3, 8} {
		q := ringbuf.NewSPSC[*heapItem](c)
		var stop atomic.Bool
		unstick := func() { stop.Store(true); q.Close() }
		ok := runOrUnstick(t, 2, 5*time.Second, unstick, func(id int) {
			r := rand.New(rand.NewPCG(uint64(c), uint64(id)))
			if id == 0 {
				batch := make([]*heapItem, c+1)
				for seq := 0; seq < per && !stop.Load(); {
					n := min(1+r.IntN(c+1), per-seq)
					for i := range n {
						p := &heapItem{id: seq + i}
						for j := range p.buf {
							p.buf[j] = p.id*8 + j
							p.sum += p.buf[j]
						}
						batch[i] = p
					}
					switch r.IntN(3) {
					case 0:
						if q.TryPush(batch[0]) {
							seq++
						}
					case 1:
						seq += q.TryPushN(batch[:n])
					default:
						if err := q.Push(ctx, batch[0]); err != nil {
							if !stop.Load() {
								t.Errorf("Push: %v", err)
							}
							return
						}
						seq++
					}
					clear(batch)
				}
				q.Close()
				return
			}
			defer unstick() // release the producer if the consumer gives up
			dst := make([]*heapItem, c+1)
			want := 0
			check := func(p *heapItem) bool {
				if p == nil || p.id != want {
					t.Errorf("cap %d: popped %+v, want item %d", c, p, want)
					return false
				}
				sum := 0
				for j, v := range p.buf {
					if v != p.id*8+j {
						t.Errorf("cap %d: item %d: buf[%d] = %d, want %d (the producer's write is not visible)", c, p.id, j, v, p.id*8+j)
						return false
					}
					sum += v
					p.buf[j] = -1 // the consumer owns the item now
				}
				if sum != p.sum {
					t.Errorf("cap %d: item %d: sum %d, want %d", c, p.id, p.sum, sum)
					return false
				}
				p.sum = 0
				want++
				return true
			}
			for {
				switch r.IntN(3) {
				case 0:
					if p, ok := q.TryPop(); ok {
						if !check(p) {
							return
						}
						continue
					}
					runtime.Gosched()
				case 1:
					n := q.TryPopN(dst[:1+r.IntN(c+1)])
					for _, p := range dst[:n] {
						if !check(p) {
							return
						}
					}
					if n == 0 {
						runtime.Gosched()
					}
				default:
					p, err := q.Pop(ctx)
					if errors.Is(err, ringbuf.ErrClosed) {
						if want != per && !stop.Load() {
							t.Errorf("cap %d: ErrClosed after %d of %d items", c, want, per)
						}
						return
					}
					if err != nil {
						t.Errorf("cap %d: Pop: %v", c, err)
						return
					}
					if !check(p) {
						return
					}
				}
			}
		})
		if !ok || t.Failed() {
			return
		}
	}
}

// No lost wakeup in the blocking layer when batches and blocking calls mix:
// the producer alternates Push with TryPushN, the consumer Pop with TryPopN,
// on queues of 1 to 3 slots, so that a batch on one side meets a parked
// goroutine on the other at every turn; then the producer closes and the
// consumer's Pop must end with ErrClosed once it has every item. With
// cancel, each blocking call also gets a ctx that ends at a random moment
// (before the call, while parked, or never): a call that fails with the
// ctx error must leave the queue as it was (its item is pushed again, and
// a failed Pop took nothing), and a wake that races with the cancellation
// is not lost. A goroutine parked for good fails the test after a few
// seconds without progress (the watchdog closes the queue to release it).
func TestSPSCBlockingBatchesNoLostWakeup(t *testing.T) {
	testhook.Enable(t)
	per := testutil.Scale(6000)
	for _, cancel := range []bool{false, true} {
		for _, c := range []int{1, 2, 3} {
			if !blockingBatchesRound(t, c, per, cancel) {
				return
			}
		}
	}
}

func blockingBatchesRound(t *testing.T, c, per int, cancel bool) bool {
	q := ringbuf.NewSPSC[int](c)
	var progress atomic.Int64
	var stop atomic.Bool
	withCtx := func(r *rand.Rand) (context.Context, context.CancelFunc) {
		ctx, end := context.WithCancel(context.Background())
		if cancel {
			switch r.IntN(6) {
			case 0:
				end()
			case 1:
				go end()
			case 2:
				go func() {
					runtime.Gosched()
					end()
				}()
			}
		}
		return ctx, end
	}
	fail := func(format string, args ...any) {
		if !stop.Swap(true) {
			t.Errorf("cap %d, cancel %v: %s", c, cancel, fmt.Sprintf(format, args...))
			q.Close() // release the other side
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { // the producer
		r := rand.New(rand.NewPCG(uint64(c), 1))
		batch := make([]int, c+1)
		for seq := 0; seq < per; {
			if stop.Load() {
				return
			}
			if r.IntN(2) == 0 {
				ctx, end := withCtx(r)
				err := q.Push(ctx, seq)
				end()
				switch {
				case err == nil:
					seq++
					progress.Add(1)
				case cancel && errors.Is(err, context.Canceled):
				case stop.Load():
					return
				default:
					fail("Push = %v", err)
					return
				}
				continue
			}
			n := min(1+r.IntN(c+1), per-seq)
			for i := range n {
				batch[i] = seq + i
			}
			if k := q.TryPushN(batch[:n]); k > 0 {
				seq += k
				progress.Add(1)
			} else {
				runtime.Gosched()
			}
		}
		q.Close()
	})
	wg.Go(func() { // the consumer
		r := rand.New(rand.NewPCG(uint64(c), 2))
		dst := make([]int, c+1)
		want := 0
		for !stop.Load() {
			if r.IntN(2) == 0 {
				ctx, end := withCtx(r)
				v, err := q.Pop(ctx)
				end()
				switch {
				case err == nil:
					if v != want {
						fail("Pop = %d, want %d", v, want)
						return
					}
					want++
					progress.Add(1)
				case errors.Is(err, ringbuf.ErrClosed):
					if want != per {
						fail("Pop = ErrClosed after %d of %d items", want, per)
					}
					return
				case cancel && errors.Is(err, context.Canceled):
				default:
					fail("Pop = %v", err)
					return
				}
				continue
			}
			n := q.TryPopN(dst[:1+r.IntN(c+1)])
			for _, v := range dst[:n] {
				if v != want {
					fail("TryPopN gave %d, want %d", v, want)
					return
				}
				want++
			}
			if n > 0 {
				progress.Add(1)
			} else {
				runtime.Gosched()
			}
		}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// The watchdog: a liveness bound, not a timing assertion; a correct
	// queue makes progress every few microseconds.
	const limit = 5 * time.Second
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last, since := int64(-1), time.Now()
	for {
		select {
		case <-done:
			return !t.Failed()
		case <-tick.C:
		}
		if p := progress.Load(); p != last {
			last, since = p, time.Now()
			continue
		}
		if time.Since(since) > limit {
			fail("no progress for %v: a goroutine stayed parked while the other side made room or items, or closed (Len %d, parked %d): lost wakeup",
				limit, q.Len(), q.Parked())
			select {
			case <-done:
			case <-time.After(limit):
				testutil.DumpGoroutines()
				t.Errorf("goroutines still parked %v after Close (stacks above)", limit)
			}
			return false
		}
	}
}

// The roles pass between goroutines: three goroutines take turns as the
// producer and three as the consumer, each handing its role to the next
// through a channel after a few operations (a synchronizing handover, as
// the doc requires). Every item arrives once, in order, the last Pop
// reports ErrClosed, and the race detector sees no race on the ring's
// per-side state.
func TestSPSCRolesPass(t *testing.T) {
	per := testutil.Scale(4000)
	for _, c := range []int{1, 4} {
		q := ringbuf.NewSPSC[int](c)
		const sides = 3
		// Each goroutine waits for its role on a channel of its own and
		// hands it to the next of its side, so that the role moves to
		// another goroutine every time, and yields when its turn begins:
		// at GOMAXPROCS=1 the goroutine a handover readies runs next, so
		// without the yield one side passed its role round for whole
		// time slices while the other side, runnable, waited.
		var pushRoles, popRoles [sides]chan int // carry the next item to push / expected
		for i := range sides {
			pushRoles[i], popRoles[i] = make(chan int, 1), make(chan int, 1)
		}
		pushRoles[0] <- 0
		popRoles[0] <- 0
		closeAll := func(roles *[sides]chan int) {
			for _, ch := range roles {
				close(ch)
			}
		}
		quit := make(chan struct{})
		var bad atomic.Int64
		unstick := func() { close(quit); q.Close() }
		ok := runOrUnstick(t, 2*sides, 5*time.Second, unstick, func(id int) {
			r := rand.New(rand.NewPCG(uint64(c), uint64(id)))
			batch := make([]int, c+1)
			for {
				if id < sides { // a producer
					var seq int
					select {
					case s, ok := <-pushRoles[id]:
						if !ok {
							return
						}
						seq = s
					case <-quit:
						return
					}
					runtime.Gosched()
					for range 1 + r.IntN(8) {
						if seq == per {
							break
						}
						n := min(1+r.IntN(c+1), per-seq)
						for i := range n {
							batch[i] = seq + i
						}
						if r.IntN(2) == 0 {
							seq += q.TryPushN(batch[:n])
						} else if q.TryPush(seq) {
							seq++
						}
					}
					if seq == per {
						q.Close()
						closeAll(&pushRoles)
						return
					}
					pushRoles[(id+1)%sides] <- seq
					continue
				}
				var want int // a consumer
				select {
				case w, ok := <-popRoles[id-sides]:
					if !ok {
						return
					}
					want = w
				case <-quit:
					return
				}
				runtime.Gosched()
				for range 1 + r.IntN(8) {
					var got []int
					if r.IntN(2) == 0 {
						got = batch[:q.TryPopN(batch[:1+r.IntN(c+1)])]
					} else if v, ok := q.TryPop(); ok {
						got = []int{v}
					}
					for _, v := range got {
						if v != want && bad.Add(1) == 1 {
							t.Errorf("cap %d: popped %d, want %d", c, v, want)
						}
						want = v + 1
					}
				}
				if want >= per {
					if _, err := q.Pop(context.Background()); !errors.Is(err, ringbuf.ErrClosed) {
						t.Errorf("cap %d: Pop after the last item = %v, want ErrClosed", c, err)
					}
					closeAll(&popRoles)
					return
				}
				popRoles[(id-sides+1)%sides] <- want
			}
		})
		if !ok || t.Failed() {
			return
		}
	}
}

// Len stays within [0, Cap] while a producer and a consumer run flat out
// (single operations, which store the counts most often, and batches) and
// a third goroutine reads it (Len may be called from any goroutine). The
// counts are stored after the stamps, so tail-head alone leaves that range
// for a moment: a pop's head store can land before the tail store of the
// push it took, and a push into a slot just released can store tail before
// the pop stores head.
func TestSPSCLenWithinBounds(t *testing.T) {
	budget := stressBudget(400*time.Millisecond) / 4
	for _, c := range []int{1, 2} {
		for _, batch := range []bool{false, true} {
			q := ringbuf.NewSPSC[int](c)
			var stop atomic.Bool
			var bad, reads, worst atomic.Int64
			testutil.Run(t, 3, func(id int) {
				buf := make([]int, c)
				switch id {
				case 0:
					for !stop.Load() {
						if batch {
							q.TryPushN(buf)
						} else {
							q.TryPush(1)
						}
					}
				case 1:
					for !stop.Load() {
						if batch {
							q.TryPopN(buf)
						} else {
							q.TryPop()
						}
					}
				default:
					defer stop.Store(true)
					deadline := time.Now().Add(budget)
					for i := 1; ; i++ {
						if n := q.Len(); n < 0 || n > c {
							bad.Add(1)
							worst.Store(int64(n))
						}
						if i%1024 == 0 && time.Now().After(deadline) {
							reads.Store(int64(i))
							return
						}
					}
				}
			})
			if n := bad.Load(); n != 0 {
				t.Fatalf("cap %d, batches %v: Len() out of [0, %d] in %d of %d reads (e.g. %d)", c, batch, c, n, reads.Load(), worst.Load())
			}
		}
	}
}
