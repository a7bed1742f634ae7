package ringbuf_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lockstep-go/lockstep/ringbuf"
)

// Several producers and consumers share one queue. The producers' last act
// is Close; consumers drain what is left and stop at ErrClosed, as they
// would range over a closed channel.
func Example() {
	ctx := context.Background()
	q := ringbuf.NewMPMC[int](64)

	var producers sync.WaitGroup
	for p := range 4 {
		producers.Go(func() {
			for i := range 100 {
				if err := q.Push(ctx, p*100+i); err != nil {
					panic(err)
				}
			}
		})
	}
	go func() {
		producers.Wait()
		q.Close()
	}()

	var mu sync.Mutex
	sum, count := 0, 0
	var consumers sync.WaitGroup
	for range 3 {
		consumers.Go(func() {
			for {
				v, err := q.Pop(ctx)
				if errors.Is(err, ringbuf.ErrClosed) {
					return
				}
				mu.Lock()
				sum += v
				count++
				mu.Unlock()
			}
		})
	}
	consumers.Wait()
	fmt.Println(count, sum)
	// Output: 400 79800
}

// TryPush and TryPop never wait: they report whether the queue had room,
// or an item. The capacity is exact, here 3.
func ExampleMPMC_TryPush() {
	q := ringbuf.NewMPMC[string](3)
	for _, s := range []string{"a", "b", "c", "d"} {
		fmt.Println(s, q.TryPush(s))
	}
	v, ok := q.TryPop()
	fmt.Println(v, ok, q.Len(), q.Cap())
	// Output:
	// a true
	// b true
	// c true
	// d false
	// a true 2 3
}

// Batches claim many slots with one atomic operation, which divides the
// cost per item.
func ExampleMPMC_TryPopN() {
	q := ringbuf.NewMPMC[int](8)
	fmt.Println(q.TryPushN([]int{1, 2, 3, 4, 5}))
	buf := make([]int, 4)
	n := q.TryPopN(buf)
	fmt.Println(buf[:n], q.Len())
	// Output:
	// 5
	// [1 2 3 4] 1
}

// Pop waits until an item arrives or its ctx ends; a failed Pop takes
// nothing from the queue.
func ExampleMPMC_Pop() {
	q := ringbuf.NewMPMC[int](1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := q.Pop(ctx)
	fmt.Println(errors.Is(err, context.Canceled))

	q.TryPush(7)
	v, err := q.Pop(context.Background())
	fmt.Println(v, err)
	// Output:
	// true
	// 7 <nil>
}

// After Close, pushes fail and pops drain what is left.
func ExampleMPMC_Close() {
	q := ringbuf.NewMPMC[int](4)
	q.TryPush(1)
	q.TryPush(2)
	q.Close()
	fmt.Println(q.TryPush(3), q.Push(context.Background(), 3))
	for {
		v, err := q.Pop(context.Background())
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(v)
	}
	// Output:
	// false ringbuf: closed
	// 1
	// 2
	// ringbuf: closed
}

// An SPSC queue connects one producer goroutine to one consumer goroutine,
// the stages of a pipeline.
func ExampleSPSC() {
	ctx := context.Background()
	q := ringbuf.NewSPSC[int](16)
	go func() {
		defer q.Close()
		for i := 1; i <= 5; i++ {
			if err := q.Push(ctx, i*i); err != nil {
				panic(err)
			}
		}
	}()
	for {
		v, err := q.Pop(ctx)
		if err != nil {
			break
		}
		fmt.Print(v, " ")
	}
	fmt.Println()
	// Output: 1 4 9 16 25
}
