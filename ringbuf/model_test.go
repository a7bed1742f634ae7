package ringbuf_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lockstep-go/lockstep/ringbuf"
	"pgregory.net/rapid"
)

// ringMachine drives a random sequence of operations, on one goroutine,
// against a queue and a slice model, and checks every result.
func ringMachine(t *rapid.T) {
	k := rapid.IntRange(0, len(kinds)-1).Draw(t, "kind")
	capacity := rapid.IntRange(1, 9).Draw(t, "capacity")
	q := kinds[k].new(capacity)
	var model []int
	closed := false
	next := 0
	done, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()

	push := func(v int, ok bool) {
		want := !closed && len(model) < capacity
		if ok != want {
			t.Fatalf("push with %d/%d queued, closed %v: ok = %v, want %v", len(model), capacity, closed, ok, want)
		}
		if ok {
			model = append(model, v)
		}
	}
	pop := func(v int, ok bool) {
		if ok != (len(model) > 0) {
			t.Fatalf("pop with %d queued: ok = %v", len(model), ok)
		}
		if ok {
			if v != model[0] {
				t.Fatalf("pop = %d, want %d", v, model[0])
			}
			model = model[1:]
		}
	}
	t.Repeat(map[string]func(*rapid.T){
		"TryPush": func(t *rapid.T) {
			next++
			push(next, q.TryPush(next))
		},
		"TryPop": func(t *rapid.T) {
			v, ok := q.TryPop()
			pop(v, ok)
		},
		"TryPushN": func(t *rapid.T) {
			n := rapid.IntRange(0, 2*capacity+1).Draw(t, "n")
			vs := make([]int, n)
			for i := range vs {
				vs[i] = next + 1 + i
			}
			got := q.TryPushN(vs)
			want := 0
			if !closed {
				want = min(n, capacity-len(model))
			}
			if got != want {
				t.Fatalf("TryPushN(%d items) with %d/%d queued = %d, want %d", n, len(model), capacity, got, want)
			}
			model = append(model, vs[:got]...)
			next += got
		},
		"TryPopN": func(t *rapid.T) {
			dst := make([]int, rapid.IntRange(0, 2*capacity+1).Draw(t, "n"))
			got := q.TryPopN(dst)
			want := min(len(dst), len(model))
			if got != want || !slices.Equal(dst[:got], model[:want]) {
				t.Fatalf("TryPopN(%d) = %v, want %v", len(dst), dst[:got], model[:want])
			}
			model = model[want:]
		},
		"Push": func(t *rapid.T) {
			if !closed && len(model) == capacity {
				t.Skip("would block")
			}
			next++
			err := q.Push(ctx, next)
			if closed != errors.Is(err, ringbuf.ErrClosed) || (!closed && err != nil) {
				t.Fatalf("Push = %v, closed %v", err, closed)
			}
			push(next, err == nil)
		},
		"Pop": func(t *rapid.T) {
			if !closed && len(model) == 0 {
				t.Skip("would block")
			}
			v, err := q.Pop(ctx)
			if closed && len(model) == 0 {
				if !errors.Is(err, ringbuf.ErrClosed) {
					t.Fatalf("Pop on closed, drained queue = %v, want ErrClosed", err)
				}
				return
			}
			pop(v, err == nil)
		},
		"DoneCtx": func(t *rapid.T) {
			if q.Push(done, 0) == nil {
				t.Fatal("Push with a done ctx succeeded")
			}
			if _, err := q.Pop(done); err == nil {
				t.Fatal("Pop with a done ctx succeeded")
			}
		},
		"Close": func(t *rapid.T) {
			q.Close()
			closed = true
		},
		"": func(t *rapid.T) {
			if q.Len() != len(model) {
				t.Fatalf("Len() = %d, want %d", q.Len(), len(model))
			}
			if q.Cap() != capacity {
				t.Fatalf("Cap() = %d, want %d", q.Cap(), capacity)
			}
		},
	})
}

// TestStateMachine runs the model check as an ordinary test (rapid's
// default of 100 random sequences; -rapid.checks=N for more).
func TestStateMachine(t *testing.T) {
	defer ringbuf.SetAwaitHook(aloneNeverWaits)()
	rapid.Check(t, ringMachine)
}

// aloneNeverWaits is the await hook of the single-goroutine checks: with
// nobody else on the queue, no operation is ever half done, so a batch
// that waits for a slot has claimed one it had no right to and would wait
// forever.
func aloneNeverWaits() {
	panic("a batch on a queue used by one goroutine waited for a slot: it claimed a slot that was not free (or not full)")
}

// FuzzStateMachine is the same check as a fuzz target:
//
//	go test -run '^$' -fuzz FuzzStateMachine ./ringbuf/
//
// Without -fuzz, go test runs it on the seed corpus below.
func FuzzStateMachine(f *testing.F) {
	// rapid reads its choices 8 bytes at a time and skips an input that
	// runs out before the sequence ends, so the seeds are long.
	for seed := range uint64(16) {
		r := rand.New(rand.NewPCG(seed, 0))
		in := make([]byte, 8192)
		for i := range in {
			in[i] = byte(r.Uint32())
		}
		f.Add(in)
	}
	defer ringbuf.SetAwaitHook(aloneNeverWaits)()
	f.Fuzz(rapid.MakeFuzz(ringMachine))
}
