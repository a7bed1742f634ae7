package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	"github.com/lockstep-go/lockstep/dist/internal/locktest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestMutexExcludesAndTokensGrow(t *testing.T) {
	srv := etcdtest.Start(t)
	sessions, iters := 6, 15
	if testing.Short() {
		iters = 5
	}
	var fence dist.Fence
	var lockers []func() (*etcd.Lock, error)
	for range sessions {
		s, _ := newSession(t, srv)
		// Two goroutines share each session: a session's locks exclude
		// each other too.
		for range 2 {
			m := etcd.NewMutex(s, "/excl")
			lockers = append(lockers, func() (*etcd.Lock, error) { return m.Lock(context.Background()) })
		}
	}
	locktest.Exclusion(t, iters, lockers, func(l *etcd.Lock) {
		if err := fence.Check(l.Token()); err != nil {
			t.Error(err)
		}
	})
}

func TestTryLock(t *testing.T) {
	srv := etcdtest.Start(t)
	a, c := newSession(t, srv)
	b, _ := newSession(t, srv)
	ctx := context.Background()
	la, err := etcd.NewMutex(a, "/try").TryLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mb := etcd.NewMutex(b, "/try")
	if _, err := mb.TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
		t.Fatalf("TryLock of held lock: %v, want ErrLocked", err)
	}
	if n := keys(t, c, "/try/"); n != 1 {
		t.Fatalf("%d keys after failed TryLock, want 1", n)
	}
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := mb.TryLock(ctx)
	if err != nil {
		t.Fatalf("TryLock of free lock: %v", err)
	}
	if lb.Token() <= la.Token() {
		t.Fatalf("token %d after %d", lb.Token(), la.Token())
	}
	lb.Unlock(ctx)
}

func TestTryLockDoesNotJumpQueue(t *testing.T) {
	srv := etcdtest.Start(t)
	a, c := newSession(t, srv)
	b, _ := newSession(t, srv)
	d, _ := newSession(t, srv)
	ctx := context.Background()
	la, err := etcd.NewMutex(a, "/q").Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	release := make(chan struct{})
	go func() {
		l, err := etcd.NewMutex(b, "/q").Lock(ctx)
		if err == nil {
			<-release
			err = l.Unlock(ctx)
		}
		got <- err
	}()
	eventually(t, 5*time.Second, "waiter queued", func() bool { return keys(t, c, "/q/") == 2 })
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	// The lock passed to b the moment a's key was deleted, whether or not b
	// has noticed yet: a TryLock now must not take it.
	if _, err := etcd.NewMutex(d, "/q").TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
		t.Fatalf("TryLock with a queued waiter: %v, want ErrLocked", err)
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestLockCancelLeavesNoKey(t *testing.T) {
	srv := etcdtest.Start(t)
	a, c := newSession(t, srv)
	b, _ := newSession(t, srv)
	la, err := etcd.NewMutex(a, "/cancel").Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mb := etcd.NewMutex(b, "/cancel")

	// Cancelled while waiting.
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := mb.Lock(ctx)
		got <- err
	}()
	eventually(t, 5*time.Second, "waiter queued", func() bool { return keys(t, c, "/cancel/") == 2 })
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock: %v, want context.Canceled", err)
	}
	if n := keys(t, c, "/cancel/"); n != 1 {
		t.Fatalf("%d keys after cancelled Lock, want 1 (the holder's)", n)
	}

	// Deadline while waiting.
	_, err = mb.Lock(ctxTimeout(t, 200*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out Lock: %v, want DeadlineExceeded", err)
	}
	if n := keys(t, c, "/cancel/"); n != 1 {
		t.Fatalf("%d keys after timed-out Lock, want 1", n)
	}

	// A ctx already done fails even when the lock is free.
	if err := la.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := mb.Lock(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with done ctx: %v, want context.Canceled", err)
	}
	if _, err := mb.TryLock(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("TryLock with done ctx: %v, want context.Canceled", err)
	}
	if n := keys(t, c, "/cancel/"); n != 0 {
		t.Fatalf("%d keys left, want 0", n)
	}
}

// A cancelled waiter at the head of the queue must let the one behind it
// through when the holder leaves (golang/go#37852 in distributed form).
func TestCancelledWaiterPassesTurnOn(t *testing.T) {
	srv := etcdtest.Start(t)
	a, c := newSession(t, srv)
	b, _ := newSession(t, srv)
	d, _ := newSession(t, srv)
	la, err := etcd.NewMutex(a, "/pass").Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctxB, cancelB := context.WithCancel(context.Background())
	gotB := make(chan error, 1)
	go func() { _, err := etcd.NewMutex(b, "/pass").Lock(ctxB); gotB <- err }()
	eventually(t, 5*time.Second, "b queued", func() bool { return keys(t, c, "/pass/") == 2 })
	gotD := make(chan error, 1)
	go func() {
		l, err := etcd.NewMutex(d, "/pass").Lock(ctxTimeout(t, 10*time.Second))
		if err == nil {
			err = l.Unlock(context.Background())
		}
		gotD <- err
	}()
	eventually(t, 5*time.Second, "d queued", func() bool { return keys(t, c, "/pass/") == 3 })
	cancelB()
	if err := <-gotB; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := la.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-gotD; err != nil {
		t.Fatalf("waiter behind a cancelled one: %v", err)
	}
}

