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
	"github.com/lockstep-go/lockstep/dist/redislock"
	"github.com/redis/go-redis/v9"
)

// swallow, once armed, swallows the first write that contains marker (the
// write reports success, nothing reaches the server, no reply ever comes),
// as a connection stalled in the network does, and keeps that connection
// so that the test can close it.
type swallow struct {
	marker []byte

	mu    sync.Mutex // protects armed, conn
	armed bool
	conn  net.Conn
	hit   chan struct{}
}

func (s *swallow) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialWrapped(ctx, network, addr, func(c net.Conn) net.Conn { return &swallowConn{Conn: c, s: s} })
}

type swallowConn struct {
	net.Conn
	s *swallow
}

func (c *swallowConn) Write(p []byte) (int, error) {
	s := c.s
	s.mu.Lock()
	if s.armed && bytes.Contains(p, s.marker) {
		s.armed = false
		s.conn = c.Conn
		s.mu.Unlock()
		close(s.hit)
		return len(p), nil
	}
	s.mu.Unlock()
	return c.Conn.Write(p)
}

// A waiting Lock whose ctx is cancelled must return (the cancellation
// contract, rule 1), also while it waits for the confirmation of its
// subscription to the release channel. It read the confirmation with
// PubSub.Receive(ctx), which go-redis bounds by ctx's deadline only and by
// no timeout at all: with a ctx that is cancelled (no deadline) and a
// SUBSCRIBE that got no reply (a stalled connection), Lock never returned.
func TestLockCancelledWhileSubscribing(t *testing.T) {
	srv := redistest.Start(t)
	const key = "stalled-waiter"
	s := &swallow{marker: []byte("\r\nsubscribe\r\n"), hit: make(chan struct{})} // the SUBSCRIBE command
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: s.dial})
	t.Cleanup(func() { c.Close() })
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
	cancelWhenStalled(t, srv, c, key, s.hit, "its SUBSCRIBE unanswered", func() { // break the stalled connection
		s.mu.Lock()
		s.conn.Close()
		s.mu.Unlock()
	})
}

// cancelWhenStalled starts a Lock of key on c behind a holder, cancels its
// ctx once stalled is closed (the subscription stalls, as the test's dialer
// arranges), and fails t unless Lock returns context.Canceled within a
// liveness bound; unstick ends the stall if it does not.
func cancelWhenStalled(t *testing.T, srv *redistest.Server, c *redis.Client, key string, stalled <-chan struct{}, how string, unstick func()) {
	t.Helper()
	lctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := waitBehindHolder(t, srv, c, key, lctx)
	select {
	case <-stalled:
	case err := <-got:
		t.Fatalf("Lock returned %v before its subscription stalled", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription never stalled")
	}
	cancel()
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Lock = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second): // a liveness bound
		unstick()
		t.Fatalf("cancelled Lock, %s, still waiting 5s after the cancel (returned %v once unstuck)", how, <-got)
	}
}

// A Lock that waits for a crashed holder's key (no release is ever
// published) must retry when the key expires (Lock's doc: it waits "on the
// holder's remaining TTL in case the holder died"). Redis expires a key
// once its clock is past the key's expiry millisecond: a try in that very
// millisecond finds the key still there with a PTTL of 0, and Lock took
// that 0 for "no TTL" and waited a whole TTL of its own before trying
// again. On loopback that happened to about one waiter in five: the lock
// was free after 20ms and the waiter got it a TTL later. The repetitions
// are to meet that millisecond; the bound is a liveness bound, far below
// the TTL.
func TestWaiterRetriesWhenCrashedHoldersKeyExpires(t *testing.T) {
	srv := redistest.Start(t)
	const key = "expiring-holder"
	c := srv.Client(t)
	ctx := context.Background()
	const wait = 10 * time.Second // the TTL: how long the defect made the waiter wait
	m := redislock.New(c, key, redislock.WithTTL(wait))
	for i := range 30 {
		if err := c.Set(ctx, key, "crashed holder", 20*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		l, err := m.Lock(ctxTimeout(t, 2*wait))
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if took > 3*time.Second { // a liveness bound, far below the TTL
			t.Fatalf("run %d: the holder's key expired after 20ms, the waiter got the lock after %v (its TTL: %v)", i, took, wait)
		}
	}
}

// waitBehindHolder has another client hold key for a minute (released when
// t ends) and starts a Lock of key on c with lctx, which waits behind it;
// the Lock's error comes on the channel returned (a Lock that succeeds is
// unlocked at once).
func waitBehindHolder(t *testing.T, srv *redistest.Server, c *redis.Client, key string, lctx context.Context) <-chan error {
	t.Helper()
	ctx := context.Background()
	holder, err := redislock.New(srv.Client(t), key, redislock.WithTTL(time.Minute)).TryLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Unlock(ctx) })
	got := make(chan error, 1)
	go func() {
		l, err := redislock.New(c, key, redislock.WithTTL(time.Minute)).Lock(lctx)
		if err == nil {
			l.Unlock(ctx)
		}
		got <- err
	}()
	return got
}
