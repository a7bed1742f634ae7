package ringbuf_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/lockstep-go/lockstep/internal/testhook"
	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/ringbuf"
)

// Operations of the porcupine model of a bounded FIFO queue.
type qInput struct {
	op  byte  // 'p' TryPush, 'o' TryPop, 'P' TryPushN, 'O' TryPopN, 'C' Close, 'X' Push, 'x' Pop
	vs  []int // items to push
	max int   // TryPopN: len(dst)
}

type qOutput struct {
	ok bool  // TryPush, TryPop; Push, Pop: false for ErrClosed
	vs []int // items popped (TryPop, Pop: one)
	n  int   // TryPushN: items pushed
}

// qState is the model's state: the items in the queue, front first, and
// whether Close was called.
type qState struct {
	items  []int
	closed bool
}

// queueModel is the sequential specification, for capacity c:
//   - TryPush fails iff the queue is full or closed; TryPop fails iff it is
//     empty and otherwise returns the front item.
//   - TryPushN pushes a prefix of at least one item unless full or closed,
//     at most the room; TryPopN pops the front n items, at least one unless
//     empty.
//   - Close closes; Push appends unless closed, and fails iff closed (it
//     waits while the queue is full); Pop returns the front item, or
//     ErrClosed iff the queue is closed and empty (it waits while the
//     queue is empty). The histories call them only where a Close ends
//     every wait.
func queueModel(c int) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return qState{} },
		Step: func(state, input, output any) (bool, any) {
			st, in, out := state.(qState), input.(qInput), output.(qOutput)
			items := st.items
			with := func(items []int) qState { return qState{items, st.closed} }
			switch in.op {
			case 'p', 'X':
				if !out.ok {
					return st.closed || (in.op == 'p' && len(items) == c), st
				}
				return !st.closed && len(items) < c, with(append(slices.Clip(items), in.vs[0]))
			case 'o', 'x':
				if !out.ok {
					return len(items) == 0 && (in.op == 'o' || st.closed), st
				}
				if len(items) == 0 || items[0] != out.vs[0] {
					return false, st
				}
				return true, with(items[1:])
			case 'P':
				room := c - len(items)
				if out.n == 0 {
					return st.closed || room == 0, st
				}
				return !st.closed && out.n <= min(room, len(in.vs)), with(append(slices.Clip(items), in.vs[:out.n]...))
			case 'O':
				n := len(out.vs)
				if n == 0 {
					return len(items) == 0, st
				}
				if n > min(len(items), in.max) || !slices.Equal(items[:n], out.vs) {
					return false, st
				}
				return true, with(items[n:])
			case 'C':
				return true, qState{items, true}
			}
			panic("unknown op")
		},
		Equal: func(a, b any) bool {
			x, y := a.(qState), b.(qState)
			return x.closed == y.closed && slices.Equal(x.items, y.items)
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(qInput), output.(qOutput)
			switch in.op {
			case 'p':
				return fmt.Sprintf("TryPush(%d) = %v", in.vs[0], out.ok)
			case 'o':
				return fmt.Sprintf("TryPop() = %v, %v", out.vs, out.ok)
			case 'P':
				return fmt.Sprintf("TryPushN(%v) = %d", in.vs, out.n)
			case 'O':
				return fmt.Sprintf("TryPopN(%d) = %v", in.max, out.vs)
			case 'C':
				return "Close()"
			case 'X':
				if !out.ok {
					return fmt.Sprintf("Push(%d) = ErrClosed", in.vs[0])
				}
				return fmt.Sprintf("Push(%d) = nil", in.vs[0])
			default:
				if !out.ok {
					return "Pop() = ErrClosed"
				}
				return fmt.Sprintf("Pop() = %v", out.vs)
			}
		},
	}
}

// A role picks a client's next operation; values hands out the items to
// push, unique across the history.
type role func(r *rand.Rand, values *atomic.Int64) qInput

