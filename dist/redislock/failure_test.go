package redislock_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/internal/redistest"
	"github.com/lockstep-go/lockstep/dist/redislock"
	"github.com/redis/go-redis/v9"
)

// replyDropper makes a client's connection lose the reply to the next
// command whose bytes contain marker, after the server has executed it: the
// connection breaks as the reply arrives (a proxy, a NAT timeout, a CLIENT
// KILL). go-redis then retries the command on a new connection, as it does
// by default (MaxRetries 3) for any command that failed with io.EOF.
type replyDropper struct {
	marker []byte
	armed  atomic.Bool
	fired  atomic.Bool
}

func (d *replyDropper) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialWrapped(ctx, network, addr, func(c net.Conn) net.Conn { return &dropConn{Conn: c, d: d} })
}

// dialWrapped dials addr and wraps the connection: the fault injectors'
// dialers (redis.Options.Dialer) share it.
func dialWrapped(ctx context.Context, network, addr string, wrap func(net.Conn) net.Conn) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return wrap(c), nil
}

type dropConn struct {
	net.Conn
	d    *replyDropper
	drop atomic.Bool
}

func (c *dropConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, c.d.marker) && c.d.armed.CompareAndSwap(true, false) {
		c.drop.Store(true)
	}
	return c.Conn.Write(p)
}

func (c *dropConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.drop.Load() {
		// The server has run the command: its reply is here. Lose it.
		c.Conn.Close()
		c.d.fired.Store(true)
		return 0, io.EOF
	}
	return n, err
}

// An acquisition whose reply is lost after the script ran, and which the
// client retries (go-redis's default), must find its own key rather than
// treat it as somebody else's lock. It did not: TryLock of a free lock
// returned ErrLocked and left its own key held for a whole TTL (the call
// failed, but the lock was taken: "a failed call leaves nothing behind" and
// "an acquisition whose reply was cut off is released again" both broken),
// and Lock waited for its own orphaned key to expire.
func TestRetriedAcquireFindsItsOwnKey(t *testing.T) {
	srv := redistest.Start(t)
	for _, op := range []string{"TryLock", "Lock"} {
		t.Run(op, func(t *testing.T) {
			key := "retried-" + op
			d := &replyDropper{marker: []byte(key + ":fence")}
			c := redis.NewClient(&redis.Options{Addr: srv.Addr, Dialer: d.dial})
			t.Cleanup(func() { c.Close() })
			ctx := context.Background()
			m, warm := warmMutex(t, c, key)
			d.armed.Store(true)
			var l *redislock.Lock
			var err error
			if op == "TryLock" {
				l, err = m.TryLock(ctx)
			} else {
				l, err = m.Lock(ctxTimeout(t, 3*time.Second))
			}
			if !d.fired.Load() {
				t.Fatal("no reply was dropped")
			}
			check := srv.Client(t)
			if err != nil {
				n, _ := check.Exists(ctx, key).Result()
				t.Fatalf("%s of a free lock, reply lost and retried: %v; key left held: %v", op, err, n == 1)
			}
			fence, err := check.Get(ctx, key+":fence").Int64()
			if err != nil {
				t.Fatal(err)
			}
			if l.Token() != fence || l.Token() <= warm {
				t.Fatalf("token %d, fence counter %d, previous token %d", l.Token(), fence, warm)
			}
			if _, err := redislock.New(check, key).TryLock(ctx); !errors.Is(err, dist.ErrLocked) {
				t.Fatalf("lock not held after %s succeeded: %v", op, err)
			}
			if err := l.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// stallRelease makes the release script (the one that publishes on
// key:released) hang until its ctx ends, as a call stuck on a slow network
// does, without reaching the server.
type stallRelease struct {
	channel string
	armed   atomic.Bool
}

func (h *stallRelease) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *stallRelease) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *stallRelease) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.armed.Load() && strings.HasPrefix(cmd.Name(), "eval") {
			for _, a := range cmd.Args() {
				if a == h.channel {
					<-ctx.Done()
					cmd.SetErr(ctx.Err())
					return ctx.Err()
				}
			}
		}
		return next(ctx, cmd)
	}
}

