package ringbuf_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"weak"

	"github.com/lockstep-go/lockstep/ringbuf"
)

// ring is the method set MPMC and SPSC share; the tests below run on both.
type ring[T any] interface {
	TryPush(T) bool
	TryPop() (T, bool)
	TryPushN([]T) int
	TryPopN([]T) int
	Push(context.Context, T) error
	Pop(context.Context) (T, error)
	Close()
	Len() int
	Cap() int
}

var (
	_ ring[int] = (*ringbuf.MPMC[int])(nil)
	_ ring[int] = (*ringbuf.SPSC[int])(nil)
)

type kind struct {
	name string
	new  func(capacity int) ring[int]
}

var kinds = []kind{
	{"MPMC", func(n int) ring[int] { return ringbuf.NewMPMC[int](n) }},
	{"SPSC", func(n int) ring[int] { return ringbuf.NewSPSC[int](n) }},
}

// forKinds runs fn as a subtest for each queue type.
func forKinds(t *testing.T, fn func(t *testing.T, k kind)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k) })
	}
}

var capacities = []int{1, 2, 3, 4, 5, 7, 8, 1000, 1024}

// Exactly capacity items fit, whatever the capacity, and they come out in
// order; this across many laps, so every wraparound path runs.
func TestExactCapacityAndFIFO(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		for _, c := range capacities {
			q := k.new(c)
			if q.Cap() != c {
				t.Fatalf("Cap() = %d, want %d", q.Cap(), c)
			}
			next, want := 0, 0
			for lap := range 5 {
				// Fill to capacity, then one more must fail.
				for q.Len() < c {
					if !q.TryPush(next) {
						t.Fatalf("cap %d lap %d: TryPush failed at Len %d", c, lap, q.Len())
					}
					next++
				}
				if q.TryPush(-1) {
					t.Fatalf("cap %d: TryPush succeeded on a full queue", c)
				}
				// Drain part of it, from a lap-dependent offset.
				for range 1 + lap%c {
					v, ok := q.TryPop()
					if !ok || v != want {
						t.Fatalf("cap %d: TryPop = %d, %v; want %d, true", c, v, ok, want)
					}
					want++
				}
			}
			for q.Len() > 0 {
				v, ok := q.TryPop()
				if !ok || v != want {
					t.Fatalf("cap %d: TryPop = %d, %v; want %d, true", c, v, ok, want)
				}
				want++
			}
			if v, ok := q.TryPop(); ok {
				t.Fatalf("cap %d: TryPop on empty queue = %d, true", c, v)
			}
			if want != next {
				t.Fatalf("cap %d: popped %d items, pushed %d", c, want, next)
			}
		}
	})
}

// Batches move exactly as many items as there is room (or items) for, in
// order, across wraparound.
func TestBatches(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		for _, c := range capacities {
			q := k.new(c)
			next, want := 0, 0
			model := 0 // items in the queue
			for i := range 200 {
				size := 1 + (i*7)%(2*c+3)
				vs := make([]int, size)
				for j := range vs {
					vs[j] = next + j
				}
				n := q.TryPushN(vs)
				if wantN := min(size, c-model); n != wantN {
					t.Fatalf("cap %d: TryPushN(%d items) with %d queued = %d, want %d", c, size, model, n, wantN)
				}
				next += n
				model += n
				dst := make([]int, 1+(i*5)%(2*c+1))
				m := q.TryPopN(dst)
				if wantM := min(len(dst), model); m != wantM {
					t.Fatalf("cap %d: TryPopN(%d) with %d queued = %d, want %d", c, len(dst), model, m, wantM)
				}
				for _, v := range dst[:m] {
					if v != want {
						t.Fatalf("cap %d: TryPopN gave %d, want %d", c, v, want)
					}
					want++
				}
				model -= m
				if q.Len() != model {
					t.Fatalf("cap %d: Len() = %d, want %d", c, q.Len(), model)
				}
			}
			if q.TryPushN(nil) != 0 || q.TryPopN(nil) != 0 {
				t.Fatal("empty batches moved items")
			}
		}
	})
}

func TestLenTracksContents(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		q := k.new(3)
		for i, op := range "+++-+--+---" {
			if op == '+' {
				q.TryPush(i)
			} else {
				q.TryPop()
			}
		}
		if q.Len() != 0 {
			t.Fatalf("Len() = %d after balanced operations, want 0", q.Len())
		}
		q.TryPush(1)
		q.TryPush(2)
		if q.Len() != 2 {
			t.Fatalf("Len() = %d, want 2", q.Len())
		}
	})
}