func pushItems(values *atomic.Int64, n int) []int {
	vs := make([]int, n)
	for i := range vs {
		vs[i] = int(values.Add(1))
	}
	return vs
}

// pusher, popper and anyOp are the roles: the operations of a producer, of
// a consumer, and of both (MPMC clients).
func pusher(r *rand.Rand, values *atomic.Int64) qInput {
	if r.IntN(2) == 0 {
		return qInput{op: 'p', vs: pushItems(values, 1)}
	}
	return qInput{op: 'P', vs: pushItems(values, 1+r.IntN(3))}
}

func popper(r *rand.Rand, _ *atomic.Int64) qInput {
	if r.IntN(2) == 0 {
		return qInput{op: 'o'}
	}
	return qInput{op: 'O', max: 1 + r.IntN(3)}
}

// blockingPopper is popper with blocking Pops too, for histories in which
// a closer ends every wait.
func blockingPopper(r *rand.Rand, values *atomic.Int64) qInput {
	if r.IntN(4) == 0 {
		return qInput{op: 'x'}
	}
	return popper(r, values)
}

// blockingPusher is pusher with blocking Pushes too, for histories in
// which a closer ends every wait.
func blockingPusher(r *rand.Rand, values *atomic.Int64) qInput {
	if r.IntN(4) == 0 {
		return qInput{op: 'X', vs: pushItems(values, 1)}
	}
	return pusher(r, values)
}

// anyBlockingOp is anyOp with blocking Pushes and Pops too.
func anyBlockingOp(r *rand.Rand, values *atomic.Int64) qInput {
	if r.IntN(2) == 0 {
		return blockingPusher(r, values)
	}
	return blockingPopper(r, values)
}

func anyOp(r *rand.Rand, values *atomic.Int64) qInput {
	if r.IntN(2) == 0 {
		return pusher(r, values)
	}
	return popper(r, values)
}

// apply performs in on q.
func apply(ctx context.Context, q ring[int], in qInput) qOutput {
	var out qOutput
	switch in.op {
	case 'p':
		out.ok = q.TryPush(in.vs[0])
	case 'o':
		if v, ok := q.TryPop(); ok {
			out.ok, out.vs = true, []int{v}
		}
	case 'P':
		out.n = q.TryPushN(in.vs)
	case 'O':
		dst := make([]int, in.max)
		out.vs = dst[:q.TryPopN(dst)]
	case 'C':
		q.Close()
	case 'X':
		err := q.Push(ctx, in.vs[0])
		if err != nil && !errors.Is(err, ringbuf.ErrClosed) {
			panic(err)
		}
		out.ok = err == nil
	case 'x':
		v, err := q.Pop(ctx)
		if err != nil && !errors.Is(err, ringbuf.ErrClosed) {
			panic(err) // the ctx's deadline: Pop is stuck on a closed queue
		}
		if err == nil {
			out.ok, out.vs = true, []int{v}
		}
	}
	return out
}

// recordHistory runs a goroutine per role, each making ops operations on
// q, and returns the timed history. If closeAfter > 0, one more goroutine
// closes q after yielding a random number (below closeAfter) of times, and
// once all have returned the test drains q with Pop until ErrClosed; the
// drain is part of the history.
func recordHistory(t *testing.T, q ring[int], roles []role, ops, closeAfter int, seed uint64) []porcupine.Operation {
	t.Helper()
	var clock atomic.Int64
	var values atomic.Int64
	ctx := context.Background()
	clients := len(roles)
	if closeAfter > 0 {
		clients++
	}
	histories := make([][]porcupine.Operation, clients)
	do := func(id int, in qInput) {
		call := clock.Add(1)
		out := apply(ctx, q, in)
		histories[id] = append(histories[id], porcupine.Operation{
			ClientId: id, Input: in, Output: out, Call: call, Return: clock.Add(1),
		})
	}
	testutil.Run(t, clients, func(id int) {
		r := rand.New(rand.NewPCG(seed, uint64(id)))
		if id == len(roles) { // the closer
			for range r.IntN(closeAfter) {
				runtime.Gosched()
			}
			do(id, qInput{op: 'C'})
			return
		}
		for range ops {
			do(id, roles[id](r, &values))
		}
	})
	if closeAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, testutil.Liveness) // seen by do
		defer cancel()
		for {
			do(0, qInput{op: 'x'})
			if h := histories[0]; !h[len(h)-1].Output.(qOutput).ok {
				break
			}
		}
	}
	return slices.Concat(histories...)
}

