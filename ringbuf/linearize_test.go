package ringbuf_test

import (
	"fmt"
	"math/rand/v2"
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
	op  byte  // 'p' TryPush, 'o' TryPop, 'P' TryPushN, 'O' TryPopN
	vs  []int // items to push
	max int   // TryPopN: len(dst)
}

type qOutput struct {
	ok bool  // TryPush, TryPop
	vs []int // items popped (TryPop: one)
	n  int   // TryPushN: items pushed
}

// queueModel is the sequential specification, for capacity c:
//   - TryPush fails iff the queue is full; TryPop fails iff it is empty
//     and otherwise returns the front item.
//   - TryPushN pushes a prefix of at least one item unless full, at most
//     the room; TryPopN pops the front n items, at least one unless empty.
func queueModel(c int) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return []int(nil) },
		Step: func(state, input, output any) (bool, any) {
			st, in, out := state.([]int), input.(qInput), output.(qOutput)
			switch in.op {
			case 'p':
				if !out.ok {
					return len(st) == c, st
				}
				return len(st) < c, append(slices.Clip(st), in.vs[0])
			case 'o':
				if !out.ok {
					return len(st) == 0, st
				}
				if len(st) == 0 || st[0] != out.vs[0] {
					return false, st
				}
				return true, st[1:]
			case 'P':
				room := c - len(st)
				if out.n == 0 {
					return room == 0, st
				}
				return out.n <= min(room, len(in.vs)), append(slices.Clip(st), in.vs[:out.n]...)
			case 'O':
				n := len(out.vs)
				if n == 0 {
					return len(st) == 0, st
				}
				if n > min(len(st), in.max) || !slices.Equal(st[:n], out.vs) {
					return false, st
				}
				return true, st[n:]
			}
			panic("unknown op")
		},
		Equal: func(a, b any) bool { return slices.Equal(a.([]int), b.([]int)) },
		DescribeOperation: func(input, output any) string {
			in, out := input.(qInput), output.(qOutput)
			switch in.op {
			case 'p':
				return fmt.Sprintf("TryPush(%d) = %v", in.vs[0], out.ok)
			case 'o':
				return fmt.Sprintf("TryPop() = %v, %v", out.vs, out.ok)
			case 'P':
				return fmt.Sprintf("TryPushN(%v) = %d", in.vs, out.n)
			default:
				return fmt.Sprintf("TryPopN(%d) = %v", in.max, out.vs)
			}
		},
	}
}

// recordHistory runs clients goroutines of ops random operations each on q
// and returns the timed history.
func recordHistory(t *testing.T, q ring[int], clients, ops int, seed uint64) []porcupine.Operation {
	var clock atomic.Int64
	var nextValue atomic.Int64
	histories := make([][]porcupine.Operation, clients)
	testutil.Run(t, clients, func(id int) {
		r := rand.New(rand.NewPCG(seed, uint64(id)))
		for range ops {
			var in qInput
			switch r.IntN(4) {
			case 0:
				in = qInput{op: 'p', vs: []int{int(nextValue.Add(1))}}
			case 1:
				in = qInput{op: 'o'}
			case 2:
				n := 1 + r.IntN(3)
				in = qInput{op: 'P', vs: make([]int, n)}
				for i := range in.vs {
					in.vs[i] = int(nextValue.Add(1))
				}
			default:
				in = qInput{op: 'O', max: 1 + r.IntN(3)}
			}
			call := clock.Add(1)
			var out qOutput
			switch in.op {
			case 'p':
				out.ok = q.TryPush(in.vs[0])
			case 'o':
				v, ok := q.TryPop()
				out.ok = ok
				if ok {
					out.vs = []int{v}
				}
			case 'P':
				out.n = q.TryPushN(in.vs)
			case 'O':
				dst := make([]int, in.max)
				out.vs = dst[:q.TryPopN(dst)]
			}
			histories[id] = append(histories[id], porcupine.Operation{
				ClientId: id, Input: in, Output: out, Call: call, Return: clock.Add(1),
			})
		}
	})
	return slices.Concat(histories...)
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
	for _, c := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("cap=%d", c), func(t *testing.T) {
			for round := range rounds {
				q := ringbuf.NewMPMC[int](c)
				h := recordHistory(t, q, 4, 25, uint64(round))
				res, info := porcupine.CheckOperationsVerbose(queueModel(c), h, 10*time.Second)
				switch res {
				case porcupine.Illegal:
					var b []byte
					for _, op := range h {
						b = fmt.Appendf(b, "  client %d [%d,%d] %s\n", op.ClientId, op.Call, op.Return,
							queueModel(c).DescribeOperation(op.Input, op.Output))
					}
					_ = info
					t.Fatalf("round %d: history is not linearizable:\n%s", round, b)
				case porcupine.Unknown:
					t.Logf("round %d: porcupine timed out; history not checked", round)
				}
			}
		})
	}
}

// SPSC histories (one pushing client, one popping) are linearizable too.
func TestSPSCLinearizable(t *testing.T) {
	rounds := testutil.Scale(100)
	for _, c := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("cap=%d", c), func(t *testing.T) {
			for round := range rounds {
				q := ringbuf.NewSPSC[int](c)
				h := recordSPSCHistory(t, q, 40, uint64(round))
				if !porcupine.CheckOperations(queueModel(c), h) {
					t.Fatalf("round %d: history is not linearizable", round)
				}
			}
		})
	}
}

func recordSPSCHistory(t *testing.T, q ring[int], ops int, seed uint64) []porcupine.Operation {
	var clock atomic.Int64
	histories := make([][]porcupine.Operation, 2)
	testutil.Run(t, 2, func(id int) {
		r := rand.New(rand.NewPCG(seed, uint64(id)))
		next := 0
		for range ops {
			var in qInput
			var out qOutput
			call := clock.Add(1)
			switch {
			case id == 0 && r.IntN(2) == 0:
				next++
				in = qInput{op: 'p', vs: []int{next}}
				out.ok = q.TryPush(next)
			case id == 0:
				in = qInput{op: 'P', vs: make([]int, 1+r.IntN(3))}
				for i := range in.vs {
					next++
					in.vs[i] = next
				}
				out.n = q.TryPushN(in.vs)
				next -= len(in.vs) - out.n // reuse the values not pushed
			case r.IntN(2) == 0:
				in = qInput{op: 'o'}
				v, ok := q.TryPop()
				out.ok = ok
				if ok {
					out.vs = []int{v}
				}
			default:
				in = qInput{op: 'O', max: 1 + r.IntN(3)}
				dst := make([]int, in.max)
				out.vs = dst[:q.TryPopN(dst)]
			}
			histories[id] = append(histories[id], porcupine.Operation{
				ClientId: id, Input: in, Output: out, Call: call, Return: clock.Add(1),
			})
		}
	})
	return slices.Concat(histories...)
}
