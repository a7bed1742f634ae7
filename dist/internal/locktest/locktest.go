// Package locktest checks a distributed lock the same way for every
// backend: mutual exclusion among many holders, and fencing tokens that
// grow strictly in acquisition order.
package locktest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// Held is a held lock: its fencing token, and its release.
type Held interface {
	Token() int64
	Unlock(ctx context.Context) error
}

// Exclusion starts one goroutine per entry of lockers; each takes its lock
// iters times through its entry, runs inside (when not nil) while holding
// it, and unlocks. It fails t if two goroutines ever held the lock at once,
// if an acquisition failed, or if the tokens, in acquisition order, do not
// grow strictly.
func Exclusion[H Held](t *testing.T, iters int, lockers []func() (H, error), inside func(H)) {
	t.Helper()
	var (
		holders atomic.Int32
		mu      sync.Mutex // protects tokens
		tokens  []int64    // in acquisition order
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for i, lock := range lockers {
		wg.Go(func() {
			<-start
			for range iters {
				l, err := lock()
				if err != nil {
					t.Errorf("locker %d: %v", i, err)
					return
				}
				if n := holders.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				mu.Lock()
				tokens = append(tokens, l.Token())
				mu.Unlock()
				if inside != nil {
					inside(l)
				}
				holders.Add(-1)
				if err := l.Unlock(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if len(tokens) != len(lockers)*iters {
		t.Fatalf("%d acquisitions, want %d", len(tokens), len(lockers)*iters)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d = %d after %d: not strictly increasing", i, tokens[i], tokens[i-1])
		}
	}
}