// checkLinearizable fails the test, listing the history, if h is not
// linearizable with respect to queueModel(c).
func checkLinearizable(t *testing.T, c int, h []porcupine.Operation, round int) {
	t.Helper()
	model := queueModel(c)
	switch porcupine.CheckOperationsTimeout(model, h, 10*time.Second) {
	case porcupine.Illegal:
		var b []byte
		for _, op := range h {
			b = fmt.Appendf(b, "  client %d [%d,%d] %s\n", op.ClientId, op.Call, op.Return,
				model.DescribeOperation(op.Input, op.Output))
		}
		t.Fatalf("round %d: history is not linearizable:\n%s", round, b)
	case porcupine.Unknown:
		t.Logf("round %d: porcupine timed out; history not checked", round)
	}
}

// MPMC histories are linearizable with respect to the bounded FIFO queue.
// The test hooks yield inside the windows between a claim and its publish
// (or release), so the interleavings that would expose an atomicity bug
// there are the common case rather than a rarity. Two seeded bugs were
// caught, each in every one of three runs without -race (which reports
// both as data races too): a pop that released its slot before reading the
// item produced a non-linearizable history within the first rounds, and a
// push that claimed its slot by load-compare-store instead of
// compare-and-swap corrupted the stamps so that a pop waited forever for a
// publish that never came (testutil.Run's watchdog fails such a run with
// every goroutine's stack).
func TestMPMCLinearizable(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(100)
	roles := []role{anyOp, anyOp, anyOp, anyOp}
	for _, c := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("cap=%d", c), func(t *testing.T) {
			for round := range rounds {
				h := recordHistory(t, ringbuf.NewMPMC[int](c), roles, 25, 0, uint64(round))
				checkLinearizable(t, c, h, round)
			}
		})
	}
}

// SPSC histories (one pushing client, one popping) are linearizable too.
func TestSPSCLinearizable(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(100)
	for _, c := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("cap=%d", c), func(t *testing.T) {
			for round := range rounds {
				h := recordHistory(t, ringbuf.NewSPSC[int](c), []role{pusher, popper}, 40, 0, uint64(round))
				checkLinearizable(t, c, h, round)
			}
		})
	}
}

// Close racing with pushes and pops is linearizable: a push either lands
// before the Close (and its item is popped, by a pop during the run or by
// the Pop that drains the queue afterwards) or fails, and a Pop returns
// ErrClosed only once every pushed item is out. Blocking Pops wait until an
// item arrives or the closer closes. The test hooks yield in the windows
// between a push's check of the closed flag and its publishing
// compare-and-swap, and between a pop's finding its slot empty and its
// look at the flag.
func TestCloseLinearizable(t *testing.T) {
	testhook.Enable(t)
	rounds := testutil.Scale(2000)
	roleSets := map[string][]role{
		"MPMC": {anyBlockingOp, anyBlockingOp, anyBlockingOp},
		"SPSC": {blockingPusher, blockingPopper},
	}
	forKinds(t, func(t *testing.T, k kind) {
		for _, c := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("cap=%d", c), func(t *testing.T) {
				for round := range rounds {
					h := recordHistory(t, k.new(c), roleSets[k.name], 20, 40, uint64(round))
					checkLinearizable(t, c, h, round)
				}
			})
		}
	})
}
