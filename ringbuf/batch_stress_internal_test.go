package ringbuf

// Tests for the count-claiming batches (TryPushN, TryPopN) of MPMC,
// and the pointer-free shortcut of both rings' TryPopN.
//
// Deterministic tests stop an operation between its claim and its publish
// (or release) by claiming a position by hand, as pop and push do, and use
// the await hook to learn that a batch has started to wait. Concurrent
// tests check exact counts with a token protocol, every item's fate, Len's
// range and Close's contract, with the test hooks widening the racy
// windows. No test sleeps; the only time bound is rvLiveness, a liveness
// bound that a correct ring meets by orders of magnitude.
//
// mpmc.go marks no racy window between the batches' loads of tail and
// head, nor between those loads and the claim, with testhook.Yield. Bugs
// that need a goroutine stopped there (loading head and tail in the wrong
// order; loading the parked count before the claim, a Dekker violation)
// are caught by TestMPMCBatchExactByTokens, TestMPMCBatchStressClose
// and TestMPMCBatchWakesInRounds only once such Yields are added; without
// them they pass here (and in the rest of the package's tests) nearly
// always.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
)

// rvLiveness bounds how long a test waits for goroutines that a correct
// ring lets finish at once (a liveness bound, not a timing assertion).
const rvLiveness = 20 * time.Second

// rvWaits installs an await hook that sends one token per wait (it never
// blocks: the channel is large) and returns the channel.
func rvWaits(t *testing.T) <-chan struct{} {
	ch := make(chan struct{}, 1024)
	setAwaitHook(t, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch
}

// rvRecv receives from ch within rvLiveness, or fails with every stack.
func rvRecv[V any](t *testing.T, ch <-chan V, what string) V {
	t.Helper()
	timer := time.NewTimer(rvLiveness)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		testutil.DumpGoroutines()
		t.Fatalf("no %s within %v (stacks above)", what, rvLiveness)
		panic("unreachable")
	}
}

// rvNotYet fails if ch already holds a value: the operation behind it
// finished although the slot it needs is still held.
func rvNotYet[V any](t *testing.T, ch <-chan V, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s finished (%v) while a slot it needs is still held by a stopped operation", what, v)
	default:
	}
}

// rvDo runs f in a goroutine and returns its result, failing the test if
// f has not returned within rvLiveness (a broken ring spins forever; this
// makes it fail with every stack instead of hanging the test binary).
func rvDo[V any](t *testing.T, what string, f func() V) V {
	t.Helper()
	ch := make(chan V, 1)
	go func() { ch <- f() }()
	return rvRecv(t, ch, what)
}

// rvWait waits for wg within rvLiveness, or fails with every stack and,
// if state is not nil, what it describes of the queue then.
func rvWait(t *testing.T, wg *sync.WaitGroup, what string, state func() string) {
	t.Helper()
	testutil.WaitWithin(t, wg, rvLiveness, "no "+what, state)
}

// rvQuiet checks the stamps of a queue on which no operation is in flight:
// the positions [head, tail) hold their items (stamp p+1), the others up to
// head+cap are empty for their position (stamp p), and, when zeroed is set
// (T holds pointers), their values are zero (no popped item is retained).
func rvQuiet[T comparable](t *testing.T, q *MPMC[T], zeroed bool) {
	t.Helper()
	head := q.head.Load()
	tail := q.tail.Load() &^ q.closedBit
	if head&q.closedBit != 0 || head&q.mask >= q.cap || tail&q.mask >= q.cap {
		t.Fatalf("malformed positions: head %#x tail %#x (cap %d)", head, tail, q.cap)
	}
	n := q.linear(tail) - q.linear(head)
	if n > q.cap {
		t.Fatalf("tail %#x is %d positions past head %#x (cap %d)", tail, n, head, q.cap)
	}
	if got := q.Len(); uint64(got) != n {
		t.Fatalf("Len() = %d, want %d", got, n)
	}
	var zero T
	p := head
	for i := range q.cap {
		s := &q.slots[p&q.mask]
		switch stamp := s.stamp.Load(); {
		case i < n && stamp != p+1:
			t.Fatalf("slot %d (position %#x) holds an item but has stamp %#x, want %#x", p&q.mask, p, stamp, p+1)
		case i >= n && stamp != p:
			t.Fatalf("slot %d (position %#x) is empty but has stamp %#x, want %#x", p&q.mask, p, stamp, p)
		case i >= n && zeroed && s.val != zero:
			t.Fatalf("empty slot %d (position %#x) still references a popped item", p&q.mask, p)
		}
		p = q.next(p)
	}
}

