package spin_test

import (
	"fmt"
	"sync"

	"github.com/lockstep-go/lockstep/spin"
)

// A spin lock guards a few words that are updated in nanoseconds.
func ExampleLock() {
	var (
		mu    spin.Lock
		hits  = map[string]int{}
		wg    sync.WaitGroup
		paths = []string{"/", "/about", "/", "/"}
	)
	for _, p := range paths {
		wg.Go(func() {
			mu.Lock()
			hits[p]++
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Println(hits["/"], hits["/about"])
	// Output: 3 1
}

// A ticket lock admits waiters in arrival order; TryLock never jumps the
// line.
func ExampleTicketLock() {
	var l spin.TicketLock
	l.Lock()
	fmt.Println("TryLock while held:", l.TryLock())
	l.Unlock()
	fmt.Println("TryLock when free:", l.TryLock())
	l.Unlock()
	// Output:
	// TryLock while held: false
	// TryLock when free: true
}
