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

// dialStep is what a scriptedDialer does with one dial.
type dialStep int

const (
	dialSwallow dialStep = iota // connect, but drop the SUBSCRIBE written on the connection: its reply never comes
	dialRefuse                  // fail at once
	dialStall                   // block, as a dial to an unreachable host does, until the dial's ctx ends or the test releases it
)

// scriptedDialer, once armed, serves its next dials by its plan, a step
// each, and then dials normally.
type scriptedDialer struct {
	plan        []dialStep
	mu          sync.Mutex
	next        int // the plan step of the next dial; len(plan): not armed
	stalled     chan struct{}
	release     chan struct{}
	releaseOnce sync.Once
}

func newScriptedDialer(t *testing.T, plan ...dialStep) *scriptedDialer {
	d := &scriptedDialer{plan: plan, next: len(plan), stalled: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(d.releaseDial)
	return d
}

func (d *scriptedDialer) arm() {
	d.mu.Lock()
	d.next = 0
	d.mu.Unlock()
}

// releaseDial ends a stalled dial.
func (d *scriptedDialer) releaseDial() { d.releaseOnce.Do(func() { close(d.release) }) }

func (d *scriptedDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	step := dialStep(-1)
	if d.next < len(d.plan) {
		step = d.plan[d.next]
		d.next++
	}
	d.mu.Unlock()
	var nd net.Dialer
	switch step {
	case dialSwallow:
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return swallowSubscribe{c}, nil
	case dialRefuse:
		return nil, errors.New("test dialer: refused")
	case dialStall:
		close(d.stalled)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.release:
			return nil, errors.New("test dialer: released")
		}
	}
	return nd.DialContext(ctx, network, addr)
}

// swallowSubscribe drops the SUBSCRIBE written on it, as a stalled server
// would leave it unanswered: the reply never comes.
type swallowSubscribe struct{ net.Conn }

func (c swallowSubscribe) Write(p []byte) (int, error) {
	if bytes.Contains(bytes.ToLower(p), []byte("subscribe")) {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// A waiting Lock whose ctx is cancelled must return (the cancellation
// contract, rule 1), also while its subscription's connection is being
// dialed again. The first reply was read by a goroutine with
// context.WithoutCancel(ctx): when the SUBSCRIBE's own dial had failed,
// that Receive dials under the PubSub's mutex with nothing to end the
// dial but the dialer's own timeout, and Lock's deferred ps.Close waits
// for that mutex: a cancelled Lock did not return until the dial ended
// (with a dialer bound by ctx only, never).
func TestLockCancelledWhileSubscriptionRedials(t *testing.T) {
	srv := redistest.Start(t)
	const key = "redial-waiter"
	d := newScriptedDialer(t, dialRefuse, dialStall) // the SUBSCRIBE's dial, then its redial
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: d.dial})
	c.AddHook(&heldHook{onHeld: d.arm}) // armed before Lock's SUBSCRIBE
	t.Cleanup(func() { c.Close() })
	cancelWhenStalled(t, srv, c, key, d.stalled, "while its subscription redialed", d.releaseDial)
}

// The same once the subscription has been handed over to go-redis's
// ChannelWithSubscriptions: its goroutine reads the subscription and, when
// the connection breaks, dials again under the PubSub's mutex, with a
// context of its own (each try bound by the client's DialTimeout, here 30s
// so that the stall outlasts the test's bound). Lock's deferred ps.Close
// waited for that mutex, so a Lock cancelled during such a redial returned
// only when the dial ended.
func TestLockCancelledWhileHandedOverSubscriptionRedials(t *testing.T) {
	srv := redistest.Start(t)
	const key = "redial-handed-over"
	d := newScriptedDialer(t, dialStall) // the redial of the handed-over subscription
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: d.dial, DialTimeout: 30 * time.Second})
	admin := srv.Client(t)
	// The second try that finds the lock held is the one after the
	// subscription's confirmation, which Lock hands over first. Then the
	// subscription's connection is killed, with the next dial stalling.
	c.AddHook(&heldHook{at: 2, onHeld: func() {
		d.arm()
		if err := admin.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Err(); err != nil {
			t.Error(err)
		}
	}})
	t.Cleanup(func() { c.Close() })
	cancelWhenStalled(t, srv, c, key, d.stalled, "while its handed-over subscription redialed", d.releaseDial)
}

// A Lock that gets the lock while go-redis redials its handed-over
// subscription returns with it: it waited for the redial too, in the
// deferred ps.Close (up to five tries of the DialTimeout).
func TestLockAcquiredWhileHandedOverSubscriptionRedials(t *testing.T) {
	srv := redistest.Start(t)
	const key = "redial-acquired"
	ctx := context.Background()
	d := newScriptedDialer(t, dialStall)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: d.dial, DialTimeout: 30 * time.Second})
	t.Cleanup(func() { c.Close() })
	admin := srv.Client(t)
	c.AddHook(&heldHook{at: 2, onHeld: func() { // as in the test above
		d.arm()
		if err := admin.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
			t.Error(err)
		}
	}})
	// The holder's TTL is short: the release it publishes goes to a
	// subscription being redialed, so the waiter finds the lock free by its
	// timer, set to the holder's remaining TTL.
	holder, err := redislock.New(admin, key, redislock.WithTTL(time.Second)).TryLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := redislock.New(c, key, redislock.WithTTL(time.Minute)).Lock(ctxTimeout(t, time.Minute))
		if err == nil {
			err = l.Unlock(ctx)
		}
		got <- err
	}()
	select {
	case <-d.stalled:
	case err := <-got:
		t.Fatalf("Lock returned %v before its subscription's redial stalled", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription's redial never stalled")
	}
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second): // a liveness bound; the lock is free, and the waiter's timer fires within the holder's 1s TTL
		d.releaseDial()
		t.Fatalf("Lock, free since the holder's Unlock, still waiting 5s later (returned %v once the redial was released)", <-got)
	}
}