// rvAtLap returns a queue whose head and tail are both at index 0 of the
// given lap, as if lap*cap items had gone through it.
func rvAtLap[T any](c int, lap uint64) *MPMC[T] {
	q := NewMPMC[T](c)
	p := lap * q.oneLap
	q.head.Store(p)
	q.tail.Store(p)
	for i := range q.slots {
		q.slots[i].stamp.Store(p + uint64(i))
	}
	return q
}

// Every batch size against every fill level, at every start index and at
// two starting laps (0, and the largest lap a position can hold minus
// eight), for capacities 1 to 6, one goroutine alone: TryPushN must push
// exactly min(len, room), TryPopN pop exactly min(len, items) in FIFO
// order, neither may wait (nothing is half done), and after every call the
// stamps must be exactly those of a quiet queue, with no popped pointer
// left in a slot. Catches a wrong run/wrap split, a wrong lap for the
// wrapped part (next), advance's boundary, counting positions rather than
// items across a lap (non-power-of-two capacities), wrong publish/release
// stamps, a skipped zeroing for pointer items, and a batch push that
// succeeds after Close.
func TestMPMCBatchSweepAlone(t *testing.T) {
	if !t.Run("ptr", func(t *testing.T) {
		rvSweep(t, func(i int) *int { return &i }, func(p *int) int { return *p }, true)
	}) {
		return
	}
	if !t.Run("int", func(t *testing.T) {
		rvSweep(t, func(i int) int { return i }, func(v int) int { return v }, false)
	}) {
		return
	}
}

func rvSweep[T comparable](t *testing.T, val func(int) T, key func(T) int, zeroed bool) {
	setAwaitHook(t, func() {
		t.Fatalf("a batch waited on a queue used by one goroutine: it claimed a slot that was not ready")
	})
	for c := 1; c <= 6; c++ {
		q0 := NewMPMC[T](c)
		maxLap := ^uint64(0) >> q0.lapShift           // the largest lap a position holds
		for _, lap := range []uint64{0, maxLap - 8} { // at most 5c items go through
			for rot := range 2*c + 1 {
				for k := 0; k <= c; k++ {
					for b := 1; b <= c+2; b++ {
						name := fmt.Sprintf("cap=%d/lap=%#x/rot=%d/k=%d/b=%d", c, lap, rot, k, b)
						rvSweepOne(t, name, rvAtLap[T](c, lap), rot, k, b, val, key, zeroed)
						if t.Failed() {
							return
						}
					}
				}
			}
		}
	}
}

func rvSweepOne[T comparable](t *testing.T, name string, q *MPMC[T], rot, k, b int, val func(int) T, key func(T) int, zeroed bool) {
	t.Helper()
	c := q.Cap()
	next := 0
	var model []int
	push1 := func() {
		if !q.TryPush(val(next)) {
			t.Fatalf("%s: TryPush failed on a queue with %d of %d items", name, len(model), c)
		}
		model = append(model, next)
		next++
	}
	pop1 := func() {
		v, ok := q.TryPop()
		if !ok || key(v) != model[0] {
			t.Fatalf("%s: TryPop = %v, %v; want %d", name, v, ok, model[0])
		}
		model = model[1:]
	}
	for range rot {
		push1()
		pop1()
	}
	for range k {
		push1()
	}
	rvQuiet(t, q, zeroed)

	// The batch push.
	vs := make([]T, b)
	for i := range vs {
		vs[i] = val(next + i)
	}
	want := min(b, c-len(model))
	if n := q.TryPushN(vs); n != want {
		t.Fatalf("%s: TryPushN(%d items) with %d of %d slots used = %d, want %d", name, b, len(model), c, n, want)
	}
	for i := range want {
		model = append(model, next+i)
	}
	next += b
	rvQuiet(t, q, zeroed)

	// Batch pops of size b until empty; then one more, which finds it empty.
	for {
		dst := make([]T, b)
		want := min(b, len(model))
		n := q.TryPopN(dst)
		if n != want {
			t.Fatalf("%s: TryPopN(%d) with %d items = %d, want %d", name, b, len(model), n, want)
		}
		for i := range n {
			if key(dst[i]) != model[i] {
				t.Fatalf("%s: TryPopN item %d = %d, want %d (queue %v)", name, i, key(dst[i]), model[i], model)
			}
		}
		model = model[n:]
		rvQuiet(t, q, zeroed)
		if n == 0 {
			break
		}
	}
	// And a full-capacity batch both ways from wherever this left the
	// queue: a whole lap, which wraps unless the index is 0.
	all := make([]T, c)
	for i := range all {
		all[i] = val(next + i)
	}
	if n := q.TryPushN(all); n != c {
		t.Fatalf("%s: TryPushN(%d) on an empty queue = %d", name, c, n)
	}
	rvQuiet(t, q, zeroed)
	if n := q.TryPushN(all[:1]); n != 0 {
		t.Fatalf("%s: TryPushN on a full queue = %d", name, n)
	}
	dst := make([]T, c+1)
	if n := q.TryPopN(dst); n != c {
		t.Fatalf("%s: TryPopN(%d) on a full queue of %d = %d", name, c+1, c, n)
	}
	for i := range c {
		if key(dst[i]) != next+i {
			t.Fatalf("%s: full-lap TryPopN item %d = %d, want %d", name, i, key(dst[i]), next+i)
		}
	}
	rvQuiet(t, q, zeroed)
	next += c

	// Close with k%c items in and room for the rest: every push fails
	// (a batch too, though there is room), the items come out, then
	// ErrClosed.
	model = model[:0]
	for range k % c {
		push1()
	}
	q.Close()
	if n := q.TryPushN(all); n != 0 || q.TryPush(val(-1)) {
		t.Fatalf("%s: a push succeeded after Close (TryPushN = %d)", name, n)
	}
	if err := q.Push(context.Background(), val(-1)); err != ErrClosed {
		t.Fatalf("%s: Push after Close = %v, want ErrClosed", name, err)
	}
	dst = make([]T, b)
	n := q.TryPopN(dst)
	if want := min(b, len(model)); n != want {
		t.Fatalf("%s: TryPopN(%d) on a closed queue of %d = %d", name, b, len(model), n)
	}
	for i := range n {
		if key(dst[i]) != model[i] {
			t.Fatalf("%s: closed TryPopN item %d = %d, want %d", name, i, key(dst[i]), model[i])
		}
	}
	model = model[n:]
	for len(model) > 0 {
		pop1()
	}
	if _, err := q.Pop(context.Background()); err != ErrClosed {
		t.Fatalf("%s: Pop on a closed, drained queue = %v, want ErrClosed", name, err)
	}
	if q.TryPopN(dst) != 0 {
		t.Fatalf("%s: TryPopN on a closed, drained queue found items", name)
	}
	rvQuiet(t, q, zeroed)
}

