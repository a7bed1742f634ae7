package latch_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/latch"
	"pgregory.net/rapid"
)

type latchWaiter struct {
	cancel context.CancelFunc
	res    chan error
	plain  bool // waits with context.Background: cannot be cancelled
}

// TestStateMachine drives a latch, with real goroutines blocked in Wait and
// on Done, through random operations against a model that is just the
// count: waiters return nil exactly when the count reaches zero, a
// cancelled waiter fails and changes nothing, and Count, TryWait and Done
// agree with the model after every step. synctest.Wait lets the test tell
// "still blocked" from "not yet scheduled".
func TestStateMachine(t *testing.T) {
	for range testutil.Scale(5) {
		synctest.Test(t, func(t *testing.T) { rapid.Check(testutil.InBubble{TB: t}, latchStateMachine) })
	}
}

func latchStateMachine(t *rapid.T) {
	count := rapid.IntRange(0, 8).Draw(t, "count")
	l := latch.New(count)
	var waiting, all []*latchWaiter // waiting: the model's blocked waiters
	var doneCh <-chan struct{}      // what Done returned first

	defer func() {
		for _, w := range all {
			w.cancel()
		}
		for range count { // release the waiters that cannot be cancelled
			l.CountDown()
		}
		synctest.Wait()
	}()

	// returned reports whether w has returned, and what, once every
	// goroutine in the bubble is blocked.
	returned := func(w *latchWaiter) (error, bool) {
		synctest.Wait()
		select {
		case err := <-w.res:
			return err, true
		default:
			return nil, false
		}
	}
	// start starts a waiter of one of three kinds: Wait with a cancellable
	// ctx (parks on the Done channel), Wait with context.Background (parks
	// on the internal WaitGroup; cannot be cancelled), a select on Done.
	start := func(kind int) *latchWaiter {
		ctx, cancel := context.WithCancel(context.Background())
		w := &latchWaiter{cancel: cancel, res: make(chan error, 1), plain: kind == 1}
		all = append(all, w)
		go func() {
			switch kind {
			case 0:
				w.res <- l.Wait(ctx)
			case 1:
				w.res <- l.Wait(context.Background())
			default:
				select {
				case <-l.Done():
					w.res <- nil
				case <-ctx.Done():
					w.res <- ctx.Err()
				}
			}
		}()
		return w
	}

	t.Repeat(map[string]func(*rapid.T){
		"CountDown": func(t *rapid.T) {
			l.CountDown()
			if count > 0 {
				count--
			}
			if count == 0 {
				for _, w := range waiting {
					if err, ok := returned(w); !ok || err != nil {
						t.Fatalf("latch open: waiter returned (%v, %v), want (nil, true)", err, ok)
					}
				}
				waiting = nil
			}
		},
		"StartWaiter": func(t *rapid.T) {
			w := start(rapid.IntRange(0, 2).Draw(t, "kind"))
			err, ok := returned(w)
			switch {
			case count == 0 && (!ok || err != nil):
				t.Fatalf("waiter on an open latch: (%v, %v), want (nil, true)", err, ok)
			case count > 0 && ok:
				t.Fatalf("waiter returned %v with the count at %d", err, count)
			case count > 0:
				waiting = append(waiting, w)
			}
		},
		"CancelWaiter": func(t *rapid.T) {
			if len(waiting) == 0 {
				t.Skip("nobody waiting")
			}
			i := rapid.IntRange(0, len(waiting)-1).Draw(t, "i")
			w := waiting[i]
			if w.plain {
				t.Skip("cannot cancel a Wait(context.Background())")
			}
			w.cancel()
			if err, ok := returned(w); !ok || !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled waiter: (%v, %v), want context.Canceled", err, ok)
			}
			waiting = append(waiting[:i:i], waiting[i+1:]...)
		},
		"WaitDoneCtx": func(t *rapid.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait(done ctx) = %v, want context.Canceled", err)
			}
		},
		"": func(t *rapid.T) {
			if got := l.Count(); got != count {
				t.Fatalf("Count() = %d, model %d", got, count)
			}
			if got := l.TryWait(); got != (count == 0) {
				t.Fatalf("TryWait() = %v with model count %d", got, count)
			}
			ch := l.Done()
			if got := isClosed(ch); got != (count == 0) {
				t.Fatalf("Done closed = %v with model count %d", got, count)
			}
			if doneCh == nil {
				doneCh = ch
			} else if ch != doneCh {
				t.Fatal("Done returned a different channel")
			}
		},
	})
}
