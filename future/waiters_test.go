package future_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/future"
)

// A goroutine waiting for a future (Get with a ctx that cannot end, Get with
// one that can, a receive from a Done channel taken before completion)
// wakes when the future completes, not only after every continuation
// attached before it began to wait has run. The doc says a slow
// continuation delays the completer and the continuations after it; a
// waiter is not a continuation. Here the continuation, attached first,
// waits (with a bound) for the waiter to return: with the waiters' nodes
// run in attach order the two deadlocked until the bound.
func TestWaitersWakeBeforeEarlierContinuations(t *testing.T) {
	cases := []struct {
		name string
		wait func(f *future.Future[int]) func()
	}{
		{"Get(Background)", func(f *future.Future[int]) func() {
			return func() { _, _ = f.Get(bg) }
		}},
		{"Get(cancellable ctx)", func(f *future.Future[int]) func() {
			return func() {
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				_, _ = f.Get(ctx)
			}
		}},
		{"Done taken before completion", func(f *future.Future[int]) func() {
			ch := f.Done() // after the continuation's node
			return func() { <-ch }
		}},
		{"Get(Background) after Done was made", func(f *future.Future[int]) func() {
			_ = f.Done()
			return func() { _, _ = f.Get(bg) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := future.NewPromise[int]()
				f := p.Future()
				returned := make(chan struct{})
				stuck := make(chan bool, 1)
				out := future.Then(f, func(v int) (int, error) {
					select {
					case <-returned:
						stuck <- false
					case <-time.After(time.Hour): // fake time: fires only if all are blocked
						stuck <- true
					}
					return v, nil
				})
				wait := c.wait(f)
				go func() {
					wait()
					close(returned)
				}()
				synctest.Wait() // the waiter is parked
				p.Resolve(1)    // runs the continuation here
				if <-stuck {
					t.Fatal("the waiter stayed parked on a complete future until a continuation attached before it had run")
				}
				<-returned
				if v, err := out.Get(bg); v != 1 || err != nil {
					t.Fatalf("Then = %v, %v", v, err)
				}
			})
		})
	}
}