// A chain of waits across the wrap, for capacities 2 to 5. A push is
// stopped between its claim and its publish at index 0 of lap 1 (S). A
// TryPopN claims the item before it (A, the last index of lap 0) and S, a
// claim that wraps, and waits for S. A TryPushN then claims every slot
// (room by count), including both of the TryPopN's, the last of them
// wrapped into lap 2, and waits for the TryPopN's release. A TryPop waits
// for the TryPushN's first item. Nothing may finish before S is
// published; then everything must, with every item where FIFO puts it,
// Len within [0, cap] throughout, and no popped pointer left in a slot.
// The waits form a chain (TryPop -> TryPushN -> TryPopN -> S), which the
// count-based claims keep acyclic: each operation waits only for
// operations that claimed before it.
func TestMPMCBatchWaitChainAcrossWrap(t *testing.T) {
	for c := 2; c <= 5; c++ {
		if !t.Run(fmt.Sprintf("cap=%d", c), func(t *testing.T) {
			q := NewMPMC[*int](c)
			waits := rvWaits(t)
			val := func(i int) *int { return &i }
			for range c - 1 {
				q.TryPush(val(-1))
				q.TryPop()
			}
			if !q.TryPush(val(100)) { // A, at the last index of lap 0
				t.Fatal("TryPush A failed")
			}
			sPos := q.tail.Load() // S: index 0 of lap 1
			if sPos != q.oneLap {
				t.Fatalf("tail = %#x, want index 0 of lap 1 (%#x)", sPos, q.oneLap)
			}
			if !q.tail.CompareAndSwap(sPos, q.next(sPos)) {
				t.Fatal("claiming S failed")
			}

			popN := make(chan []*int, 1)
			go func() {
				dst := make([]*int, c)
				popN <- dst[:q.TryPopN(dst)]
			}()
			rvRecv(t, waits, "wait of the TryPopN for S")
			if h, tl := q.head.Load(), q.tail.Load(); h != tl {
				t.Fatalf("TryPopN claimed up to %#x, want up to tail %#x (A and S)", h, tl)
			}
			if n := q.Len(); n != 0 {
				t.Fatalf("Len = %d after everything was claimed by a pop, want 0", n)
			}

			vs := make([]*int, c)
			for i := range vs {
				vs[i] = val(200 + i)
			}
			pushN := make(chan int, 1)
			go func() { pushN <- q.TryPushN(vs) }()
			rvRecv(t, waits, "wait of the TryPushN for the TryPopN's release")
			if n := q.Len(); n != c {
				t.Fatalf("Len = %d after the TryPushN claimed every slot, want %d", n, c)
			}
			if q.TryPush(val(-2)) || q.TryPushN([]*int{val(-3)}) != 0 {
				t.Fatal("a push succeeded on a queue whose every slot is claimed")
			}

			pop1 := make(chan *int, 1)
			go func() {
				v, ok := q.TryPop()
				if !ok {
					v = val(-4)
				}
				pop1 <- v
			}()

			for range 100 { // give them every chance to finish early
				runtime.Gosched()
			}
			rvNotYet(t, popN, "TryPopN")
			rvNotYet(t, pushN, "TryPushN")
			rvNotYet(t, pop1, "TryPop")
			if n := q.Len(); n < 0 || n > c {
				t.Fatalf("Len = %d, out of [0, %d]", n, c)
			}

			// Publish S, as push would.
			s := &q.slots[sPos&q.mask]
			s.val = val(101)
			s.stamp.Store(sPos + 1)

			got := rvRecv(t, popN, "TryPopN's return")
			if len(got) != 2 || *got[0] != 100 || *got[1] != 101 {
				t.Fatalf("TryPopN = %v, want [100 101]", rvKeys(got))
			}
			if n := rvRecv(t, pushN, "TryPushN's return"); n != c {
				t.Fatalf("TryPushN = %d, want %d", n, c)
			}
			if v := rvRecv(t, pop1, "TryPop's return"); *v != 200 {
				t.Fatalf("TryPop = %d, want 200", *v)
			}
			dst := make([]*int, c+1)
			n := rvDo(t, "the final TryPopN", func() int { return q.TryPopN(dst) })
			if want := rvSeq(201, c-1); !slices.Equal(rvKeys(dst[:n]), want) {
				t.Fatalf("the rest = %v, want %v", rvKeys(dst[:n]), want)
			}
			rvQuiet(t, q, true)
		}) {
			return
		}
	}
}