func TestCloseDrainsThenFails(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		ctx := context.Background()
		q := k.new(4)
		q.TryPush(1)
		if err := q.Push(ctx, 2); err != nil {
			t.Fatal(err)
		}
		q.Close()
		q.Close() // idempotent
		if q.TryPush(3) {
			t.Fatal("TryPush after Close succeeded")
		}
		if q.TryPushN([]int{3, 4}) != 0 {
			t.Fatal("TryPushN after Close pushed items")
		}
		if err := q.Push(ctx, 3); !errors.Is(err, ringbuf.ErrClosed) {
			t.Fatalf("Push after Close = %v, want ErrClosed", err)
		}
		if q.Len() != 2 {
			t.Fatalf("Len() after Close = %d, want 2", q.Len())
		}
		if v, err := q.Pop(ctx); v != 1 || err != nil {
			t.Fatalf("Pop = %d, %v; want 1, nil", v, err)
		}
		if v, ok := q.TryPop(); v != 2 || !ok {
			t.Fatalf("TryPop = %d, %v; want 2, true", v, ok)
		}
		for range 2 {
			if _, err := q.Pop(ctx); !errors.Is(err, ringbuf.ErrClosed) {
				t.Fatalf("Pop on closed, drained queue = %v, want ErrClosed", err)
			}
			if _, ok := q.TryPop(); ok {
				t.Fatal("TryPop on closed, drained queue succeeded")
			}
			if q.TryPopN(make([]int, 3)) != 0 {
				t.Fatal("TryPopN on closed, drained queue popped items")
			}
		}
	})
}

// Rule 2 of the cancellation contract: a done ctx fails the call even when
// it could succeed at once, and the queue is left as it was; the error
// matches ctx.Err() and the cause.
func TestDoneContextFailsAndChangesNothing(t *testing.T) {
	forKinds(t, func(t *testing.T, k kind) {
		cause := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		q := k.new(2)
		err := q.Push(ctx, 1)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
			t.Fatalf("Push with done ctx = %v, want context.Canceled wrapping the cause", err)
		}
		if q.Len() != 0 {
			t.Fatalf("Len() = %d after a failed Push, want 0", q.Len())
		}
		q.TryPush(7)
		if _, err := q.Pop(ctx); !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
			t.Fatalf("Pop with done ctx = %v, want context.Canceled wrapping the cause", err)
		}
		if v, ok := q.TryPop(); !ok || v != 7 {
			t.Fatalf("the item is gone after a failed Pop: TryPop = %d, %v", v, ok)
		}
		// A closed queue and a done ctx: the ctx is checked first.
		q.Close()
		if err := q.Push(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Push on closed queue with done ctx = %v, want context.Canceled", err)
		}
	})
}

