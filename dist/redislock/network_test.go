package redislock_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/internal/redistest"
	"github.com/lockstep-go/lockstep/dist/redislock"
	"github.com/redis/go-redis/v9"
)

// A release whose reply is lost after the script ran, and which go-redis
// retries (its default, for io.EOF), must report the release it made. The
// release script was not idempotent: its first run deleted the key, the
// retry found the key gone and returned 0, so Unlock of a lock held
// throughout returned ErrLockLost ("the key had expired or was taken"),
// telling the holder that someone else may have held the lock during its
// critical section.
func TestRetriedReleaseReportsItsRelease(t *testing.T) {
	srv := redistest.Start(t)
	const key = "retried-release"
	d := &replyDropper{marker: []byte(key + ":released")} // only the release script names the channel
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: d.dial})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	m, _ := warmMutex(t, c, key)
	l, err := m.TryLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.armed.Store(true)
	err = l.Unlock(ctx)
	if !d.fired.Load() {
		t.Fatal("no reply was dropped")
	}
	if err != nil {
		t.Fatalf("Unlock of a held lock, reply lost and retried: %v, want nil", err)
	}
	ol, err := redislock.New(srv.Client(t), key).TryLock(ctx)
	if err != nil {
		t.Fatalf("lock not free after Unlock: %v", err)
	}
	if err := ol.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// holdConn delays the first write that contains marker: the bytes are kept
// (the write reports success, as a kernel buffer does) and reach the server
// only when deliver is called, as a request delayed in the network (a lost
// segment retransmitted seconds later) does. The connection stays open
// until then, so the server runs the request after everything that was sent
// on other connections in the meantime.
type holdConn struct {
	net.Conn
	h *holder
}

type holder struct {
	marker []byte

	mu      sync.Mutex // protects armed, conn, pending, closed
	armed   bool
	conn    net.Conn
	pending []byte
	closed  bool // the client closed conn while its write was held
	held    chan struct{}
}

func (h *holder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialWrapped(ctx, network, addr, func(c net.Conn) net.Conn { return &holdConn{Conn: c, h: h} })
}

func (c *holdConn) Write(p []byte) (int, error) {
	h := c.h
	h.mu.Lock()
	if h.armed && bytes.Contains(p, h.marker) {
		h.armed = false
		h.conn, h.pending = c.Conn, append([]byte(nil), p...)
		h.mu.Unlock()
		close(h.held)
		return len(p), nil
	}
	h.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *holdConn) Close() error {
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == c.Conn && h.pending != nil {
		h.closed = true // closed by deliver
		return nil
	}
	return c.Conn.Close()
}

// deliver sends the held bytes, returns the server's reply line(s) and
// closes the connection.
func (h *holder) deliver(t *testing.T) string {
	t.Helper()
	h.mu.Lock()
	conn, p := h.conn, h.pending
	h.pending = nil
	h.mu.Unlock()
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(p); err != nil {
		t.Fatal(err)
	}
	// The acquire script's reply is an array of two integers: 3 lines.
	r := bufio.NewReader(conn)
	var reply []byte
	for range 3 {
		line, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("reading the delayed request's reply: %v (so far %q)", err, reply)
		}
		reply = append(reply, line...)
	}
	return string(reply)
}

// A Lock whose ctx ends while its acquisition is on its way must leave
// nothing behind (Lock's doc: "an acquisition whose reply was cut off by
// ctx is released again"). The release that Lock sends after the failure
// runs on another connection, and can reach Redis before the acquisition
// does (a lost segment of the first connection, retransmitted later): it
// found no key and did nothing, then the acquisition ran and set the key
// to an owner id that nobody holds. The lock was taken for a whole TTL
// (a minute here) by nobody: every other client got ErrLocked.
func TestCancelledLockBeatenByItsCleanupLeavesNothing(t *testing.T) {
	srv := redistest.Start(t)
	const key = "late-acquire"
	h := &holder{marker: []byte(key + ":fence"), held: make(chan struct{})} // only the acquire script names the fence
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: h.dial, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	m, _ := warmMutex(t, c, key)
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	l, err := m.Lock(lctx)
	if err == nil {
		l.Unlock(ctx)
		t.Fatal("Lock succeeded with its acquisition held back")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock: %v, want DeadlineExceeded", err)
	}
	select {
	case <-h.held:
	default:
		t.Fatal("the acquisition was not held back")
	}
	// Lock has returned, its cleanup done: now the acquisition arrives.
	reply := h.deliver(t)
	check := srv.Client(t)
	ol, err := redislock.New(check, key).TryLock(ctx)
	if err != nil {
		pttl, _ := check.PTTL(ctx, key).Result()
		t.Fatalf("after a cancelled Lock, TryLock: %v (the late acquisition replied %q; key left for %v)", err, reply, pttl)
	}
	if err := ol.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// blackhole swallows, once armed, every write that contains marker, as a
// network partition does: the write succeeds, no reply ever comes, and
// go-redis waits for one until its ReadTimeout (3s by default; it does not
// watch the command's ctx unless ContextTimeoutEnabled is set).
type blackhole struct {
	marker []byte
	armed  atomic.Bool
}

func (b *blackhole) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialWrapped(ctx, network, addr, func(c net.Conn) net.Conn { return &blackholeConn{Conn: c, b: b} })
}

type blackholeConn struct {
	net.Conn
	b *blackhole
}

func (c *blackholeConn) Write(p []byte) (int, error) {
	if c.b.armed.Load() && bytes.Contains(p, c.b.marker) {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Lost must close when no extension has got through for a TTL (Lost's doc),
// not whenever the hanging extension call returns. The refresher gave the
// call a ctx deadline at the lock's validity and waited for the call, but
// go-redis, by default, bounds a read by its ReadTimeout, not by the ctx:
// with the network cut right after Lock, the key expired after its TTL,
// another client took the lock, and Lost stayed open for seconds more,
// until the extension's read timed out (measured: another holder at +1.0s,
// Lost closed at +5.3s, TTL 1s). The bound below is a tolerance
// for scheduling, far below that gap, not a synchronization.
func TestLostClosesWhenExtensionHangs(t *testing.T) {
	srv := redistest.Start(t)
	const key = "hanging-extension"
	b := &blackhole{marker: []byte(key)}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: b.dial}) // go-redis defaults
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	l, err := redislock.New(c, key, redislock.WithTTL(ttl)).Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.armed.Store(true) // cut off before the first extension (due at TTL/3)
	other := redislock.New(srv.Client(t), key, redislock.WithTTL(ttl))
	var ol *redislock.Lock
	for deadline := time.Now().Add(5 * ttl); ol == nil; {
		if ol, err = other.TryLock(ctx); err != nil && !errors.Is(err, dist.ErrLocked) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut-off holder's key never expired")
		}
		time.Sleep(10 * time.Millisecond) // polling: a liveness bound
	}
	took := time.Since(start)
	select {
	case <-l.Lost():
	case <-time.After(300 * time.Millisecond):
		<-l.Lost()
		t.Errorf("another client took the lock at +%v, but Lost closed only at +%v (TTL %v)", took, time.Since(start), ttl)
	}
	b.armed.Store(false)
	if err := l.Unlock(ctx); !errors.Is(err, dist.ErrLockLost) {
		t.Errorf("Unlock of the lost lock: %v, want ErrLockLost", err)
	}
	if err := ol.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}