func rvKeys(vs []*int) []int {
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = -999
		if v != nil {
			out[i] = *v
		}
	}
	return out
}

func rvSeq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// Close while a batch waits. (a) A TryPushN that claimed its slot before
// Close, and waits for a stopped pop's release, must complete and its item
// must be popped before Pop reports ErrClosed; every push that starts after
// Close fails. (b) A TryPopN that claimed a stopped push's item must return
// it once published, whether Close came before the TryPopN or while it
// waited; a Pop that finds the stopped push's item unpublished must wait
// for it, not report ErrClosed.
func TestMPMCCloseWhileBatchWaits(t *testing.T) {
	ctx := context.Background()
	val := func(i int) *int { return &i }
	for c := 1; c <= 4; c++ {
		if !t.Run(fmt.Sprintf("push/cap=%d", c), func(t *testing.T) {
			q := NewMPMC[*int](c)
			waits := rvWaits(t)
			for i := range c {
				q.TryPush(val(i))
			}
			head := q.head.Load() // a pop of item 0, stopped after its claim
			if !q.head.CompareAndSwap(head, q.next(head)) {
				t.Fatal("claiming the front slot failed")
			}
			pushN := make(chan int, 1)
			go func() { pushN <- q.TryPushN([]*int{val(50), val(51)}) }()
			rvRecv(t, waits, "wait of the TryPushN")
			q.Close()
			if q.TryPushN([]*int{val(-1)}) != 0 || q.TryPush(val(-1)) {
				t.Fatal("a push succeeded after Close")
			}
			if err := q.Push(ctx, val(-1)); err != ErrClosed {
				t.Fatalf("Push after Close = %v, want ErrClosed", err)
			}
			rvNotYet(t, pushN, "TryPushN")
			s := &q.slots[head&q.mask]
			if *s.val != 0 {
				t.Fatalf("the stopped pop's slot holds %d, want 0: the TryPushN overwrote it", *s.val)
			}
			s.val = nil
			s.stamp.Store(head + q.oneLap) // the pop's release
			if n := rvRecv(t, pushN, "TryPushN's return"); n != 1 {
				t.Fatalf("TryPushN = %d, want 1 (it claimed one slot before Close)", n)
			}
			var got []int
			for {
				type res struct {
					v   *int
					err error
				}
				r := rvDo(t, "Pop", func() res { v, err := q.Pop(ctx); return res{v, err} })
				v, err := r.v, r.err
				if err != nil {
					if err != ErrClosed {
						t.Fatalf("Pop: %v", err)
					}
					break
				}
				got = append(got, *v)
			}
			if want := append(rvSeq(1, c-1), 50); !slices.Equal(got, want) {
				t.Fatalf("popped %v before ErrClosed, want %v", got, want)
			}
			if rvDo(t, "TryPopN", func() int { return q.TryPopN(make([]*int, 2)) }) != 0 || q.Len() != 0 {
				t.Fatal("the closed queue is not empty after Pop reported ErrClosed")
			}
			rvQuiet(t, q, true)
		}) {
			return
		}
		for _, closeFirst := range []bool{true, false} {
			if !t.Run(fmt.Sprintf("pop/cap=%d/closeFirst=%v", c, closeFirst), func(t *testing.T) {
				q := NewMPMC[*int](c)
				waits := rvWaits(t)
				// Wrap the positions so that S is at index 0 of lap 1
				// when c > 1 (then the TryPopN's claim wraps).
				for range c - 1 {
					q.TryPush(val(-1))
					q.TryPop()
				}
				var front []int
				if c > 1 {
					q.TryPush(val(10))
					front = []int{10}
				}
				sPos := q.tail.Load() // S: a push stopped after its claim
				if !q.tail.CompareAndSwap(sPos, q.next(sPos)) {
					t.Fatal("claiming S failed")
				}
				if closeFirst {
					q.Close()
				}
				popN := make(chan []*int, 1)
				go func() {
					dst := make([]*int, c+1)
					popN <- dst[:q.TryPopN(dst)]
				}()
				rvRecv(t, waits, "wait of the TryPopN for S")
				if !closeFirst {
					q.Close()
				}
				rvNotYet(t, popN, "TryPopN")
				// Everything is claimed: a pop now finds the queue closed
				// and drained, which is right (the TryPopN took it all).
				if err := rvDo(t, "Pop", func() error { _, err := q.Pop(ctx); return err }); err != ErrClosed {
					t.Fatalf("Pop with every item claimed by a closed queue's TryPopN = %v, want ErrClosed", err)
				}
				s := &q.slots[sPos&q.mask]
				s.val = val(11)
				s.stamp.Store(sPos + 1)
				got := rvKeys(rvRecv(t, popN, "TryPopN's return"))
				if want := append(front, 11); !slices.Equal(got, want) {
					t.Fatalf("TryPopN = %v, want %v", got, want)
				}
				rvQuiet(t, q, true)
			}) {
				return
			}
		}
		if !t.Run(fmt.Sprintf("popWaits/cap=%d", c), func(t *testing.T) {
			q := NewMPMC[*int](c)
			sPos := q.tail.Load()
			if !q.tail.CompareAndSwap(sPos, q.next(sPos)) {
				t.Fatal("claiming S failed")
			}
			q.Close()
			pop1 := make(chan any, 1)
			go func() {
				v, err := q.Pop(ctx)
				if err != nil {
					pop1 <- err
					return
				}
				pop1 <- *v
			}()
			for range 100 {
				runtime.Gosched()
			}
			rvNotYet(t, pop1, "Pop")
			s := &q.slots[sPos&q.mask]
			s.val = val(7)
			s.stamp.Store(sPos + 1)
			if got := rvRecv(t, pop1, "Pop's return"); got != 7 {
				t.Fatalf("Pop = %v, want 7 (pushed before Close)", got)
			}
		}) {
			return
		}
	}
}

