package etcd_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// compactNow writes a few unrelated keys and compacts etcd's history up to
// the current revision, as an auto-compacting cluster does while a lock is
// held for long.
func compactNow(t *testing.T, c *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	var rev int64
	for range 5 {
		resp, err := c.Put(ctx, "/unrelated", "x")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := c.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

// proxiedSession starts a session on a client that reaches srv through p.
func proxiedSession(t *testing.T, p *proxy) (*etcd.Session, *clientv3.Client) {
	t.Helper()
	c := p.client(t)
	s, err := etcd.NewSession(context.Background(), c, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, c
}

// compactAndReconnect compacts the history (through c, a direct client),
// cuts the proxied client cp's connections, and waits until cp is back: its
// watches have resumed, from a compacted revision.
func compactAndReconnect(t *testing.T, p *proxy, c, cp *clientv3.Client) {
	t.Helper()
	compactNow(t, c)
	p.cut()
	eventually(t, 10*time.Second, "client reconnected", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := cp.Get(ctx, "/unrelated")
		return err == nil
	})
}

// A waiter whose client reconnects (a network blip) after etcd compacted
// the history since the waiter's watch was opened must go on waiting and
// take the lock when it is freed. The etcd client resumes a watch from the
// last revision it saw on it; for a waiter whose line did not change, that
// is the revision the watch was opened at, which the compaction removed,
// so the resumed watch fails with "required revision has been compacted".
// That is no reason to give up a place in line: the line's truth is a read,
// the watch only says when to read again.
func TestLockWaiterSurvivesCompactionAndReconnect(t *testing.T) {
	srv := etcdtest.Start(t)
	p := newProxy(t, srv)
	a, ca := newSession(t, srv)
	b, cb := proxiedSession(t, p)

	la, err := etcd.NewMutex(a, "/compact").Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   *etcd.Lock
		err error
	}
	got := make(chan result, 1)
	go func() {
		l, err := etcd.NewMutex(b, "/compact").Lock(ctxTimeout(t, 20*time.Second))
		got <- result{l, err}
	}()
	eventually(t, 5*time.Second, "waiter queued", func() bool { return keys(t, ca, "/compact/") == 2 })
	compactAndReconnect(t, p, ca, cb)
	if err := la.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("waiter after a compaction and a reconnect: %v, want the lock", r.err)
	}
	if err := r.l.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The other waits on a watch (Barrier.Wait, Latch.Wait, a semaphore's
// Acquire, DoubleBarrier.Leave) also go on waiting through a compaction
// and a reconnection, and return when what they wait for happens.
func TestWaitsSurviveCompactionAndReconnect(t *testing.T) {
	srv := etcdtest.Start(t)
	p := newProxy(t, srv)
	a, ca := newSession(t, srv)
	b, cb := proxiedSession(t, p)
	ctx := context.Background()

	if err := etcd.NewBarrier(a, "/cb/barrier").Hold(ctx); err != nil {
		t.Fatal(err)
	}
	permit, err := etcd.NewSemaphore(a, "/cb/sem", 1).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	da, db := etcd.NewDoubleBarrier(a, "/cb/double", 2), etcd.NewDoubleBarrier(b, "/cb/double", 2)
	entered := make(chan error, 1)
	go func() { entered <- da.Enter(ctxTimeout(t, 10*time.Second)) }()
	if err := db.Enter(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-entered; err != nil {
		t.Fatal(err)
	}

	wctx := ctxTimeout(t, 20*time.Second)
	type waited struct {
		what string
		err  error
	}
	got := make(chan waited, 4)
	go func() { got <- waited{"Barrier.Wait", etcd.NewBarrier(b, "/cb/barrier").Wait(wctx)} }()
	go func() { got <- waited{"Latch.Wait", etcd.NewLatch(b, "/cb/latch", 1).Wait(wctx)} }()
	go func() {
		p, err := etcd.NewSemaphore(b, "/cb/sem", 1).Acquire(wctx)
		if err == nil {
			err = p.Release(context.Background())
		}
		got <- waited{"Semaphore.Acquire", err}
	}()
	go func() { got <- waited{"DoubleBarrier.Leave", db.Leave(wctx)} }()
	eventually(t, 5*time.Second, "waiters waiting", func() bool {
		return keys(t, ca, "/cb/sem/") == 2 && keys(t, ca, "/cb/double/members/") == 1
	})
	// (Leave opens its watch just after its delete, which the count above
	// sees: if the watch is not open yet at the cut, it opens after the
	// compaction and Leave is not exercised, but the test still holds.)
	compactAndReconnect(t, p, ca, cb)
	if err := etcd.NewBarrier(a, "/cb/barrier").Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := etcd.NewLatch(a, "/cb/latch", 1).CountDown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := permit.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := da.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		w := <-got
		if w.err != nil {
			t.Errorf("%s after a compaction and a reconnect: %v", w.what, w.err)
		}
	}
}

// A call whose client is closed while its request is in flight ends with
// dist.ErrSessionClosed ("its client closed", the sentinel's doc; "the
// session ends ... or the client closed", Session.Done's), as the same
// call does when the client closed before it started or while it waited
// on a watch. The etcd client retries a call on a closed client for about
// 2.5 s and then fails it with a gRPC Canceled status, which Lock
// returned as it was.
func TestClientClosedMidCallIsSessionClosed(t *testing.T) {
	srv := etcdtest.Start(t)
	var armed atomic.Bool
	var c *clientv3.Client
	c = interceptedClient(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if txnTouches(req, "/closed/", true) && armed.CompareAndSwap(true, false) {
			c.Close() // the process shuts its client down while the join is out
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	s, err := etcd.NewSession(context.Background(), c, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	armed.Store(true)
	_, err = etcd.NewMutex(s, "/closed").Lock(ctxTimeout(t, 10*time.Second))
	if !errors.Is(err, dist.ErrSessionClosed) {
		t.Fatalf("Lock whose client closed mid-call: %v, want ErrSessionClosed", err)
	}
}

// A waiter whose client closes returns ErrSessionClosed, not the etcd
// client's raw gRPC status.
func TestWaiterWhoseClientClosesGetsSessionClosed(t *testing.T) {
	srv := etcdtest.Start(t)
	a, ca := newSession(t, srv)
	b, cb := newSession(t, srv)
	la, err := etcd.NewMutex(a, "/closing").Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := etcd.NewMutex(b, "/closing").Lock(ctxTimeout(t, 10*time.Second))
		got <- err
	}()
	eventually(t, 5*time.Second, "waiter queued", func() bool { return keys(t, ca, "/closing/") == 2 })
	cb.Close()
	if err := <-got; !errors.Is(err, dist.ErrSessionClosed) {
		t.Errorf("Lock whose client closed while waiting: %v, want ErrSessionClosed", err)
	}
	if err := la.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The context of a cleanup (the delete of a failed or cancelled waiter's
// key) ends when the session's client closes: nothing can reach etcd
// through a closed client, and the etcd client would retry the delete for
// 2.5 s before failing it (the keys go with the lease anyway).
func TestCleanupEndsWhenClientCloses(t *testing.T) {
	srv := etcdtest.Start(t)
	s, c := newSession(t, srv)
	cctx, cancel := etcd.CleanupCtx(s, context.Background())
	defer cancel()
	if cctx.Err() != nil {
		t.Fatal("a cleanup context ended before the client closed")
	}
	c.Close()
	select {
	case <-cctx.Done():
	case <-time.After(5 * time.Second): // a liveness bound
		t.Fatal("a cleanup context outlived its session's client")
	}
}

// NewSession with a nil client is misuse, and panics with the package's
// prefix like every constructor given a nil Session ("misuse panics with a
// message prefixed by the package name", the dist doc), not with a nil
// dereference inside the etcd client.
func TestNewSessionNilClientPanics(t *testing.T) {
	defer func() {
		if r := recover(); r != "etcd: NewSession with nil Client" {
			t.Fatalf("recovered %v, want etcd: NewSession with nil Client", r)
		}
	}()
	etcd.NewSession(context.Background(), nil)
}
