// Command user uses ringbuf's queues the way a program that does not import
// sync/atomic would, for TestAtomicsInlineInUserPackages: every queue
// operation, on an item type of its own, so that the compiler instantiates
// them here.
package main

import (
	"context"
	"fmt"

	"github.com/lockstep-go/lockstep/ringbuf"
)

type item struct{ a, b int }

func main() {
	ctx := context.Background()
	m := ringbuf.NewMPMC[item](4)
	s := ringbuf.NewSPSC[item](4)
	batch := make([]item, 2)
	m.TryPush(item{1, 2})
	m.TryPushN(batch)
	_ = m.Push(ctx, item{3, 4})
	v, _ := m.TryPop()
	m.TryPopN(batch)
	w, _ := m.Pop(ctx)
	s.TryPush(item{1, 2})
	s.TryPushN(batch)
	_ = s.Push(ctx, item{3, 4})
	x, _ := s.TryPop()
	s.TryPopN(batch)
	y, _ := s.Pop(ctx)
	fmt.Println(v, w, x, y, m.Len(), m.Cap(), s.Len(), s.Cap())
	m.Close()
	s.Close()
}