// Exact counts under concurrency, by tokens. A producer takes b tokens of
// room (which consumers give back after their pops return) before it calls
// TryPushN with b items, so the queue has room for all of them throughout
// the call; it must push all b. A consumer takes k tokens of items (which
// producers give after their pushes return) before it calls TryPopN with
// len(dst) = k, so the queue holds k items not claimed by anyone else
// throughout; it must pop all k. Singles (TryPush, TryPop, Push, Pop) take
// one token and must succeed. A batch that claims too little, or too much
// (taking another consumer's items), or returns 0 while the queue was
// never full or empty, fails the count; every item must arrive exactly
// once, in order per producer. Capacities 1, 2, 3 and 5.
func TestMPMCBatchExactByTokens(t *testing.T) {
	testhook.Enable(t)
	per := testutil.Scale(20_000)
	for _, c := range []int{1, 2, 3, 5} {
		for _, pc := range [][2]int{{1, 1}, {2, 2}, {3, 1}, {1, 3}} {
			if !t.Run(fmt.Sprintf("cap=%d/producers=%d/consumers=%d", c, pc[0], pc[1]), func(t *testing.T) {
				rvTokens(t, c, pc[0], pc[1], per/pc[0])
			}) {
				return
			}
		}
	}
}

// rvTake takes n tokens from pool if it holds that many, and reports
// whether it did.
func rvTake(pool *atomic.Int64, n int64) bool {
	for {
		have := pool.Load()
		if have < n {
			return false
		}
		if pool.CompareAndSwap(have, have-n) {
			return true
		}
	}
}

