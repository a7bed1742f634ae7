package redislock_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/dist/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// stallDialer, once armed, fails the next dial at once (the SUBSCRIBE's
// connection) and stalls the one after (its redial), as a dial to an
// unreachable host does, until the dial's ctx ends or the test releases
// it.
type stallDialer struct {
	mu      sync.Mutex
	armed   int // 0 off, 1 fail the next dial, 2 stall the next
	stalled chan struct{}
	release chan struct{}
}

func (d *stallDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	armed := d.armed
	if armed > 0 {
		d.armed = (armed + 1) % 3
	}
	d.mu.Unlock()
	switch armed {
	case 1:
		return nil, errors.New("stallDialer: refused")
	case 2:
		close(d.stalled)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.release:
			return nil, errors.New("stallDialer: released")
		}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// A waiting Lock whose ctx is cancelled must return (the cancellation
// contract, rule 1), also while its subscription's connection is being
// dialed again. The first reply is read by a goroutine with
// context.WithoutCancel(ctx): when the SUBSCRIBE's own dial had failed,
// that Receive dials under the PubSub's mutex with nothing to end the
// dial but the dialer's own timeout, and Lock's deferred ps.Close waits
// for that mutex: a cancelled Lock did not return until the dial ended
// (with a dialer bound by ctx only, never).
func TestLockCancelledWhileSubscriptionRedials(t *testing.T) {
	srv := redistest.Start(t)
	const key = "redial-waiter"
	d := &stallDialer{stalled: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	releaseDial := func() { releaseOnce.Do(func() { close(d.release) }) }
	t.Cleanup(releaseDial)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: d.dial})
	c.AddHook(&heldHook{onHeld: func() { // armed before Lock's SUBSCRIBE
		d.mu.Lock()
		d.armed = 1
		d.mu.Unlock()
	}})
	t.Cleanup(func() { c.Close() })
	cancelWhenStalled(t, srv, c, key, d.stalled, "while its subscription redialed", releaseDial)
}