func TestCrashedHolderReplacedWithinTTL(t *testing.T) {
	srv := etcdtest.Start(t)
	a, ca := newDyingSession(t, srv)
	b, cb := newSession(t, srv)
	la, err := etcd.NewMutex(a, "/crash").Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   *etcd.Lock
		err error
		at  time.Time
	}
	got := make(chan result, 1)
	go func() {
		l, err := etcd.NewMutex(b, "/crash").Lock(ctxTimeout(t, ttl+2*margin))
		got <- result{l, err, time.Now()}
	}()
	eventually(t, 5*time.Second, "waiter queued", func() bool { return keys(t, cb, "/crash/") == 2 })
	crashed := time.Now()
	ca.Close() // the holder's process dies: no Unlock, no Revoke
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d := r.at.Sub(crashed); d > ttl+margin {
		t.Fatalf("replaced after %v, want within TTL %v + %v", d, ttl, margin)
	} else {
		t.Logf("replaced %v after the crash (TTL %v)", d, ttl)
	}
	if r.l.Token() <= la.Token() {
		t.Fatalf("new token %d not above the dead holder's %d", r.l.Token(), la.Token())
	}
	select {
	case <-la.Lost():
	case <-time.After(margin):
		t.Fatal("Lost not closed after the holder's client closed")
	}
	// The dead holder's Unlock cannot release the new holder.
	if err := la.Unlock(context.Background()); err == nil {
		t.Fatal("Unlock through a closed client succeeded")
	}
	if n := keys(t, cb, "/crash/"); n != 1 {
		t.Fatalf("%d keys, want the new holder's 1", n)
	}
	if err := r.l.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The holder's lease is revoked behind its back (as when it expires during a
// long pause). Its Unlock, run when it wakes, must not release the new
// holder: it reports ErrLockLost.
func TestStaleUnlockCannotReleaseNewHolder(t *testing.T) {
	srv := etcdtest.Start(t)
	a, _ := newDyingSession(t, srv)
	b, cb := newSession(t, srv)
	ma, mb := etcd.NewMutex(a, "/stale"), etcd.NewMutex(b, "/stale")
	ctx := context.Background()
	la, err := ma.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Revoke(ctx, a.Lease()); err != nil { // a's lease "expires"
		t.Fatal(err)
	}
	lb, err := mb.Lock(ctxTimeout(t, margin))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Lost():
	case <-time.After(ttl + margin):
		t.Fatal("Lost not closed after the lease was revoked")
	}
	if err := la.Unlock(ctx); !errors.Is(err, dist.ErrLockLost) {
		t.Fatalf("stale Unlock: %v, want ErrLockLost", err)
	}
	if _, err := etcd.NewMutex(b, "/stale").TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
		t.Fatalf("after stale Unlock, TryLock: %v, want ErrLocked (b still holds)", err)
	}
	if err := lb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// etcd-io/etcd#22082: etcd's Mutex.Unlock deletes by key name, so an Unlock
// retried after its first reply was lost deletes whoever holds the key
// next. Here the retry names the same key and revision and does nothing.
func TestRetriedUnlockIsHarmless(t *testing.T) {
	srv := etcdtest.Start(t)
	a, _ := newSession(t, srv)
	ctx := context.Background()
	m := etcd.NewMutex(a, "/retry")
	l1, err := m.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := m.Lock(ctx) // the same session takes it again
	if err != nil {
		t.Fatal(err)
	}
	if deleted, err := etcd.RetryUnlock(ctx, l1); err != nil || deleted {
		t.Fatalf("retried Unlock deleted=%v err=%v, want false, nil", deleted, err)
	}
	if _, err := m.TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
		t.Fatalf("after retried Unlock, TryLock: %v, want ErrLocked", err)
	}
	if err := l2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLockWhenSessionEnds(t *testing.T) {
	srv := etcdtest.Start(t)
	a, c := newSession(t, srv)
	b, _ := newSession(t, srv)
	la, err := etcd.NewMutex(a, "/end").Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { _, err := etcd.NewMutex(b, "/end").Lock(ctxTimeout(t, 10*time.Second)); got <- err }()
	eventually(t, 5*time.Second, "waiter queued", func() bool { return keys(t, c, "/end/") == 2 })
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, dist.ErrSessionClosed) {
		t.Fatalf("Lock whose session closed: %v, want ErrSessionClosed", err)
	}
	if n := keys(t, c, "/end/"); n != 1 {
		t.Fatalf("%d keys, want 1", n)
	}
	if _, err := etcd.NewMutex(b, "/end").Lock(context.Background()); !errors.Is(err, dist.ErrSessionClosed) {
		t.Fatalf("Lock on closed session: %v, want ErrSessionClosed", err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	la.Unlock(context.Background())
}

func TestUnlockTwicePanics(t *testing.T) {
	srv := etcdtest.Start(t)
	a, _ := newSession(t, srv)
	l, err := etcd.NewMutex(a, "/twice").Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != "etcd: Unlock of unlocked Lock" {
			t.Fatalf("recovered %v", r)
		}
	}()
	l.Unlock(context.Background())
}

func TestIsOwnerGuardsWrites(t *testing.T) {
	srv := etcdtest.Start(t)
	a, c := newSession(t, srv)
	ctx := context.Background()
	l, err := etcd.NewMutex(a, "/guard").Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put := func() bool {
		resp, err := c.Txn(ctx).If(l.IsOwner()).Then(clientv3.OpPut("/data", "x")).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp.Succeeded
	}
	if !put() {
		t.Fatal("guarded write failed while holding the lock")
	}
	l.Unlock(ctx)
	if put() {
		t.Fatal("guarded write succeeded after Unlock")
	}
}