func rvTokens(t *testing.T, c, producers, consumers, per int) {
	ctx := context.Background()
	q := NewMPMC[uint64](c)
	var room, items atomic.Int64
	room.Store(int64(c))
	var remaining atomic.Int64 // items not yet popped
	remaining.Store(int64(producers * per))
	var bad atomic.Int64
	var firstBad sync.Once
	fail := func(format string, args ...any) {
		bad.Add(1)
		firstBad.Do(func() { t.Errorf(format, args...) })
		q.Close() // release the others: they stop at the next failure
	}
	seen := make([]atomic.Int32, producers*per)
	var wg sync.WaitGroup
	for id := range producers + consumers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(id), uint64(c)))
			if id < producers {
				var vs [8]uint64
				for seq := 0; seq < per && bad.Load() == 0; {
					b := min(1+r.IntN(min(len(vs), c)), per-seq)
					if !rvTake(&room, int64(b)) {
						runtime.Gosched()
						continue
					}
					for i := range b {
						vs[i] = uint64(id)<<32 | uint64(seq+i)
					}
					switch op := r.IntN(8); {
					case b == 1 && op == 0:
						if !q.TryPush(vs[0]) {
							fail("TryPush failed with room for it throughout")
							return
						}
					case b == 1 && op == 1:
						if err := q.Push(ctx, vs[0]); err != nil {
							fail("Push: %v", err)
							return
						}
					default:
						if n := q.TryPushN(vs[:b]); n != b {
							fail("TryPushN(%d items) = %d with room for all throughout (cap %d)", b, n, c)
							return
						}
					}
					items.Add(int64(b))
					seq += b
				}
				return
			}
			last := make([]int, producers)
			for i := range last {
				last[i] = -1
			}
			var dst [8]uint64
			for remaining.Load() > 0 && bad.Load() == 0 {
				k := 1 + r.IntN(min(len(dst), c))
				if !rvTake(&items, int64(k)) {
					if !rvTake(&items, 1) {
						runtime.Gosched()
						continue
					}
					k = 1
				}
				var got []uint64
				switch op := r.IntN(8); {
				case k == 1 && op == 0:
					v, ok := q.TryPop()
					if !ok {
						fail("TryPop failed with an item for it throughout")
						return
					}
					got = dst[:1]
					got[0] = v
				case k == 1 && op == 1:
					v, err := q.Pop(ctx)
					if err != nil {
						fail("Pop: %v", err)
						return
					}
					got = dst[:1]
					got[0] = v
				default:
					n := q.TryPopN(dst[:k])
					if n != k {
						fail("TryPopN(%d) = %d with %d items for it throughout (cap %d)", k, n, k, c)
						return
					}
					got = dst[:n]
				}
				for _, v := range got {
					p, seq := int(v>>32), int(uint32(v))
					if p >= producers || seq >= per || seq <= last[p] {
						fail("popped (producer %d, seq %d) after seq %d of that producer", p, seq, last[min(p, producers-1)])
						return
					}
					last[p] = seq
					seen[p*per+seq].Add(1)
				}
				remaining.Add(-int64(len(got)))
				room.Add(int64(len(got)))
			}
		})
	}
	rvWait(t, &wg, "completion", func() string {
		return fmt.Sprintf("Len %d, remaining %d", q.Len(), remaining.Load())
	})
	if bad.Load() != 0 {
		return
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("item (producer %d, seq %d) popped %d times, want once", i/per, i%per, n)
		}
	}
	rvQuiet(t, q, false)
}

// rvNode is a pointer item whose fields the producer writes before pushing
// it; the consumer reads them after popping (under -race, a missing
// synchronizes-before edge is a reported race), and marks it popped.
type rvNode struct {
	producer, seq int
	check         uint64 // a function of producer and seq
	popped        atomic.Int32
}

func rvCheck(p, seq int) uint64 { return uint64(p)*0x9E3779B97F4A7C15 ^ uint64(seq)*0xC2B2AE3D27D4EB4F }

// Everything at once, with the test hooks on: producers and consumers pick
// among TryPush, TryPushN, Push, TryPop, TryPopN and Pop at random on
// capacities 1, 2, 3 and 5, two observers read Len throughout, and a
// closer closes the queue at a random point. Every push that reported
// success must be popped exactly once, in order per producer, with the
// fields its producer wrote; no push that started after Close returned may
// succeed; Pop and TryPopN must not report the queue drained while
// successful pushes are unpopped (checked at the end, once every
// goroutine has seen ErrClosed); Len stays in [0, cap]; and once drained
// no slot references a popped item.
func TestMPMCBatchStressClose(t *testing.T) {
	testhook.Enable(t)
	rounds := 6
	per := testutil.Scale(4_000)
	for _, c := range []int{1, 2, 3, 5} {
		for _, pc := range [][2]int{{2, 2}, {3, 1}, {1, 3}} {
			if !t.Run(fmt.Sprintf("cap=%d/producers=%d/consumers=%d", c, pc[0], pc[1]), func(t *testing.T) {
				for round := range rounds {
					rvStressClose(t, c, pc[0], pc[1], per/pc[0], uint64(round))
					if t.Failed() {
						return
					}
				}
			}) {
				return
			}
		}
	}
}

