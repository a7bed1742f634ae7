package semaphore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/lockstep-go/lockstep/semaphore"
)

// Bound the number of requests in flight: at most three workers run at a
// time, whatever the number of jobs.
func Example() {
	ctx := context.Background()
	sem := semaphore.New(3)
	results := make([]int, 10)
	var wg sync.WaitGroup
	for i := range results {
		if err := sem.Acquire(ctx, 1); err != nil {
			break // ctx done: stop starting work
		}
		wg.Go(func() {
			defer sem.Release(1)
			results[i] = i * i // the rate-limited work
		})
	}
	wg.Wait()
	fmt.Println(results)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}

// Weights: a memory budget of 100 MB shared by jobs of different sizes. A
// job larger than the whole budget fails at once instead of waiting.
func Example_weighted() {
	ctx := context.Background()
	budget := semaphore.New(100) // MB

	for _, size := range []int64{60, 30} {
		if err := budget.Acquire(ctx, size); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("available:", budget.Available())

	err := budget.Acquire(ctx, 150)
	fmt.Println(errors.Is(err, semaphore.ErrTooLarge))

	budget.Release(60)
	budget.Release(30)
	fmt.Println("available:", budget.Available())
	// Output:
	// available: 10
	// true
	// available: 100
}

// A timeout bounds the wait; on failure nothing was taken.
func ExampleWeighted_Acquire() {
	sem := semaphore.New(1)
	_ = sem.Acquire(context.Background(), 1) // hold the only permit

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := sem.Acquire(ctx, 1)
	fmt.Println(errors.Is(err, context.DeadlineExceeded), sem.Waiters())

	sem.Release(1)
	fmt.Println(sem.Available())
	// Output:
	// true 0
	// 1
}

// TryAcquire sheds load instead of queueing: it fails when the permits are
// taken, and also while anyone is waiting, so it never jumps the queue.
func ExampleWeighted_TryAcquire() {
	sem := semaphore.New(2)
	for i := range 3 {
		if sem.TryAcquire(1) {
			fmt.Println("request", i, "served")
		} else {
			fmt.Println("request", i, "rejected: too busy")
		}
	}
	// Output:
	// request 0 served
	// request 1 served
	// request 2 rejected: too busy
}

// Resize adapts a limit at run time; waiters that now fit are woken.
func ExampleWeighted_Resize() {
	sem := semaphore.New(1)
	_ = sem.Acquire(context.Background(), 1)

	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sem.Acquire(context.Background(), 1); err == nil {
			fmt.Println("second worker admitted")
			sem.Release(1)
		}
	}()
	for sem.Waiters() == 0 { // wait until it queues
		runtime.Gosched()
	}
	sem.Resize(2) // the limit is raised: the waiter fits now
	<-done
	sem.Release(1)
	fmt.Println("capacity:", sem.Capacity(), "available:", sem.Available())
	// Output:
	// second worker admitted
	// capacity: 2 available: 2
}
