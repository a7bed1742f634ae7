package redislock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// lateCtx reports its deadline, but its Done closes only when the test
// cancels it: the window between a context's deadline and the moment its
// timer goroutine cancels it (context.WithDeadline cancels from a
// time.AfterFunc goroutine; until that runs, Err is nil), widened so that
// the test is deterministic. go-redis sets the read deadline of Lock's first
// Receive from ctx.Deadline(), so that read times out exactly at the
// deadline, and Lock may see the error before ctx.Err() does.
type lateCtx struct {
	context.Context
	deadline time.Time
}

func (c lateCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// A Lock whose SUBSCRIBE got no reply before ctx's deadline must return at
// the deadline, and must hand nothing over to ChannelWithSubscriptions: that
// dials again without ctx, under the PubSub's mutex, and Lock's deferred
// ps.Close waits for the mutex. Lock checked ctx.Err() after the first
// reply failed; at the deadline the read fails (go-redis sets the read
// deadline to ctx's) before ctx.Err() is set, the reply is handed over, and
// Lock waited for the redial (with a dialer bound by ctx only: for ever).
// Here ctx's end is held back past its deadline (lateCtx): deterministic.
func TestLockDeadlineWhileSubscribeUnanswered(t *testing.T) {
	srv := redistest.Start(t)
	const key = "deadline-late"
	d := newScriptedDialer(t, dialSwallow, dialRefuse, dialStall) // the SUBSCRIBE unanswered, then a redial
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: d.dial})
	c.AddHook(&heldHook{onHeld: d.arm}) // armed before Lock's SUBSCRIBE
	defer c.Close()
	inner, cancel := context.WithCancel(context.Background())
	defer cancel()
	lctx := lateCtx{inner, time.Now().Add(300 * time.Millisecond)}
	got := waitBehindHolder(t, srv, c, key, lctx)
	select {
	case err := <-got:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock = %v, want context.DeadlineExceeded", err)
		}
		return
	case <-d.stalled:
	case <-time.After(5 * time.Second):
		d.releaseDial()
		cancel() // or a Lock that ignores the deadline waits for ever
		t.Errorf("Lock neither returned nor redialed (returned %v once released)", <-got)
		return
	}
	// The reply was handed over and its redial, without ctx, holds the
	// PubSub's mutex. ctx ends, as it does a moment after its deadline.
	cancel()
	select {
	case err := <-got:
		t.Errorf("Lock's first reply, cut off by ctx's deadline, was handed over to a redial without ctx (Lock returned %v)", err)
	case <-time.After(2 * time.Second): // a liveness bound
		d.releaseDial()
		err := <-got
		t.Errorf("Lock still waiting 2s after its ctx ended: its first reply, cut off by ctx's deadline, was handed over to a redial without ctx (returned %v once the dial was released)", err)
	}
}
