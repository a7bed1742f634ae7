package mutex_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockstep-go/lockstep/mutex"
)

// A Mutex guards shared state exactly as sync.Mutex does.
func ExampleMutex() {
	var (
		mu    mutex.Mutex
		count int
		wg    sync.WaitGroup
	)
	for range 10 {
		wg.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			count++
		})
	}
	wg.Wait()
	fmt.Println(count)
	// Output: 10
}

// LockContext gives up when its context ends, leaving the lock as if it had
// never asked.
func ExampleMutex_LockContext() {
	var mu mutex.Mutex
	mu.Lock() // held elsewhere, for too long

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := mu.LockContext(ctx); errors.Is(err, context.DeadlineExceeded) {
		fmt.Println("gave up:", err)
	}

	mu.Unlock()
	fmt.Println("free again:", mu.TryLock())
	// Output:
	// gave up: context deadline exceeded
	// free again: true
}

// Fair is used like any lock; under contention it serves waiters in the
// order they arrived, and TryLock never takes the lock ahead of a waiter.
func ExampleFair() {
	var (
		mu      mutex.Fair
		balance int
		wg      sync.WaitGroup
	)
	for _, amount := range []int{100, -30, 50} {
		wg.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			balance += amount
		})
	}
	wg.Wait()
	if mu.TryLock() { // free, and nobody queued
		fmt.Println(balance)
		mu.Unlock()
	}
	// Output: 120
}

// A Cond lets goroutines wait for a condition on state that a lock guards,
// with a deadline.
func ExampleCond() {
	var mu mutex.Mutex
	ready := mutex.NewCond(&mu)
	queue := []string{}

	go func() {
		mu.Lock()
		queue = append(queue, "job")
		mu.Unlock()
		ready.Signal()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mu.Lock()
	for len(queue) == 0 {
		if err := ready.Wait(ctx); err != nil {
			mu.Unlock() // Wait re-locked mu even on error
			fmt.Println(err)
			return
		}
	}
	job := queue[0]
	mu.Unlock()
	fmt.Println("got", job)
	// Output: got job
}