// An Unlock that fails because its ctx ended before the release reached
// Redis must leave the lock as if Unlock had not been called (the
// cancellation contract; Unlock's doc: "Unlock may be called again"). It
// stopped the refresh before sending the release and did not restart it,
// so the key expired a TTL later while Lost stayed open for good: another
// client held the lock while this holder had no way to learn it had lost
// it (Lost's doc: closed when "no refresh got through for a TTL").
//
// TTL-based, as TestRefreshAndLost: the lock must be seen to outlive its
// TTL, so this runs for 2.5 TTLs of real time.
func TestFailedUnlockKeepsLockAlive(t *testing.T) {
	srv := redistest.Start(t)
	h := &stallRelease{channel: "failed-unlock:released"}
	c := srv.Client(t)
	c.AddHook(h)
	ctx := context.Background()
	l, err := redislock.New(c, "failed-unlock", redislock.WithTTL(ttl)).Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.armed.Store(true)
	uctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = l.Unlock(uctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Unlock: %v, want DeadlineExceeded", err)
	}
	h.armed.Store(false)
	other := redislock.New(srv.Client(t), "failed-unlock", redislock.WithTTL(ttl))
	for end := time.Now().Add(5 * ttl / 2); time.Now().Before(end); {
		select {
		case <-l.Lost():
			t.Fatal("Lost closed: the failed Unlock let the lock go")
		default:
		}
		ol, err := other.TryLock(ctx)
		if err == nil {
			ol.Unlock(ctx)
			select {
			case <-l.Lost():
				t.Fatal("the lock expired after a failed Unlock (Lost closed)")
			default:
				t.Fatal("after a failed Unlock the lock expired and another client took it, while Lost stayed open")
			}
		}
		if !errors.Is(err, dist.ErrLocked) {
			t.Fatal(err)
		}
		time.Sleep(ttl / 10) // polling: a liveness window, not a synchronization
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatalf("retried Unlock: %v, want nil (still held)", err)
	}
}

// WithTTL's duration is rounded up to whole milliseconds, the unit Redis
// applies, so that the client never counts on a longer TTL than the key's
// (the scripts truncated it: 10.9ms became 10ms in Redis); below 10ms it
// panics.
func TestTTLRoundedUpToMilliseconds(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { c.Close() })
	for _, tc := range []struct{ in, want time.Duration }{
		{10 * time.Millisecond, 10 * time.Millisecond},
		{10*time.Millisecond + 1, 11 * time.Millisecond},
		{10*time.Millisecond + 900*time.Microsecond, 11 * time.Millisecond},
		{9*time.Millisecond + 1, 10 * time.Millisecond},
	} {
		if got := redislock.TTL(redislock.New(c, "k", redislock.WithTTL(tc.in))); got != tc.want {
			t.Errorf("WithTTL(%v): TTL %v, want %v", tc.in, got, tc.want)
		}
	}
	defer func() {
		if r, _ := recover().(string); !strings.HasPrefix(r, "redislock: ") {
			t.Fatalf("WithTTL(9ms): recovered %q, want a redislock: panic", r)
		}
	}()
	redislock.New(c, "k", redislock.WithTTL(9*time.Millisecond))
}

// warmMutex returns a Mutex on key with a TTL of a minute (an orphaned key
// would block everyone for that long), locked and unlocked once so that its
// scripts are loaded: the calls under test send EVALSHA, not EVAL. It
// returns the warm-up lock's token too.
func warmMutex(t *testing.T, c *redis.Client, key string) (*redislock.Mutex, int64) {
	t.Helper()
	m := redislock.New(c, key, redislock.WithTTL(time.Minute))
	l, err := m.TryLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, l.Token()
}
