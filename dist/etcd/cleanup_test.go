package etcd_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	"google.golang.org/grpc"
)

// A waiter that gives up deletes its key from the line. When that delete
// failed (etcd out of reach for the cleanup's 5s, or, here, the one call
// failing), the key stayed, bound to the waiter's session, which lives on:
// once it reached the front, the session held the lock with no Lock to
// release it, and every later waiter waited until that session ended. A
// failed cleanup is retried until it gets through.
func TestFailedCleanupIsRetried(t *testing.T) {
	srv := etcdtest.Start(t)
	const name = "/ghost"
	a, arm, lost := sessionLosingADelete(t, srv, name+"/")
	hs, hc := newSession(t, srv)
	holder, err := etcd.NewMutex(hs, name).Lock(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}

	actx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := etcd.NewMutex(a, name).Lock(actx)
		got <- err
	}()
	eventually(t, 5*time.Second, "the waiter queues", func() bool { return keys(t, hc, name+"/") == 2 })
	arm()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock = %v, want context.Canceled", err)
	}
	if !lost() {
		t.Fatal("the cancelled waiter sent no delete")
	}

	// The holder leaves; a new waiter must get the lock, not queue behind
	// the given-up key for the rest of a's session.
	cs, _ := newSession(t, srv)
	if err := holder.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := etcd.NewMutex(cs, name).Lock(ctxTimeout(t, 5*time.Second)) // a liveness bound
	if err != nil {
		t.Fatalf("Lock after the holder left, behind a waiter that gave up: %v (keys in line: %d)", err, keys(t, hc, name+"/"))
	}
	l.Unlock(context.Background())
}

// sessionLosingADelete returns a session on a client of its own whose next
// transaction that deletes a key under prefix, once armed, fails without
// reaching etcd, and a function reporting whether one did.
func sessionLosingADelete(t *testing.T, srv *etcdtest.Server, prefix string) (s *etcd.Session, arm func(), lost func() bool) {
	t.Helper()
	var armed, failed atomic.Bool
	c := interceptedClient(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if txnTouches(req, prefix, false) && armed.CompareAndSwap(true, false) {
			failed.Store(true)
			return errors.New("test: the delete is lost")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	s, err := etcd.NewSession(context.Background(), c, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, func() { armed.Store(true) }, failed.Load
}

// While etcd stays out of reach the cleanup keeps trying, backing off, and
// it stops when the session closes: Close returns, also with a try in
// flight, and no try follows it.
func TestCleanupRetriesEndWithTheSession(t *testing.T) {
	srv := etcdtest.Start(t)
	const name = "/unreachable"
	var armed atomic.Bool
	var tries atomic.Int32
	ca := interceptedClient(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if armed.Load() && txnTouches(req, name+"/", false) {
			if tries.Add(1) > 2 {
				<-ctx.Done() // a try that hangs until its ctx ends
				return ctx.Err()
			}
			return errors.New("test: etcd out of reach")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	a, err := etcd.NewSession(context.Background(), ca, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	hs, hc := newSession(t, srv)
	holder, err := etcd.NewMutex(hs, name).Lock(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Unlock(context.Background())

	actx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := etcd.NewMutex(a, name).Lock(actx)
		got <- err
	}()
	eventually(t, 5*time.Second, "the waiter queues", func() bool { return keys(t, hc, name+"/") == 2 })
	armed.Store(true)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock = %v, want context.Canceled", err)
	}
	eventually(t, 5*time.Second, "a third try of the cleanup, in flight", func() bool { return tries.Load() >= 3 })
	closed := make(chan error, 1)
	go func() { closed <- a.Close(context.Background()) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second): // a liveness bound, below the 5s a try may take when nothing cancels it
		t.Fatal("Close still waiting 3s after it was called, with a cleanup retrying")
	}
	n := tries.Load()
	if keys(t, hc, name+"/") != 1 {
		t.Error("the given-up key outlived its session's Close")
	}
	if m := tries.Load(); m != n {
		t.Errorf("%d tries of the cleanup after Close returned", m-n)
	}
}

// The same for a DoubleBarrier member that leaves before the barrier opens:
// its member key, left by a failed withdrawal, would be counted by a later
// opening, and the members that entered would count one who left.
func TestFailedWithdrawalIsRetried(t *testing.T) {
	srv := etcdtest.Start(t)
	const name, members = "/leaving", "/leaving/members/"
	a, arm, lost := sessionLosingADelete(t, srv, members)
	_, hc := newSession(t, srv)

	actx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- etcd.NewDoubleBarrier(a, name, 2).Enter(actx) }()
	eventually(t, 5*time.Second, "the member joins", func() bool { return keys(t, hc, members) == 1 })
	arm()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Enter = %v, want context.Canceled", err)
	}
	if !lost() {
		t.Fatal("the cancelled member sent no withdrawal")
	}
	eventually(t, 5*time.Second, "the member key of the member that left is deleted", func() bool { return keys(t, hc, members) == 0 })
}