func rvStressClose(t *testing.T, c, producers, consumers, per int, seed uint64) {
	ctx := context.Background()
	q := NewMPMC[*rvNode](c)
	var closed atomic.Bool // set once Close has returned
	var bad atomic.Int64
	var firstBad sync.Once
	fail := func(format string, args ...any) {
		bad.Add(1)
		firstBad.Do(func() { t.Errorf(format, args...) })
		q.Close() // release the others
		closed.Store(true)
	}
	nodes := make([][]*rvNode, producers) // what each producer pushed successfully
	var pushed, poppedCount atomic.Int64
	var producing atomic.Int32
	producing.Store(int32(producers))
	closeAt := int64(rand.New(rand.NewPCG(seed, 99)).IntN(producers*per + 1))
	var wg sync.WaitGroup
	// The closer: closes once closeAt pushes have succeeded, or when every
	// producer is done.
	wg.Go(func() {
		for pushed.Load() < closeAt && producing.Load() > 0 {
			runtime.Gosched()
		}
		q.Close()
		closed.Store(true)
	})
	// Len observers.
	for range 2 {
		wg.Go(func() {
			for !closed.Load() || q.Len() > 0 {
				if n := q.Len(); n < 0 || n > c {
					fail("Len() = %d, out of [0, %d]", n, c)
					return
				}
				runtime.Gosched()
			}
		})
	}
	for id := range producers + consumers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(id), seed))
			if id < producers {
				defer producing.Add(-1)
				var vs [8]*rvNode
				for seq := 0; seq < per; {
					after := closed.Load()
					b := min(1+r.IntN(len(vs)), per-seq)
					for i := range b {
						vs[i] = &rvNode{producer: id, seq: seq + i, check: rvCheck(id, seq+i)}
					}
					var n int
					switch r.IntN(3) {
					case 0:
						if q.TryPush(vs[0]) {
							n = 1
						}
					case 1:
						if err := q.Push(ctx, vs[0]); err == nil {
							n = 1
						} else if err != ErrClosed {
							fail("Push: %v", err)
							return
						}
					default:
						n = q.TryPushN(vs[:b])
					}
					if n > 0 && after {
						fail("a push that started after Close returned pushed %d items", n)
						return
					}
					nodes[id] = append(nodes[id], vs[:n]...)
					pushed.Add(int64(n))
					seq += n
					if n == 0 {
						if closed.Load() {
							return
						}
						runtime.Gosched()
					}
				}
				return
			}
			last := make([]int, producers)
			for i := range last {
				last[i] = -1
			}
			var dst [8]*rvNode
			take := func(v *rvNode) bool {
				if v == nil || v.producer >= producers || v.check != rvCheck(v.producer, v.seq) {
					fail("popped a corrupt item %+v", v)
					return false
				}
				if v.seq <= last[v.producer] {
					fail("popped (producer %d, seq %d) after seq %d", v.producer, v.seq, last[v.producer])
					return false
				}
				last[v.producer] = v.seq
				if v.popped.Add(1) != 1 {
					fail("item (producer %d, seq %d) popped twice", v.producer, v.seq)
					return false
				}
				poppedCount.Add(1)
				return true
			}
			for {
				switch r.IntN(3) {
				case 0:
					v, err := q.Pop(ctx)
					if err == ErrClosed {
						return
					}
					if err != nil {
						fail("Pop: %v", err)
						return
					}
					if !take(v) {
						return
					}
				case 1:
					if v, ok := q.TryPop(); ok {
						if !take(v) {
							return
						}
						continue
					}
					runtime.Gosched()
				default:
					clear(dst[:])
					n := q.TryPopN(dst[:1+r.IntN(len(dst))])
					for _, v := range dst[:n] {
						if !take(v) {
							return
						}
					}
					if n == 0 {
						runtime.Gosched()
					}
				}
			}
		})
	}
	rvWait(t, &wg, "completion", func() string {
		return fmt.Sprintf("Len %d, parked %d, pushed %d, popped %d",
			q.Len(), q.w.parked.Load(), pushed.Load(), poppedCount.Load())
	})
	if bad.Load() != 0 {
		return
	}
	// Every consumer stopped at ErrClosed, so the queue reported itself
	// drained: every successful push must have been popped by then.
	if p, o := pushed.Load(), poppedCount.Load(); p != o {
		t.Fatalf("%d pushes succeeded but only %d items were popped before ErrClosed", p, o)
	}
	for id, ns := range nodes {
		for _, v := range ns {
			if v.popped.Load() != 1 {
				t.Fatalf("item (producer %d, seq %d) was pushed and popped %d times", id, v.seq, v.popped.Load())
			}
		}
	}
	rvQuiet(t, q, true)
}

