package pool_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lockstep-go/lockstep/pool"
)

// Submit many small tasks, wait for them, shut down.
func Example() {
	p := pool.New(0) // GOMAXPROCS workers
	defer p.Shutdown(context.Background())

	var sum atomic.Int64
	for i := 1; i <= 100; i++ {
		p.Submit(func() { sum.Add(int64(i)) })
	}
	if err := p.Wait(); err != nil {
		fmt.Println("a task panicked:", err)
	}
	fmt.Println(sum.Load())
	// Output: 5050
}

// Recursive fork-join: each call forks one half onto its worker's deque and
// computes the other itself; Group.Wait runs queued tasks while it waits,
// so this works with any number of workers, one included.
func ExampleGroup() {
	var fib func(w *pool.Worker, n int) int
	fib = func(w *pool.Worker, n int) int {
		if n < 10 { // below a cutoff, forking costs more than it saves
			a, b := 0, 1
			for range n {
				a, b = b, a+b
			}
			return a
		}
		var x int
		var g pool.Group
		g.Go(w, func(w *pool.Worker) { x = fib(w, n-1) })
		y := fib(w, n-2)
		g.Wait(w)
		return x + y
	}

	p := pool.New(2)
	defer p.Shutdown(context.Background())
	var result int
	p.Go(func(w *pool.Worker) { result = fib(w, 30) })
	p.Wait()
	fmt.Println(result)
	// Output: 832040
}

// Fine-grained divide and conquer without an allocation per task: a sum
// over a slice, split in halves down to ranges of 1000 elements. The task
// is a function of the range [lo, hi), made once and passed to every
// GoArgs, so the pool keeps the function and the two ints in a record it
// recycles, where a closure per half would be an allocation per task.
func ExampleGroup_GoArgs() {
	data := make([]int64, 1_000_000)
	for i := range data {
		data[i] = int64(i)
	}
	sums := make([]int64, len(data)/1000) // one partial sum per leaf range

	var sum func(w *pool.Worker, lo, hi int)
	sum = func(w *pool.Worker, lo, hi int) {
		if hi-lo <= 1000 {
			var s int64
			for _, v := range data[lo:hi] {
				s += v
			}
			sums[lo/1000] = s
			return
		}
		mid := lo + (hi-lo)/2000*1000 // leaf ranges start at multiples of 1000
		var g pool.Group
		g.GoArgs(w, sum, lo, mid)
		sum(w, mid, hi)
		g.Wait(w)
	}

	p := pool.New(0)
	defer p.Shutdown(context.Background())
	p.Go(func(w *pool.Worker) { sum(w, 0, len(data)) })
	p.Wait()
	var total int64
	for _, s := range sums {
		total += s
	}
	fmt.Println(total)
	// Output: 499999500000
}

// Join runs functions in parallel and returns when all are done.
func ExampleWorker_Join() {
	p := pool.New(0)
	defer p.Shutdown(context.Background())

	data := []int{5, 1, 4, 2, 3, 9, 8, 7, 6, 0}
	var lo, hi int
	p.Go(func(w *pool.Worker) {
		w.Join(
			func(*pool.Worker) { lo = sum(data[:5]) },
			func(*pool.Worker) { hi = sum(data[5:]) },
		)
	})
	p.Wait()
	fmt.Println(lo, hi, lo+hi)
	// Output: 15 30 45
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// A task that waits on a plain channel for a child it submitted does not
// deadlock even a one-worker pool: the pool sees its only worker stuck
// with work queued and starts a temporary worker.
func ExamplePool_Submit_blockingTask() {
	p := pool.New(1)
	defer p.Shutdown(context.Background())

	p.Submit(func() {
		reply := make(chan string)
		p.Submit(func() { reply <- "child done" })
		fmt.Println(<-reply) // blocks the only worker
	})
	p.Wait()
	// Output: child done
}

// A bounded queue with the FailFast policy sheds load instead of queueing
// it without limit.
func ExampleWithQueueLimit() {
	p := pool.New(1, pool.WithQueueLimit(1, pool.FailFast))
	defer p.Shutdown(context.Background())

	release := make(chan struct{})
	started := make(chan struct{})
	p.Submit(func() { close(started); <-release }) // occupies the worker
	<-started
	fmt.Println(p.Submit(func() {})) // fills the queue
	err := p.Submit(func() {})
	fmt.Println(errors.Is(err, pool.ErrQueueFull))
	close(release)
	p.Wait()
	// Output:
	// <nil>
	// true
}

// SubmitContext bounds how long a submission waits for room.
func ExamplePool_SubmitContext() {
	p := pool.New(1, pool.WithQueueLimit(1, pool.Block))
	defer p.Shutdown(context.Background())

	release := make(chan struct{})
	started := make(chan struct{})
	p.Submit(func() { close(started); <-release })
	<-started
	p.Submit(func() {}) // the queue is now full

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := p.SubmitContext(ctx, func() {})
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	close(release)
	p.Wait()
	// Output: true
}

// A panicking task does not kill its worker; Wait reports it with the
// panicking goroutine's stack.
func ExamplePanicError() {
	p := pool.New(1)
	defer p.Shutdown(context.Background())

	p.Submit(func() { panic("something broke") })
	p.Submit(func() { fmt.Println("the worker lives on") })
	err := p.Wait()
	var pe *pool.PanicError
	if errors.As(err, &pe) {
		fmt.Println("recovered:", pe.Value)
	}
	// Output:
	// the worker lives on
	// recovered: something broke
}

// Size applies cores x (1 + wait/compute).
func ExampleSize() {
	// Tasks that wait 90ms for a database for every 10ms of CPU: on a
	// machine with GOMAXPROCS = 2 this gives 2 x (1 + 9) = 20 workers.
	n := pool.Size(90*time.Millisecond, 10*time.Millisecond)
	p := pool.New(n)
	defer p.Shutdown(context.Background())
	fmt.Println(p.Stats().Workers == n)
	// Output: true
}

// Shutdown stops accepting tasks, runs what is queued, and stops the
// workers.
func ExamplePool_Shutdown() {
	p := pool.New(2)
	var ran atomic.Int64
	for range 1000 {
		p.Submit(func() { ran.Add(1) })
	}
	if err := p.Shutdown(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(ran.Load(), p.Submit(func() {}))
	// Output: 1000 pool: closed
}
