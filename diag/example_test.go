package diag_test

import (
	"fmt"

	"github.com/lockstep-go/lockstep/diag"
	"github.com/lockstep-go/lockstep/mutex"
)

// Watch a lock, use it, read its statistics. Watched locks are listed by
// diag.Top, most contended first; a production service can log them
// periodically or serve them on a debug endpoint.
func ExampleWatch() {
	var mu mutex.Mutex
	diag.Watch(&mu, "cache.mu")
	defer diag.Unwatch(&mu)

	for range 3 {
		mu.Lock()
		mu.Unlock()
	}
	if mu.TryLock() {
		mu.Unlock()
	}

	s, _ := diag.Stats(&mu)
	fmt.Println(s.Name, s.Type, s.Acquisitions, "acquisitions,", s.Contended, "contended")
	for _, s := range diag.Top(10) {
		fmt.Println("top:", s.Name)
	}
	// Output:
	// cache.mu *mutex.Mutex 4 acquisitions, 0 contended
	// top: cache.mu
}
