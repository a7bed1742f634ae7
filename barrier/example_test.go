package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockstep-go/lockstep/barrier"
)

// Three workers compute in rounds; the barrier action, run by the last
// worker to arrive, combines the round's results before anyone starts the
// next round.
func ExampleCyclic() {
	const workers = 3
	partial := make([]int, workers)
	total := 0
	b := barrier.New(workers, func() error {
		for _, v := range partial {
			total += v
		}
		return nil
	})

	var wg sync.WaitGroup
	for id := range workers {
		wg.Go(func() {
			for round := 1; round <= 2; round++ {
				partial[id] = id * round // visible to the action: Await synchronizes
				if _, err := b.Await(context.Background()); err != nil {
					fmt.Println(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fmt.Println("total:", total)
	// Output:
	// total: 9
}

// A party that gives up breaks the generation for everyone: it gets its
// context error, the others ErrBroken, which says why.
func ExampleCyclic_broken() {
	b := barrier.New(2, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := b.Await(ctx) // the other party never comes
	fmt.Println(errors.Is(err, context.DeadlineExceeded))

	_, err = b.Await(context.Background())
	fmt.Println(errors.Is(err, barrier.ErrBroken))
	var be *barrier.BrokenError
	if errors.As(err, &be) {
		fmt.Println("cause:", be.Cause)
	}

	b.Reset()
	fmt.Println("broken after Reset:", b.Broken())
	// Output:
	// true
	// true
	// cause: context deadline exceeded
	// broken after Reset: false
}

// An action that fails breaks the barrier: the last party gets the
// action's error, the others ErrBroken.
func ExampleCyclic_actionError() {
	errInvalid := errors.New("round produced an invalid state")
	b := barrier.New(2, func() error { return errInvalid })

	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := b.Await(context.Background())
			errs <- err
		}()
	}
	for range 2 {
		switch err := <-errs; {
		case errors.Is(err, barrier.ErrBroken):
			fmt.Println("a party got ErrBroken")
		case errors.Is(err, errInvalid):
			fmt.Println("the last party got:", err)
		}
	}
	fmt.Println("broken:", b.Broken())
	// Unordered output:
	// a party got ErrBroken
	// the last party got: round produced an invalid state
	// broken: true
}

// Workers join and leave a Phaser while it runs. Each phase advances when
// every party registered in it has arrived; with the default policy the
// phaser terminates when the last party leaves.
func ExamplePhaser() {
	p := barrier.NewPhaser(1, func(phase, registered int) bool { // 1: the coordinator
		fmt.Printf("phase %d done, %d parties in the next\n", phase, registered)
		return registered == 0
	})

	var wg sync.WaitGroup
	for id := range 2 {
		p.Register() // before the goroutine starts, so phase 0 waits for it
		wg.Go(func() {
			for range 2 + id { // worker 1 stays one phase longer
				// ... this phase's work ...
				if _, err := p.ArriveAndAwaitAdvance(context.Background()); err != nil {
					fmt.Println(err)
				}
			}
			p.ArriveAndDeregister()
		})
	}
	p.ArriveAndDeregister() // the coordinator leaves; the workers go on
	wg.Wait()
	fmt.Println("terminated:", p.IsTerminated())
	// Output:
	// phase 0 done, 2 parties in the next
	// phase 1 done, 2 parties in the next
	// phase 2 done, 1 parties in the next
	// phase 3 done, 0 parties in the next
	// terminated: true
}

// A phaser can stop itself after a fixed number of phases.
func ExampleNewPhaser() {
	p := barrier.NewPhaser(1, func(phase, registered int) bool {
		fmt.Println("phase", phase, "done")
		return phase+1 >= 3 || registered == 0
	})
	for !p.IsTerminated() {
		p.Arrive()
	}
	fmt.Println("phase:", p.Phase()) // negative: terminated
	// Output:
	// phase 0 done
	// phase 1 done
	// phase 2 done
	// phase: -2147483645
}

// AwaitAdvance lets a goroutine that is not a party wait for a phase.
func ExamplePhaser_AwaitAdvance() {
	p := barrier.NewPhaser(2, nil)
	done := make(chan int)
	go func() {
		next, _ := p.AwaitAdvance(context.Background(), 0)
		done <- next
	}()
	p.Arrive()
	p.Arrive()
	fmt.Println("now in phase", <-done)
	// Output:
	// now in phase 1
}
