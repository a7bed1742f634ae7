package redislock_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/internal/locktest"
	"github.com/lockstep-go/lockstep/dist/internal/redistest"
	"github.com/lockstep-go/lockstep/dist/redislock"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	ttl    = time.Second
	margin = 2 * time.Second
)

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestMutexExcludesAndTokensGrow(t *testing.T) {
	srv := redistest.Start(t)
	const clients, goroutines = 4, 2
	iters := 25
	if testing.Short() {
		iters = 8
	}
	var lockers []func() (*redislock.Lock, error)
	for range clients {
		m := redislock.New(srv.Client(t), "excl", redislock.WithTTL(ttl))
		for range goroutines {
			lockers = append(lockers, func() (*redislock.Lock, error) { return m.Lock(ctxTimeout(t, 30*time.Second)) })
		}
	}
	locktest.Exclusion(t, iters, lockers, nil)
}

func TestTryLockAndCancel(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	m := redislock.New(c, "try", redislock.WithTTL(ttl))
	l, err := m.TryLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
		t.Fatalf("TryLock of held lock: %v", err)
	}
	if _, err := m.Lock(ctxTimeout(t, 200*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of held lock: %v, want DeadlineExceeded", err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Lock(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with done ctx: %v", err)
	}
	if n, _ := c.Exists(ctx, "try").Result(); n != 0 {
		t.Fatal("key left behind")
	}
	defer func() {
		if r := recover(); r != "redislock: Unlock of unlocked Lock" {
			t.Fatalf("recovered %v", r)
		}
	}()
	l.Unlock(ctx)
}

// A waiter wakes on the release, long before the TTL.
func TestWaiterWokenByUnlock(t *testing.T) {
	srv := redistest.Start(t)
	m := redislock.New(srv.Client(t), "wake", redislock.WithTTL(time.Minute))
	ctx := context.Background()
	l, err := m.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l2, err := redislock.New(srv.Client(t), "wake", redislock.WithTTL(time.Minute)).Lock(ctxTimeout(t, 10*time.Second))
		if err == nil {
			err = l2.Unlock(ctx)
		}
		got <- err
	}()
	// Wait until the waiter has subscribed (a liveness bound, not a sync).
	c := srv.Client(t)
	for deadline := time.Now().Add(5 * time.Second); ; {
		n, err := c.PubSubNumSub(ctx, "wake:released").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n["wake:released"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("waiter never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter not woken by Unlock (TTL is a minute): %v", err)
	}
}

func TestCrashedHolderReplacedWithinTTL(t *testing.T) {
	srv := redistest.Start(t)
	ca := srv.Client(t)
	la, err := redislock.New(ca, "crash", redislock.WithTTL(ttl)).Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	crashed := time.Now()
	ca.Close() // the holder's process dies: refreshes stop, nothing released
	lb, err := redislock.New(srv.Client(t), "crash", redislock.WithTTL(ttl)).Lock(ctxTimeout(t, ttl+margin))
	if err != nil {
		t.Fatalf("not replaced within TTL + margin: %v", err)
	}
	t.Logf("replaced %v after the crash (TTL %v)", time.Since(crashed), ttl)
	if lb.Token() <= la.Token() {
		t.Fatalf("token %d after %d", lb.Token(), la.Token())
	}
	select {
	case <-la.Lost():
	case <-time.After(margin):
		t.Fatal("Lost not closed for the crashed holder")
	}
	if err := la.Unlock(context.Background()); err == nil {
		t.Fatal("Unlock through a closed client succeeded")
	}
	if err := lb.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStaleUnlockCannotReleaseNewHolder(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	m := redislock.New(srv.Client(t), "stale", redislock.WithTTL(ttl))
	la, err := m.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	redislock.Freeze(la) // paused past its TTL
	lb, err := redislock.New(srv.Client(t), "stale", redislock.WithTTL(ttl)).Lock(ctxTimeout(t, ttl+margin))
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Unlock(ctx); !errors.Is(err, dist.ErrLockLost) {
		t.Fatalf("stale Unlock: %v, want ErrLockLost", err)
	}
	if _, err := m.TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
		t.Fatalf("after stale Unlock, TryLock: %v, want ErrLocked", err)
	}
	var f dist.Fence
	if err := f.Check(lb.Token()); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(la.Token()); !errors.Is(err, dist.ErrStaleToken) {
		t.Fatalf("stale token admitted: %v", err)
	}
	if err := lb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// The refresh keeps a lock held well past its TTL, and Lost fires when the
// key is taken away.
func TestRefreshAndLost(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	m := redislock.New(c, "refresh", redislock.WithTTL(ttl))
	l, err := m.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Hold for several TTLs: the key must still be ours (polling is the
	// liveness bound here, not a synchronization).
	end := time.Now().Add(5 * ttl / 2)
	for time.Now().Before(end) {
		if _, err := m.TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
			t.Fatalf("lock expired while refreshed: %v", err)
		}
		select {
		case <-l.Lost():
			t.Fatal("Lost while refreshed")
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.Del(ctx, "refresh") // taken away behind the holder's back
	select {
	case <-l.Lost():
	case <-time.After(margin):
		t.Fatal("Lost not closed after the key was deleted")
	}
	if err := l.Unlock(ctx); !errors.Is(err, dist.ErrLockLost) {
		t.Fatalf("Unlock: %v, want ErrLockLost", err)
	}
}

// sendTimes records when each acquire script (the one with three keys) was
// handed to the connection.
type sendTimes struct {
	mu    sync.Mutex
	times []time.Time
}

func (h *sendTimes) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *sendTimes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *sendTimes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); (cmd.Name() == "evalsha" || cmd.Name() == "eval") && len(args) > 2 && args[2] == 3 {
			h.mu.Lock()
			h.times = append(h.times, time.Now())
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

// A lock's validity (after which Lost closes if no extension succeeded) is
// measured from when the acquiring script was sent, since the key's TTL
// starts when the script runs, before its reply arrives. It was measured
// from the reply: a holder whose reply was slow kept Lost open for that
// long after its key had expired and another client could hold the lock.
// (Found by an adversarial review, 2026-12-06.) The check is an ordering of
// two clock readings, not a duration: the validity's start must come no
// later than the send.
func TestValidityMeasuredFromSend(t *testing.T) {
	srv := redistest.Start(t)
	h := &sendTimes{}
	c := srv.Client(t)
	c.AddHook(h)
	m := redislock.New(c, "from-send")
	l, err := m.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(context.Background())
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.times) == 0 {
		t.Fatal("the hook saw no acquire script")
	}
	if last := h.times[len(h.times)-1]; redislock.Acquired(l).After(last) {
		t.Fatalf("validity measured from %v after the acquire was sent", redislock.Acquired(l).Sub(last))
	}
}
