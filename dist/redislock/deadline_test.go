package redislock_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
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

// swallowSubscribe drops the SUBSCRIBE written on it, as a stalled server
// would leave it unanswered: the reply never comes.
type swallowSubscribe struct{ net.Conn }

func (c swallowSubscribe) Write(p []byte) (int, error) {
	if bytes.Contains(bytes.ToLower(p), []byte("subscribe")) {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// A Lock whose SUBSCRIBE got no reply before ctx's deadline must return at
// the deadline, and must hand nothing over to ChannelWithSubscriptions: that
// dials again without ctx, under the PubSub's mutex, and Lock's deferred
// ps.Close waits for the mutex. Lock checked ctx.Err() after the first
// reply failed; at the deadline the read fails (go-redis sets the read
// deadline to ctx's) before ctx.Err() is set, the reply is handed over, and
// Lock waited for the redial (with a dialer bound by ctx only: for ever).
// Here ctx's end is held back past its deadline (lateCtx): deterministic.
func TestLockDeadlineWhileSubscribeUnanswered(t *testing.T) {
	lockPastDeadline(t, "deadline-late", func() (context.Context, context.CancelFunc) {
		inner, cancel := context.WithCancel(context.Background())
		return lateCtx{inner, time.Now().Add(300 * time.Millisecond)}, cancel
	})
}

// lockPastDeadline runs a Lock with a ctx of newCtx (made once the server
// is up) against a held lock, its SUBSCRIBE unanswered, and fails t if Lock
// does not return context.DeadlineExceeded without a redial.
func lockPastDeadline(t *testing.T, key string, newCtx func() (context.Context, context.CancelFunc)) {
	t.Helper()
	srv := redistest.Start(t)
	var (
		mu      sync.Mutex
		armed   int // 0 off; 1 swallow the SUBSCRIBE; 2 fail; 3 stall; then off
		stalled = make(chan struct{})
		release = make(chan struct{})
	)
	var releaseOnce sync.Once
	releaseDial := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseDial()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		a := armed
		if a > 0 && a < 4 {
			armed++
		}
		mu.Unlock()
		var nd net.Dialer
		switch a {
		case 1:
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return swallowSubscribe{c}, nil
		case 2:
			return nil, errors.New("test dialer: refused")
		case 3:
			close(stalled)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-release:
				return nil, errors.New("test dialer: released")
			}
		}
		return nd.DialContext(ctx, network, addr)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: dial})
	c.AddHook(&heldHook{onHeld: func() { // armed before Lock's SUBSCRIBE
		mu.Lock()
		armed = 1
		mu.Unlock()
	}})
	defer c.Close()
	lctx, cancel := newCtx()
	defer cancel()
	got := waitBehindHolder(t, srv, c, key, lctx)
	select {
	case err := <-got:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock = %v, want context.DeadlineExceeded", err)
		}
		return
	case <-stalled:
	case <-time.After(5 * time.Second):
		releaseDial()
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
		releaseDial()
		err := <-got
		t.Errorf("Lock still waiting 2s after its ctx ended: its first reply, cut off by ctx's deadline, was handed over to a redial without ctx (returned %v once the dial was released)", err)
	}
}
