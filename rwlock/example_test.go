package rwlock_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockstep-go/lockstep/rwlock"
)

// A settings map read by many goroutines and written by few.
func ExampleRWMutex() {
	var (
		mu       rwlock.RWMutex
		settings = map[string]string{"mode": "fast"}
	)
	get := func(k string) string {
		mu.RLock()
		defer mu.RUnlock()
		return settings[k]
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _ = get("mode") })
	}
	mu.Lock()
	settings["mode"] = "safe"
	mu.Unlock()
	wg.Wait()

	fmt.Println(get("mode"))
	// Output: safe
}

// LockContext gives up when its context ends, and leaves the lock as if it
// had never asked: here a reader holds the lock past the writer's deadline.
func ExampleRWMutex_LockContext() {
	var mu rwlock.RWMutex
	mu.RLock() // a long read

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := mu.LockContext(ctx)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))

	// The abandoned writer no longer blocks new readers.
	fmt.Println(mu.TryRLock())
	mu.RUnlock()
	mu.RUnlock()
	// Output:
	// true
	// true
}

// Downgrade publishes an update and keeps reading it, with no writer able to
// slip in between.
func ExampleRWMutex_Downgrade() {
	var (
		mu      rwlock.RWMutex
		version int
	)
	mu.Lock()
	version++
	mu.Downgrade() // now a reader: other readers may join, writers wait
	fmt.Println("published version", version)
	fmt.Println("writer can enter:", mu.TryLock())
	mu.RUnlock()
	// Output:
	// published version 1
	// writer can enter: false
}

// A routing table read on every request and replaced rarely. RLock returns
// a token for the matching RUnlock.
func ExampleReadMostly() {
	var (
		mu     rwlock.ReadMostly
		routes = map[string]string{"/": "home"}
	)
	lookup := func(path string) string {
		tok := mu.RLock()
		defer mu.RUnlock(tok)
		return routes[path]
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = lookup("/") })
	}
	wg.Wait()

	mu.Lock() // waits for the readers counted on the fast path
	routes["/about"] = "about"
	mu.Unlock()

	fmt.Println(lookup("/"), lookup("/about"))
	// Output: home about
}
