package dist_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	"github.com/lockstep-go/lockstep/dist/internal/redistest"
	"github.com/lockstep-go/lockstep/dist/redislock"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cost of going distributed: the same lock+unlock and handoff on a
// local sync.Mutex, on etcd (embedded, in this process) and on Redis (a
// redis-server on loopback). Reported in BENCHMARKS.md, not asserted.

// locker is one contender for a lock: Lock returns the unlock function.
type locker interface {
	Lock(ctx context.Context) (unlock func(context.Context) error, err error)
}

// backend makes two contenders for one lock, and waiting(), which returns
// once the second is blocked in Lock.
type backend struct {
	name string
	new  func(b *testing.B) (a, w locker, waiting func())
}

var backends = []backend{
	{"impl=local-sync", newLocal},
	{"impl=etcd", newEtcd},
	{"impl=redis", newRedis},
}

type localLocker struct {
	mu     sync.Mutex
	unlock func(context.Context) error // made once: no allocation per op
}

func (l *localLocker) Lock(context.Context) (func(context.Context) error, error) {
	l.mu.Lock()
	return l.unlock, nil
}

func newLocal(*testing.B) (locker, locker, func()) {
	l := new(localLocker)
	l.unlock = func(context.Context) error { l.mu.Unlock(); return nil }
	// sync.Mutex cannot say whether a goroutine waits on it; give the
	// waiter time to park (outside the measured interval).
	return l, l, func() { time.Sleep(50 * time.Microsecond) }
}

type etcdLocker struct{ m *etcd.Mutex }

func (l etcdLocker) Lock(ctx context.Context) (func(context.Context) error, error) {
	lock, err := l.m.Lock(ctx)
	if err != nil {
		return nil, err
	}
	return lock.Unlock, nil
}

func newEtcd(b *testing.B) (locker, locker, func()) {
	srv := etcdtest.Start(b)
	var ms [2]*etcd.Mutex
	var c *clientv3.Client
	for i := range ms {
		c = srv.NewClient(b) // a client each, as two processes would have
		s, err := etcd.NewSession(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close(context.Background()) })
		ms[i] = etcd.NewMutex(s, "/bench")
	}
	waiting := func() {
		for {
			resp, err := c.Get(context.Background(), "/bench/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				b.Fatal(err)
			}
			if resp.Count == 2 {
				return
			}
		}
	}
	return etcdLocker{ms[0]}, etcdLocker{ms[1]}, waiting
}

type redisLocker struct{ m *redislock.Mutex }

func (l redisLocker) Lock(ctx context.Context) (func(context.Context) error, error) {
	lock, err := l.m.Lock(ctx)
	if err != nil {
		return nil, err
	}
	return lock.Unlock, nil
}

func newRedis(b *testing.B) (locker, locker, func()) {
	srv := redistest.Start(b)
	a := redislock.New(srv.Client(b), "bench")
	w := redislock.New(srv.Client(b), "bench")
	c := srv.Client(b)
	waiting := func() {
		for {
			n, err := c.PubSubNumSub(context.Background(), "bench:released").Result()
			if err != nil {
				b.Fatal(err)
			}
			if n["bench:released"] == 1 {
				return
			}
		}
	}
	return redisLocker{a}, redisLocker{w}, waiting
}

// BenchmarkLockUnlock: one uncontended Lock followed by Unlock.
func BenchmarkLockUnlock(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			l, _, _ := be.new(b)
			ctx := context.Background()
			for b.Loop() {
				unlock, err := l.Lock(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := unlock(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandoff: a waiter is blocked in Lock; the holder unlocks. The
// ns/handoff metric is the time from the start of the holder's Unlock to the
// return of the waiter's Lock. ns/op is the whole cycle (both contenders
// lock and unlock once, plus waiting for the waiter to block).
func BenchmarkHandoff(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			a, w, waiting := be.new(b)
			ctx := context.Background()
			start := make(chan struct{})
			acquired := make(chan time.Time)
			release := make(chan struct{})
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					select {
					case <-start:
					case <-done:
						return
					}
					unlock, err := w.Lock(ctx)
					if err != nil {
						b.Error(err)
						acquired <- time.Time{}
						return
					}
					acquired <- time.Now()
					<-release
					if err := unlock(ctx); err != nil {
						b.Error(err)
					}
					release <- struct{}{}
				}
			}()
			var total time.Duration
			for b.Loop() {
				unlock, err := a.Lock(ctx)
				if err != nil {
					b.Fatal(err)
				}
				start <- struct{}{}
				waiting()
				t0 := time.Now()
				if err := unlock(ctx); err != nil {
					b.Fatal(err)
				}
				t1 := <-acquired
				if t1.IsZero() {
					b.FailNow()
				}
				total += t1.Sub(t0)
				release <- struct{}{}
				<-release
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/handoff")
		})
	}
}