// Lost wakeups after a batch, in lockstep rounds that make the waiter
// park as often as possible. In each round the batch side moves k items
// with TryPushN (or makes k room with TryPopN) while the blocking side,
// which the previous round left with an empty (full) queue, is parking
// or parked in Pop (Push) for them; the round ends when the blocking side
// has them. A batch that does not wake a waiter parked before its claim,
// or a parker that misses the batch's claim in its re-check, leaves the
// blocking side parked forever, which the liveness bound turns into a
// failure. Two waiters on the blocking side check the chain of wakes (a
// batch wakes one, which must pass the wake on).
func TestMPMCBatchWakesInRounds(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(20_000)
	for _, c := range []int{1, 2, 3} {
		for _, waiters := range []int{1, 2} {
			for _, side := range []string{"TryPushN-vs-Pop", "TryPopN-vs-Push"} {
				if !t.Run(fmt.Sprintf("cap=%d/waiters=%d/%s", c, waiters, side), func(t *testing.T) {
					rvRounds(t, c, waiters, rounds/waiters/c, side == "TryPushN-vs-Pop")
				}) {
					return
				}
			}
		}
	}
}

func rvRounds(t *testing.T, c, waiters, rounds int, batchPushes bool) {
	ctx := context.Background()
	q := NewMPMC[uint64](c)
	if !batchPushes {
		for i := range c { // full: the pushers wait for room
			q.TryPush(uint64(i))
		}
	}
	moved := make(chan int, waiters) // each blocking call reports one item
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			for !stop.Load() {
				if batchPushes {
					if _, err := q.Pop(ctx); err != nil {
						return
					}
				} else if err := q.Push(ctx, 1); err != nil {
					return
				}
				moved <- 1
			}
		})
	}
	var round atomic.Int64
	driver := make(chan struct{})
	go func() {
		defer close(driver)
		r := rand.New(rand.NewPCG(uint64(c), uint64(waiters)))
		buf := make([]uint64, c)
		for ; round.Load() < int64(rounds); round.Add(1) {
			k := 1 + r.IntN(c)
			for done := 0; done < k; {
				var n int
				if batchPushes {
					n = q.TryPushN(buf[:k-done])
				} else {
					n = q.TryPopN(buf[:k-done])
				}
				if n == 0 {
					runtime.Gosched()
				}
				done += n
			}
			for range k { // the blocking side moves all k items
				<-moved
			}
		}
	}()
	timer := time.NewTimer(rvLiveness)
	defer timer.Stop()
	select {
	case <-driver:
	case <-timer.C:
		testutil.DumpGoroutines()
		t.Fatalf("round %d of %d not done within %v: Len %d, parked %d (lost wakeup, or a hang; stacks above)",
			round.Load(), rounds, rvLiveness, q.Len(), q.w.parked.Load())
	}
	stop.Store(true)
	q.Close()
	rvWait(t, &wg, "the blocking side's return after Close", nil)
}

// Pointer items through SPSC's TryPopN, across the wrap, at every start
// index: once popped, no slot may reference the item (SPSC skips the
// zeroing only for pointer-free items).
func TestSPSCPopNReleasesPointers(t *testing.T) {
	for c := 1; c <= 5; c++ {
		for rot := range c {
			for b := 1; b <= c; b++ {
				q := NewSPSC[*int](c)
				for i := range rot {
					q.TryPush(&i)
					q.TryPop()
				}
				vs := make([]*int, b)
				for i := range vs {
					vs[i] = new(int)
					*vs[i] = i
				}
				if n := q.TryPushN(vs); n != b {
					t.Fatalf("cap %d rot %d: TryPushN(%d) = %d", c, rot, b, n)
				}
				dst := make([]*int, b)
				if n := q.TryPopN(dst); n != b {
					t.Fatalf("cap %d rot %d: TryPopN(%d) = %d", c, rot, b, n)
				}
				for i := range dst {
					if dst[i] != vs[i] {
						t.Fatalf("cap %d rot %d: item %d is not the one pushed", c, rot, i)
					}
				}
				for i := range q.slots {
					if q.slots[i].val != nil {
						t.Fatalf("cap %d rot %d b %d: slot %d still references a popped item", c, rot, b, i)
					}
				}
			}
		}
	}
}
