package redislock_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/internal/redistest"
	"github.com/lockstep-go/lockstep/dist/redislock"
	"github.com/redis/go-redis/v9"
)

// heldHook calls onHeld once, on the trying goroutine, when a script run by
// the client has returned {0, pttl}: a try that found the lock held. With
// at > 1 it waits for the at'th such try.
type heldHook struct {
	once   sync.Once
	onHeld func()
	at     int32
	n      atomic.Int32
}

func (h *heldHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *heldHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *heldHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*redis.Cmd); ok && err == nil {
			if res, err := c.Int64Slice(); err == nil && len(res) == 2 && res[0] == 0 && h.n.Add(1) >= h.at {
				h.once.Do(h.onHeld)
			}
		}
		return err
	}
}

// A waiter whose SUBSCRIBE is refused (an ACL that denies it: Redis 7 gives
// a new user no channels unless acl-pubsub-default says otherwise) used to
// fail Lock at once with the server's error (PubSub.Receive returned it).
// Since the confirmation is read from ChannelWithSubscriptions, whose
// goroutine swallows every receive error, the refusal is never reported
// and no release ever wakes the waiter: it takes a free lock only when its
// timer, set to the holder's PTTL, fires, up to a TTL after the release.
// Lock must either report the refusal or take the lock promptly.
func TestLockWhoseSubscribeIsRefusedDoesNotWaitOutTheTTL(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "nosub", "on", ">pw", "~*", "&*", "+@all", "-subscribe").Err(); err != nil {
		t.Fatal(err)
	}
	tried := make(chan struct{})
	h := &heldHook{onHeld: func() { close(tried) }}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "nosub", Password: "pw"})
	c.AddHook(h)
	t.Cleanup(func() { c.Close() })

	const key, lttl = "nosub", 5 * time.Second
	holder, err := redislock.New(admin, key, redislock.WithTTL(lttl)).TryLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := redislock.New(c, key, redislock.WithTTL(lttl)).Lock(ctxTimeout(t, 2*lttl))
		if err == nil {
			err = l.Unlock(ctx)
		}
		got <- err
	}()
	select {
	case <-tried:
	case err := <-got:
		holder.Unlock(ctx)
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("Lock returned %v before it waited, want the refusal", err)
		}
		return
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter never tried")
	}
	released := time.Now()
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil && !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("Lock returned %v, want the lock or the refusal", err)
		}
	case <-time.After(2 * time.Second): // a liveness bound, below the holder's PTTL (at least 2/3 of the TTL)
		err := <-got
		t.Fatalf("Lock whose SUBSCRIBE was refused: still waiting 2s after the release (returned %v after %v); want the refusal reported or the lock taken",
			err, time.Since(released))
	}
}
