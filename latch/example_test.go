package latch_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lockstep-go/lockstep/latch"
)

// Start serving only when every shard has loaded.
func Example() {
	const shards = 4
	loaded := latch.New(shards)
	var rows atomic.Int64
	for i := range shards {
		go func() {
			rows.Add(int64(100 * (i + 1))) // load shard i
			loaded.CountDown()
		}()
	}
	if err := loaded.Wait(context.Background()); err != nil {
		fmt.Println("not ready:", err)
		return
	}
	fmt.Println("serving", rows.Load(), "rows")
	// Output: serving 1000 rows
}

// Done works in a select, next to a timeout and a shutdown signal: no
// goroutine has to be started just to turn a Wait into a channel.
func ExampleLatch_Done() {
	ready := latch.New(2)
	shutdown := make(chan struct{})
	go ready.CountDown()
	go ready.CountDown()

	select {
	case <-ready.Done():
		fmt.Println("all parties ready")
	case <-shutdown:
		fmt.Println("shut down first")
	case <-time.After(time.Minute):
		fmt.Println("timed out")
	}
	// Output: all parties ready
}

// A bounded wait: on timeout Wait reports the ctx error and the latch is
// unchanged.
func ExampleLatch_Wait() {
	l := latch.New(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := l.Wait(ctx)
	fmt.Println(err, l.Count())
	l.CountDown()
	fmt.Println(l.Wait(context.Background()), l.Count())
	// Output:
	// context deadline exceeded 1
	// <nil> 0
}

// TryWait looks without blocking; extra CountDowns at zero do nothing.
func ExampleLatch_TryWait() {
	l := latch.New(1)
	fmt.Println(l.TryWait())
	l.CountDown()
	l.CountDown() // no effect
	fmt.Println(l.TryWait(), l.Count())
	// Output:
	// false
	// true 0
}