func TestMisusePanics(t *testing.T) {
	type misuse = struct {
		name string
		fn   func()
	}
	var huge []misuse
	if strconv.IntSize == 64 { // an int cannot exceed the limit (1<<40) on 32-bit platforms
		n := math.MaxInt
		huge = []misuse{
			{"NewMPMC(huge)", func() { ringbuf.NewMPMC[int](n) }},
			{"NewSPSC(huge)", func() { ringbuf.NewSPSC[int](n) }},
		}
	}
	done, cancel := context.WithCancel(context.Background())
	cancel() // a done ctx must not hide the misuse behind a ctx error
	for _, tc := range append(huge, []misuse{
		{"NewMPMC(0)", func() { ringbuf.NewMPMC[int](0) }},
		{"NewMPMC(-1)", func() { ringbuf.NewMPMC[int](-1) }},
		{"NewSPSC(0)", func() { ringbuf.NewSPSC[int](0) }},
		{"zero MPMC TryPush", func() { new(ringbuf.MPMC[int]).TryPush(1) }},
		{"zero MPMC TryPop", func() { new(ringbuf.MPMC[int]).TryPop() }},
		{"zero MPMC TryPushN", func() { new(ringbuf.MPMC[int]).TryPushN([]int{1}) }},
		{"zero MPMC Pop", func() { new(ringbuf.MPMC[int]).Pop(context.Background()) }},
		{"zero SPSC TryPush", func() { new(ringbuf.SPSC[int]).TryPush(1) }},
		{"zero SPSC TryPop", func() { new(ringbuf.SPSC[int]).TryPop() }},
		{"zero SPSC TryPopN", func() { new(ringbuf.SPSC[int]).TryPopN(make([]int, 1)) }},
		{"zero SPSC Push", func() { new(ringbuf.SPSC[int]).Push(context.Background(), 1) }},
		{"zero MPMC Push with done ctx", func() { new(ringbuf.MPMC[int]).Push(done, 1) }},
		{"zero MPMC Pop with done ctx", func() { new(ringbuf.MPMC[int]).Pop(done) }},
		{"zero SPSC Push with done ctx", func() { new(ringbuf.SPSC[int]).Push(done, 1) }},
		{"zero SPSC Pop with done ctx", func() { new(ringbuf.SPSC[int]).Pop(done) }},
		{"zero MPMC TryPushN(nil)", func() { new(ringbuf.MPMC[int]).TryPushN(nil) }},
		{"zero MPMC TryPopN(nil)", func() { new(ringbuf.MPMC[int]).TryPopN(nil) }},
		{"zero SPSC TryPushN(nil)", func() { new(ringbuf.SPSC[int]).TryPushN(nil) }},
		{"zero SPSC TryPopN(nil)", func() { new(ringbuf.SPSC[int]).TryPopN(nil) }},
		{"zero MPMC Close", func() { new(ringbuf.MPMC[int]).Close() }},
		{"zero SPSC Close", func() { new(ringbuf.SPSC[int]).Close() }},
		// Every argument shape, and again after a first panic.
		{"zero SPSC TryPushN", func() { new(ringbuf.SPSC[int]).TryPushN([]int{1, 2}) }},
		{"zero SPSC Pop", func() { new(ringbuf.SPSC[int]).Pop(context.Background()) }},
		{"zero SPSC TryPush, twice", func() {
			q := new(ringbuf.SPSC[int])
			recovered(func() { q.TryPush(1) })
			q.TryPush(1)
		}},
		{"zero SPSC TryPopN, twice", func() {
			q := new(ringbuf.SPSC[int])
			recovered(func() { q.TryPopN(make([]int, 1)) })
			q.TryPopN(make([]int, 1))
		}},
		{"zero SPSC Close, then Pop", func() {
			q := new(ringbuf.SPSC[int])
			recovered(q.Close)
			q.Pop(context.Background())
		}},
	}...) {
		t.Run(tc.name, func(t *testing.T) {
			r := recovered(tc.fn)
			if s, ok := r.(string); !ok || !strings.HasPrefix(s, "ringbuf: ") {
				t.Fatalf("panic value %#v, want a string starting with \"ringbuf: \"", r)
			}
		})
	}
	// A zero SPSC's Len and Cap report 0, also after its operations
	// panicked.
	q := new(ringbuf.SPSC[int])
	recovered(func() { q.TryPush(1) })
	recovered(q.Close)
	if q.Len() != 0 || q.Cap() != 0 {
		t.Fatalf("zero SPSC: Len, Cap = %d, %d after panics; want 0, 0", q.Len(), q.Cap())
	}
}

// recovered calls fn and returns what it panicked with, or nil.
func recovered(fn func()) (r any) {
	defer func() { r = recover() }()
	fn()
	return nil
}

// payload is big enough not to be a tiny allocation, so a weak pointer to
// it tracks exactly one object.
type payload struct {
	id int
	_  [64]byte // size only
}

//go:noinline
func pushPayloads(q ring[*payload], n int) []weak.Pointer[payload] {
	ws := make([]weak.Pointer[payload], n)
	for i := range n {
		p := &payload{id: i}
		ws[i] = weak.Make(p)
		if !q.TryPush(p) {
			panic("full")
		}
	}
	return ws
}

//go:noinline
func popPayloads(q ring[*payload], n int, batch bool) {
	if batch {
		dst := make([]*payload, n)
		if q.TryPopN(dst) != n {
			panic("short batch")
		}
		clear(dst)
		return
	}
	for range n {
		if _, ok := q.TryPop(); !ok {
			panic("empty")
		}
	}
}

// A popped item is no longer referenced by the queue, so the garbage
// collector can free it; items still queued stay alive. (Without zeroing
// the slot on pop, the popped payloads would stay reachable from the ring
// until their slot is overwritten a lap later.)
func TestPopReleasesItemToGC(t *testing.T) {
	for _, k := range []struct {
		name string
		new  func(int) ring[*payload]
	}{
		{"MPMC", func(n int) ring[*payload] { return ringbuf.NewMPMC[*payload](n) }},
		{"SPSC", func(n int) ring[*payload] { return ringbuf.NewSPSC[*payload](n) }},
	} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/batch=%v", k.name, batch), func(t *testing.T) {
				const n, popped = 8, 5
				q := k.new(n)
				ws := pushPayloads(q, n)
				popPayloads(q, popped, batch)
				// A full GC clears the weak pointers of unreachable objects;
				// a few rounds give finalizer-free objects every chance.
				for range 3 {
					runtime.GC()
				}
				for i, w := range ws {
					if alive := w.Value() != nil; alive != (i >= popped) {
						t.Errorf("item %d alive = %v after GC, want %v", i, alive, i >= popped)
					}
				}
				runtime.KeepAlive(q)
			})
		}
	}
}
